#!/bin/sh
# backlog.sh — scenario 6: `hookd serve` restarted over a store holding 1,000,000 pending
# webhooks (100,000 events × 10 destinations, inserted straight into the schema serve
# created, as POST /v1/events writes them). Measured: time from exec to the first delivery
# (nginx's access log), peak RSS while it works through the backlog for RUN_S seconds, and
# the delivery rate meanwhile.
. "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-100000}
DESTS=10
RUN_S=${RUN_S:-15}
[ "$SMOKE" = 1 ] && { EVENTS=1000; RUN_S=0; }
N=$((EVENTS * DESTS))
machine
echo "$N pending webhooks ($EVENTS events × $DESTS destinations), one nginx (204) with an access log"

NG=$(free_port)
start_nginx "$NG" 204 "$WORK/access.log"
SP=$(free_port)
start_serve serve-setup "$SP" "$WORK/serve.db"
$PY destinations "$SP" "$TOKEN" "$DESTS" "http://127.0.0.1:$NG/b{i}" 4 >"$WORK/dests.txt"
stop_pid "$SERVE_PID"

T0=$(now_ms)
$PY backlog "$WORK/serve.db" "$EVENTS" "$WORK/dests.txt" '{"event":"events.created","data":{"id":{i},"calendar_id":7}}'
INSERT_MS=$(($(now_ms) - T0))
PENDING=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'pending'")
DBSIZE=$(du -sm "$WORK" | cut -f1)

START=$(now_ms)
start_serve serve "$SP" "$WORK/serve.db"
LISTEN_MS=$(($(now_ms) - START))
if [ "$RUN_S" = 0 ]; then
  # SMOKE: run until the whole backlog is delivered.
  set -- $($PY wait-metric "$SP" 'hookd_webhook_transitions_total{to="succeeded"}' "$N" 120 "$START")
  RAN_MS=$1
else
  sleep "$RUN_S"
  RAN_MS=$(($(now_ms) - START))
fi
RSS=$(peak_rss_kib "$SERVE_PID")
stop_pid "$SERVE_PID"
stop_nginx "$NG"
set -- $(awk -v s="$START" 'NR == 1 || $1 < m { m = $1 } { n++ } END { printf "%.0f %d\n", m * 1000 + 1 - s, n }' "$WORK/access.log")
FIRST_MS=$1; HITS=$2
SUCC=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")
BAD=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks WHERE status NOT IN ('succeeded', 'pending')")
RSS_MIB=$(awk -v k="$RSS" 'BEGIN { printf "%.1f", k / 1024 }')

echo
echo "| figure | value |"
echo "|---|---|"
echo "| backlog | $PENDING pending webhooks (inserted in $INSERT_MS ms; work dir $DBSIZE MiB) |"
echo "| exec → listening | $LISTEN_MS ms |"
echo "| **exec → first delivery** | **$FIRST_MS ms** |"
echo "| **peak RSS** (VmHWM, over $RAN_MS ms) | **$RSS_MIB MiB** |"
echo "| delivered in that time | $HITS ($(awk -v n="$HITS" -v ms="$RAN_MS" 'BEGIN { printf "%.0f", n / (ms / 1000) }')/s), $SUCC recorded succeeded |"
echo
check "$PENDING -eq $N" "backlog in place ($PENDING of $N pending)"
check "$HITS -gt 0 -a $SUCC -le $HITS" "deliveries made, none recorded without reaching nginx ($SUCC <= $HITS)"
check "$BAD -eq 0" "no webhook failed or cancelled ($BAD)"
[ "$RUN_S" = 0 ] && check "$SUCC -eq $N" "SMOKE: the whole backlog delivered ($SUCC of $N)"
target "$RSS_MIB <= 64" "peak RSS <= 64 MiB ($RSS_MIB MiB)"
target "$FIRST_MS <= 1000" "first delivery <= 1 s after the restart ($FIRST_MS ms)"
finish
