#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a private MariaDB server,
# stopped (and its files removed) when the command ends.
set -euo pipefail
here=$(dirname "$0")
dir=$(mktemp -d /tmp/myapp-mariadb.XXXXXX)
cleanup() { "$here/mariadb.sh" stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
TEST_DATABASE_URL=$("$here/mariadb.sh" start "$dir")
export TEST_DATABASE_URL
echo "MariaDB for this run: $TEST_DATABASE_URL" >&2
"$@"
