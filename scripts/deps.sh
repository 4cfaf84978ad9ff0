#!/bin/sh
# Installs the Debian packages hookd builds and tests with, when run as root;
# otherwise names the exact apt-get line and stops.
set -eu
pkgs="build-essential cmake pkg-config libcurl4-openssl-dev libevent-dev libjansson-dev
libsqlite3-dev libssl-dev libpq-dev libcmocka-dev postgresql python3 curl openssl wrk nginx-light webhook gnuplot-nox"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "deps: missing Debian packages. Run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
