#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a private server of KIND
# (postgres or mariadb: scripts/KIND.sh), stopped (and its files removed) when the
# command ends.   scripts/with-database.sh KIND COMMAND [ARG...]
set -euo pipefail
here=$(dirname "$0")
kind=$1
shift
case $kind in
postgres) name=PostgreSQL ;;
mariadb) name=MariaDB ;;
*) echo "usage: $0 postgres|mariadb COMMAND [ARG...]" >&2; exit 2 ;;
esac
dir=$(mktemp -d "/tmp/myapp-$kind.XXXXXX")
cleanup() { "$here/$kind.sh" stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
TEST_DATABASE_URL=$("$here/$kind.sh" start "$dir")
export TEST_DATABASE_URL
echo "$name for this run: $TEST_DATABASE_URL" >&2
"$@"
