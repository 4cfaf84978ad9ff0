# plot.gnuplot — latency distributions of scenarios 1 and 3 as PNGs for docs/BENCHMARKS.md.
# Usage: gnuplot -e "dir='RESULTS_DIR'; out='docs'" bench/plot.gnuplot
# Inputs (two columns, latency_ms cumulative_fraction): ingest-{nginx,hookd,webhook}.cdf
# from receiver_ingest.sh, sender_latency.cdf from sender_latency.sh.
set terminal pngcairo size 900,520 noenhanced font ",11"
set grid
set key bottom right
set logscale x
set xlabel "latency, ms (log scale)"
set ylabel "fraction of requests at or below"
set yrange [0:1.0]

set output out."/bench-ingest-latency.png"
set title "Scenario 1: receiver ingest latency (wrk, same client settings for all)"
plot dir."/ingest-nginx.cdf" using 1:2 with lines lw 2 title "nginx 204 (ceiling)", \
     dir."/ingest-hookd.cdf" using 1:2 with lines lw 2 title "hookd receive (SQLite, fsync before 200)", \
     dir."/ingest-webhook.cdf" using 1:2 with lines lw 2 title "adnanh/webhook 2.8"

set output out."/bench-sender-latency.png"
set title "Scenario 3: hookd serve, 202 -> delivered, 2,000 events/s offered"
set xrange [0.5:*]
plot dir."/sender_latency.cdf" using 1:2 with lines lw 2 title "202 to delivery (upper bound, 1 ms resolution)"
