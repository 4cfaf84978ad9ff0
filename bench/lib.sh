# lib.sh — shared by the bench/*.sh scripts: temp dirs, free ports, nginx, hookd, peak RSS,
# CPU time, waits, and the CHECK / TARGET lines the smoke test reads.
# SMOKE=1 makes every scenario tiny (seconds) so `make test` keeps the scripts working.
#
# Every script prints a Markdown table, then lines of the form
#   CHECK ok|FAIL  what          — correctness (durability, counts): must hold even in SMOKE
#   TARGET met|missed  what      — performance goals: only meaningful in a full run
# and exits 1 when a CHECK failed.
set -eu
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
HOOKD=${HOOKD_BIN:-$ROOT/build/hookd}
SMOKE=${SMOKE:-0}
WORK=$(mktemp -d /tmp/hookd-bench.XXXXXX)
PIDS=""
CHECK_FAILED=0
TOKEN=bench-token-0123456789
SECRET=whsec_bench
PY="python3 $BENCH_DIR/benchlib.py"
# The client: one wrk thread (the other core is the server's), the same for every target.
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-16}

cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  for f in "$WORK"/nginx-*/nginx.pid; do
    p=$(cat "$f" 2>/dev/null || true)
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  # A PostgreSQL server started by pg_start (runs.sh).
  if [ -f "$WORK/pg/pgdir" ]; then sh "$ROOT/scripts/pg-test.sh" stop "$WORK/pg" >/dev/null 2>&1 || true; fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in wrk nginx python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/deps.sh installs it)" >&2; exit 2; }
done
[ -x "$HOOKD" ] || { echo "bench: no hookd at $HOOKD (make, or set HOOKD_BIN)" >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something listens (bounded: 15 s, or SECONDS; a hookd
# under valgrind takes longer to start).
wait_port() {
  python3 -c '
import socket, sys, time
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.02)
sys.exit("bench: nothing listens on %s" % sys.argv[1])' "$1" "${2:-15}"
}

# start_bg NAME CMD…: runs CMD in the background, output in $WORK/NAME.log; sets BG_PID.
start_bg() {
  bg_name=$1; shift
  "$@" >"$WORK/$bg_name.log" 2>&1 &
  BG_PID=$!
  PIDS="$PIDS $BG_PID"
}

# stop_pid PID: SIGTERM and wait (the process must be one of ours).
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# start_nginx PORT STATUS [ACCESS_LOG]: nginx, one worker (hookd runs one loop), answering
# STATUS to every request; with ACCESS_LOG, logs "$msec $http_x_webhook_id $status".
# Sets NGINX_PID (the worker's pid, for its peak RSS).
start_nginx() {
  d="$WORK/nginx-$1"
  mkdir -p "$d"
  if [ -n "${3:-}" ]; then
    log="access_log $3 wh buffer=256k flush=1s;"
  else
    log="access_log off;"
  fi
  cat >"$d/nginx.conf" <<NGX
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 16384; }
http {
  log_format wh '\$msec \$http_x_webhook_id \$status';
  $log
  client_body_temp_path $d;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server { listen 127.0.0.1:$1 backlog=4096; location / { return $2; } }
}
NGX
  nginx -c "$d/nginx.conf" -p "$d" -e "$d/error.log"
  wait_port "$1"
  NGINX_PID=$(ps -o pid= --ppid "$(cat "$d/nginx.pid")" | head -1 | tr -d ' ')
}

# stop_nginx PORT: quick shutdown (flushes the access log).
stop_nginx() {
  f="$WORK/nginx-$1/nginx.pid"
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  kill -QUIT "$p" 2>/dev/null || true
  i=0
  while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  rm -f "$f"
}

# start_serve NAME PORT DB EXTRA…: hookd serve with the bench token, plain HTTP to
# loopback allowed; env SERVE_ARGS adds flags (for experiments). DB is a SQLite file path,
# or a postgres://… URL used as is. Sets SERVE_PID.
start_serve() {
  s_name=$1; port=$2; db=$3; shift 3
  case $db in postgres://*) ;; *) db="sqlite:$db" ;; esac
  start_bg "$s_name" "$HOOKD" serve --listen "127.0.0.1:$port" --db "$db" \
    --api-token "$TOKEN" --allow-http --allow-private-addresses ${SERVE_ARGS:-} "$@"
  SERVE_PID=$BG_PID
  wait_port "$port"
}

# peak_rss_kib PID: the process's high-water resident set, KiB.
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# cpu_ticks PID: user + system CPU time used so far by PID and its waited-for children, in
# clock ticks (1/100 s).
cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# tree_ticks PID…: cpu_ticks of each PID plus those of its live children (a server that
# forks: the children it has reaped are in its own figure already), summed.
tree_ticks() {
  tt_sum=0
  for tt_pid in "$@"; do
    tt_sum=$((tt_sum + $(cpu_ticks "$tt_pid")))
    for tt_child in $(ps -o pid= --ppid "$tt_pid"); do
      tt_sum=$((tt_sum + $(cpu_ticks "$tt_child")))
    done
  done
  echo "$tt_sum"
}

# cpu_s TICKS: seconds. us_per TICKS N: CPU-µs per item (N items in TICKS).
cpu_s() { awk -v t="$1" 'BEGIN { printf "%.1f", t / 100 }'; }
us_per() { awk -v t="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", t * 10000 / n; else print "–" }'; }

# busy_jiffies: "busy total" jiffies of all CPUs from /proc/stat; busy_pct BUSY TOTAL.
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
busy_pct() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? 100 * b / t : 0) }'; }

now_ms() { date +%s%3N; }

# parse_wrk FILE: "requests/s p50_ms p99_ms errors ok_2xx" from a RESULT line (errors =
# failed connections + non-2XX answers).
parse_wrk() {
  awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
       printf "%.0f %.2f %.2f %d %d\n", v["requests"] / (v["duration_us"] / 1e6),
              v["p50_us"] / 1000, v["p99_us"] / 1000, v["errors"] + v["non2xx"],
              v["requests"] - v["non2xx"] }' "$1"
}

# statuses FILE…: the non-2XX answers of wrk runs by status ("503×1200, 500×3"), or "none".
statuses() {
  cat "$@" | awk -F'[ =]' '/^STATUS / { n[$2] += $3 }
    END { for (c in n) { printf "%s%s×%d", (k++ ? ", " : ""), c, n[c] } if (!k) printf "none"; print "" }'
}

# check OK_EXPR WHAT: records a correctness check (OK_EXPR is a shell test expression).
check() {
  if eval "[ $1 ]"; then
    echo "CHECK ok: $2"
  else
    echo "CHECK FAIL: $2"
    CHECK_FAILED=1
  fi
}

# target OK_EXPR WHAT: records whether a performance target was met (awk expression).
target() {
  if awk "BEGIN { exit !($1) }"; then echo "TARGET met: $2"; else echo "TARGET missed: $2"; fi
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

finish() {
  [ "$CHECK_FAILED" = 0 ] || { echo "bench: a correctness check failed" >&2; exit 1; }
}

# The machine, once per script: what the figures depend on.
machine() {
  cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
  echo "machine: $(nproc) CPU ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), hookd $("$HOOKD" --version 2>/dev/null | head -1), SMOKE=$SMOKE"
}
