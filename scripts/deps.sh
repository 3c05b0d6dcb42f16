#!/bin/sh
# Checks the system libraries usersim builds against. Missing ones are installed with apt-get
# when running as root; otherwise the exact command is printed and the check fails.
# Usage: scripts/deps.sh [extra-debian-package ...]
set -u
need=""
have_pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
have_pc openblas || need="$need libopenblas-dev"
have_pc libcjson || need="$need libcjson-dev"
have_pc libcurl || need="$need libcurl4-openssl-dev"
have_pc sqlite3 || need="$need libsqlite3-dev"
have_pc zlib || need="$need zlib1g-dev"
have_pc libcrypto || need="$need libssl-dev"
for extra in "$@"; do
  dpkg -s "$extra" >/dev/null 2>&1 || need="$need $extra"
done
[ -z "$need" ] && exit 0
cmd="apt-get install -y --no-install-recommends$need"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && $cmd >/dev/null || { echo "deps: '$cmd' failed" >&2; exit 1; }
  exit 0
fi
echo "deps: missing$need; install them with:" >&2
echo "  sudo apt-get update && sudo $cmd" >&2
exit 1
