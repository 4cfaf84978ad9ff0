#!/bin/sh
# pg-test.sh start|stop DIR — a throwaway PostgreSQL for the test suite: initdb into DIR,
# listen on a free loopback port (written to DIR/port), trust auth for user "postgres".
# PostgreSQL refuses to run as root, so as root it runs as the "postgres" system user.
set -eu
action=$1
dir=$2
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg-test: PostgreSQL server not installed (apt-get install postgresql)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

case "$action" in
start)
  "$0" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  mkdir -p "$dir"
  # The server's own files live under /tmp: the postgres user may not reach the build tree.
  pgdir=$(mktemp -d /tmp/hookd-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$pgdir"
  echo "$pgdir" >"$dir/pgdir"
  as_pg "'$bindir/initdb' -D '$pgdir/data' -U postgres -A trust -E UTF8 --no-locale" >"$pgdir/initdb.log" 2>&1 \
    || { cat "$pgdir/initdb.log" >&2; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "'$bindir/pg_ctl' -D '$pgdir/data' -l '$pgdir/server.log' -w -t 60 start \
    -o \"-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$pgdir' \
        -c max_connections=200 -c fsync=on\"" >/dev/null \
    || { cat "$pgdir/server.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
  echo "pg-test: PostgreSQL listening on 127.0.0.1:$port"
  ;;
stop)
  if [ -f "$dir/pgdir" ]; then
    pgdir=$(cat "$dir/pgdir")
    as_pg "'$bindir/pg_ctl' -D '$pgdir/data' -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$pgdir" "$dir/pgdir"
  fi
  echo "pg-test: stopped"
  ;;
*)
  echo "usage: pg-test.sh start|stop DIR" >&2; exit 2 ;;
esac
