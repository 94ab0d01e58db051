#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a private PostgreSQL server,
# stopped (and its files removed) when the command ends.
set -euo pipefail
here=$(dirname "$0")
dir=$(mktemp -d /tmp/myapp-pg.XXXXXX)
cleanup() { "$here/postgres.sh" stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
TEST_DATABASE_URL=$("$here/postgres.sh" start "$dir")
export TEST_DATABASE_URL
echo "PostgreSQL for this run: $TEST_DATABASE_URL" >&2
"$@"
