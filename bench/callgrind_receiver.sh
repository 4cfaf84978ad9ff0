#!/bin/sh
# callgrind_receiver.sh — instructions per accepted webhook on each thread of `hookd receive`
# (the loop thread first), figures that hold on a busy machine (unlike CPU time). hookd runs
# under valgrind --tool=callgrind with the handler parked (--exec of a script that sleeps,
# --workers 1: only ingest runs), SQLite; wrk posts freshly signed webhooks (wrk-signed.lua)
# for a warm-up, then instrumentation is switched on for a second run of DURATION; each
# thread's Ir is divided by that run's 2XX count. HOOKD_BIN picks the build. Not part of
# `make bench` (valgrind runs ~50× slower).
# FORWARD=1 runs the handler instead: `--forward` (default flags) to a local nginx answering 204,
# so the loop thread's figure includes the forward and its outcome.
# env: HOOKD_BIN, CONNS (16), DURATION (5s), FORWARD=1, KEEP_WORK=1 (keeps the callgrind files)
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
CONNS=${CONNS:-16}
DURATION=${DURATION:-5s}
command -v valgrind >/dev/null || { echo "bench: valgrind is missing" >&2; exit 2; }
if [ "${FORWARD:-0}" = 1 ]; then
  NGP=$(free_port)
  start_nginx "$NGP" 204
  set -- --forward "http://127.0.0.1:$NGP/hook"
else
  printf '#!/bin/sh\nexec sleep 1000\n' > "$WORK/park.sh"; chmod +x "$WORK/park.sh"
  set -- --exec "$WORK/park.sh" --workers 1
fi
start_bg hookd valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file="$WORK/cg.out" "$HOOKD" receive --listen "127.0.0.1:$PORT" \
  --admin-listen "127.0.0.1:$(free_port)" --db "sqlite:$WORK/r.db" --secret "$SECRET" \
  "$@"
VP=$BG_PID
wait_port "$PORT" 60
cd "$BENCH_DIR"
export BENCH_SECRET=$SECRET
wrk -t1 -c"$CONNS" -d2s -s wrk-signed.lua "http://127.0.0.1:$PORT/" > "$WORK/warmup.txt" 2>&1
callgrind_control -i on "$VP" > /dev/null
wrk -t1 -c"$CONNS" -d"$DURATION" -s wrk-signed.lua "http://127.0.0.1:$PORT/" > "$WORK/wrk.txt" 2>&1
callgrind_control -i off "$VP" > /dev/null
kill "$VP"; wait "$VP" || true
total=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.txt")
ok=$((total - ${non2xx:-0}))
echo "$ok webhooks accepted (2XX) with instrumentation on, $CONNS connections"
for f in "$WORK"/cg.out*; do
  ir=$(awk '/^totals:/ {print $2; exit}' "$f")
  [ -n "$ir" ] && [ "$ir" -gt 0 ] &&
    echo "$(basename "$f"): $ir Ir, $((ir / ok)) Ir per webhook"
done
