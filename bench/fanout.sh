#!/bin/sh
# fanout.sh — scenario 4: one event to 10,000 active destinations (each its own URL on one
# nginx). Measured: from the POST of the event to the last of its webhooks succeeded.
# Creating and activating the destinations through the API is setup, timed but not judged.
. "$(dirname "$0")/lib.sh"

N=${N:-10000}
[ "$SMOKE" = 1 ] && N=300
machine
echo "one event to $N destinations, one nginx (204)"

NG=$(free_port)
start_nginx "$NG" 204
SP=$(free_port)
start_serve serve "$SP" "$WORK/serve.db"

T0=$(now_ms)
$PY destinations "$SP" "$TOKEN" "$N" "http://127.0.0.1:$NG/f/{i}" 8 >"$WORK/dests.txt"
SETUP=$(($(now_ms) - T0))

START=$(now_ms)
curl -s -o "$WORK/event.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data '{"event":"events.created","data":{"id":1,"calendar_id":7}}' \
  "http://127.0.0.1:$SP/v1/events" >"$WORK/event.status"
ACCEPTED=$(($(now_ms) - START))
set -- $($PY wait-metric "$SP" 'hookd_webhook_transitions_total{to="succeeded"}' "$N" 120 "$START")
ELAPSED=$1; DONE=$2
RSS=$(awk -v k="$(peak_rss_kib "$SERVE_PID")" 'BEGIN { printf "%.1f", k / 1024 }')
stop_pid "$SERVE_PID"
CREATED=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["webhooks"]))' "$WORK/event.json")
SUCC=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")

echo
echo "| figure | value |"
echo "|---|---|"
echo "| setup: create + activate $N destinations | $SETUP ms |"
echo "| POST /v1/events → 202 ($CREATED webhooks) | $ACCEPTED ms |"
echo "| **POST → all $N delivered** | **$ELAPSED ms** |"
echo "| deliveries/s | $(awk -v n="$DONE" -v ms="$ELAPSED" 'BEGIN { printf "%.0f", n / (ms / 1000) }') |"
echo "| serve peak RSS | $RSS MiB |"
echo
check "$(cat "$WORK/event.status") = 202" "event accepted ($(cat "$WORK/event.status"))"
check "$CREATED -eq $N" "one webhook per destination ($CREATED)"
check "$DONE -ge $N -a $SUCC -eq $N" "all delivered ($DONE per /metrics, $SUCC in the store)"
target "$ELAPSED <= 2000" "all $N delivered within 2 s ($ELAPSED ms)"
finish
