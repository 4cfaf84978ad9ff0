#!/bin/sh
# run-all.sh — `make bench`: every scenario once, in full mode, one after the other on this
# machine, each printing its table; then the latency plots (gnuplot) into docs/.
# Env: HOOKD_BIN (default build/hookd), SMOKE=1 (tiny), OUT_DIR (raw results; default a new
# /tmp/hookd-bench-results.* dir), PLOTS=0 (skip the plots), ONLY="fanout backlog" (a subset).
set -eu
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/hookd-bench-results.XXXXXX)}
mkdir -p "$OUT_DIR"
export OUT_DIR
SCENARIOS=${ONLY:-"burst receiver_ingest sender_throughput fanout fanout_accounts isolation sender_latency backlog postgres"}
status=0
for s in $SCENARIOS; do
  echo "## $s"
  if ! sh "$BENCH_DIR/$s.sh" 2>&1 | tee "$OUT_DIR/$s.txt"; then
    status=1
  fi
  grep -q '^CHECK FAIL' "$OUT_DIR/$s.txt" && status=1
  echo
done
if [ "${PLOTS:-1}" = 1 ] && command -v gnuplot >/dev/null && [ -f "$OUT_DIR/sender_latency.cdf" ] \
   && [ -f "$OUT_DIR/ingest-hookd.cdf" ]; then
  gnuplot -e "dir='$OUT_DIR'; out='$ROOT/docs'" "$BENCH_DIR/plot.gnuplot" && echo "plots: $ROOT/docs/bench-*.png"
fi
echo "raw results: $OUT_DIR"
exit $status
