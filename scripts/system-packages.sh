#!/usr/bin/env bash
# Installs the Debian packages named on the command line, only those missing.
# Usage: scripts/system-packages.sh COMMAND=PACKAGE [COMMAND=PACKAGE ...]
#   e.g. scripts/system-packages.sh redis-server=redis-server
# A COMMAND is looked up on PATH, in /usr/sbin (not on a user's PATH) and in
# PostgreSQL's versioned bin folders; when it is missing, PACKAGE is installed with
# apt-get (as root, or through password-less sudo as on GitHub's runners), or the
# script stops with a message naming what to install.
set -euo pipefail

have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null 2>&1
}

missing=()
for pair in "$@"; do
  command=${pair%%=*}
  package=${pair#*=}
  have "$command" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo -n DEBIAN_FRONTEND=noninteractive)
if command -v apt-get >/dev/null 2>&1 &&
  { [ ${#as_root[@]} -eq 0 ] || sudo -n true 2>/dev/null; }; then
  echo "Installing missing system packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  "${as_root[@]}" apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "Missing system packages: ${missing[*]}. Install them (e.g. sudo apt-get install ${missing[*]}) and retry." >&2
  exit 1
fi
