#!/usr/bin/env bash
# Deploys this checkout to a server: the GitHub workflow runs it, and so can you.
#   deploy/deploy.sh user@host:/var/app/myapp   over ssh
#   deploy/deploy.sh /var/app/myapp             a folder on this machine
# Steps: rsync the code (with migrations/, never a venv), build the venv there from
# requirements.txt, `flask db upgrade`, restart the service, wait for /ready.
# Every step must succeed or the deploy stops with the step's name; running it
# twice in a row is harmless. The server-side steps run from the copy just sent.
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
set -eEuo pipefail

# What never leaves this machine: virtualenvs, per-server files, caches, git.
# Excluded paths are also never deleted on the server (no --delete-excluded), so
# its venvs/ and instance/ survive every deploy.
EXCLUDES=(
  /.git /venv /venvs/ /.venv/ /instance/ /node_modules/ /.test-artifacts/
  /.pytest_cache/ __pycache__/ "*.pyc" /bench/results/
)
SERVER_SETTINGS=(
  DEPLOY_PYTHON DEPLOY_ENV_FILE DEPLOY_RESTART_COMMAND DEPLOY_READY_URL
  DEPLOY_READY_TIMEOUT
)
: "${DEPLOY_PYTHON:=python3}"
: "${DEPLOY_ENV_FILE:=/etc/myapp/myapp.env}"
: "${DEPLOY_RESTART_COMMAND:=sudo -n /bin/systemctl restart myapp.service}"
: "${DEPLOY_READY_URL:=http://127.0.0.1:8081/ready}"
: "${DEPLOY_READY_TIMEOUT:=60}"

step="starting"
fail() {
  echo "deploy: FAILED at step '$step'${1:+: $1}" >&2
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

# A venv per (requirements.txt, python) under venvs/, and venv -> the current one:
# an unchanged requirements.txt reuses its venv, a changed one gets a fresh venv
# (no stale packages), and the running service's venv is never modified in place.
build_venv() {
  local id target
  id=$({ cat requirements.txt; "$DEPLOY_PYTHON" -VV; } | sha256sum | cut -c1-16)
  target=venvs/$id
  if [ ! -x "$target/bin/uwsgi" ] || [ ! -f "$target/.complete" ]; then
    rm -rf "$target"
    mkdir -p venvs
    "$DEPLOY_PYTHON" -m venv "$target"
    "$target/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$target/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
    touch "$target/.complete"
    echo "built $target"
  else
    touch "$target"
    echo "requirements unchanged: reusing $target"
  fi
  if [ -d venv ] && [ ! -L venv ]; then
    rm -rf venv
  fi
  ln -sfn "$target" venv.next
  mv -T venv.next venv
  # Keep the venv in use and the one before it (for a quick rollback).
  find venvs -mindepth 1 -maxdepth 1 -type d -printf "%T@ %p\n" | sort -rn |
    tail -n +3 | cut -d" " -f2- | while read -r old; do
      [ "$old" = "$target" ] || rm -rf "$old"
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

# The server side: runs in the destination folder, from the code just copied.
on_server() {
  cd "$1"
  announce "check the copied code"
  [ -f requirements.txt ] && [ -f myapp.ini ] && [ -d migrations/versions ] ||
    fail "$1 lacks requirements.txt, myapp.ini or migrations/versions"
  mkdir -p instance

  announce "build the venv from requirements.txt"
  build_venv
  # The service may not write here: compile now, checked by hash at import.
  venv/bin/python -m compileall -q --invalidation-mode checked-hash myapp migrations wsgi.py default_config.py

  announce "migrate the database (flask db upgrade)"
  if [ -f "$DEPLOY_ENV_FILE" ]; then
    load_env_file "$DEPLOY_ENV_FILE"
  else
    echo "no $DEPLOY_ENV_FILE: using instance/config.py and the environment"
  fi
  venv/bin/flask --app myapp db upgrade

  announce "restart the service ($DEPLOY_RESTART_COMMAND)"
  bash -c "$DEPLOY_RESTART_COMMAND"

  announce "wait for $DEPLOY_READY_URL"
  wait_until_ready
  echo "deploy: done in ${SECONDS}s"
}

# The local side: copies the code, then runs this script's server side there.
deploy_to() {
  local destination=$1 source remote="" path ssh_command=() setting pattern
  source=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ "$destination" =~ ^([^/:]+):(/.*)$ ]]; then
    remote=${BASH_REMATCH[1]}
    path=${BASH_REMATCH[2]}
  elif [[ "$destination" == /* ]]; then
    path=$destination
  else
    fail "destination must be [user@]host:/absolute/path or /absolute/path"
  fi
  path=${path%/}
  [ -d "$source/migrations/versions" ] || fail "no migrations/ in $source"

  local server_command=(env)
  for setting in "${SERVER_SETTINGS[@]}"; do
    server_command+=("$setting=${!setting}")
  done
  server_command+=(bash "$path/deploy/deploy.sh" --on-server "$path")

  local rsync_options=(--recursive --links --times --perms --compress --delete
    "--chmod=Dgo+rx,Fgo+r")
  for pattern in "${EXCLUDES[@]}"; do
    rsync_options+=("--exclude=$pattern")
  done

  if [ -n "$remote" ]; then
    ssh_command=(ssh -o BatchMode=yes -o StrictHostKeyChecking=yes
      -o ConnectTimeout=15 -p "${DEPLOY_SSH_PORT:-22}")
    [ -z "${DEPLOY_SSH_KEY:-}" ] ||
      ssh_command+=(-i "$DEPLOY_SSH_KEY" -o IdentitiesOnly=yes)
    [ -z "${DEPLOY_KNOWN_HOSTS:-}" ] ||
      ssh_command+=(-o "UserKnownHostsFile=$DEPLOY_KNOWN_HOSTS")

    announce "connect to $remote"
    "${ssh_command[@]}" "$remote" "mkdir -p $(printf "%q" "$path")"

    announce "copy the code to $destination"
    rsync "${rsync_options[@]}" -e "${ssh_command[*]}" "$source/" "$remote:$path/"

    step="server-side steps on $remote"
    "${ssh_command[@]}" "$remote" "$(printf "%q " "${server_command[@]}")"
  else
    announce "copy the code to $path"
    mkdir -p "$path"
    rsync "${rsync_options[@]}" "$source/" "$path/"

    step="server-side steps in $path"
    "${server_command[@]}"
  fi
}

# Sourced (tests/test_deploy_script.py): the functions only.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  return 0
fi

case "${1:-}" in
--on-server)
  [ $# -eq 2 ] || fail "usage: $0 --on-server PATH"
  on_server "$2"
  ;;
"" | -h | --help)
  sed -n "2,20p" "$0" | sed "s/^# \{0,1\}//"
  [ $# -eq 1 ] || exit 2
  ;;
*)
  [ $# -eq 1 ] || fail "usage: $0 DESTINATION"
  deploy_to "$1"
  ;;
esac
