#!/bin/sh
# sender_latency.sh — scenario 3: delivery latency at a fixed offered rate of 2,000 events/s
# to one destination. wrk-events.lua paces the posts (open loop) and logs the moment each 202
# arrived with its webhook ids; nginx logs $msec and X-Webhook-Id of each delivery; the two
# logs are joined: latency = delivery logged by nginx − 202 received by the client (same
# clock; nginx's $msec is truncated to the millisecond, so 1 ms is added: the figures are
# upper bounds, never flattering).
. "$(dirname "$0")/lib.sh"

DUR=${DUR:-15}
RATE=${RATE:-2000}
[ "$SMOKE" = 1 ] && DUR=1
OUT=${OUT_DIR:-$WORK}
machine
echo "client: wrk -t1 -c32 -d${DUR}s, paced at $RATE events/s (wrk-events.lua BENCH_RATE); 1 destination, nginx 204 with an access log"

NG=$(free_port)
start_nginx "$NG" 204 "$WORK/access.log"
SP=$(free_port)
start_serve serve "$SP" "$WORK/serve.db"
$PY destinations "$SP" "$TOKEN" 1 "http://127.0.0.1:$NG/lat" 1 >"$WORK/dests.txt"

START=$(now_ms)
BENCH_TOKEN=$TOKEN BENCH_RATE=$RATE BENCH_LOG="$WORK/client.log" wrk -t1 -c32 -d"${DUR}s" \
  -s "$BENCH_DIR/wrk-events.lua" "http://127.0.0.1:$SP/" >"$WORK/wrk.txt" 2>&1
set -- $(parse_wrk "$WORK/wrk.txt")
EV_RATE=$1; EV_P50=$2; EV_P99=$3; EV_ERR=$4; EV_OK=$5
sleep 0.3
EXPECT=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks")
set -- $($PY wait-metric "$SP" 'hookd_webhook_transitions_total{to="succeeded"}' "$EXPECT" 120 "$START")
DONE=$2
RSS=$(awk -v k="$(peak_rss_kib "$SERVE_PID")" 'BEGIN { printf "%.1f", k / 1024 }')
stop_pid "$SERVE_PID"
stop_nginx "$NG"
cat "$WORK"/client.log.* >"$WORK/client.log"
set -- $($PY latency-join "$WORK/client.log" "$WORK/access.log" "$OUT/sender_latency.cdf")
MATCHED=$1; MISSING=$2; P50=$3; P90=$4; P99=$5; P999=$6; MAX=$7
LOGGED=$(wc -l <"$WORK/client.log")

echo
echo "| figure | value |"
echo "|---|---|"
echo "| offered | $RATE events/s for ${DUR} s |"
echo "| achieved (202s) | $EV_RATE events/s, API p50 $EV_P50 ms, p99 $EV_P99 ms, errors $EV_ERR |"
echo "| deliveries joined | $MATCHED ($MISSING 202'd webhooks not seen by nginx) |"
echo "| **202 → delivered p50** | **$P50 ms** |"
echo "| p90 | $P90 ms |"
echo "| **p99** | **$P99 ms** |"
echo "| p99.9 / max | $P999 / $MAX ms |"
echo "| serve peak RSS | $RSS MiB |"
echo
check "$EV_ERR -eq 0" "API errors: $EV_ERR"
check "$DONE -ge $EXPECT" "every webhook delivered per /metrics ($DONE of $EXPECT)"
check "$LOGGED -ge $EV_OK -a $MISSING -eq 0 -a $MATCHED -gt 0" "every 202'd webhook reached nginx ($MATCHED joined, $MISSING missing, $LOGGED 202s logged)"
target "$EV_RATE >= 0.95 * $RATE" "offered rate held: $EV_RATE of $RATE /s"
target "$P50 <= 5" "p50 <= 5 ms ($P50 ms)"
target "$P99 <= 50" "p99 <= 50 ms ($P99 ms)"
finish
