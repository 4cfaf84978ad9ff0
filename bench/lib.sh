# lib.sh — shared by the bench/*.sh scripts: temp dirs, free ports, nginx, peak RSS, waits.
# SMOKE=1 makes every scenario tiny (seconds) so `make test` keeps the scripts working.
set -eu
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
HOOKD=${HOOKD_BIN:-$ROOT/build/hookd}
SMOKE=${SMOKE:-0}
WORK=$(mktemp -d /tmp/hookd-bench.XXXXXX)
PIDS=""

cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something listens (bounded: 15 s).
wait_port() {
  i=0
  while ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "bench: nothing listens on $1" >&2; exit 1; }
    sleep 0.05
  done
}

# start_nginx PORT STATUS: nginx, one worker (hookd runs one loop), answering STATUS to all.
start_nginx() {
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$1; location / { return $2; } }
}
NGX
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log"
  wait_port "$1"
}

# peak_rss_kib PID: the process's high-water resident set, KiB.
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# parse_wrk FILE: "requests/s p50_ms p99_ms errors" from wrk-signed.lua's RESULT line.
parse_wrk() {
  awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
       printf "%.0f %.2f %.2f %d\n", v["requests"] / (v["duration_us"] / 1e6),
              v["p50_us"] / 1000, v["p99_us"] / 1000, v["errors"] + v["non2xx"] }' "$1"
}
