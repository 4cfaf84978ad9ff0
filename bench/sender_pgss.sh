#!/bin/sh
# sender_pgss.sh — what `hookd serve` asks of PostgreSQL per delivery: the fan-out run of
# sender_throughput.sh (wrk posts events for DUR s, each fanned out to 10 destinations on
# one nginx, until every webhook is delivered) on a PostgreSQL with pg_stat_statements, then
# per delivery: each statement's calls, rows and execution time, the table writes (and how
# many were HOT updates, which write no index), WAL records and bytes, and the CPU of hookd
# and of PostgreSQL. HOOKD_BIN picks the build (compare two builds back to back). Not part of
# `make bench`.
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-5}
DESTS=10
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
backend_db postgres send
psql "$B_DB" -tAq -c "CREATE EXTENSION pg_stat_statements" >/dev/null
psql "$B_DB" -tAq -c "SELECT pg_stat_statements_reset(), pg_stat_reset()" >/dev/null
wal0=$(psql "$B_DB" -tAq -c "SELECT wal_records || ' ' || wal_bytes FROM pg_stat_wal")
send_run PostgreSQL 1 "$B_DB"
N=$S_EXPECT
echo "client: wrk -c$WRK_CONNS -d${DUR}s; $N webhooks, $S_DONE delivered, $S_RATE deliveries/s"
echo "CPU-µs per delivery: hookd $(us_per "$M_HOOKD_T" "$N"), PostgreSQL $(us_per "$M_PG_T" "$N"); events accepted/s $S_EV_RATE (p50 / p99 $S_EV_P50 / $S_EV_P99 ms); machine busy $M_BUSY %"
echo "PostgreSQL backends, sampled: $M_WAITS"
psql "$B_DB" -tA -F' ' -c "SELECT wal_records, wal_bytes FROM pg_stat_wal" | while read -r r b; do
  set -- $wal0
  awk -v r="$((r - $1))" -v b="$((b - $2))" -v n="$N" \
    'BEGIN { printf "WAL per delivery: %.1f records, %.0f bytes\n", r / n, b / n }'
done
psql "$B_DB" -tA -F' ' -c "SELECT round(SUM(calls)::numeric / $N, 2), round((SUM(total_exec_time) * 1000 / $N)::numeric, 1)
  FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat%'" | while read -r c t; do
  echo "statements per delivery: $c (BEGIN, COMMIT and savepoints included), executing for $t µs"
done
echo
echo "| calls per delivery | rows per call | exec µs per delivery | statement |"
echo "|---|---|---|---|"
psql "$B_DB" -tA -F'|' -c "SELECT round(calls::numeric / $N, 3), round(rows::numeric / GREATEST(calls, 1), 1),
  round((total_exec_time * 1000 / $N)::numeric, 1), left(regexp_replace(query, '\s+', ' ', 'g'), 110)
  FROM pg_stat_statements WHERE calls::numeric / $N >= 0.001 AND query NOT LIKE '%pg_stat%'
  ORDER BY total_exec_time DESC LIMIT 40" | sed 's/^/| /; s/$/ |/'
echo
echo "| table | inserts | updates | HOT updates | deletes (all per delivery) |"
echo "|---|---|---|---|---|"
psql "$B_DB" -tA -F'|' -c "SELECT relname, round(n_tup_ins::numeric / $N, 2), round(n_tup_upd::numeric / $N, 2),
  round(n_tup_hot_upd::numeric / $N, 2), round(n_tup_del::numeric / $N, 2) FROM pg_stat_user_tables
  WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname" | sed 's/^/| /; s/$/ |/'
finish
