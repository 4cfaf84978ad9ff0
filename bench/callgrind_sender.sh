#!/bin/sh
# callgrind_sender.sh — instructions per delivery of `hookd serve`, a figure that holds on a
# busy machine (unlike CPU time): hookd serve under valgrind --tool=callgrind, 10 active
# destinations on one nginx (204), wrk posting RATE events/s for DUR s (each fans out to the
# 10), until every webhook succeeded; then the whole process's Ir / deliveries (startup and
# setup included) and the inclusive Ir per delivery of the store's and the loop's big items.
# HOOKD_BIN picks the build (compare two builds back to back). Not part of `make bench`
# (valgrind runs it ~50× slower).
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/runs.sh"

DUR=${DUR:-10}
RATE=${RATE:-20}
DESTS=10
[ "$SMOKE" = 1 ] && { DUR=2; RATE=5; }
command -v valgrind >/dev/null || { echo "bench: valgrind is missing" >&2; exit 2; }
machine

NG=$(free_port)
start_nginx "$NG" 204
SP=$(free_port)
OUT="$WORK/callgrind.out"
start_bg serve valgrind --tool=callgrind --callgrind-out-file="$OUT" "$HOOKD" serve \
  --listen "127.0.0.1:$SP" --db "sqlite:$WORK/serve.db" --api-token "$TOKEN" --allow-http \
  --allow-private-addresses ${SERVE_ARGS:-}
SERVE_PID=$BG_PID
PORT_WAIT=60 python3 -c '
import socket, sys, time
deadline = time.time() + 60
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("bench: hookd serve under valgrind did not start")' "$SP"
$PY destinations "$SP" "$TOKEN" "$DESTS" "http://127.0.0.1:$NG/d{i}" 2 >/dev/null
WRK_ENV="BENCH_RATE=$RATE" WRK_CONNS=4
export WRK_CONNS
run_clients wrk-events.lua cg "$SP"
sleep 1
N=$($PY count "$WORK/serve.db" "SELECT COUNT(*) FROM serve_webhooks")
set -- $($PY wait-metric "$SP" 'hookd_webhook_transitions_total{to="succeeded"}' "$N" 300)
DONE=$2
stop_pid "$SERVE_PID"
stop_nginx "$NG"
check "$DONE -ge $N" "every webhook delivered ($DONE of $N)"

TOTAL=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
echo
echo "deliveries: $N; whole process: $(awk -v t="$TOTAL" -v n="$N" 'BEGIN { printf "%.0f", t / n }') Ir per delivery"
echo
echo "| function (inclusive) | Ir per delivery |"
echo "|---|---|"
callgrind_annotate --inclusive=yes --threshold=100 "$OUT" 2>/dev/null |
  awk -v n="$N" -v pat="${FUNCS:-serve_store_w_outcome|serve_store_claim|serve_store_event_insert|serve_store_event_remember|db_worker_commit|sqlite3_step|sqlite3_prepare|curl_multi_socket_action|serve_deliver_|http_client_post|hookd_sign|serve_api_|json_dumps|malloc|free}" '
    /^ *[0-9,]+ .*:/ {
      ir = $1; gsub(",", "", ir); fn = $0; sub(/^ *[0-9,]+ +(\([^)]*\) +)?/, "", fn)
      name = fn; sub(/^.*:/, "", name); sub(/ .*$/, "", name)
      if (name ~ "^(" pat ")" && !(name in seen)) { seen[name] = 1; printf "| %s | %.0f |\n", name, ir / n }
    }' | head -40
finish
