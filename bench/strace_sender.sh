#!/bin/sh
# strace_sender.sh — syscalls per delivery of `hookd serve` on SQLite, like callgrind_sender.sh
# (ingest: API only, EVENTS events × 10 destinations; drain: deliver them to one nginx), each
# phase under strace -c -f attached to the running process. HOOKD_BIN picks the build.
. "$(dirname "$0")/lib.sh"
EVENTS=${EVENTS:-1000}
DESTS=10
NG=$(free_port)
start_nginx "$NG" 204
DB="$WORK/serve.db"
trace() { # NAME: attach strace to SERVE_PID
  strace -c -f -o "$WORK/$1.strace" -p "$SERVE_PID" 2>/dev/null &
  ST_PID=$!
  sleep 1
}
untrace() { kill -INT "$ST_PID"; wait "$ST_PID" 2>/dev/null || true; }
SP=$(free_port)
start_serve ingest "$SP" "$DB" --max-in-flight 0
$PY destinations "$SP" "$TOKEN" "$DESTS" "http://127.0.0.1:$NG/d{i}" 2 >/dev/null
trace ingest
$PY post-events "$SP" "$TOKEN" "$EVENTS" 4
untrace
stop_pid "$SERVE_PID"
N=$($PY count "$DB" "SELECT COUNT(*) FROM serve_webhooks")
SP=$(free_port)
# nothing due until strace is attached (3 s after the start)
python3 -c 'import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE serve_webhooks SET next_attempt_at = ?", (int(time.time()*1000)+3000,)); c.commit()' "$DB"
start_serve drain "$SP" "$DB"
trace drain
python3 -c '
import sqlite3, sys, time
deadline = time.time() + 300
while time.time() < deadline:
    con = sqlite3.connect(sys.argv[1], timeout=30)
    left = con.execute("SELECT COUNT(*) FROM serve_webhooks WHERE status <> '"'succeeded'"'").fetchone()[0]
    con.close()
    if left == 0:
        sys.exit(0)
    time.sleep(0.2)
sys.exit("drain did not end")' "$DB"
untrace
stop_pid "$SERVE_PID"
stop_nginx "$NG"
SUCC=$($PY count "$DB" "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")
echo "$N webhooks, $SUCC succeeded"
for ph in ingest drain; do
  echo "$ph: per delivery"
  awk -v n="$N" '$NF ~ /^(pwrite64|fdatasync|fsync|pread64|write|writev|read|sendto|recvfrom|epoll_wait|futex|lseek|openat|close)$/ { printf "  %-12s %.3f\n", $NF, $4 / n } /total/ { printf "  %-12s %.3f\n", "total", $4 / n }' "$WORK/$ph.strace"
done
finish
