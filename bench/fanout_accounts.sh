#!/bin/sh
# fanout_accounts.sh — issue 13's benchmark: fan-out to ONE account's 10 destinations among
# 10,000 active ones (1,000 accounts × 10) against the same 10 alone, in one run.
#   latency: events posted one after the other, each timed from its POST until its 10
#     webhooks succeeded (p50 of EVENTS events);
#   stream: wrk -c16 posting events for DUR s; deliveries/s until the last one succeeded,
#     and hookd serve's CPU-µs per delivery.
# The crowd (999 other accounts × 10 destinations, every one active and subscribed, on the
# same nginx) is created through the API before the measured part; it receives nothing.
# TARGETs: both ratios within 1.2× (latency ≤ 1.2× the single-account one, deliveries/s ≥
# 1/1.2 of it). BACKEND=postgres runs it on PostgreSQL (default sqlite).
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-6}
EVENTS=${EVENTS:-40}
ACCOUNTS=${ACCOUNTS:-1000}
BACKEND=${BACKEND:-sqlite}
if [ "$SMOKE" = 1 ]; then
  DUR=1; EVENTS=5; ACCOUNTS=30
  WRK_ENV=BENCH_RATE=100 # events/s: a short stream
fi
DESTS=10
machine
echo "one account's $DESTS destinations, alone and among $ACCOUNTS accounts × $DESTS; $BACKEND; latency: $EVENTS events one by one; stream: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s"

NG=$(free_port)
start_nginx "$NG" 204

# one_case NAME CROWD: a fresh store, 10 destinations in "default" plus CROWD other
# accounts × 10; sets C_P50 C_P90 C_RATE C_US C_DONE C_N C_SUCC.
one_case() {
  oc_name=$1; oc_crowd=$2
  backend_db "$BACKEND" "acc_$oc_name"
  oc_port=$(free_port)
  case $B_DB in sqlite:*) oc_db=${B_DB#sqlite:} ;; *) oc_db=$B_DB ;; esac
  start_serve "serve-$oc_name" "$oc_port" "$oc_db"
  $PY destinations "$oc_port" "$TOKEN" "$DESTS" "http://127.0.0.1:$NG/d{i}" 4 >/dev/null
  if [ "$oc_crowd" -gt 0 ]; then
    $PY accounts "$oc_port" "$TOKEN" "$oc_crowd" "$DESTS" "http://127.0.0.1:$NG/c{i}" 8
  fi
  set -- $($PY event-latency "$oc_port" "$TOKEN" "$EVENTS" "$DESTS" 60)
  C_P50=$1; C_P90=$2
  oc_t0=$(tree_ticks "$SERVE_PID")
  oc_base=$(db_count "$B_DB" "SELECT COUNT(*) FROM serve_webhooks")
  oc_start=$(now_ms)
  run_clients wrk-events.lua "acc-$oc_name" "$oc_port"
  # events wrk left in flight may still commit: count once the number stops moving
  oc_all=-1; oc_now=0
  while [ "$oc_now" != "$oc_all" ]; do
    oc_all=$oc_now; sleep 0.5
    oc_now=$(db_count "$B_DB" "SELECT COUNT(*) FROM serve_webhooks")
  done
  C_N=$((oc_all - oc_base))
  set -- $($PY wait-metric "$oc_port" 'hookd_webhook_transitions_total{to="succeeded"}' \
    $((C_N + oc_base)) 300 "$oc_start")
  oc_ms=$1; C_DONE=$(($2 - oc_base))
  C_US=$(us_per $(($(tree_ticks "$SERVE_PID") - oc_t0)) "$C_N")
  C_RATE=$(awk -v n="$C_DONE" -v ms="$oc_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
  stop_pid "$SERVE_PID"
  C_SUCC=$(db_count "$B_DB" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")
  C_ALL=$(db_count "$B_DB" "SELECT COUNT(*) FROM serve_webhooks")
  C_DESTS=$(db_count "$B_DB" "SELECT COUNT(*) FROM serve_destinations WHERE active = 1")
}

one_case single 0
S_P50=$C_P50; S_P90=$C_P90; S_RATE=$C_RATE; S_US=$C_US; S_N=$C_N
check "$C_SUCC -eq $C_ALL -a $C_DONE -ge $C_N" "single account: every webhook delivered ($C_SUCC of $C_ALL)"
one_case accounts $((ACCOUNTS - 1))
check "$C_SUCC -eq $C_ALL -a $C_DONE -ge $C_N" "among $ACCOUNTS accounts: every webhook delivered ($C_SUCC of $C_ALL), none to the crowd"
check "$C_DESTS -eq $((ACCOUNTS * DESTS))" "$C_DESTS active destinations"
stop_nginx "$NG"

LAT=$(ratio "$C_P50" "$S_P50")
RATE=$(ratio "$S_RATE" "$C_RATE")
echo
echo "| case | active destinations | POST → 10 delivered, p50 / p90 ms | stream: webhooks | deliveries/s | CPU-µs per delivery |"
echo "|---|---|---|---|---|---|"
echo "| one account alone | $DESTS | $S_P50 / $S_P90 | $S_N | $S_RATE | $S_US |"
echo "| one account among $ACCOUNTS | $C_DESTS | $C_P50 / $C_P90 | $C_N | $C_RATE | $C_US |"
echo
echo "ratio (among $ACCOUNTS / alone): latency ${LAT}×, deliveries/s slower by ${RATE}×"
echo
target "$LAT <= 1.2" "POST → delivered within 1.2x of one account alone (${LAT}x)"
target "$RATE <= 1.2" "deliveries/s within 1.2x of one account alone (${RATE}x slower)"
finish
