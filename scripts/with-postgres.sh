#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a private PostgreSQL server,
# stopped (and its files removed) when the command ends. With TEST_POSTGRES_URL
# set (e.g. the GitHub workflow's service container) that database is used instead.
set -euo pipefail
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  echo "PostgreSQL for this run: $TEST_POSTGRES_URL (TEST_POSTGRES_URL)" >&2
  TEST_DATABASE_URL=$TEST_POSTGRES_URL exec "$@"
fi
exec "$(dirname "$0")/with-database.sh" postgres "$@"
