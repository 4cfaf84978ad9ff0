#!/bin/sh
# burst_threads.sh [LABEL] — one burst as burst.sh makes it (wrk -t1 -c64 for DUR s, freshly
# signed webhooks) at `hookd receive --forward` to a local nginx 204, SQLite, default flags,
# and one line: 2XX/s, failed requests (non-2XX or errors), p50, p99 and max, hookd's CPU-µs
# per 2XX, and each thread's CPU-µs per 2XX by name (hookd: the event loop; hookd-store: the
# store thread; hookd-checkpt: its WAL checkpoints). No ceiling and no adnanh: it is for
# alternating builds (HOOKD_BIN=A, then B, …) on a shared machine, where the threads' figures
# say which part moved. Not part of `make bench`.
# env: HOOKD_BIN, DUR (10), RECEIVE_ARGS (flags added to hookd receive), PRE (a shell command
# run with hookd's pid as $1 once it listens, e.g. to start perf trace on it)
. "$(dirname "$0")/lib.sh"

DUR=${DUR:-10}
PORT=$(free_port)
NGP=$(free_port)
start_nginx "$NGP" 204
# shellcheck disable=SC2086
start_bg hookd "$HOOKD" receive --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$(free_port)" \
  --db "sqlite:$WORK/r.db" --secret "$SECRET" --forward "http://127.0.0.1:$NGP/hook" \
  ${RECEIVE_ARGS:-}
HP=$BG_PID
wait_port "$PORT"
[ -n "${PRE:-}" ] && sh -c "$PRE" _ "$HP"

# thread_ticks PID: "tid name ticks" per thread.
thread_ticks() {
  for t in /proc/"$1"/task/*; do
    echo "$(basename "$t") $(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
  done
}
t0=$(cpu_ticks "$HP")
thread_ticks "$HP" > "$WORK/threads0"
BENCH_SECRET=$SECRET wrk -t1 -c64 -d"${DUR}s" --latency -s "$BENCH_DIR/wrk-signed.lua" \
  "http://127.0.0.1:$PORT/" > "$WORK/wrk.txt" 2>&1
t1=$(cpu_ticks "$HP")
thread_ticks "$HP" > "$WORK/threads1"

set -- "${1:-hookd}" $($PY merge-wrk "$WORK/wrk.txt")
label=$1 rate=$2 p50=$3 p99=$4 errors=$5 ok=$6
[ "$ok" -gt 0 ] || { cat "$WORK/wrk.txt" >&2; echo "bench: no 2XX answers" >&2; exit 1; }
max=$(awk '$1 == "Latency" {print $4; exit}' "$WORK/wrk.txt")
threads=$(awk -v n="$ok" 'NR == FNR {before[$1] = $3; next}
  {printf "%s%s:%.1f", (FNR > 1 ? " " : ""), $2, ($3 - before[$1]) * 10000 / n}' \
  "$WORK/threads0" "$WORK/threads1")
echo "$label 2XX/s=$rate failed=$errors p50=${p50}ms p99=${p99}ms max=$max" \
  "cpu/2xx=$(us_per $((t1 - t0)) "$ok") threads=[$threads]"
