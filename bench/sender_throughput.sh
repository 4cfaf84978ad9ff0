#!/bin/sh
# sender_throughput.sh — scenario 2: how fast `hookd serve` delivers. wrk posts events to the
# API as fast as it answers; each event fans out to 10 active destinations on one nginx.
# Deliveries/s = webhooks created / (time from the first post until the last one succeeded),
# next to the ceiling: wrk's own rate posting a signed webhook straight to that nginx.
. "$(dirname "$0")/lib.sh"

DUR=${DUR:-10}
DESTS=10
[ "$SMOKE" = 1 ] && DUR=1
machine
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s; $DESTS destinations, one nginx (204)"

NG=$(free_port)
start_nginx "$NG" 204

# The ceiling: wrk straight to the nginx, same client settings.
BENCH_SECRET=$SECRET wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DUR}s" -s "$BENCH_DIR/wrk-signed.lua" \
  "http://127.0.0.1:$NG/" >"$WORK/wrk-nginx.txt" 2>&1
set -- $(parse_wrk "$WORK/wrk-nginx.txt")
CEIL=$1

SP=$(free_port)
start_serve serve "$SP" "$WORK/serve.db"
$PY destinations "$SP" "$TOKEN" "$DESTS" "http://127.0.0.1:$NG/d{i}" 4 >"$WORK/dests.txt"

START=$(now_ms)
C0=$(cpu_ticks "$SERVE_PID")
BENCH_TOKEN=$TOKEN wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DUR}s" -s "$BENCH_DIR/wrk-events.lua" \
  "http://127.0.0.1:$SP/" >"$WORK/wrk-events.txt" 2>&1
set -- $(parse_wrk "$WORK/wrk-events.txt")
EV_RATE=$1; EV_P50=$2; EV_P99=$3; EV_ERR=$4; EV_OK=$5
# Events still in flight when wrk stopped may have been accepted too: count the store.
sleep 0.3
EXPECT=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks")
set -- $($PY wait-metric "$SP" 'hookd_webhook_transitions_total{to="succeeded"}' "$EXPECT" 300 "$START")
ELAPSED=$1; DONE=$2
C1=$(cpu_ticks "$SERVE_PID")
RSS=$(awk -v k="$(peak_rss_kib "$SERVE_PID")" 'BEGIN { printf "%.1f", k / 1024 }')
stop_pid "$SERVE_PID"
SUCC=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")
OTHER=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks WHERE status <> 'succeeded'")
RATE=$(awk -v n="$DONE" -v ms="$ELAPSED" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
CPU=$(awk -v t=$((C1 - C0)) 'BEGIN { printf "%.1f", t / 100 }')

echo
echo "| figure | value |"
echo "|---|---|"
echo "| ceiling: wrk → nginx, req/s | $CEIL |"
echo "| events accepted (202), /s | $EV_RATE (p50 $EV_P50 ms, p99 $EV_P99 ms, errors $EV_ERR) |"
echo "| webhooks created | $EXPECT ($EV_OK events answered 202 × $DESTS, + any in flight at the cutoff) |"
echo "| first post → last delivery | $ELAPSED ms |"
echo "| **deliveries/s** | **$RATE** |"
echo "| × ceiling | $(ratio "$RATE" "$CEIL") |"
echo "| serve CPU s (its 2 threads) / peak RSS MiB | $CPU / $RSS |"
echo
check "$EV_OK -gt 0" "events accepted ($EV_OK)"
check "$EV_ERR -eq 0" "API errors: $EV_ERR"
check "$DONE -ge $EXPECT" "every webhook delivered per /metrics ($DONE of $EXPECT)"
check "$EXPECT -ge $((EV_OK * DESTS))" "every 202 created its $DESTS webhooks ($EXPECT >= $((EV_OK * DESTS)))"
check "$SUCC -eq $EXPECT -a $OTHER -eq 0" "store: $SUCC succeeded of $EXPECT, $OTHER in another state"
target "$(ratio "$RATE" "$CEIL") >= 0.4" "deliveries/s >= 0.4x the ceiling ($(ratio "$RATE" "$CEIL")x)"
finish
