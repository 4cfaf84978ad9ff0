#!/bin/sh
# sender_throughput.sh — scenario 2: how fast `hookd serve` delivers, and at what CPU cost.
# wrk posts events to the API as fast as it answers; each event fans out to 10 active
# destinations on one nginx (204, logging each X-Webhook-Id). Deliveries/s = webhooks
# created / (first post → last one succeeded), next to the ceiling of the same run: wrk's own
# rate posting a signed webhook straight to an nginx. CPU-µs per delivery = hookd serve's CPU
# over that whole time / webhooks (PostgreSQL's CPU added in a second figure). Side by side
# on SQLite and PostgreSQL (BACKENDS="sqlite postgres"; postgres only where installed).
# CHECKs: every webhook delivered, once (store, /metrics and the destination's access log).
# TARGETs: issue 10's (≥ 0.2× the ceiling, ≤ 25 CPU-µs per delivery) and the first
# benchmark page's ≥ 0.4× the ceiling. PERF=1: a perf profile of each hookd serve run.
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-10}
DESTS=10
if [ "$SMOKE" = 1 ]; then
  DUR=1
  SMOKE_RATE=100 # events/s: 1,000 webhooks, so that the PostgreSQL run stays short too
fi
backends_available
machine
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s${SMOKE_RATE:+, events paced at $SMOKE_RATE/s}; $DESTS destinations, one nginx (204)"

# The ceiling: wrk straight to an nginx, same client settings.
ceiling_run
CEIL=$W_RATE
stop_nginx "$CEIL_PORT"
WRK_ENV=${SMOKE_RATE:+BENCH_RATE=$SMOKE_RATE}

ROWS=""; CHECKS=""; TARGETS=""
for backend in $BACKENDS; do
  backend_db "$backend" send
  label=$B_LABEL; db=$B_DB
  pg=–; [ "$backend" = postgres ] && pg=
  send_run "$label" 1 "$db"
  US=$(us_per "$M_HOOKD_T" "$S_EXPECT")
  ROWS="$ROWS
| hookd serve, $label | $S_EV_RATE ($S_EV_P50 / $S_EV_P99 ms, $S_EV_ERR errors) | $S_EXPECT | $S_ELAPSED | **$S_RATE** | $(ratio "$S_RATE" "$CEIL") | $S_AT_DEST ($S_DISTINCT distinct) | $(cpu_s "$M_HOOKD_T") | **$US** | ${pg:-$(cpu_s "$M_PG_T")} | ${pg:-$(us_per $((M_HOOKD_T + M_PG_T)) "$S_EXPECT")} | $(awk -v k="$M_RSS" 'BEGIN { printf "%.1f", k / 1024 }') |"
  SPLITS="${SPLITS:-}
- $label: $(cpu_split "$S_INGEST_T" "$S_DRAIN_T" "$S_DRAIN_N" "$S_AT_DEST" "$S_EV_OK" delivery "event (202)")"
  if [ -n "$PERF_PID" ]; then PROFILES="${PROFILES:-}

perf, hookd serve on $label, whole run (self time, 199 Hz):
$PERF_REPORT"; fi
  CHECKS="$CHECKS
$(send_checks "hookd serve, $label")"
  TARGETS="$TARGETS
$(target "$(ratio "$S_RATE" "$CEIL") >= 0.2" "$label: deliveries/s >= 0.2x the ceiling, issue 10 ($(ratio "$S_RATE" "$CEIL")x)")
$(target "$US <= 25" "$label: CPU per delivery <= 25 us, issue 10 ($US us)")
$(target "$(ratio "$S_RATE" "$CEIL") >= 0.4" "$label: deliveries/s >= 0.4x the ceiling, first benchmark page ($(ratio "$S_RATE" "$CEIL")x)")"
done

echo
echo "ceiling: wrk → nginx 204, $CEIL req/s"
echo
echo "| server | events accepted (202)/s (p50 / p99) | webhooks created | first post → last delivery ms | deliveries/s | × ceiling | requests at the destinations | hookd CPU s | CPU-µs per delivery | PostgreSQL CPU s | CPU-µs per delivery with PostgreSQL's | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "$ROWS" | sed '/^$/d'
echo
echo "hookd serve's CPU, split:$SPLITS"
[ -z "${PROFILES:-}" ] || echo "$PROFILES"
echo
emit_checks "$CHECKS"
echo "$TARGETS" | sed '/^$/d'
finish
