#!/bin/sh
# postgres.sh — scenario 7: scenarios 1 and 2 on PostgreSQL, one node and two nodes sharing
# one database, next to nginx (the ceiling) and SQLite in the same run.
# (a) receiver ingest: wrk-signed.lua against `hookd receive --db postgres://…` (handler
#     --forward to the nginx, as in scenario 1); two receivers: two wrk processes side by
#     side, each with half the connections, one per receiver (no proxy hop in between).
#     Durability: rows in receive_webhooks vs 2XX answers.
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

DUR=${DUR:-8}
DESTS=10
[ "$SMOKE" = 1 ] && DUR=1
SQLITE=${SQLITE:-1}
command -v psql >/dev/null || { echo "bench: psql is missing (apt-get install postgresql)" >&2; exit 2; }

PGD="$WORK/pg"
pg_cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  sh "$ROOT/scripts/pg-test.sh" stop "$PGD" >/dev/null 2>&1 || true
  cleanup
}
trap pg_cleanup EXIT
sh "$ROOT/scripts/pg-test.sh" start "$PGD" >/dev/null
PGPORT=$(cat "$PGD/port")
PGDATA_DIR="$(cat "$PGD/pgdir")/data"
PGBASE="postgres://postgres@127.0.0.1:$PGPORT"

machine
echo "postgresql: $(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAq -c 'SHOW server_version') on 127.0.0.1 (scripts/pg-test.sh: fsync=on, synchronous_commit=on, default settings)"
echo "client: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DUR}s; two nodes: two wrk -t$WRK_THREADS -c$((WRK_CONNS / 2)) side by side, one per node"

# new_db NAME: a fresh database; prints its URL.
new_db() {
  psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAq -c "CREATE DATABASE $1" >/dev/null
  echo "$PGBASE/$1"
}

# count DB SQL: the number SQL answers on DB (postgres://… or sqlite:PATH).
count() {
  case $1 in
    postgres://*) psql "$1" -tAq -c "$2" ;;
    *) $PY count "${1#sqlite:}" "$2" ;;
  esac
}

# pg_ticks: CPU clock ticks used so far by PostgreSQL (postmaster, its live children, and
# the children it has reaped).
pg_ticks() {
  pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
  t=$(cpu_ticks "$pm")
  for c in $(ps -o pid= --ppid "$pm"); do t=$((t + $(cpu_ticks "$c"))); done
  echo "$t"
}

# busy_jiffies: "busy total" jiffies of all CPUs from /proc/stat.
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# sample_waits DBNAME OUT: appends what PostgreSQL's active client backends wait on
# ("CPU" when on no wait event) every 0.25 s, until killed. Sets SAMPLER_PID.
sample_waits() {
  ( while :; do
      psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$1" -tAq -c "SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()" 2>/dev/null || true
      sleep 0.25
    done ) >>"$2" &
  SAMPLER_PID=$!
  PIDS="$PIDS $SAMPLER_PID"
}

# waits_summary FILE: the top 3 wait states, as shares of the samples.
waits_summary() {
  [ -s "$1" ] || { echo "–"; return 0; }
  sort "$1" | uniq -c | sort -rn | awk '{ n[NR] = $1; w[NR] = $2; t += $1 }
    END { for (i = 1; i <= NR && i <= 3; i++) printf "%s%s %.0f%%", (i > 1 ? ", " : ""), w[i], 100 * n[i] / t }'
}

# run_clients SCRIPT NAME PORT…: one wrk per PORT, side by side, the connections split
# between them; output in $WORK/wrk-NAME-<k>.txt.
run_clients() {
  script=$1; name=$2; shift 2
  conns=$((WRK_CONNS / $#))
  k=0; wpids=""
  for port in "$@"; do
    k=$((k + 1))
    env BENCH_SECRET="$SECRET" BENCH_TOKEN="$TOKEN" wrk -t"$WRK_THREADS" -c"$conns" -d"${DUR}s" \
      --latency -s "$BENCH_DIR/$script" "http://127.0.0.1:$port/" >"$WORK/wrk-$name-$k.txt" 2>&1 &
    wpids="$wpids $!"
  done
  for p in $wpids; do wait "$p"; done
}

cpu_s() { awk -v t="$1" 'BEGIN { printf "%.1f", t / 100 }'; }
pg_cpu_s() { case $1 in postgres://*) cpu_s "$2" ;; *) echo "–" ;; esac; }
busy_pct() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? 100 * b / t : 0) }'; }

NG=$(free_port)
start_nginx "$NG" 204

# The reference for both parts: wrk → nginx 204, signed webhooks, same client settings.
run_clients wrk-signed.lua nginx "$NG"
set -- $($PY merge-wrk "$WORK/wrk-nginx-1.txt")
NGINX_RATE=$1
INGEST_ROWS="| nginx 204 (ceiling) | – | $1 | 1.00 | $2 | $3 | $4 | $5 | – | – | – | – | – | – |"

# ---- (a) receiver ingest -------------------------------------------------------------------

# recv_run LABEL NODES DB [CLIENTS]: NODES receivers on DB, CLIENTS wrk processes (default
# one per receiver); appends a table row, makes the checks.
recv_run() {
  label=$1; nodes=$2; db=$3; clients=${4:-$2}
  rpids=""; rports=""
  i=0
  while [ $i -lt "$nodes" ]; do
    i=$((i + 1))
    rp=$(free_port); ap=$(free_port)
    start_bg "receive-$label-$i" "$HOOKD" receive --listen "127.0.0.1:$rp" --admin-listen "127.0.0.1:$ap" \
      --db "$db" --secret "$SECRET" --forward "http://127.0.0.1:$NG/handler" \
      --max-pending 10000000 ${RECEIVE_ARGS:-}
    rpids="$rpids $BG_PID"; rports="$rports $rp"
    wait_port "$rp"
  done
  waits="$WORK/waits-recv-$label-$nodes-$clients.txt"; : >"$waits"
  case $db in postgres://*) sample_waits "${db##*/}" "$waits" ;; *) SAMPLER_PID="" ;; esac
  h0=0; for p in $rpids; do h0=$((h0 + $(cpu_ticks "$p"))); done
  p0=0; case $db in postgres://*) p0=$(pg_ticks) ;; esac
  set -- $(busy_jiffies); b0=$1; t0=$2
  targets=$rports
  [ "$clients" = "$nodes" ] || targets="$rports $rports"
  run_clients wrk-signed.lua "recv-$label-$nodes-$clients" $targets
  set -- $(busy_jiffies); b1=$1; t1=$2
  p1=0; case $db in postgres://*) p1=$(pg_ticks) ;; esac
  h1=0; rss=0
  for p in $rpids; do
    h1=$((h1 + $(cpu_ticks "$p"))); rss=$((rss + $(peak_rss_kib "$p")))
  done
  if [ -n "$SAMPLER_PID" ]; then stop_pid "$SAMPLER_PID"; fi
  for p in $rpids; do stop_pid "$p"; done
  set -- $($PY merge-wrk "$WORK"/wrk-recv-"$label"-"$nodes"-"$clients"-*.txt)
  rate=$1; p50=$2; p99=$3; err=$4; ok=$5
  rows=$(count "$db" "SELECT COUNT(*) FROM receive_webhooks")
  handled=$(count "$db" "SELECT COUNT(*) FROM receive_webhooks WHERE status = 'done'")
  hcpu=$((h1 - h0)); pcpu=$((p1 - p0))
  per=$(awk -v n="$ok" -v t=$((hcpu + pcpu)) 'BEGIN { printf "%.0f", (t > 0 ? n / (t / 100) : 0) }')
  INGEST_ROWS="$INGEST_ROWS
| hookd receive, $label$([ "$clients" = "$nodes" ] || echo " ($clients wrk)") | $nodes | $rate | $(ratio "$rate" "$NGINX_RATE") | $p50 | $p99 | $err | $ok | $rows | $handled | $(cpu_s $hcpu) | $(pg_cpu_s $db $pcpu) | $per | $(busy_pct $((b1 - b0)) $((t1 - t0))) |"
  INGEST_WAITS="$INGEST_WAITS
- $label, $nodes node(s), $clients wrk: $(waits_summary "$waits")"
  INGEST_CHECKS="$INGEST_CHECKS
$(check "$ok -gt 0" "$label, $nodes receiver(s): 2XX answered ($ok)")
$(check "$rows -ge $ok" "$label, $nodes receiver(s): every 2XX is durable: $rows stored rows >= $ok 2XX")
$(check "$rows -le $((ok + WRK_CONNS))" "$label, $nodes receiver(s): no phantom rows: $rows <= 2XX + $WRK_CONNS in flight at the cutoff")"
  if [ "$clients" = "$nodes" ]; then eval "RATE_RECV_$(echo "$label" | tr -cd 'a-zA-Z')_$nodes=$rate"; fi
}

INGEST_WAITS=""; INGEST_CHECKS=""
recv_run PostgreSQL 1 "$(new_db recv1)"
# The same client shape as the two-node run (two wrk, 8 connections each), one receiver.
[ "$SMOKE" = 1 ] || recv_run PostgreSQL 1 "$(new_db recv1b)" 2
recv_run PostgreSQL 2 "$(new_db recv2)"
if [ "$SQLITE" = 1 ]; then recv_run SQLite 1 "sqlite:$WORK/receive.db"; fi

# ---- (b) sender throughput -----------------------------------------------------------------

# send_run LABEL NODES DB: NODES `hookd serve` on DB, a fresh nginx with an access log as the
# destinations; appends a table row, makes the checks.
send_run() {
  label=$1; nodes=$2; db=$3
  ngs=$(free_port)
  alog="$WORK/access-$label-$nodes.log"
  start_nginx "$ngs" 204 "$alog"
  case $db in sqlite:*) sdb=${db#sqlite:} ;; *) sdb=$db ;; esac
  spids=""; sports=""
  i=0
  while [ $i -lt "$nodes" ]; do
    i=$((i + 1))
    sp=$(free_port)
    start_serve "serve-$label-$nodes-$i" "$sp" "$sdb"
    spids="$spids $SERVE_PID"; sports="$sports $sp"
    # The destinations, through the first node, before the others start.
    if [ $i = 1 ]; then
      $PY destinations "$sp" "$TOKEN" "$DESTS" "http://127.0.0.1:$ngs/d{i}" 4 >"$WORK/dests.txt"
    fi
  done
  waits="$WORK/waits-send-$label-$nodes.txt"; : >"$waits"
  case $db in postgres://*) sample_waits "${db##*/}" "$waits" ;; *) SAMPLER_PID="" ;; esac
  h0=0; for p in $spids; do h0=$((h0 + $(cpu_ticks "$p"))); done
  p0=0; case $db in postgres://*) p0=$(pg_ticks) ;; esac
  set -- $(busy_jiffies); b0=$1; t0=$2
  start=$(now_ms)
  run_clients wrk-events.lua "send-$label-$nodes" $sports
  sleep 0.3
  expect=$(count "$db" "SELECT COUNT(*) FROM serve_webhooks")
  set -- $($PY wait-metrics "$(echo $sports | tr ' ' ',')" 'hookd_webhook_transitions_total{to="succeeded"}' "$expect" 300 "$start")
  elapsed=$1; done_n=$2
  set -- $(busy_jiffies); b1=$1; t1=$2
  p1=0; case $db in postgres://*) p1=$(pg_ticks) ;; esac
  h1=0; rss=0
  for p in $spids; do
    h1=$((h1 + $(cpu_ticks "$p"))); rss=$((rss + $(peak_rss_kib "$p")))
  done
  if [ -n "$SAMPLER_PID" ]; then stop_pid "$SAMPLER_PID"; fi
  for p in $spids; do stop_pid "$p"; done
  stop_nginx "$ngs"
  set -- $($PY merge-wrk "$WORK"/wrk-send-"$label"-"$nodes"-*.txt)
  ev_rate=$1; ev_p50=$2; ev_p99=$3; ev_err=$4; ev_ok=$5
  succ=$(count "$db" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")
  other=$(count "$db" "SELECT COUNT(*) FROM serve_webhooks WHERE status <> 'succeeded'")
  attempts=$(count "$db" "SELECT COUNT(*) FROM serve_attempts")
  at_dest=$(wc -l <"$alog" | tr -d ' ')
  distinct=$(awk '{ print $2 }' "$alog" | sort -u | wc -l | tr -d ' ')
  rate=$(awk -v n="$done_n" -v ms="$elapsed" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
  hcpu=$((h1 - h0)); pcpu=$((p1 - p0))
  us=$(awk -v n="$expect" -v t=$((hcpu + pcpu)) 'BEGIN { printf "%.0f", (n > 0 ? t * 10000 / n : 0) }')
  SEND_ROWS="$SEND_ROWS
| hookd serve, $label | $nodes | $ev_rate ($ev_p50 / $ev_p99 ms) | $expect | $elapsed | **$rate** | $(ratio "$rate" "$NGINX_RATE") | $at_dest ($distinct distinct) | $succ / $attempts | $(cpu_s $hcpu) | $(pg_cpu_s $db $pcpu) | $us | $(busy_pct $((b1 - b0)) $((t1 - t0))) |"
  SEND_WAITS="$SEND_WAITS
- $label, $nodes node(s): $(waits_summary "$waits")"
  SEND_CHECKS="$SEND_CHECKS
$(check "$ev_ok -gt 0" "$label, $nodes node(s): events accepted ($ev_ok)")
$(check "$ev_err -eq 0" "$label, $nodes node(s): API errors: $ev_err")
$(check "$done_n -ge $expect" "$label, $nodes node(s): every webhook delivered per /metrics ($done_n of $expect)")
$(check "$expect -ge $((ev_ok * DESTS))" "$label, $nodes node(s): every 202 created its $DESTS webhooks ($expect >= $((ev_ok * DESTS)))")
$(check "$succ -eq $expect -a $other -eq 0" "$label, $nodes node(s): store: $succ succeeded of $expect, $other in another state")
$(check "$attempts -eq $expect" "$label, $nodes node(s): one attempt per webhook ($attempts attempts, $expect webhooks)")
$(check "$at_dest -eq $expect -a $distinct -eq $expect" "$label, $nodes node(s): exactly once at the destination ($at_dest requests, $distinct distinct ids, $expect webhooks)")"
  eval "RATE_SEND_$(echo "$label" | tr -cd 'a-zA-Z')_$nodes=$rate"
}

SEND_ROWS=""; SEND_WAITS=""; SEND_CHECKS=""
send_run PostgreSQL 1 "$(new_db send1)"
send_run PostgreSQL 2 "$(new_db send2)"
if [ "$SQLITE" = 1 ]; then send_run SQLite 1 "sqlite:$WORK/serve.db"; fi

echo
echo "(a) receiver ingest"
echo
echo "| server | nodes | req/s | × nginx | p50 ms | p99 ms | errors | 2XX | stored rows | handled in run | hookd CPU s | PostgreSQL CPU s | 2XX per CPU-s (hookd + PG) | machine busy % |"
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
echo "$INGEST_CHECKS$SEND_CHECKS" | sed '/^$/d'
if echo "$INGEST_CHECKS$SEND_CHECKS" | grep -q '^CHECK FAIL'; then CHECK_FAILED=1; fi
target "$RATE_RECV_PostgreSQL_2 > $RATE_RECV_PostgreSQL_1" "ingest: two receivers on one database beat one ($RATE_RECV_PostgreSQL_2 vs $RATE_RECV_PostgreSQL_1 req/s)"
target "$RATE_SEND_PostgreSQL_2 > $RATE_SEND_PostgreSQL_1" "delivery: two senders on one database beat one ($RATE_SEND_PostgreSQL_2 vs $RATE_SEND_PostgreSQL_1 deliveries/s)"
finish
