#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a private MariaDB server,
# stopped (and its files removed) when the command ends.
set -euo pipefail
exec "$(dirname "$0")/with-database.sh" mariadb "$@"
