#!/bin/sh
# fuzz/run.sh — builds hookd's fuzz targets (clang, libFuzzer + ASan + UBSan) against the
# protocol core (and, for fuzz_api_body, the API's pure body scanner src/json_raw.c) and
# runs them one after another.
#
#   fuzz/run.sh            fuzz each target for 60 seconds
#   fuzz/run.sh 10         ... for 10 seconds each
#   fuzz/run.sh --smoke    run each target over its seed corpus only, no fuzzing (for CI)
#   FUZZ_TARGETS="fuzz_units" fuzz/run.sh 30    only some targets
#
# Seeds live in fuzz/corpus/<target>/ and are never written to; inputs found while fuzzing
# go to $FUZZ_OUT/corpus/<target>/ and crashes to $FUZZ_OUT/crashes/ (FUZZ_OUT defaults to
# build-fuzz/ at the top of the repo, which git ignores). Exits non-zero on the first
# target that finds a crash, a leak, undefined behaviour or a broken invariant.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${FUZZ_OUT:-$root/build-fuzz}
targets=${FUZZ_TARGETS:-"fuzz_timestamp fuzz_verify fuzz_envelope fuzz_catalog fuzz_units fuzz_retry_after fuzz_api_body fuzz_wire_formats fuzz_http_head fuzz_http_answer"}
seconds=60
smoke=0

case "${1:-}" in
--smoke) smoke=1 ;;
'') ;;
*[!0-9]* | 0)
    echo "usage: $0 [SECONDS | --smoke]" >&2
    exit 2
    ;;
*) seconds=$1 ;;
esac

command -v clang >/dev/null || { echo "fuzz/run.sh: clang is required (apt-get install clang)" >&2; exit 2; }
make -s -C "$here" CC=clang OUT="$out"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$out/crashes"
for t in $targets; do
    seeds="$here/corpus/$t"
    dict=""
    [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
    if [ "$smoke" = 1 ]; then
        echo "== $t: seed corpus"
        # With files as arguments libFuzzer runs each once and does not fuzz.
        "$out/$t" $dict "$seeds"/*
    else
        echo "== $t: $seconds s"
        mkdir -p "$out/corpus/$t"
        "$out/$t" $dict -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
            -print_final_stats=1 -artifact_prefix="$out/crashes/$t-" "$out/corpus/$t" "$seeds"
    fi
done
echo "fuzz/run.sh: all targets passed"
