#!/bin/sh
# postgres.sh — scenario 7: scenarios 1 and 2 on PostgreSQL, one node and two nodes sharing
# one database, next to nginx (the ceiling) and SQLite in the same run.
# (a) receiver ingest: wrk-signed.lua against `hookd receive --db postgres://…` (handler
#     --forward to the nginx, as in scenario 1); two receivers: two wrk processes side by
#     side, each with half the connections, one per receiver (no proxy hop in between).
#     Durability: rows in receive_webhooks vs 2XX answers; "handled in run": webhooks the
#     forward target (an nginx of its own, logging each X-Webhook-Id) got before the stop.
# (b) sender throughput: events posted to `hookd serve` (10 destinations on one nginx, as in
#     scenario 2); two nodes: two wrk processes, half the connections each, one per node.
#     Deliveries/s = webhooks / (first post → last succeeded, summed over the nodes' /metrics).
#     Exactly once: the destination nginx's access log has each webhook id once, and the
#     store has every webhook succeeded with one attempt.
# CPU: hookd's and PostgreSQL's (postmaster + backends, from /proc) per run, the machine's
# busy share from /proc/stat, and what PostgreSQL's client backends were waiting on
# (pg_stat_activity sampled every 0.25 s). SQLITE=0 skips the SQLite rows.
# Env: DUR (seconds per measured run, default 8), RECEIVE_ARGS, SERVE_ARGS.
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-8}
DESTS=10
# SMOKE: 1 s runs, the events paced (100/s: 1,000 webhooks per sender run to drain).
[ "$SMOKE" = 1 ] && { DUR=1; SMOKE_RATE=100; }
SQLITE=${SQLITE:-1}
pg_start

machine
pg_describe
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s; two nodes: two wrk -t$WRK_THREADS -c$((WRK_CONNS / 2)) side by side, one per node"

# The reference for both parts: wrk → nginx 204, signed webhooks, same client settings.
ceiling_run
NGINX_RATE=$W_RATE
INGEST_ROWS="| nginx 204 (ceiling) | – | $W_RATE | 1.00 | $W_P50 | $W_P99 | $W_ERR | $W_OK | – | – | – | – | – | – |"

# ---- (a) receiver ingest -------------------------------------------------------------------

pg_cpu_s() { case $1 in postgres://*) cpu_s "$2" ;; *) echo "–" ;; esac; }

# recv_row LABEL NODES DB CLIENTS: runs.sh's recv_run (--max-pending raised, as in scenario
# 1), then a table row, the waits and the checks.
recv_row() {
  recv_run "$1" "$2" "$3" "$4" "--max-pending 10000000 ${RECEIVE_ARGS:-}"
  per=$(awk -v n="$R_OK" -v t=$((M_HOOKD_T + M_PG_T)) 'BEGIN { printf "%.0f", (t > 0 ? n / (t / 100) : 0) }')
  INGEST_ROWS="$INGEST_ROWS
| hookd receive, $1$([ "$4" = "$2" ] || echo " ($4 wrk)") | $2 | $R_RATE | $(ratio "$R_RATE" "$NGINX_RATE") | $R_P50 | $R_P99 | $R_ERR | $R_OK | $R_ROWS | $R_DISTINCT | $(cpu_s $M_HOOKD_T) | $(pg_cpu_s "$3" $M_PG_T) | $per | $M_BUSY |"
  INGEST_WAITS="$INGEST_WAITS
- $1, $2 node(s), $4 wrk: $M_WAITS"
  INGEST_CHECKS="$INGEST_CHECKS
$(recv_checks "$1, $2 receiver(s)")"
  if [ "$4" = "$2" ]; then eval "RATE_RECV_$(echo "$1" | tr -cd 'a-zA-Z')_$2=$R_RATE"; fi
}

INGEST_WAITS=""; INGEST_CHECKS=""
recv_row PostgreSQL 1 "$(new_db recv1)" 1
# The same client shape as the two-node run (two wrk, 8 connections each), one receiver.
[ "$SMOKE" = 1 ] || recv_row PostgreSQL 1 "$(new_db recv1b)" 2
recv_row PostgreSQL 2 "$(new_db recv2)" 2
if [ "$SQLITE" = 1 ]; then recv_row SQLite 1 "sqlite:$WORK/receive.db" 1; fi

# ---- (b) sender throughput -----------------------------------------------------------------

# send_row LABEL NODES DB: runs.sh's send_run, then a table row, the waits and the checks.
send_row() {
  send_run "$1" "$2" "$3"
  SEND_ROWS="$SEND_ROWS
| hookd serve, $1 | $2 | $S_EV_RATE ($S_EV_P50 / $S_EV_P99 ms) | $S_EXPECT | $S_ELAPSED | **$S_RATE** | $(ratio "$S_RATE" "$NGINX_RATE") | $S_AT_DEST ($S_DISTINCT distinct) | $S_SUCC / $S_ATTEMPTS | $(cpu_s $M_HOOKD_T) | $(pg_cpu_s "$3" $M_PG_T) | $(us_per $((M_HOOKD_T + M_PG_T)) "$S_EXPECT") | $M_BUSY |"
  SEND_WAITS="$SEND_WAITS
- $1, $2 node(s): $M_WAITS"
  SEND_CHECKS="$SEND_CHECKS
$(send_checks "$1, $2 node(s)")"
  eval "RATE_SEND_$(echo "$1" | tr -cd 'a-zA-Z')_$2=$S_RATE"
}

SEND_ROWS=""; SEND_WAITS=""; SEND_CHECKS=""
WRK_ENV=${SMOKE_RATE:+BENCH_RATE=$SMOKE_RATE}
send_row PostgreSQL 1 "$(new_db send1)"
send_row PostgreSQL 2 "$(new_db send2)"
if [ "$SQLITE" = 1 ]; then send_row SQLite 1 "sqlite:$WORK/serve.db"; fi

echo
echo "(a) receiver ingest"
echo
echo "| server | nodes | req/s | × nginx | p50 ms | p99 ms | errors | 2XX | stored rows | handled in run (at the forward target) | hookd CPU s | PostgreSQL CPU s | 2XX per CPU-s (hookd + PG) | machine busy % |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "$INGEST_ROWS"
echo
echo "PostgreSQL client backends, sampled every 0.25 s:$INGEST_WAITS"
echo
echo "(b) sender throughput ($DESTS destinations; ceiling = nginx 204 above, $NGINX_RATE req/s)"
echo
echo "| server | nodes | events/s (p50 / p99) | webhooks | first post → last delivery ms | deliveries/s | × ceiling | requests at destination | succeeded / attempts | hookd CPU s | PostgreSQL CPU s | CPU µs per webhook (hookd + PG) | machine busy % |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "$SEND_ROWS" | sed '/^$/d'
echo
echo "PostgreSQL client backends, sampled every 0.25 s:$SEND_WAITS"
echo
emit_checks "$INGEST_CHECKS$SEND_CHECKS"
target "$RATE_RECV_PostgreSQL_2 > $RATE_RECV_PostgreSQL_1" "ingest: two receivers on one database beat one ($RATE_RECV_PostgreSQL_2 vs $RATE_RECV_PostgreSQL_1 req/s)"
target "$RATE_SEND_PostgreSQL_2 > $RATE_SEND_PostgreSQL_1" "delivery: two senders on one database beat one ($RATE_SEND_PostgreSQL_2 vs $RATE_SEND_PostgreSQL_1 deliveries/s)"
finish
