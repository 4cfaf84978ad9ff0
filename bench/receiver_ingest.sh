#!/bin/sh
# receiver_ingest.sh — scenario 1: how fast webhooks are taken in. The same wrk client posts
# a fresh, correctly signed webhook per request to (a) nginx answering 204 (the ceiling: no
# checks, no storage), (b) `hookd receive` (verify + durable SQLite store, fsync'd before the
# 200; handler --forward to that nginx, which runs on hookd's own loop: no process per
# webhook; --max-pending raised so that the handler, slower than ingest, does not turn the
# run into fast 503s once 100,000 webhooks wait), (c) adnanh/webhook with a body-only HMAC trigger rule running /bin/true.
# RECEIVE_ARGS="…" adds flags to that hookd receive (experiments).
# After (b), the rows in hookd's store are counted against wrk's 2XX answers.
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-10}
[ "$SMOKE" = 1 ] && DUR=1
OUT=${OUT_DIR:-$WORK}
machine
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s, wrk-signed.lua (fresh id, timestamp, HMAC per request)"
# The disk's floor: a durable answer waits for at least one fdatasync that began after the
# request arrived. A bare loop of 4 KiB appends + fdatasync on the store's filesystem.
FSYNC_FLOOR=$($PY fsync-floor "$WORK/fsync-floor" "$( [ "$SMOKE" = 1 ] && echo 0.2 || echo 2 )")
echo "disk floor: $FSYNC_FLOOR"

NG=$(free_port)
start_nginx "$NG" 204

# run_wrk NAME URL PID [env…]: one wrk run against PID's server; sets R_* figures.
run_wrk() {
  name=$1; url=$2; pid=$3; shift 3
  c0=$(cpu_ticks "$pid")
  env BENCH_SECRET="$SECRET" "$@" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DUR}s" --latency \
    -s "$BENCH_DIR/wrk-signed.lua" "$url" >"$WORK/wrk-$name.txt" 2>&1
  c1=$(cpu_ticks "$pid")
  set -- $(parse_wrk "$WORK/wrk-$name.txt")
  R_RATE=$1; R_P50=$2; R_P99=$3; R_ERR=$4; R_OK=$5
  R_CPU=$(awk -v t=$((c1 - c0)) 'BEGIN { printf "%.1f", t / 100 }')
  R_PER_CPU=$(awk -v n="$R_OK" -v t=$((c1 - c0)) 'BEGIN { printf "%.0f", (t > 0 ? n / (t / 100) : 0) }')
  R_RSS=$(awk -v k="$(peak_rss_kib "$pid")" 'BEGIN { printf "%.1f", k / 1024 }')
}

row() {
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$R_RATE" "$(ratio "$R_RATE" "$NGINX_RATE")" \
    "$R_P50" "$R_P99" "$R_ERR" "$R_OK" "$R_RSS" "$R_CPU" "$R_PER_CPU"
}

# (a) nginx
run_wrk nginx "http://127.0.0.1:$NG/" "$NGINX_PID"
NGINX_RATE=$R_RATE
ROW_A=$(row "nginx 204 (ceiling)")

# (b) hookd receive
RP=$(free_port); AP=$(free_port)
start_bg receive "$HOOKD" receive --listen "127.0.0.1:$RP" --admin-listen "127.0.0.1:$AP" \
  --db "sqlite:$WORK/receive.db" --secret "$SECRET" --forward "http://127.0.0.1:$NG/handler" \
  --max-pending 10000000 ${RECEIVE_ARGS:-}
RECV_PID=$BG_PID
wait_port "$RP"
run_wrk hookd "http://127.0.0.1:$RP/" "$RECV_PID"
HOOKD_RATE=$R_RATE; HOOKD_P99=$R_P99; HOOKD_ERR=$R_ERR; HOOKD_OK=$R_OK
ROW_B=$(row "hookd receive (SQLite, fsync)")
stop_pid "$RECV_PID"
ROWS=$($PY count "$WORK/receive.db" "SELECT COUNT(*) FROM receive_webhooks")
HANDLED=$($PY count "$WORK/receive.db" "SELECT COUNT(*) FROM receive_webhooks WHERE status = 'done'")
SENT=$(awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "requests") print kv[2] } }' "$WORK/wrk-hookd.txt")

# (c) adnanh/webhook
ROW_C="| adnanh/webhook 2.8 | not installed | | | | | | | | |"
if start_adnanh; then
  run_wrk webhook "http://127.0.0.1:$WH_PORT/hooks/bench" "$WH_PID" BENCH_BODY_ONLY=1
  ROW_C=$(row "adnanh/webhook 2.8 (body HMAC, exec /bin/true)")
  stop_pid "$WH_PID"
fi

echo
echo "| server | req/s | × nginx | p50 ms | p99 ms | errors | 2XX | peak RSS MiB | server CPU s | 2XX per CPU-s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
echo "$ROW_A"
echo "$ROW_B"
echo "$ROW_C"
echo
echo "hookd store after the run: $ROWS rows for $HOOKD_OK 2XX answers ($SENT requests completed); $HANDLED already handed to the handler"
for f in "$WORK"/wrk-*.txt; do
  awk '/^CDF/ { print $2, $3 }' "$f" >"$OUT/ingest-$(basename "$f" .txt | sed 's/^wrk-//').cdf"
done

check "$HOOKD_OK -gt 0" "hookd answered 2XX ($HOOKD_OK)"
check "$ROWS -ge $HOOKD_OK" "every 2XX is durable: $ROWS stored rows >= $HOOKD_OK 2XX answers"
check "$ROWS -le $((HOOKD_OK + WRK_CONNS))" "no phantom rows: $ROWS <= 2XX + connections in flight at the cutoff"
target "$(ratio "$HOOKD_RATE" "$NGINX_RATE") >= 0.8" "hookd >= 0.8x nginx's rate ($(ratio "$HOOKD_RATE" "$NGINX_RATE")x)"
target "$HOOKD_ERR == 0" "hookd: zero errors or non-2XX answers ($HOOKD_ERR)"
target "$HOOKD_P99 <= 10" "hookd p99 <= 10 ms ($HOOKD_P99 ms)"
finish
