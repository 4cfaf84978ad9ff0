#!/bin/sh
# callgrind_receiver.sh — instructions per accepted webhook on each thread of `hookd receive`
# (the loop thread first), figures that hold on a busy machine (unlike CPU time). hookd runs
# under valgrind --tool=callgrind with the handler parked (--exec of a script that sleeps,
# --workers 1: only ingest runs), SQLite; wrk posts freshly signed webhooks (wrk-signed.lua)
# for a warm-up, then instrumentation is switched on for a second run of DURATION; each
# thread's Ir is divided by that run's 2XX count. HOOKD_BIN picks the build. Not part of
# `make bench` (valgrind runs ~50× slower).
# env: HOOKD_BIN, W (scratch dir, wiped), PORT (and PORT+1), CONNS (16), DURATION (5s)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
HOOKD_BIN=${HOOKD_BIN:-$HERE/../build/hookd}
W=${W:-/tmp/callgrind-receiver}
PORT=${PORT:-18620}
CONNS=${CONNS:-16}
DURATION=${DURATION:-5s}
command -v valgrind >/dev/null || { echo "bench: valgrind is missing" >&2; exit 2; }
rm -rf "$W"; mkdir -p "$W"
printf '#!/bin/sh\nexec sleep 1000\n' > "$W/park.sh"; chmod +x "$W/park.sh"
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file="$W/cg.out" "$HOOKD_BIN" receive --listen "127.0.0.1:$PORT" \
  --admin-listen "127.0.0.1:$((PORT + 1))" --db "sqlite:$W/r.db" --secret whsec_bench \
  --exec "$W/park.sh" --workers 1 > "$W/hookd.log" 2>&1 &
VP=$!
python3 -c '
import socket, sys, time
deadline = time.time() + 60
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("bench: hookd receive under valgrind did not start")' "$PORT"
cd "$HERE"
export BENCH_SECRET=whsec_bench
wrk -t1 -c"$CONNS" -d2s -s wrk-signed.lua "http://127.0.0.1:$PORT/" > "$W/warmup.txt" 2>&1
callgrind_control -i on "$VP" > /dev/null
wrk -t1 -c"$CONNS" -d"$DURATION" -s wrk-signed.lua "http://127.0.0.1:$PORT/" > "$W/wrk.txt" 2>&1
callgrind_control -i off "$VP" > /dev/null
kill "$VP"; wait "$VP" || true
total=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$W/wrk.txt")
ok=$((total - ${non2xx:-0}))
echo "$ok webhooks accepted (2XX) with instrumentation on, $CONNS connections"
for f in "$W"/cg.out*; do
  ir=$(awk '/^totals:/ {print $2; exit}' "$f")
  [ -n "$ir" ] && [ "$ir" -gt 0 ] &&
    echo "$(basename "$f"): $ir Ir, $((ir / ok)) Ir per webhook"
done
