#!/usr/bin/env bash
# `make deploy-rehearsal`: the real deploy, end to end, on this machine.
#
# deploy/deploy.sh sends this checkout over ssh to 127.0.0.1 (a private sshd with
# keys made for the run; a local folder when sshd cannot be had, or with
# REHEARSAL_TRANSPORT=local), against a private PostgreSQL and redis-server. The
# service is started as deploy/myapp.service starts it (same ExecStart line and
# environment, plus --http-socket on a free loopback port); "restart" stops it by
# PID and starts it again. Then: create and read a foo and a bar; deploy a copy
# of the checkout with a changed source file and a new migration (made in a
# temporary folder, never committed) and check that the new code is served, the
# migration applied and the data kept, and that workers killed between the switch
# and the restart still serve the old release; deploy a release that cannot load,
# then one that never gets ready, and check that the previous release keeps
# serving; roll back and check that the previous code is served; deploy again.
# Everything started here is stopped by PID on exit. REHEARSAL_KEEP=1 keeps the
# work folder (logs) for a look afterwards.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
repo=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "rehearsal: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True while the process lives (a zombie left to an init that does not reap
# counts as gone).
alive() {
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d" " -f1)" != Z ]
}

stop_pid() {
  local pid=$1 _
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 300); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "PID $pid did not stop within 30 s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# --- The service, as systemd would run it (also the deploy's restart command) --

unit_value() {
  sed -n "s/^$1=//p" "$repo/deploy/myapp.service"
}

# Sets exec_start, environment, run_as and sandbox: the unit's ExecStart and
# Environment= lines, its paths moved to the rehearsal's destination, then the
# environment file (as EnvironmentFile=); an unprivileged user without
# capabilities when we are root; and the unit's hardening that needs no systemd
# (deploy/sandbox.py: UMask=, NoNewPrivileges=, SystemCallFilter=).
service_command() {
  local state=$1 top destination
  destination=$(cat "$state/destination-path")
  top=$(dirname "$(unit_value WorkingDirectory)")
  read -ra exec_start <<<"$(unit_value ExecStart | sed "s#$top/#$destination/#g")"
  mapfile -t environment < <(unit_value Environment)
  mapfile -t -O "${#environment[@]}" environment < <(grep -Ev '^[[:space:]]*(#|$)' "$state/myapp.env")
  run_as=()
  [ "$(id -u)" != 0 ] || run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups
    --bounding-set=-all --inh-caps=-all)
  sandbox=("$(system_python)" "$repo/deploy/sandbox.py" "$repo/deploy/myapp.service" --)
}

system_python() {
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi
}

# Usage: rehearsal.sh restart-service STATE_DIR
restart_service() {
  local state=$1 pid http_port exec_start=() environment=() run_as=() sandbox=()
  http_port=$(cat "$state/http-port")
  if [ -f "$state/kill-workers-before-restart" ]; then
    kill_workers_and_ask "$state"
  fi
  if [ -f "$state/uwsgi.pid" ]; then
    pid=$(cat "$state/uwsgi.pid")
    log "stopping uWSGI (PID $pid)"
    stop_pid "$pid"
  fi
  service_command "$state"
  cd "$(cat "$state/destination-path")/$(unit_value WorkingDirectory | xargs basename)"
  nohup env -i PATH=/usr/bin:/bin LANG=C.UTF-8 "${environment[@]}" "${run_as[@]}" \
    "${sandbox[@]}" "${exec_start[@]}" --http-socket "127.0.0.1:$http_port" \
    >>"$state/uwsgi.log" 2>&1 </dev/null &
  echo $! >"$state/uwsgi.pid"
  log "started uWSGI (PID $!): ${exec_start[*]} --http-socket 127.0.0.1:$http_port"
}

# "In the middle of a deploy": current already points at the new release and the
# migration ran, but the service has not been restarted. SIGKILL every worker,
# wait until the master has respawned them all, and record what they serve.
kill_workers_and_ask() {
  local state=$1 master old_workers new_workers http_port _
  rm -f "$state/kill-workers-before-restart"
  http_port=$(cat "$state/http-port")
  master=$(cat "$state/uwsgi.pid")
  old_workers=$(pgrep -P "$master" | sort | tr "\n" " ")
  log "killing uWSGI workers $old_workers mid-deploy"
  # shellcheck disable=SC2086
  kill -KILL $old_workers
  for _ in $(seq 300); do
    # Live children only: a killed worker lingers as a zombie until reaped.
    new_workers=$(pgrep -r R,S,D -P "$master" | sort | tr "\n" " ") || true
    if [ "$(echo "$new_workers" | wc -w)" = "$(echo "$old_workers" | wc -w)" ] &&
      [ -z "$(comm -12 <(tr " " "\n" <<<"$old_workers" | sort) <(tr " " "\n" <<<"$new_workers" | sort) | tr -d "\n")" ] &&
      curl -sf -o /dev/null "http://127.0.0.1:$http_port/ready"; then
      break
    fi
    sleep 0.1
  done
  {
    echo "old workers: $old_workers"
    echo "new workers: $new_workers"
    for path in /rehearsal "/v1/foo/$(cat "$state/foo-id")" /ready; do
      echo "$path $(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$http_port$path")"
    done
  } >"$state/mid-deploy-answers"
  log "mid-deploy answers: $(tr "\n" ";" <"$state/mid-deploy-answers")"
}

if [ "${1:-}" = restart-service ]; then
  restart_service "$2"
  exit 0
fi

# --- The rehearsal ---------------------------------------------------------------

started=$(date +%s)
state=$(mktemp -d /tmp/myapp-rehearsal.XXXXXX)
chmod 755 "$state"
pids=()
results=()
failed=0
summarised=no
transport=${REHEARSAL_TRANSPORT:-ssh}

cleanup() {
  local status=$? pid
  if [ -f "$state/uwsgi.pid" ]; then
    stop_pid "$(cat "$state/uwsgi.pid")"
  fi
  for pid in "${pids[@]}"; do
    stop_pid "$pid"
  done
  "$repo/scripts/postgres.sh" stop "$state/pg" || true
  if [ "$summarised" = no ]; then
    echo "deploy rehearsal: FAIL (stopped before the checks ended, status $status)"
  fi
  if [ "$failed" != 0 ] || [ "$status" != 0 ]; then
    for file in uwsgi.log refused.log sshd.log redis.log; do
      if [ -s "$state/$file" ]; then
        echo "--- last lines of $file ---" >&2
        tail -n 40 "$state/$file" >&2
      fi
    done
  fi
  if [ -n "${REHEARSAL_KEEP:-}" ]; then
    log "work folder kept: $state"
  else
    rm -rf "$state"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() {
  local name=$1
  shift
  if "$@"; then
    results+=("PASS  $name")
  else
    results+=("FAIL  $name")
    failed=1
    log "FAILED: $name"
  fi
}

summary() {
  local outcome=PASS
  [ "$failed" = 0 ] || outcome=FAIL
  echo
  echo "=== deploy rehearsal ($transport) ==="
  printf "%s\n" "${results[@]}"
  echo "deploy rehearsal: $outcome in $(($(date +%s) - started)) s"
  summarised=yes
  [ "$failed" = 0 ]
}

# HTTP through the rehearsal's loopback --http-socket: sets $status and $body.
# Writes carry the API token unless $auth is "no".
token="rehearsal-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
auth=yes
request() {
  local method=$1 path=$2 data=${3:-} options=()
  [ -z "$data" ] || options=(-H "Content-Type: application/json" --data "$data")
  [ "$auth" = no ] || options+=(-H "Authorization: Bearer $token")
  status=$(curl -sS -o "$state/body" -w "%{http_code}" -X "$method" \
    "${options[@]}" "http://127.0.0.1:$http_port$path") || status=000
  body=$(cat "$state/body")
}

# Usage: answers STATUS TEXT METHOD PATH [BODY]: the answer has STATUS and TEXT.
answers() {
  local want_status=$1 want_text=$2
  shift 2
  request "$@"
  if [ "$status" = "$want_status" ] && [[ "$body" == *"$want_text"* ]]; then
    return 0
  fi
  log "$* -> $status $body (wanted $want_status with '$want_text')"
  return 1
}

answers_without_token() {
  local auth=no
  answers "$@"
}

json_field() {
  python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$body" "$1"
}

# --- Stores ------------------------------------------------------------------

log "work folder $state"
database_url=$("$repo/scripts/postgres.sh" start "$state/pg")
# redis-server as production runs it: deploy/redis.conf and the users of
# deploy/redis-users.acl.in, with passwords made for the run; only the port, the
# folder and the ACL file's path are the rehearsal's own.
redis_port=$(free_port)
mkdir -p "$state/redis"
redis_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
redis_admin_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
sha256() { printf %s "$1" | sha256sum | cut -c1-64; }
grep -v '^#' "$repo/deploy/redis-users.acl.in" |
  sed -e "s/APP_PASSWORD_SHA256/$(sha256 "$redis_password")/" \
    -e "s/ADMIN_PASSWORD_SHA256/$(sha256 "$redis_admin_password")/" >"$state/redis/users.acl"
redis-server "$repo/deploy/redis.conf" --bind 127.0.0.1 --port "$redis_port" \
  --dir "$state/redis" --aclfile "$state/redis/users.acl" --logfile "$state/redis.log" &
pids+=($!)
for _ in $(seq 100); do
  REDISCLI_AUTH=$redis_admin_password redis-cli --user admin -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

# --- The transport: ssh to 127.0.0.1 when sshd can be had, else a local folder --

# Installing openssh-server is only done where Debian's policy-rc.d keeps the
# package from starting a system-wide sshd (containers, CI machines).
install_leaves_services_down() {
  local code=0
  [ -x /usr/sbin/policy-rc.d ] || return 1
  /usr/sbin/policy-rc.d ssh start >/dev/null 2>&1 || code=$?
  [ "$code" = 101 ]
}

if [ "$transport" = ssh ] && ! command -v sshd >/dev/null; then
  if [ "$(id -u)" = 0 ] && install_leaves_services_down; then
    "$repo/scripts/system-packages.sh" sshd=openssh-server || true
  fi
  command -v sshd >/dev/null || {
    log "no sshd here: deploying to a local folder instead"
    transport=local
  }
fi

destination_path=$state/srv/myapp
deploy_environment=()
if [ "$transport" = ssh ]; then
  ssh_port=$(free_port)
  mkdir -p "$state/ssh"
  ssh-keygen -q -t ed25519 -N "" -C "myapp rehearsal host" -f "$state/ssh/host_key"
  ssh-keygen -q -t ed25519 -N "" -C "myapp rehearsal deploy" -f "$state/ssh/deploy_key"
  cp "$state/ssh/deploy_key.pub" "$state/ssh/authorized_keys"
  # What the workflow gets from the DEPLOY_KNOWN_HOSTS secret: the pinned host key.
  echo "[127.0.0.1]:$ssh_port $(cut -d" " -f1,2 "$state/ssh/host_key.pub")" \
    >"$state/ssh/known_hosts"
  cat >"$state/ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $state/ssh/host_key
PidFile $state/ssh/sshd.pid
AuthorizedKeysFile $state/ssh/authorized_keys
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $(id -un)
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
EOF
  # sshd running as root needs its privilege separation folder.
  [ "$(id -u)" != 0 ] || mkdir -p /run/sshd
  sshd -t -f "$state/ssh/sshd_config"
  "$(command -v sshd)" -D -f "$state/ssh/sshd_config" -E "$state/sshd.log" &
  pids+=($!)
  for _ in $(seq 100); do
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
      "$ssh_port" 2>/dev/null && break
    sleep 0.1
  done
  destination="$(id -un)@127.0.0.1:$destination_path"
  deploy_environment=(DEPLOY_SSH_PORT="$ssh_port" DEPLOY_SSH_KEY="$state/ssh/deploy_key"
    DEPLOY_KNOWN_HOSTS="$state/ssh/known_hosts")
else
  destination=$destination_path
fi

# --- The server's configuration: what /etc/myapp/myapp.env holds in production --

http_port=$(free_port)
echo "$http_port" >"$state/http-port"
echo "$destination_path" >"$state/destination-path"
mkdir -p "$state/run"
# As the unit's ExecStartPre= makes /run/myapp: the service's, in nginx's group
# (setgid), so the socket is group www-data without the service being in it.
[ "$(id -u)" != 0 ] || install -d -o nobody -g www-data -m 2750 "$state/run"
cat >"$state/myapp.env" <<EOF
# Written by deploy/rehearsal.sh, read as systemd reads EnvironmentFile=.
MYAPP_SQLALCHEMY_DATABASE_URI=$database_url
MYAPP_REDIS_URL=redis://myapp:$redis_password@127.0.0.1:$redis_port/0
MYAPP_API_TOKENS=$token
MYAPP_SOCKET=$state/run/myapp.sock
MYAPP_PROCESSES=2
MYAPP_THREADS=2
EOF
server_python=/usr/bin/python3
[ -x "$server_python" ] || server_python=$(command -v python3)
deploy_environment+=(
  DEPLOY_PYTHON="$server_python"
  DEPLOY_ENV_FILE="$state/myapp.env"
  DEPLOY_RESTART_COMMAND="bash $repo/deploy/rehearsal.sh restart-service $state"
  DEPLOY_READY_URL="http://127.0.0.1:$http_port/ready"
  DEPLOY_READY_TIMEOUT=90
)

extra_environment=()
deploy_arguments=()
deploy() {
  local source=$1 label=$2 began
  began=$(date +%s)
  log "deploy: $label"
  if timeout 900 env "${deploy_environment[@]}" "${extra_environment[@]}" \
    "$source/deploy/deploy.sh" "${deploy_arguments[@]}" "$destination" \
    >"$state/deploy.log" 2>&1; then
    sed "s/^/    /" "$state/deploy.log"
    log "deploy ($label) took $(($(date +%s) - began)) s"
  else
    sed "s/^/    /" "$state/deploy.log"
    return 1
  fi
}

uwsgi_pid() { cat "$state/uwsgi.pid" 2>/dev/null; }

gone() { ! alive "$1"; }

runs_exec_start() {
  tr "\0" " " <"/proc/$1/cmdline" | grep -q -- "uwsgi --ini $destination_path/current/myapp.ini --http-socket"
}

current_release() { readlink "$destination_path/current"; }

# The working folder of a running process: the release it runs.
serves_from() {
  [ "$(readlink "/proc/$1/cwd")" = "$destination_path/$2" ]
}

# Usage: deploy_fails SOURCE LABEL STEP: the deploy exits non-zero naming STEP.
deploy_fails() {
  local source=$1 label=$2 want_step=$3
  if deploy "$source" "$label"; then
    log "the deploy ($label) succeeded; it should have failed"
    return 1
  fi
  grep -qF "deploy: FAILED at step '$want_step" "$state/deploy.log" || {
    log "the deploy log does not name the step '$want_step'"
    return 1
  }
}

# Usage: copy_of SOURCE TARGET: a copy of a checkout, without per-machine files.
copy_of() {
  rsync -a --exclude=/.git --exclude=/venv/ --exclude=/.venv/ --exclude=/instance/ \
    --exclude=__pycache__/ "$1/" "$2/"
}

not_in_deploy_log() { ! grep -q "$1" "$state/deploy.log"; }

socket_for_nginx_only() {
  [ "$(stat -c "%U:%G %a" "$state/run/myapp.sock")" = "nobody:www-data 660" ] &&
    ! id -nG nobody | grep -qw www-data &&
    grep -q "^Groups:[[:space:]]*$" "/proc/$1/status"
}

# The unit's hardening as the kernel reports it for the running master and its
# workers: the umask, no new privileges, a seccomp filter, no capabilities.
runs_hardened() {
  local pid status
  for pid in "$1" $(pgrep -P "$1"); do
    status=$(cat "/proc/$pid/status")
    grep -q "^Umask:[[:space:]]*0077$" <<<"$status" &&
      grep -q "^NoNewPrivs:[[:space:]]*1$" <<<"$status" &&
      grep -q "^Seccomp:[[:space:]]*2$" <<<"$status" &&
      grep -q "^CapEff:[[:space:]]*0*$" <<<"$status" || return 1
  done
}

# The unit's command without MYAPP_API_TOKENS: uWSGI must exit (need-app, status
# 22) rather than respawn workers that cannot load the app.
stops_without_tokens() {
  local exec_start=() environment=() run_as=() sandbox=() code=0
  service_command "$state"
  mapfile -t environment < <(printf "%s\n" "${environment[@]}" | grep -v "^MYAPP_API_TOKENS=")
  (cd "$destination_path/current" && timeout 90 env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
    "${environment[@]}" MYAPP_SOCKET="$state/run/refused.sock" "${run_as[@]}" \
    "${sandbox[@]}" "${exec_start[@]}" </dev/null >"$state/refused.log" 2>&1) || code=$?
  [ "$code" = 22 ] && grep -q "^myapp: No API tokens configured" "$state/refused.log"
}

# The revision in the database's alembic_version table, read with the server's venv.
database_revision() {
  "$destination_path/current/venv/bin/python" - "${database_url/+psycopg/}" <<'EOF'
import sys

import psycopg

with psycopg.connect(sys.argv[1]) as connection:
    print(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])
EOF
}

# --- First deploy: the checkout as it is -----------------------------------------

check "first deploy of the checkout to $destination" deploy "$repo" "the checkout"
if [ "$failed" != 0 ]; then
  summary
  exit 1
fi
first_pid=$(uwsgi_pid)

check "the service runs the unit's ExecStart line" runs_exec_start "$first_pid"
if [ "$(id -u)" = 0 ]; then
  check "the service runs as an unprivileged user" test "$(stat -c %U "/proc/$first_pid")" = nobody
fi
check "the service runs with the unit's umask, no new privileges and system call filter" \
  runs_hardened "$first_pid"
if [ "$(id -u)" = 0 ]; then
  check "the socket is the service's, group www-data, 0660; the service is in no group of nginx's" \
    socket_for_nginx_only "$first_pid"
fi
check "the venv was built on the server, not copied" \
  test -L "$destination_path/current/venv" -a -x "$destination_path/current/venv/bin/uwsgi"
first_release=$(current_release)
check "current links to the new release, releases/<time>-<commit>" \
  test "${first_release#releases/}" != "$first_release" -a -f "$destination_path/$first_release/.deployed"
check "the service runs from that release (its working folder)" serves_from "$first_pid" "$first_release"
check "the release names its commit in REVISION (for /metrics)" \
  test "$(cat "$destination_path/$first_release/REVISION")" = "${first_release#releases/*-}"
check "/ready answers 200" answers 200 '"status":"ok"' GET /ready
check "without API tokens the service stops (uWSGI need-app exits 22)" stops_without_tokens
check "production refuses a write without a token (401)" \
  answers_without_token 401 token POST /v1/foo/ '{"name": "x"}'

check "create a foo (201)" answers 201 '"name":"rehearsal foo"' POST /v1/foo/ '{"name": "rehearsal foo"}'
foo_id=$(json_field id 2>/dev/null || echo none)
check "read the foo back (200)" answers 200 '"name":"rehearsal foo"' GET "/v1/foo/$foo_id"
check "create a bar (201)" answers 201 '"name":"rehearsal bar"' POST /v1/bar/ '{"name": "rehearsal bar"}'
bar_id=$(json_field id 2>/dev/null || echo none)
echo "$foo_id" >"$state/foo-id"
check "read the bar back (200)" answers 200 '"name":"rehearsal bar"' GET "/v1/bar/$bar_id"

# --- Second deploy: a changed source file and a new migration, in a copy ---------

next=$state/next
copy_of "$repo" "$next"
marker=$(python3 -c 'import secrets; print(secrets.token_hex(6))')
head=$(cd "$next" && "$destination_path/current/venv/bin/python" -c \
  'from alembic.script import ScriptDirectory; print(ScriptDirectory("migrations").get_current_head())')
revision="rehearsal_$marker"
cat >"$next/migrations/versions/$revision.py" <<EOF
"""rehearsal note (made by deploy/rehearsal.sh, never committed)"""

import sqlalchemy as sa
from alembic import op

revision = "$revision"
down_revision = "$head"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "rehearsal_note",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.String(80), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "note": "migrated $marker"}])


def downgrade():
    op.drop_table("rehearsal_note")
EOF
cat >>"$next/myapp/ops/endpoints.py" <<EOF


@blueprint.get("/rehearsal")
def rehearsal():
    """Added by deploy/rehearsal.sh: new code reading the new migration's table."""
    from sqlalchemy import text

    from ..db import sql as rehearsal_sql

    note = rehearsal_sql.session.execute(text("SELECT note FROM rehearsal_note"))
    return {"code": "new $marker", "note": note.scalar_one()}
EOF

touch "$state/kill-workers-before-restart"
check "second deploy: changed source file and new migration" deploy "$next" "changed code + migration"
second_pid=$(uwsgi_pid)
second_release=$(current_release)
respawned() {
  local old new
  old=$(sed -n "s/^old workers: //p" "$state/mid-deploy-answers")
  new=$(sed -n "s/^new workers: //p" "$state/mid-deploy-answers")
  [ -n "$new" ] && [ -z "$(comm -12 <(tr " " "\n" <<<"$old" | sort) <(tr " " "\n" <<<"$new" | sort) | tr -d "\n")" ] &&
    grep -q "^/ready 200" "$state/mid-deploy-answers"
}
check "workers killed mid-deploy (after the switch, before the restart) came back" respawned
check "... and still served the old release (no new code, old data read)" \
  grep -qx "/rehearsal 404" "$state/mid-deploy-answers"
check "... with the data intact (the foo read 200)" grep -q "^/v1/foo/.* 200" "$state/mid-deploy-answers"
check "current links to a new release" test "$second_release" != "$first_release"
check "the restarted service runs from the new release" serves_from "$second_pid" "$second_release"
check "the service was restarted (new master PID)" test "$second_pid" != "$first_pid"
check "the old master is gone" gone "$first_pid"
check "the new code is served" answers 200 "\"code\":\"new $marker\"" GET /rehearsal
check "the migration ran (new code reads its table)" answers 200 "\"note\":\"migrated $marker\"" GET /rehearsal
check "the database is at the new revision" test "$(database_revision)" = "$revision"
check "migrations/ was copied" test -f "$destination_path/current/migrations/versions/$revision.py"
check "the foo was kept (PostgreSQL)" answers 200 '"name":"rehearsal foo"' GET "/v1/foo/$foo_id"
check "the bar was kept (Redis)" answers 200 '"name":"rehearsal bar"' GET "/v1/bar/$bar_id"

# --- A release that cannot load: the deploy stops before the switch ---------------

broken=$state/broken
copy_of "$next" "$broken"
echo 'raise RuntimeError("rehearsal: this release cannot load")' >>"$broken/myapp/__init__.py"
check "a deploy whose code fails to import fails, naming the step" \
  deploy_fails "$broken" "code that fails to import" "check that the new release loads"
check "... current still links to the previous release" test "$(current_release)" = "$second_release"
check "... the service was not restarted" test "$(uwsgi_pid)" = "$second_pid"
check "... the previous release is still served" answers 200 "\"code\":\"new $marker\"" GET /rehearsal
check "... and the failed release was removed" \
  test "$(find "$destination_path/releases" -mindepth 1 -maxdepth 1 | wc -l)" = 2

# --- A release that never gets ready: the deploy switches back -------------------

unready=$state/unready
copy_of "$next" "$unready"
# uWSGI (strict = true) refuses to start with an unknown option.
echo "rehearsal-unknown-option = true" >>"$unready/myapp.ini"
extra_environment=(DEPLOY_READY_TIMEOUT=8)
check "a deploy whose release never answers /ready fails, naming the step" \
  deploy_fails "$unready" "a release that does not start" "wait for "
extra_environment=()
check "... it says the previous release serves again" grep -q "releases/.* is serving again" "$state/deploy.log"
check "... current links to the previous release again" test "$(current_release)" = "$second_release"
check "... the previous release is served" answers 200 "\"code\":\"new $marker\"" GET /rehearsal
check "... from the previous release's folder" serves_from "$(uwsgi_pid)" "$second_release"
check "... the data is unchanged" answers 200 '"name":"rehearsal bar"' GET "/v1/bar/$bar_id"

# --- Rollback: back to the first release --------------------------------------------

deploy_arguments=(rollback)
check "deploy.sh rollback succeeds" deploy "$repo" "rollback"
deploy_arguments=()
check "... it says migrations are not undone" grep -q "migrations are not undone" "$state/deploy.log"
check "... current links to the first release again" test "$(current_release)" = "$first_release"
check "... the served version changed back (no /rehearsal)" answers 404 "" GET /rehearsal
check "... the service runs from the first release" serves_from "$(uwsgi_pid)" "$first_release"
check "... the foo is kept" answers 200 '"name":"rehearsal foo"' GET "/v1/foo/$foo_id"
check "... the bar is kept" answers 200 '"name":"rehearsal bar"' GET "/v1/bar/$bar_id"
check "... the database keeps the newer revision" test "$(database_revision)" = "$revision"

# --- Deploy the new code again, keeping 2 releases --------------------------------

extra_environment=(DEPLOY_KEEP_RELEASES=2)
check "third deploy: the new code again" deploy "$next" "the new code again, keep 2"
extra_environment=()
check "the unchanged requirements reused the venv" grep -q "requirements unchanged" "$state/deploy.log"
check "no migration ran this time" not_in_deploy_log "Running upgrade"
check "the database is still at the new revision" test "$(database_revision)" = "$revision"
check "the foo is still there" answers 200 '"name":"rehearsal foo"' GET "/v1/foo/$foo_id"
check "the bar is still there" answers 200 '"name":"rehearsal bar"' GET "/v1/bar/$bar_id"
check "the new code is served again" answers 200 "\"code\":\"new $marker\"" GET /rehearsal
check "only the last 2 releases are kept" \
  test "$(find "$destination_path/releases" -mindepth 1 -maxdepth 1 | wc -l)" = 2
check "... the oldest was removed" test ! -e "$destination_path/$first_release"

summary
