#!/bin/sh
# burst.sh — issue 10's burst, as a new user meets it: `hookd receive` with only the README's
# flags (--secret, --listen, --db, --forward to a local nginx answering 204; no --workers, no
# --max-pending), and wrk posting freshly signed webhooks at 64 connections for 10 s. Side
# by side in one run, the same client against:
#   nginx `return 204` (the ceiling: no checks, no storage, nothing handled),
#   adnanh/webhook (forks /bin/true per request; stores nothing: handled = answered),
#   hookd receive on SQLite, and on PostgreSQL (BACKENDS="sqlite postgres"; postgres only
#   where a server is installed).
# For hookd the run lasts until the inbox drains: handled/s end to end = webhooks handed to
# the forward target / (first post → last forward seen by that nginx). CPU-µs per webhook =
# the server's CPU (children included; for adnanh the reaped /bin/true; for hookd over the
# whole run until drained; PostgreSQL's separately) / 2XX answers.
# CHECKs: every 2XX stored, every stored webhook forwarded exactly once (distinct
# X-Webhook-Id in the forward target's access log). TARGETs (issue 10; missed ones do not
# fail the run): 0 non-2XX, 2XX ≥ 0.4× nginx, handled ≥ 0.8× 2XX and ≥ 3× adnanh, p99 ≤ 10 ms.
# Env: DUR (default 10), BURST_CONNS (64), BACKENDS, DRAIN_S (300), RECEIVE_ARGS (flags
# added to hookd receive, for experiments: the table says so when set), PERF=1 (a perf
# profile of each hookd run; perf's own cost then skews the figures).
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-10}
WRK_CONNS=${BURST_CONNS:-64}
DRAIN=1
DRAIN_S=${DRAIN_S:-300}
if [ "$SMOKE" = 1 ]; then
  # Tiny: 1 s paced at 300 webhooks/s, so that the drain is short too.
  DUR=1; WRK_CONNS=8; DRAIN_S=60
  export BENCH_RATE=300
fi
backends_available
machine
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s, wrk-signed.lua (fresh id, timestamp, HMAC per request)${BENCH_RATE:+, paced at $BENCH_RATE/s}"
# The disk's floor: a durable 2XX waits for at least one fdatasync begun after the request came.
echo "disk floor: $($PY fsync-floor "$WORK/fsync-floor" "$( [ "$SMOKE" = 1 ] && echo 0.2 || echo 2 )")"
echo "hookd receive flags: --listen --admin-listen (free ports) --db --secret --forward${RECEIVE_ARGS:+ $RECEIVE_ARGS}"

# row NAME 2XX/s NON2XX STATUSES HANDLED/s P50 P99 2XX_COUNT TICKS PG_TICKS: one table row.
row() {
  printf '| %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" \
    "$(ratio "$2" "$NGINX_RATE")" "$3" "$4" "$5" "$([ "$5" = – ] && echo – || ratio "$5" "$2")" "$6" "$7" \
    "$(us_per "$9" "$8")" "$([ "${10}" = – ] && echo – || us_per "$(($9 + ${10}))" "$8")"
}

ceiling_run
stop_nginx "$CEIL_PORT"
NGINX_RATE=$W_RATE; NGINX_US=$(us_per "$W_TICKS" "$W_OK")
ROWS=$(row "nginx 204 (ceiling)" "$W_RATE" "$W_ERR" "$W_STATUSES" – "$W_P50" "$W_P99" "$W_OK" "$W_TICKS" –)

ADNANH_RATE=0
if start_adnanh; then
  WRK_ENV=BENCH_BODY_ONLY=1 wrk_run webhook wrk-signed.lua "$WH_PID" "$WH_PORT/hooks/bench"
  stop_pid "$WH_PID"
  ADNANH_RATE=$W_RATE
  ROWS="$ROWS
$(row "adnanh/webhook $(webhook -version | awk '{print $3}') (body HMAC, fork /bin/true)" "$W_RATE" "$W_ERR" "$W_STATUSES" "$W_RATE" "$W_P50" "$W_P99" "$W_OK" "$W_TICKS" –)"
else
  ROWS="$ROWS
| adnanh/webhook | not installed | | | | | | | | |"
fi

CHECKS=""; TARGETS=""
for backend in $BACKENDS; do
  backend_db "$backend" burst
  label=$B_LABEL; db=$B_DB
  recv_run "$label" 1 "$db" 1 "${RECEIVE_ARGS:-}"
  ROWS="$ROWS
$(row "hookd receive, defaults, $label" "$R_RATE" "$R_ERR" "$R_STATUSES" "$R_HANDLED_RATE" "$R_P50" "$R_P99" "$R_OK" "$M_HOOKD_T" "$([ "$backend" = postgres ] && echo "$M_PG_T" || echo –)")"
  CHECKS="$CHECKS
$(recv_checks "hookd receive, $label")"
  TARGETS="$TARGETS
$(target "$R_ERR == 0" "$label: 0 non-2XX ($R_ERR: $R_STATUSES)")
$(target "$(ratio "$R_RATE" "$NGINX_RATE") >= 0.4" "$label: 2XX rate >= 0.4x nginx ($(ratio "$R_RATE" "$NGINX_RATE")x)")
$(target "$(ratio "$R_HANDLED_RATE" "$R_RATE") >= 0.8" "$label: handled end to end >= 0.8x the 2XX rate ($(ratio "$R_HANDLED_RATE" "$R_RATE")x)")
$(target "$ADNANH_RATE > 0 && $(ratio "$R_HANDLED_RATE" "$ADNANH_RATE") >= 3" "$label: handled >= 3x adnanh/webhook's ($(ratio "$R_HANDLED_RATE" "$ADNANH_RATE")x)")
$(target "$R_P99 <= 10" "$label: p99 <= 10 ms ($R_P99 ms)")"
  split=$(cpu_split "$R_INGEST_T" "$R_DRAIN_T" "$R_DRAIN_N" "$R_HITS" "$R_OK" "handled webhook" "2XX")
  SPLITS="${SPLITS:-}
- $label: $split"
  if [ -n "$PERF_PID" ]; then PROFILES="${PROFILES:-}

perf, hookd receive on $label, whole run (self time, 199 Hz):
$PERF_REPORT"; fi
  DETAILS="${DETAILS:-}
- $label: $R_ROWS rows stored for $R_OK 2XX; forward target: $R_HITS requests, $R_DISTINCT distinct ids, first post → last forward $R_HANDLED_MS ms; hookd CPU $(cpu_s "$M_HOOKD_T") s$([ "$backend" = postgres ] && echo ", PostgreSQL CPU $(cpu_s "$M_PG_T") s (waits: $M_WAITS)"); machine busy $M_BUSY %; peak RSS $(awk -v k="$M_RSS" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
done

echo
echo "| server | 2XX/s | × nginx | non-2XX or failed (statuses) | handled/s end to end | handled × 2XX rate | p50 ms | p99 ms | CPU-µs per 2XX | with PostgreSQL's |"
echo "|---|---|---|---|---|---|---|---|---|---|"
echo "$ROWS"
echo
echo "hookd runs:$DETAILS"
echo
echo "hookd's CPU, split (nginx: $NGINX_US µs per request):$SPLITS"
[ -z "${PROFILES:-}" ] || echo "$PROFILES"
echo
emit_checks "$CHECKS"
echo "$TARGETS" | sed '/^$/d'
finish
