#!/bin/sh
# receiver_pgss.sh — what `hookd receive` asks of PostgreSQL per webhook in burst.sh's burst
# (wrk posting freshly signed webhooks at BURST_CONNS connections for DUR s, default flags,
# --forward to a local nginx 204, until the inbox drains), on a PostgreSQL with
# pg_stat_statements: per stored webhook, each statement's calls, rows and execution time,
# the planning time, the table writes (and how many updates were HOT, which write no index
# entry), WAL records and bytes, and the CPU of hookd and of PostgreSQL; with the burst's
# 2XX/s, p99 and handled/s end to end. HOOKD_BINS="A B A B" runs those builds in turn on one
# server, each on a fresh database (alternating builds is how to compare them on a shared
# machine); default: build/hookd.
# The CHECKs are burst.sh's: every 2XX stored, every stored webhook forwarded exactly once.
# Not part of `make bench`.
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-10}
WRK_CONNS=${BURST_CONNS:-64}
DRAIN=1
DRAIN_S=${DRAIN_S:-300}
BINS=${HOOKD_BINS:-$HOOKD}
machine
pg_start
psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAq \
  -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ "$(id -u)" = 0 ]; then
  su postgres -s /bin/sh -c "'$bindir/pg_ctl' -D '$PGDATA_DIR' -w restart" >/dev/null
else
  "$bindir/pg_ctl" -D "$PGDATA_DIR" -w restart >/dev/null
fi
# planning time per statement too (pg_stat_statements.track_planning: only once the library
# is loaded)
psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAq \
  -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" -c "SELECT pg_reload_conf()" >/dev/null
pg_describe
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s, wrk-signed.lua; hookd receive with default flags${RECEIVE_ARGS:+ and $RECEIVE_ARGS}"
CHECKS=""
k=0
for bin in $BINS; do
  k=$((k + 1))
  HOOKD=$bin
  backend_db postgres "recv$k"
  psql "$B_DB" -tAq -c "CREATE EXTENSION pg_stat_statements" >/dev/null
  psql "$B_DB" -tAq -c "SELECT pg_stat_statements_reset(), pg_stat_reset()" >/dev/null
  wal0=$(psql "$B_DB" -tAq -c "SELECT wal_records || ' ' || wal_bytes FROM pg_stat_wal")
  recv_run "pg$k" 1 "$B_DB" 1 "${RECEIVE_ARGS:-}"
  N=$R_ROWS
  echo
  echo "### run $k: $bin"
  echo "2XX/s $R_RATE (non-2XX $R_ERR), p50 / p99 $R_P50 / $R_P99 ms; handled/s end to end $R_HANDLED_RATE ($(ratio "$R_HANDLED_RATE" "$R_RATE")x the 2XX rate, $R_DRAIN_N after the clients stopped); $N rows"
  echo "CPU-µs per webhook: hookd $(us_per "$M_HOOKD_T" "$N"), PostgreSQL $(us_per "$M_PG_T" "$N"); machine busy $M_BUSY %; PostgreSQL backends, sampled: $M_WAITS"
  psql "$B_DB" -tA -F' ' -c "SELECT wal_records, wal_bytes FROM pg_stat_wal" | while read -r r b; do
    set -- $wal0
    awk -v r="$((r - $1))" -v b="$((b - $2))" -v n="$N" \
      'BEGIN { printf "WAL per webhook: %.1f records, %.0f bytes\n", r / n, b / n }'
  done
  psql "$B_DB" -tA -F' ' -c "SELECT round(SUM(calls)::numeric / $N, 2), round((SUM(total_exec_time) * 1000 / $N)::numeric, 1)
    FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat%'" | while read -r c t; do
    echo "statements per webhook: $c (BEGIN, COMMIT and savepoints included), executing for $t µs"
  done
  psql "$B_DB" -tA -F' ' -c "SELECT round((SUM(total_plan_time) * 1000 / $N)::numeric, 1), SUM(plans)
    FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat%'" | while read -r t p; do
    echo "planning per webhook: $t µs ($p plans)"
  done
  echo
  echo "| calls per webhook | rows per call | exec µs per webhook | statement |"
  echo "|---|---|---|---|"
  psql "$B_DB" -tA -F'|' -c "SELECT round(calls::numeric / $N, 3), round(rows::numeric / GREATEST(calls, 1), 1),
    round((total_exec_time * 1000 / $N)::numeric, 1), left(regexp_replace(query, '\s+', ' ', 'g'), 100)
    FROM pg_stat_statements WHERE calls::numeric / $N >= 0.001 AND query NOT LIKE '%pg_stat%'
    ORDER BY total_exec_time DESC LIMIT 12" | sed 's/^/| /; s/$/ |/'
  echo
  echo "| table | inserts | updates | HOT updates | deletes (all per webhook) |"
  echo "|---|---|---|---|---|"
  psql "$B_DB" -tA -F'|' -c "SELECT relname, round(n_tup_ins::numeric / $N, 2), round(n_tup_upd::numeric / $N, 2),
    round(n_tup_hot_upd::numeric / $N, 2), round(n_tup_del::numeric / $N, 2) FROM pg_stat_user_tables
    WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname" | sed 's/^/| /; s/$/ |/'
  CHECKS="$CHECKS
$(recv_checks "run $k")"
  psql "postgres://postgres@127.0.0.1:$PGPORT/postgres" -tAq -c "DROP DATABASE recv$k" >/dev/null || true
done
echo
emit_checks "$CHECKS"
finish
