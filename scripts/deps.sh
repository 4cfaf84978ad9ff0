#!/bin/sh
# scripts/deps.sh [SET...] — the Debian packages hookd needs, by what you want to do:
#   build   compile hookd and its unit tests (make, make run)         — the default
#   test    build + what the tests start or call (make test, make sanitize, make tsan):
#           PostgreSQL, python3, curl, clang-format, man-db, systemd-analyze, strace (the
#           fsync-before-2XX test watches hookd's system calls), chromium (the
#           admin panel's browser tests, driven by playwright-core from npm), and wrk + nginx +
#           adnanh/webhook for the benchmark smoke test that make test runs; and Node.js 20
#           with npm (not Debian packages here: checked, not installed), which the provider
#           and OpenAPI tests use to install the providers' libraries and @redocly/cli
#   bench   build + the benchmark tools (make bench): wrk, nginx, webhook, gnuplot
#   fuzz    clang with libFuzzer (fuzz/run.sh)
#   format  clang-format (make format, make format-check)
# As root it installs what is missing; otherwise it prints the exact apt-get line and
# exits 1. Only the sets asked for are checked, so `make` never needs a benchmark tool.
set -eu
build="build-essential cmake pkg-config libevent-dev libjansson-dev
libsqlite3-dev libssl-dev libpq-dev libcmocka-dev python3 python3-yaml"
# python3 is in build: the configure step registers the Python black-box tests, and
# python3-yaml turns docs/openapi.yaml into the JSON the binary serves.
# man-db renders the man pages, systemd gives systemd-analyze verify (the units are checked,
# not run), dpkg-dev (from build-essential) builds the package in the test of make deb.
test_only="postgresql curl openssl clang-format wrk nginx-light webhook man-db systemd chromium strace"
bench_only="curl wrk nginx-light webhook gnuplot-nox postgresql"

pkgs=""
for set in "${@:-build}"; do
  case "$set" in
  build) pkgs="$pkgs $build" ;;
  test) pkgs="$pkgs $build $test_only" ;;
  bench) pkgs="$pkgs $build $bench_only" ;;
  fuzz) pkgs="$pkgs clang" ;;
  format) pkgs="$pkgs clang-format" ;;
  *) echo "usage: $0 [build|test|bench|fuzz|format]..." >&2; exit 2 ;;
  esac
done

need_node=0
for set in "${@:-build}"; do
  [ "$set" = test ] && need_node=1
done
if [ "$need_node" = 1 ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
  echo "deps: 'test' needs Node.js 20 and npm on the PATH (node: $(command -v node || echo missing)," >&2
  echo "  npm: $(command -v npm || echo missing)); install them from https://nodejs.org" >&2
  exit 1
fi

missing=""
for p in $(echo $pkgs | tr ' ' '\n' | sort -u); do
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
  echo "deps: missing Debian packages for '${*:-build}'. Run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
