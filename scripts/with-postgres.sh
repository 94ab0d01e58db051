#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a private PostgreSQL server,
# stopped (and its files removed) when the command ends. With TEST_POSTGRES_URL
# set (e.g. the GitHub workflow's service container) that database is used instead.
set -euo pipefail
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  echo "PostgreSQL for this run: $TEST_POSTGRES_URL (TEST_POSTGRES_URL)" >&2
  TEST_DATABASE_URL=$TEST_POSTGRES_URL exec "$@"
fi
here=$(dirname "$0")
dir=$(mktemp -d /tmp/myapp-pg.XXXXXX)
cleanup() { "$here/postgres.sh" stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
TEST_DATABASE_URL=$("$here/postgres.sh" start "$dir")
export TEST_DATABASE_URL
echo "PostgreSQL for this run: $TEST_DATABASE_URL" >&2
"$@"
