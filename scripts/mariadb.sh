#!/usr/bin/env bash
# A private MariaDB server for tests and benchmarks, on a free loopback port.
#   scripts/mariadb.sh start DIR   -> prints the database URL on stdout
#   scripts/mariadb.sh stop DIR
# No option file is read (--no-defaults): nothing of /etc/mysql applies. mariadbd
# refuses to run as root, so as root the server runs as "mysql" (or "nobody").
# Needs only mariadb-server-core and mariadb-client-core: no system service.
# The database defaults to utf8mb4_general_ci, the usual server default, so the
# tests show that the models' own column collations keep comparisons exact.
set -euo pipefail

action=$1
dir=$(realpath -m "$2")

mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
client=(mariadb --no-defaults --socket="$dir/mariadb.sock" -u root)

owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=nobody
  id mysql >/dev/null 2>&1 && owner=mysql
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

# Stops the server whose pid mariadbd wrote, if it runs; waits at most 60 s.
stop_server() {
  local pid
  pid=$(cat "$dir/mariadbd.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "mariadbd ($pid) did not stop in 60 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

fail() {
  cat "$1" >&2
  stop_server
  exit 1
}

case "$action" in
start)
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown "$owner" "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$dir/init.sql" <<'SQL'
CREATE DATABASE myapp_test CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER 'myapp'@'127.0.0.1';
GRANT ALL PRIVILEGES ON myapp_test.* TO 'myapp'@'127.0.0.1';
SQL
  as_owner mariadb-install-db --no-defaults --datadir="$dir/data" \
    --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
    >"$dir/install.log" 2>&1 || fail "$dir/install.log"
  # Detached from our stdout, so that `url=$(mariadb.sh start DIR)` returns.
  as_owner "$mariadbd" --no-defaults --datadir="$dir/data" \
    --bind-address=127.0.0.1 --port="$port" --socket="$dir/mariadb.sock" \
    --pid-file="$dir/mariadbd.pid" --log-error="$dir/server.log" \
    --skip-name-resolve --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_general_ci --max-connections=200 \
    --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
    --innodb-buffer-pool-size=64M </dev/null >/dev/null 2>&1 &
  for _ in $(seq 600); do
    "${client[@]}" -e "SELECT 1" >/dev/null 2>&1 && break
    kill -0 $! 2>/dev/null || fail "$dir/server.log"
    sleep 0.1
  done
  "${client[@]}" <"$dir/init.sql" || fail "$dir/server.log"
  echo "$port" >"$dir/port"
  echo "mariadb+pymysql://myapp@127.0.0.1:$port/myapp_test"
  ;;
stop)
  stop_server
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
