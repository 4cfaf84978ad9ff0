#!/bin/sh
# isolation.sh — scenario 5: 100 destinations; in the second run 10 of them never answer (a
# listener that accepts and stays silent, so each attempt holds its slot for the whole
# --timeout). The 90 healthy ones must keep >= 0.9x the delivery rate they get when all 100
# are healthy. Each run: wrk posts events for DUR s; rate = healthy deliveries / (first post
# → last healthy delivery).
. "$(dirname "$0")/lib.sh"

DUR=${DUR:-8}
DESTS=100
BAD=10
[ "$SMOKE" = 1 ] && { DUR=1; DESTS=20; BAD=2; }
machine
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s posting events; $DESTS destinations"

NG=$(free_port)
start_nginx "$NG" 204
BH=$(free_port)
start_bg blackhole $PY blackhole "$BH"
wait_port "$BH"

# run NAME BAD_COUNT: one measured run with a fresh store; sets H_RATE H_DONE H_EXPECT.
run() {
  rname=$1; bad=$2
  sp=$(free_port)
  start_serve "serve-$rname" "$sp" "$WORK/$rname.db"
  good=$((DESTS - bad))
  $PY destinations "$sp" "$TOKEN" "$good" "http://127.0.0.1:$NG/ok{i}" 8 >"$WORK/$rname-good.txt"
  if [ "$bad" -gt 0 ]; then
    $PY destinations "$sp" "$TOKEN" "$bad" "http://127.0.0.1:$BH/silent{i}" 4 >"$WORK/$rname-bad.txt"
  fi
  start=$(now_ms)
  BENCH_TOKEN=$TOKEN wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DUR}s" -s "$BENCH_DIR/wrk-events.lua" \
    "http://127.0.0.1:$sp/" >"$WORK/wrk-$rname.txt" 2>&1
  set -- $(parse_wrk "$WORK/wrk-$rname.txt")
  H_EVENTS=$5; H_ERR=$4
  sleep 0.3
  # Healthy webhooks: those of the first $good destinations (created first).
  H_EXPECT=$($PY count "$WORK/$rname.db" "SELECT COUNT(*) FROM serve_webhooks w JOIN serve_destinations d ON d.id = w.destination_id WHERE d.url LIKE '%/ok%'")
  set -- $($PY wait-metric "$sp" 'hookd_webhook_transitions_total{to="succeeded"}' "$H_EXPECT" 300 "$start")
  H_ELAPSED=$1; H_DONE=$2
  H_RATE=$(awk -v n="$H_DONE" -v ms="$H_ELAPSED" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
  H_INFLIGHT=$($PY metric "$sp" hookd_attempts_in_flight)
  # A graceful stop would wait out the silent attempts (--timeout): kill -9 loses nothing.
  kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
  H_SUCC=$($PY count "$WORK/$rname.db" "SELECT COUNT(*) FROM serve_webhooks w JOIN serve_destinations d ON d.id = w.destination_id WHERE d.url LIKE '%/ok%' AND w.status = 'succeeded'")
}

run healthy 0
A_RATE=$H_RATE; A_PER=$(awk -v r="$H_RATE" -v g=$DESTS 'BEGIN { printf "%.0f", r / g }')
ROW_A="| all $DESTS healthy | $H_EVENTS | $H_EXPECT | $H_ELAPSED | $H_RATE | $A_PER | – |"
A_OK=$([ "$H_SUCC" -eq "$H_EXPECT" ] && echo 1 || echo 0); A_ERR=$H_ERR
A_SUCC=$H_SUCC; A_EXPECT=$H_EXPECT

run silent $BAD
B_PER=$(awk -v r="$H_RATE" -v g=$((DESTS - BAD)) 'BEGIN { printf "%.0f", r / g }')
ROW_B="| $BAD of $DESTS silent | $H_EVENTS | $H_EXPECT | $H_ELAPSED | $H_RATE | $B_PER | $(ratio "$B_PER" "$A_PER") |"

echo
echo "| run | events | healthy webhooks | first post → last healthy delivery ms | healthy deliveries/s | per healthy destination /s | × all-healthy |"
echo "|---|---|---|---|---|---|---|"
echo "$ROW_A"
echo "$ROW_B"
echo
echo "attempts still in flight at the end of the silent run (held by the silent destinations): $H_INFLIGHT"
check "$A_OK -eq 1 -a $A_ERR -eq 0" "all-healthy run: every webhook delivered ($A_SUCC of $A_EXPECT), no API errors"
check "$H_SUCC -eq $H_EXPECT -a $H_ERR -eq 0" "silent run: every healthy webhook delivered ($H_SUCC of $H_EXPECT), no API errors"
target "$(ratio "$B_PER" "$A_PER") >= 0.9" "healthy destinations keep >= 0.9x their rate ($(ratio "$B_PER" "$A_PER")x)"
finish
