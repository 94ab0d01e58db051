#!/usr/bin/env bash
# Deploys this checkout to a server: the GitHub workflow runs it, and so can you.
#   deploy/deploy.sh user@host:/var/app/myapp            over ssh
#   deploy/deploy.sh /var/app/myapp                      a folder on this machine
#   deploy/deploy.sh rollback user@host:/var/app/myapp   back to the previous release
# Each deploy is a new release, releases/<UTC time>-<commit>/ (code, and venv: a
# link to a venv built for its requirements.txt): copy the code there, build or
# reuse the venv, check that the app loads, `flask db upgrade` from the new release,
# switch the `current` link to it in one rename, restart the service (which runs
# from current), wait for /ready. A step that fails before the switch leaves the
# previous release serving, untouched; if the new release does not get ready, the
# deploy switches back and restarts the previous one. Either way it exits non-zero
# naming the step. The last 5 releases are kept. A rollback switches to the
# release before the current one and restarts; it does not undo migrations.
#
# Optional environment:
#   DEPLOY_SSH_KEY          private key for ssh (default: ssh's own choice)
#   DEPLOY_KNOWN_HOSTS      known_hosts file holding the server's host key
#   DEPLOY_SSH_PORT         ssh port (22)
#   DEPLOY_PYTHON           python on the server that builds the venv (python3)
#   DEPLOY_ENV_FILE         the service's environment file, read on the server for
#                           the migrations (/etc/myapp/myapp.env; skipped if absent)
#   DEPLOY_RESTART_COMMAND  run on the server (sudo -n /bin/systemctl restart myapp.service)
#   DEPLOY_READY_URL        polled on the server (http://127.0.0.1:8081/ready, the
#                           loopback server in deploy/nginx-myapp.conf)
#   DEPLOY_READY_TIMEOUT    seconds to wait for 200 from /ready (60)
#   DEPLOY_KEEP_RELEASES    releases kept on the server, the current one included (5)
set -eEuo pipefail

# What never leaves this machine: virtualenvs, per-server files, caches, git. On
# the server venvs/ and instance/ sit beside releases/, shared by every release.
EXCLUDES=(
  /.git /venv /venvs/ /.venv/ /instance/ /node_modules/ /.test-artifacts/
  /.pytest_cache/ __pycache__/ "*.pyc" /bench/results/
)
SERVER_SETTINGS=(
  DEPLOY_PYTHON DEPLOY_ENV_FILE DEPLOY_RESTART_COMMAND DEPLOY_READY_URL
  DEPLOY_READY_TIMEOUT DEPLOY_KEEP_RELEASES
)
: "${DEPLOY_PYTHON:=python3}"
: "${DEPLOY_ENV_FILE:=/etc/myapp/myapp.env}"
: "${DEPLOY_RESTART_COMMAND:=sudo -n /bin/systemctl restart myapp.service}"
: "${DEPLOY_READY_URL:=http://127.0.0.1:8081/ready}"
: "${DEPLOY_READY_TIMEOUT:=60}"
: "${DEPLOY_KEEP_RELEASES:=5}"

step="starting"
# Set on the server while a new release is being prepared: removed on failure.
unfinished_release=""
fail() {
  echo "deploy: FAILED at step '$step'${1:+: $1}" >&2
  if [ -n "$unfinished_release" ]; then
    rm -rf "$unfinished_release"
    echo "deploy: removed $unfinished_release; the previous release is still serving" >&2
  fi
  exit 1
}
trap 'fail' ERR
announce() {
  step=$1
  echo "==> [${SECONDS}s] $step"
}

# Reads a systemd-style environment file (KEY=value lines, # comments, optional
# quotes) into the environment without running it as shell code. A bad line is
# named by its number only: its text may be part of a secret (a wrapped token),
# and this output ends up in CI logs.
load_env_file() {
  local line key value number=0
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line=${line#"${line%%[![:space:]]*}"}
    [[ -z "$line" || "$line" == \#* || "$line" == \;* ]] && continue
    [[ "$line" == *=* ]] || fail "$1 line $number: not a KEY=value line (text not shown)"
    key=${line%%=*}
    value=${line#*=}
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
      fail "$1 line $number: the name before = is not a variable name (text not shown)"
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    export "$key=$value"
  done <"$1"
}

# A venv per (requirements.txt, python) under venvs/, and the release's venv a link
# to it: an unchanged requirements.txt reuses its venv, a changed one gets a fresh
# venv (no stale packages), and a venv in use is never modified. Runs in the
# release folder; $1 is the top folder.
build_venv() {
  local top=$1 id target
  id=$({ cat requirements.txt; "$DEPLOY_PYTHON" -VV; } | sha256sum | cut -c1-16)
  target=$top/venvs/$id
  if [ ! -x "$target/bin/uwsgi" ] || [ ! -f "$target/.complete" ]; then
    rm -rf "$target"
    mkdir -p "$top/venvs"
    "$DEPLOY_PYTHON" -m venv "$target"
    "$target/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$target/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
    touch "$target/.complete"
    echo "built $target"
  else
    echo "requirements unchanged: reusing $target"
  fi
  ln -sfn "$target" venv
}

# The release the current link points to (a name under releases/), or nothing.
current_release() {
  local target
  target=$(readlink current 2>/dev/null) || return 0
  basename "$target"
}

# Points current at releases/$1 in one rename: a reader sees the old or the new.
switch_to() {
  ln -sfn "releases/$1" current.next
  mv -T current.next current
  echo "current -> releases/$1"
}

# The releases that got ready and served, oldest first (a failed deploy's are
# removed, or never marked).
deployed_releases() {
  find releases -mindepth 2 -maxdepth 2 -name .deployed -printf "%h\n" |
    sed "s#^releases/##" | sort
}

# Keeps the newest $DEPLOY_KEEP_RELEASES releases (never the current one) and the
# venvs they use; the rest goes.
prune() {
  local keep=$1 release link venv used=()
  shopt -s nullglob
  find releases -mindepth 1 -maxdepth 1 -type d -printf "%f\n" | sort -r |
    tail -n +"$((DEPLOY_KEEP_RELEASES + 1))" | while read -r release; do
      [ "$release" = "$keep" ] || { rm -rf "releases/$release" && echo "removed old release $release"; }
    done
  # The top-level venv link is a deploy from before releases/ (still serving
  # until the unit runs from current).
  for link in releases/*/venv venv; do
    [ ! -L "$link" ] || used+=("$(readlink -f "$link")")
  done
  for venv in venvs/*/; do
    venv=$(readlink -f "$venv")
    [[ " ${used[*]} " == *" $venv "* ]] || { rm -rf "$venv" && echo "removed unused venv $venv"; }
  done
}

wait_until_ready() {
  venv/bin/python - "$DEPLOY_READY_URL" "$DEPLOY_READY_TIMEOUT" <<'EOF'
import sys
import time
import urllib.error
import urllib.request

url, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
last = "no answer"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            print(f"{url}: {response.status} {response.read().decode()[:200]}")
            sys.exit(0)
    except urllib.error.HTTPError as error:
        last = f"{error.code} {error.read().decode()[:200]}"
    except OSError as error:
        last = str(error)
    time.sleep(1)
sys.exit(f"{url} not ready after {timeout:.0f} s; last answer: {last}\n"
         "(the service log: journalctl -u myapp.service)")
EOF
}

# Restarts the service and waits for /ready; on failure switches current back to
# releases/$1 (when given) and restarts that, so the previous release serves, and
# removes releases/$2 (when given: the new release that failed).
restart_and_wait() {
  local previous=$1 failed_release=${2:-}
  announce "restart the service ($DEPLOY_RESTART_COMMAND)"
  # The lock's descriptor is not handed to the service.
  if bash -c "$DEPLOY_RESTART_COMMAND" 9>&- && {
    announce "wait for $DEPLOY_READY_URL"
    (cd current && wait_until_ready)
  }; then
    return 0
  fi
  local failed_step=$step
  if [ -n "$previous" ]; then
    step="switch back to releases/$previous after '$failed_step' failed"
    echo "==> [${SECONDS}s] $step"
    switch_to "$previous"
    bash -c "$DEPLOY_RESTART_COMMAND" 9>&-
    (cd current && wait_until_ready)
    step=$failed_step
    [ -z "$failed_release" ] || unfinished_release=$PWD/releases/$failed_release
    fail "releases/$previous is serving again"
  fi
  fail
}

load_service_environment() {
  if [ -f "$DEPLOY_ENV_FILE" ]; then
    load_env_file "$DEPLOY_ENV_FILE"
  else
    echo "no $DEPLOY_ENV_FILE: using instance/config.py and the environment"
  fi
}

# Only one deploy or rollback at a time on a server.
lock() {
  exec 9>"$1/.deploy.lock"
  flock -n 9 || fail "another deploy or rollback is running in $1"
}

# The server side: runs from the new release's own copy of this script.
on_server() {
  local top=$1 release=$2 previous
  cd "$top"
  lock "$top"
  previous=$(current_release)
  cd "releases/$release"
  unfinished_release=$top/releases/$release
  announce "check the copied code (releases/$release)"
  [ -f requirements.txt ] && [ -f myapp.ini ] && [ -d migrations/versions ] ||
    fail "releases/$release lacks requirements.txt, myapp.ini or migrations/versions"
  # The commit of the release, for /metrics (myapp_build_info): it has no .git.
  echo "${release#*-}" >REVISION
  # Per-server files are shared by every release.
  mkdir -p "$top/instance"
  ln -sfn "$top/instance" instance

  announce "build the venv from requirements.txt"
  build_venv "$top"
  # The service may not write here: compile now, checked by hash at import.
  venv/bin/python -m compileall -q --invalidation-mode checked-hash myapp migrations wsgi.py default_config.py

  announce "check that the new release loads (import wsgi)"
  load_service_environment
  venv/bin/python -c "import wsgi" </dev/null

  announce "migrate the database from the new release (flask db upgrade)"
  venv/bin/flask --app myapp db upgrade

  announce "switch current to releases/$release"
  cd "$top"
  switch_to "$release"
  unfinished_release=""

  restart_and_wait "$previous" "$release"
  touch "releases/$release/.deployed"

  announce "keep the last $DEPLOY_KEEP_RELEASES releases"
  prune "$release"
  echo "deploy: releases/$release is serving (previous: ${previous:-none}); done in ${SECONDS}s"
}

# The server side of a rollback: current goes back to the release before it.
rollback_on_server() {
  local top=$1 current previous
  cd "$top"
  lock "$top"
  step="find the previous release"
  current=$(current_release)
  [ -n "$current" ] || fail "no current release in $top"
  previous=$(deployed_releases | awk -v current="$current" '$0 < current' | tail -n 1)
  [ -n "$previous" ] || fail "no release before $current in $top/releases"
  announce "switch current to releases/$previous (from $current)"
  echo "migrations are not undone: releases/$previous runs on the current schema"
  switch_to "$previous"
  restart_and_wait "$current"
  echo "rollback: releases/$previous is serving (was $current); done in ${SECONDS}s"
}

# Splits $1 into remote ("" for this machine) and path.
parse_destination() {
  if [[ "$1" =~ ^([^/:]+):(/.*)$ ]]; then
    remote=${BASH_REMATCH[1]}
    path=${BASH_REMATCH[2]}
  elif [[ "$1" == /* ]]; then
    remote=""
    path=$1
  else
    fail "destination must be [user@]host:/absolute/path or /absolute/path"
  fi
  path=${path%/}
}

ssh_command=()
make_ssh_command() {
  ssh_command=(ssh -o BatchMode=yes -o StrictHostKeyChecking=yes
    -o ConnectTimeout=15 -p "${DEPLOY_SSH_PORT:-22}")
  [ -z "${DEPLOY_SSH_KEY:-}" ] ||
    ssh_command+=(-i "$DEPLOY_SSH_KEY" -o IdentitiesOnly=yes)
  [ -z "${DEPLOY_KNOWN_HOSTS:-}" ] ||
    ssh_command+=(-o "UserKnownHostsFile=$DEPLOY_KNOWN_HOSTS")
}

# The settings and the command to run on the server: server_command+=(ARGS...).
server_command=()
make_server_command() {
  local setting
  server_command=(env)
  for setting in "${SERVER_SETTINGS[@]}"; do
    server_command+=("$setting=${!setting}")
  done
  server_command+=("$@")
}

run_on_server() {
  if [ -n "$remote" ]; then
    "${ssh_command[@]}" "$remote" "$(printf "%q " "${server_command[@]}")"
  else
    "${server_command[@]}"
  fi
}

# A release name: UTC time (sorts by age), then the commit when there is one.
release_name() {
  local commit
  commit=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null) || commit=nogit
  if [ -n "$(git -C "$1" status --porcelain 2>/dev/null)" ]; then
    commit=$commit-dirty
  fi
  echo "$(date -u +%Y%m%dT%H%M%SZ)-$commit"
}

# The local side: copies the code into a new release, then runs that release's
# copy of this script there.
deploy_to() {
  local destination=$1 source remote path release pattern
  source=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  parse_destination "$destination"
  [ -d "$source/migrations/versions" ] || fail "no migrations/ in $source"
  release=$(release_name "$source")

  # Unchanged files are hard links to the current release's: quick, and small.
  local rsync_options=(--recursive --links --times --perms --compress
    "--chmod=Dgo+rx,Fgo+r" "--link-dest=$path/current/")
  for pattern in "${EXCLUDES[@]}"; do
    rsync_options+=("--exclude=$pattern")
  done
  make_server_command bash "$path/releases/$release/deploy/deploy.sh" --on-server "$path" "$release"

  if [ -n "$remote" ]; then
    make_ssh_command
    announce "connect to $remote"
    "${ssh_command[@]}" "$remote" "mkdir -p $(printf "%q" "$path/releases")"
    [ -z "$("${ssh_command[@]}" "$remote" "ls -d $(printf "%q" "$path/releases/$release") 2>/dev/null")" ] ||
      fail "$path/releases/$release exists already"
    announce "copy the code to $remote:$path/releases/$release"
    rsync "${rsync_options[@]}" -e "${ssh_command[*]}" "$source/" "$remote:$path/releases/$release/"
    step="server-side steps on $remote"
  else
    mkdir -p "$path/releases"
    [ ! -e "$path/releases/$release" ] || fail "$path/releases/$release exists already"
    announce "copy the code to $path/releases/$release"
    rsync "${rsync_options[@]}" "$source/" "$path/releases/$release/"
    step="server-side steps in $path"
  fi
  run_on_server
}

rollback() {
  local remote path
  parse_destination "$1"
  make_server_command bash "$path/current/deploy/deploy.sh" --rollback-on-server "$path"
  step="rollback on ${remote:-this machine} in $path"
  [ -z "$remote" ] || make_ssh_command
  run_on_server
}

# Sourced (tests/test_deploy_script.py): the functions only.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  return 0
fi

case "${1:-}" in
--on-server)
  [ $# -eq 3 ] || fail "usage: $0 --on-server PATH RELEASE"
  on_server "$2" "$3"
  ;;
--rollback-on-server)
  [ $# -eq 2 ] || fail "usage: $0 --rollback-on-server PATH"
  rollback_on_server "$2"
  ;;
rollback)
  [ $# -eq 2 ] || fail "usage: $0 rollback DESTINATION"
  rollback "$2"
  ;;
"" | -h | --help)
  sed -n "2,/^[^#]/ s/^# \{0,1\}//p" "$0"
  [ $# -eq 1 ] || exit 2
  ;;
*)
  [ $# -eq 1 ] || fail "usage: $0 DESTINATION"
  deploy_to "$1"
  ;;
esac
