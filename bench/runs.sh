# runs.sh — the measured runs several scenarios share (sourced after lib.sh): a throwaway
# PostgreSQL, wrk clients side by side, adnanh/webhook, a run of `hookd receive` (ingest, and
# optionally until its handler has drained the inbox) and a run of `hookd serve` (events
# fanned out until every webhook is delivered). A run sets its figures in W_* / R_* / S_*
# variables; the scenario prints the table rows, and the CHECK lines with recv_checks /
# send_checks and emit_checks.

# ---- PostgreSQL ------------------------------------------------------------------------------

pg_installed() { command -v psql >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

# pg_start: scripts/pg-test.sh's server (fsync=on, synchronous_commit=on, default settings)
# under $WORK/pg; lib.sh's cleanup stops it. Sets PGPORT, PGDATA_DIR, PGBASE (no database).
pg_start() {
  pg_installed || { echo "bench: PostgreSQL (server and psql) is missing (apt-get install postgresql)" >&2; exit 2; }
  sh "$ROOT/scripts/pg-test.sh" start "$WORK/pg" >/dev/null
  PGPORT=$(cat "$WORK/pg/port")
  PGDATA_DIR="$(cat "$WORK/pg/pgdir")/data"
  PGBASE="postgres://postgres@127.0.0.1:$PGPORT"
}

pg_describe() {
  echo "postgresql: $(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAq -c 'SHOW server_version') on 127.0.0.1 (scripts/pg-test.sh: fsync=on, synchronous_commit=on, default settings)"
}

# new_db NAME: a fresh database; prints its URL.
new_db() {
  psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAq -c "CREATE DATABASE $1" >/dev/null
  echo "$PGBASE/$1"
}

# db_count DB SQL: the number SQL answers on DB (postgres://… or sqlite:PATH).
db_count() {
  case $1 in
    postgres://*) psql "$1" -tAq -c "$2" ;;
    *) $PY count "${1#sqlite:}" "$2" ;;
  esac
}

# db_ticks DB: CPU ticks used so far by the PostgreSQL server behind DB (postmaster, its live
# children, and the children it has reaped); 0 for SQLite (inside hookd's own figure).
db_ticks() {
  case $1 in
    postgres://*) tree_ticks "$(head -1 "$PGDATA_DIR/postmaster.pid")" ;;
    *) echo 0 ;;
  esac
}

# sample_waits DB OUT: appends what PostgreSQL's active client backends of DB wait on ("CPU"
# when on no wait event) every 0.25 s, until killed. Sets SAMPLER_PID ("" for SQLite).
sample_waits() {
  SAMPLER_PID=""
  case $1 in postgres://*) ;; *) return 0 ;; esac
  ( while :; do
      psql "$1" -tAq -c "SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()" 2>/dev/null || true
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

# ---- backends and the ceiling ----------------------------------------------------------------

# backends_available: BACKENDS (default "sqlite postgres") without postgres where no
# PostgreSQL server is installed (said in a note line).
backends_available() {
  BACKENDS=${BACKENDS:-sqlite postgres}
  case " $BACKENDS " in
    *" postgres "*) pg_installed || { BACKENDS=sqlite; echo "note: PostgreSQL not installed, SQLite only"; } ;;
  esac
}

# backend_db BACKEND NAME: sets B_LABEL and B_DB, a fresh store NAME on BACKEND (sqlite or
# postgres; the PostgreSQL server is started on first use).
backend_db() {
  case $1 in
    sqlite) B_LABEL=SQLite; B_DB="sqlite:$WORK/$2.db" ;;
    postgres) B_LABEL=PostgreSQL; [ -n "${PGPORT:-}" ] || pg_start; B_DB=$(new_db "$2") ;;
    *) echo "bench: unknown backend $1" >&2; exit 2 ;;
  esac
}

# ceiling_run: wrk-signed.lua straight at a fresh nginx 204 (port CEIL_PORT, left running):
# the client→server path without hookd. Sets the W_* figures.
ceiling_run() {
  CEIL_PORT=$(free_port)
  start_nginx "$CEIL_PORT" 204
  wrk_run nginx wrk-signed.lua "$NGINX_PID" "$CEIL_PORT"
}

# ---- what a run measures ---------------------------------------------------------------------

# window_open TAG DB PID…: starts measuring the CPU of the hookd PIDs (children included) and
# of DB's PostgreSQL, the machine's busy share, and what PostgreSQL's backends wait on.
window_open() {
  wo_tag=$1; wo_db=$2; shift 2
  wo_waits="$WORK/waits-$wo_tag.txt"; : >"$wo_waits"
  sample_waits "$wo_db" "$wo_waits"
  wo_h0=$(tree_ticks "$@"); wo_p0=$(db_ticks "$wo_db")
  set -- $(busy_jiffies); wo_b0=$1; wo_j0=$2
}

# perf_start TAG PID…: with PERF=1, perf samples the PIDs (199 Hz, call graphs) until
# perf_stop, which sets PERF_REPORT: self time by library, and the top 20 symbols. Off by
# default: perf costs CPU.
perf_start() {
  PERF_PID=""
  [ "${PERF:-0}" = 1 ] || return 0
  command -v perf >/dev/null || { echo "note: PERF=1 but perf is missing"; return 0; }
  PERF_DATA="$WORK/perf-$1.data"; shift
  perf record -q -F 199 -g -o "$PERF_DATA" -p "$(echo "$@" | tr ' ' ',')" >/dev/null 2>&1 &
  PERF_PID=$!
  PIDS="$PIDS $PERF_PID"
}

perf_stop() {
  [ -n "$PERF_PID" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_REPORT="by library: $(perf_top dso 8 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')
$(perf_top dso,symbol 20)"
}

# perf_top SORT N: the top N lines of the last profile, sorted by SORT (perf report --sort).
perf_top() {
  perf report -i "$PERF_DATA" --no-children --sort "$1" --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed 's/ *\(- *\)*$//' | head -"$2"
}

# window_close DB PID…: ends the measure and stops the PIDs. Sets M_HOOKD_T M_PG_T (CPU
# ticks), M_BUSY (machine %), M_RSS (peak KiB, summed), M_WAITS (PostgreSQL's waits).
window_close() {
  wc_db=$1; shift
  wc_pids="$*"
  set -- $(busy_jiffies); M_BUSY=$(busy_pct $(($1 - wo_b0)) $(($2 - wo_j0)))
  M_PG_T=$(($(db_ticks "$wc_db") - wo_p0))
  M_HOOKD_T=$(($(tree_ticks $wc_pids) - wo_h0))
  M_RSS=0; for wc_pid in $wc_pids; do M_RSS=$((M_RSS + $(peak_rss_kib "$wc_pid"))); done
  if [ -n "$SAMPLER_PID" ]; then stop_pid "$SAMPLER_PID"; fi
  for wc_pid in $wc_pids; do stop_pid "$wc_pid"; done
  M_WAITS=$(waits_summary "$wo_waits")
}

# ---- clients ---------------------------------------------------------------------------------

# run_clients SCRIPT NAME TARGET…: one wrk per TARGET (a port, or port/path on 127.0.0.1),
# side by side, WRK_CONNS split between them; output in $WORK/wrk-NAME-<k>.txt. WRK_ENV
# ("VAR=value …") adds to their environment.
run_clients() {
  rc_script=$1; rc_name=$2; shift 2
  rc_conns=$((WRK_CONNS / $#))
  rc_k=0; rc_pids=""
  for rc_target in "$@"; do
    rc_k=$((rc_k + 1))
    case $rc_target in */*) rc_url="http://127.0.0.1:$rc_target" ;; *) rc_url="http://127.0.0.1:$rc_target/" ;; esac
    env BENCH_SECRET="$SECRET" BENCH_TOKEN="$TOKEN" ${WRK_ENV:-} wrk -t"$WRK_THREADS" -c"$rc_conns" \
      -d"${DUR}s" --latency -s "$BENCH_DIR/$rc_script" "$rc_url" >"$WORK/wrk-$rc_name-$rc_k.txt" 2>&1 &
    rc_pids="$rc_pids $!"
  done
  for rc_pid in $rc_pids; do wait "$rc_pid"; done
}

# wrk_run NAME SCRIPT "PIDS" TARGET…: run_clients, and the CPU the server processes PIDS used
# meanwhile (children included; the run ends when none is left). Sets W_RATE W_P50 W_P99
# W_ERR W_OK W_STATUSES W_TICKS.
wrk_run() {
  wr_name=$1; wr_script=$2; wr_pids=$3; shift 3
  wr_t0=$(tree_ticks $wr_pids)
  run_clients "$wr_script" "$wr_name" "$@"
  wait_no_children $wr_pids
  W_TICKS=$(($(tree_ticks $wr_pids) - wr_t0))
  set -- $($PY merge-wrk "$WORK"/wrk-"$wr_name"-*.txt)
  W_RATE=$1; W_P50=$2; W_P99=$3; W_ERR=$4; W_OK=$5
  W_STATUSES=$(statuses "$WORK"/wrk-"$wr_name"-*.txt)
}

# wait_no_children PID…: until the PIDs have no live children (bounded: 10 s) — a server that
# forks a command per request may still be running some when the client stops.
wait_no_children() {
  wn_i=0
  while [ $wn_i -lt 200 ]; do
    wn_live=""
    for wn_pid in "$@"; do wn_live="$wn_live$(ps -o pid= --ppid "$wn_pid" || true)"; done
    [ -z "$wn_live" ] && return 0
    sleep 0.05; wn_i=$((wn_i + 1))
  done
}

# start_adnanh: adnanh/webhook with a body-only HMAC trigger rule (it cannot sign id and
# timestamp) running /bin/true; sets WH_PORT and WH_PID. Returns 1 when it is not installed.
start_adnanh() {
  command -v webhook >/dev/null || return 1
  WH_PORT=$(free_port)
  cat >"$WORK/hooks.json" <<JSON
[{"id": "bench", "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "$SECRET",
                             "parameter": {"source": "header", "name": "X-Webhook-Signature"}}}}]
JSON
  start_bg webhook webhook -hooks "$WORK/hooks.json" -ip 127.0.0.1 -port "$WH_PORT"
  WH_PID=$BG_PID
  wait_port "$WH_PORT"
}

# ---- hookd receive ---------------------------------------------------------------------------

# recv_run LABEL NODES DB CLIENTS "FLAGS": NODES `hookd receive` on DB with the README's flags
# (--listen, --db, --secret, --forward to a fresh nginx 204 logging each X-Webhook-Id), an
# --admin-listen on a free port, and FLAGS; CLIENTS wrk-signed.lua clients share WRK_CONNS.
# With DRAIN=1 the run lasts until the forward target has been sent as many webhooks as the
# store holds (at most DRAIN_S s). CPU (receivers with their children, and PostgreSQL) covers
# the whole run. Sets R_RATE R_P50 R_P99 R_ERR R_OK R_STATUSES (client side), R_ROWS (stored),
# R_HITS R_DISTINCT (requests and distinct webhook ids at the forward target), R_DRAINED,
# R_HANDLED_MS (first post → last forward) R_HANDLED_RATE (distinct ids / R_HANDLED_MS),
# R_INGEST_T R_DRAIN_T (hookd's CPU ticks while the clients ran, and after), R_DRAIN_N
# (webhooks forwarded after the clients stopped), and window_close's M_*.
recv_run() {
  rr_label=$1; rr_nodes=$2; rr_db=$3; rr_clients=$4; rr_flags=$5
  rr_tag="recv-$rr_label-$rr_nodes-$rr_clients"
  rr_ng=$(free_port); rr_log="$WORK/access-$rr_tag.log"
  start_nginx "$rr_ng" 204 "$rr_log"
  rr_pids=""; rr_ports=""; rr_i=0
  while [ $rr_i -lt "$rr_nodes" ]; do
    rr_i=$((rr_i + 1))
    rr_port=$(free_port)
    start_bg "receive-$rr_tag-$rr_i" "$HOOKD" receive --listen "127.0.0.1:$rr_port" \
      --admin-listen "127.0.0.1:$(free_port)" --db "$rr_db" --secret "$SECRET" \
      --forward "http://127.0.0.1:$rr_ng/" $rr_flags
    rr_pids="$rr_pids $BG_PID"; rr_ports="$rr_ports $rr_port"
    wait_port "$rr_port"
  done
  window_open "$rr_tag" "$rr_db" $rr_pids
  perf_start "$rr_tag" $rr_pids
  rr_start=$(now_ms)
  rr_targets=$rr_ports
  [ "$rr_clients" = "$rr_nodes" ] || rr_targets="$rr_ports $rr_ports"
  run_clients wrk-signed.lua "$rr_tag" $rr_targets
  rr_mid_t=$(tree_ticks $rr_pids); rr_mid_ms=$(now_ms)
  sleep 0.3
  R_ROWS=$(db_count "$rr_db" "SELECT COUNT(*) FROM receive_webhooks")
  R_DRAINED=0
  if [ "${DRAIN:-0}" = 1 ]; then R_DRAINED=$($PY wait-lines "$rr_log" "$R_ROWS" "${DRAIN_S:-300}"); fi
  perf_stop
  window_close "$rr_db" $rr_pids
  stop_nginx "$rr_ng"
  set -- $($PY merge-wrk "$WORK"/wrk-"$rr_tag"-*.txt)
  R_RATE=$1; R_P50=$2; R_P99=$3; R_ERR=$4; R_OK=$5
  R_STATUSES=$(statuses "$WORK"/wrk-"$rr_tag"-*.txt)
  set -- $(access_log_figures "$rr_log" "$rr_start" "$rr_mid_ms")
  R_HITS=$1; R_DISTINCT=$2; R_HANDLED_MS=$3; R_DRAIN_N=$4
  R_INGEST_T=$((rr_mid_t - wo_h0)); R_DRAIN_T=$((M_HOOKD_T - R_INGEST_T))
  R_HANDLED_RATE=$(awk -v n="$2" -v ms="$3" 'BEGIN { printf "%.0f", (ms > 0 ? n / (ms / 1000) : 0) }')
}

# access_log_figures LOG START_MS [SPLIT_MS]: "requests distinct_ids ms_from_START_to_the_last
# requests_after_SPLIT" of an access log written by start_nginx ($msec is truncated to the
# ms: +1).
access_log_figures() {
  awk -v s="$2" -v split_ms="${3:-0}" '{ n++; if ($1 > m) m = $1; if (!seen[$2]++) d++
      if ($1 * 1000 + 1 > split_ms) after++ }
    END { printf "%d %d %.0f %d\n", n, d, (n ? m * 1000 + 1 - s : 0), after }' "$1"
}

# cpu_split INGEST_T DRAIN_T DRAIN_N DONE IN_N WORK IN: hookd's CPU split in two. After the
# clients stopped hookd only works off what it took in: DRAIN_T ticks for DRAIN_N items give
# the CPU per item of WORK; the ticks while the clients ran (INGEST_T), less the DONE −
# DRAIN_N items of WORK done meanwhile at that cost, give the CPU per item taken in (IN_N of
# IN). Too few items after the stop (< 1000) to say: "–".
cpu_split() {
  if [ "$3" -lt 1000 ]; then
    echo "– (only $3 done after the clients stopped: too few to split)"
    return 0
  fi
  awk -v it="$1" -v dt="$2" -v dn="$3" -v done_n="$4" -v in_n="$5" -v work="$6" -v what="$7" 'BEGIN {
    per = dt * 10000 / dn; rest = (it * 10000 - (done_n - dn) * per) / in_n
    printf "%.0f µs per %s (%d after the clients stopped, in %.1f CPU-s); ", per, work, dn, dt / 100
    if (rest > 0)
      printf "taking in alone ≈ %.0f µs per %s (the CPU while the clients ran, less %d of the former at that cost)\n", rest, what, done_n - dn
    else
      printf "taking in: not separable (the CPU while the clients ran is below %d of the former at that cost)\n", done_n - dn }'
}

# recv_checks WHAT: the CHECK lines of the last recv_run.
recv_checks() {
  check "$R_OK -gt 0" "$1: 2XX answered ($R_OK)"
  check "$R_ROWS -ge $R_OK" "$1: every 2XX is durable: $R_ROWS stored rows >= $R_OK 2XX"
  check "$R_ROWS -le $((R_OK + WRK_CONNS))" "$1: no phantom rows: $R_ROWS <= 2XX + $WRK_CONNS in flight at the cutoff"
  if [ "${DRAIN:-0}" = 1 ]; then
    check "$R_DRAINED = 1" "$1: the inbox drained within ${DRAIN_S:-300} s ($R_DISTINCT of $R_ROWS handled)"
    check "$R_DISTINCT -eq $R_ROWS -a $R_HITS -eq $R_ROWS" "$1: every stored webhook handled exactly once ($R_HITS requests at the forward target, $R_DISTINCT distinct ids, $R_ROWS rows)"
  fi
}

# ---- hookd serve -----------------------------------------------------------------------------

# send_run LABEL NODES DB: NODES `hookd serve` on DB, DESTS destinations on a fresh nginx 204
# with an access log; wrk-events.lua posts events to every node side by side (WRK_CONNS
# split); the run lasts until every webhook created has succeeded (/metrics, at most 300 s).
# Sets S_EV_RATE S_EV_P50 S_EV_P99 S_EV_ERR S_EV_OK (events), S_EXPECT (webhooks created),
# S_ELAPSED (first post → last delivery, ms) S_DONE S_RATE (deliveries/s), S_SUCC S_OTHER
# S_ATTEMPTS (store), S_AT_DEST S_DISTINCT (destination's log), S_INGEST_T S_DRAIN_T S_DRAIN_N
# (as recv_run's R_*), and window_close's M_*.
send_run() {
  sr_label=$1; sr_nodes=$2; sr_db=$3
  sr_tag="send-$sr_label-$sr_nodes"
  sr_ng=$(free_port)
  sr_log="$WORK/access-$sr_tag.log"
  start_nginx "$sr_ng" 204 "$sr_log"
  case $sr_db in sqlite:*) sr_sdb=${sr_db#sqlite:} ;; *) sr_sdb=$sr_db ;; esac
  sr_pids=""; sr_ports=""; sr_i=0
  while [ $sr_i -lt "$sr_nodes" ]; do
    sr_i=$((sr_i + 1))
    sr_port=$(free_port)
    start_serve "serve-$sr_tag-$sr_i" "$sr_port" "$sr_sdb"
    sr_pids="$sr_pids $SERVE_PID"; sr_ports="$sr_ports $sr_port"
    # The destinations, through the first node, before the others start.
    if [ $sr_i = 1 ]; then
      $PY destinations "$sr_port" "$TOKEN" "$DESTS" "http://127.0.0.1:$sr_ng/d{i}" 4 >"$WORK/dests.txt"
    fi
  done
  window_open "$sr_tag" "$sr_db" $sr_pids
  perf_start "$sr_tag" $sr_pids
  sr_start=$(now_ms)
  run_clients wrk-events.lua "$sr_tag" $sr_ports
  sr_mid_t=$(tree_ticks $sr_pids); sr_mid_ms=$(now_ms)
  # Events wrk left in flight still commit after it stops (seconds later on a loaded
  # machine): count once the number stops moving.
  S_EXPECT=-1; sr_now=0
  while [ "$sr_now" != "$S_EXPECT" ]; do
    S_EXPECT=$sr_now; sleep 0.5
    sr_now=$(db_count "$sr_db" "SELECT COUNT(*) FROM serve_webhooks")
  done
  set -- $($PY wait-metrics "$(echo $sr_ports | tr ' ' ',')" 'hookd_webhook_transitions_total{to="succeeded"}' "$S_EXPECT" 300 "$sr_start")
  S_ELAPSED=$1; S_DONE=$2
  perf_stop
  window_close "$sr_db" $sr_pids
  stop_nginx "$sr_ng"
  set -- $($PY merge-wrk "$WORK"/wrk-"$sr_tag"-*.txt)
  S_EV_RATE=$1; S_EV_P50=$2; S_EV_P99=$3; S_EV_ERR=$4; S_EV_OK=$5
  S_SUCC=$(db_count "$sr_db" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")
  S_OTHER=$(db_count "$sr_db" "SELECT COUNT(*) FROM serve_webhooks WHERE status <> 'succeeded'")
  S_ATTEMPTS=$(db_count "$sr_db" "SELECT COUNT(*) FROM serve_attempts")
  set -- $(access_log_figures "$sr_log" "$sr_start" "$sr_mid_ms")
  S_AT_DEST=$1; S_DISTINCT=$2; S_DRAIN_N=$4
  S_INGEST_T=$((sr_mid_t - wo_h0)); S_DRAIN_T=$((M_HOOKD_T - S_INGEST_T))
  S_RATE=$(awk -v n="$S_DONE" -v ms="$S_ELAPSED" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
}

# send_checks WHAT: the CHECK lines of the last send_run.
send_checks() {
  check "$S_EV_OK -gt 0" "$1: events accepted ($S_EV_OK)"
  check "$S_EV_ERR -eq 0" "$1: API errors: $S_EV_ERR"
  check "$S_DONE -ge $S_EXPECT" "$1: every webhook delivered per /metrics ($S_DONE of $S_EXPECT)"
  check "$S_EXPECT -ge $((S_EV_OK * DESTS))" "$1: every 202 created its $DESTS webhooks ($S_EXPECT >= $((S_EV_OK * DESTS)))"
  check "$S_SUCC -eq $S_EXPECT -a $S_OTHER -eq 0" "$1: store: $S_SUCC succeeded of $S_EXPECT, $S_OTHER in another state"
  check "$S_ATTEMPTS -eq $S_EXPECT" "$1: one attempt per webhook ($S_ATTEMPTS attempts, $S_EXPECT webhooks)"
  check "$S_AT_DEST -eq $S_EXPECT -a $S_DISTINCT -eq $S_EXPECT" "$1: exactly once at the destination ($S_AT_DEST requests, $S_DISTINCT distinct ids, $S_EXPECT webhooks)"
}

# emit_checks TEXT: prints CHECK lines collected in a subshell ($(recv_checks …)), and
# records a failure among them.
emit_checks() {
  echo "$1" | sed '/^$/d'
  if echo "$1" | grep -q '^CHECK FAIL'; then CHECK_FAILED=1; fi
}
