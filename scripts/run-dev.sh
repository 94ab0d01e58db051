#!/usr/bin/env bash
# `make run`: development server on http://127.0.0.1:5000. Brings up a local
# redis-server (data and socket under instance/) unless MYAPP_REDIS_URL is set,
# and stops it when the server stops.
set -euo pipefail
cd "$(dirname "$0")/.."
export MYAPP_ENV=${MYAPP_ENV:-development}
mkdir -p instance

if [ -z "${MYAPP_REDIS_URL:-}" ]; then
  redis_dir=$PWD/instance/redis
  mkdir -p "$redis_dir"
  redis-server --port 0 --unixsocket "$redis_dir/redis.sock" --unixsocketperm 700 \
    --dir "$redis_dir" --save "" --appendonly no --daemonize yes \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
  trap 'kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do [ -S "$redis_dir/redis.sock" ] && break; sleep 0.1; done
  export MYAPP_REDIS_URL="unix://$redis_dir/redis.sock?db=0"
fi

venv/bin/flask db upgrade
venv/bin/python -m myapp.devserver --host 127.0.0.1 --port 5000
