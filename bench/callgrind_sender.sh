#!/bin/sh
# callgrind_sender.sh — instructions per delivery of `hookd serve`, figures that hold on a
# busy machine (unlike CPU time), in two phases that do not depend on timing:
#   ingest: hookd serve --max-in-flight 0 (API only) under valgrind --tool=callgrind takes
#     EVENTS events, each fanned out to 10 active destinations (insert + fan-out + answer);
#   drain: hookd serve under callgrind on that store delivers the EVENTS × 10 webhooks to
#     one nginx (204) until none is left (claim, sign, HTTP, outcome).
# Printed: Ir per delivery of each phase (the whole process, startup included) and of the
# big items, inclusive. HOOKD_BIN picks the build (compare two builds back to back). Not
# part of `make bench` (valgrind runs ~50× slower).
. "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-300}
DESTS=10
[ "$SMOKE" = 1 ] && EVENTS=20
command -v valgrind >/dev/null || { echo "bench: valgrind is missing" >&2; exit 2; }
machine
echo "$EVENTS events × $DESTS destinations, SQLite"

NG=$(free_port)
start_nginx "$NG" 204
DB="$WORK/serve.db"

# grind NAME PORT FLAGS…: hookd serve under callgrind (output $WORK/NAME.cg); sets SERVE_PID.
grind() {
  g_name=$1; g_port=$2; shift 2
  start_bg "$g_name" valgrind --tool=callgrind --callgrind-out-file="$WORK/$g_name.cg" "$HOOKD" \
    serve --listen "127.0.0.1:$g_port" --db "sqlite:$DB" --api-token "$TOKEN" --allow-http \
    --allow-private-addresses ${SERVE_ARGS:-} "$@"
  SERVE_PID=$BG_PID
  wait_port "$g_port" 60
}

# table NAME N: the whole process's Ir per item and the big items' (inclusive).
table() {
  t_total=$(callgrind_annotate "$WORK/$1.cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  echo "$1: $2 deliveries, whole process $(awk -v t="$t_total" -v n="$2" 'BEGIN { printf "%.0f", t / n }') Ir per delivery"
  echo
  echo "| function (inclusive) | Ir per delivery |"
  echo "|---|---|"
  callgrind_annotate --inclusive=yes --threshold=100 "$WORK/$1.cg" 2>/dev/null |
    awk -v n="$2" -v pat="${FUNCS:-serve_store_[a-z_]*|db_commit|sqlite3_step|http_client_post|conn_event_cb|hookd_sign_attempt|serve_api_event_answer_text|serve_api_handle|malloc|free}" '
      /^ *[0-9,]+ .*:/ {
        ir = $1; gsub(",", "", ir); fn = $0; sub(/^ *[0-9,]+ +(\([^)]*\) +)?/, "", fn)
        name = fn; sub(/^.*:/, "", name); sub(/ .*$/, "", name)
        if (name ~ "^(" pat ")$" && !(name in seen) && ir / n >= 500) {
          seen[name] = 1; printf "| %s | %.0f |\n", name, ir / n
        }
      }' | head -25
  echo
}

SP=$(free_port)
grind ingest "$SP" --max-in-flight 0
$PY destinations "$SP" "$TOKEN" "$DESTS" "http://127.0.0.1:$NG/d{i}" 2 >/dev/null
$PY post-events "$SP" "$TOKEN" "$EVENTS" 4
stop_pid "$SERVE_PID"
N=$($PY count "$DB" "SELECT COUNT(*) FROM serve_webhooks")
check "$N -eq $((EVENTS * DESTS))" "$N webhooks created"

SP=$(free_port)
grind drain "$SP"
python3 -c '
import sqlite3, sys, time
deadline = time.time() + 600
while time.time() < deadline:
    con = sqlite3.connect(sys.argv[1], timeout=30)
    left = con.execute("SELECT COUNT(*) FROM serve_webhooks WHERE status <> '"'succeeded'"'").fetchone()[0]
    con.close()
    if left == 0:
        sys.exit(0)
    time.sleep(0.2)
sys.exit("bench: the drain did not end")' "$DB"
stop_pid "$SERVE_PID"
stop_nginx "$NG"
SUCC=$($PY count "$DB" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")
ATT=$($PY count "$DB" "SELECT COUNT(*) FROM serve_attempts")
check "$SUCC -eq $N -a $ATT -eq $N" "every webhook delivered once ($SUCC succeeded, $ATT attempts)"

echo
table ingest "$N"
table drain "$N"
I=$(callgrind_annotate "$WORK/ingest.cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
D=$(callgrind_annotate "$WORK/drain.cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
echo "per delivery, ingest + drain: $(awk -v a="$I" -v b="$D" -v n="$N" 'BEGIN { printf "%.0f", (a + b) / n }') Ir"
finish
