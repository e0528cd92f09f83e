#!/bin/sh
# run.sh DIR SECONDS [HARNESS...]: runs each libFuzzer harness DIR/fuzz_NAME
# for SECONDS on its corpus DIR/corpus/NAME (grown from DIR/seeds/NAME), after
# replaying the regression inputs of tests/fuzz/regress/NAME, and prints per
# harness the executions, coverage (cov: edges, ft: features) and the crashes,
# timeouts and out-of-memory inputs found (files DIR/crashes/NAME-*; slow
# units are saved there too but not counted).  Exit status 1 when a regression input fails or
# a new crash was found.  Run by `make fuzz SECONDS=N`.
set -u
DIR=$1 SECS=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
NAMES=${*:-record decode model config frame photofield psf}
export SL_FUZZ_DATA="$HERE/../data"
# A failed allocation returns NULL, as in the tools (cfitsio, given a corrupt
# table header a second time in one process, asks calloc for petabytes and
# reports the failure; ASan would abort instead).  Allocations above
# -malloc_limit_mb that succeed are still reported.
export ASAN_OPTIONS="allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
mkdir -p "$DIR/crashes" "$DIR/logs"
status=0
printf '%-11s %10s %7s %8s %8s %7s\n' harness executions exec/s cov ft crashes
for n in $NAMES; do
    bin=$DIR/fuzz_$n
    mkdir -p "$DIR/corpus/$n"
    if [ -d "$HERE/regress/$n" ] && ! "$bin" -rss_limit_mb=2048 "$HERE"/regress/$n/* \
            > "$DIR/logs/$n-regress.log" 2>&1; then
        echo "$n: a regression input fails: $DIR/logs/$n-regress.log" >&2
        status=1
    fi
    before=$(ls "$DIR/crashes" | grep -v slow-unit | grep -c "^$n-" || true)
    # Fuzzing until SECS are spent: a crash ends a run (its input saved), and
    # the next run goes on from the corpus.
    start=$(date +%s)
    execs=0
    : > "$DIR/logs/$n.log"
    while left=$((SECS - ($(date +%s) - start))); [ "$left" -gt 0 ]; do
        "$bin" -max_total_time="$left" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=60 \
            -max_len=600000 -print_final_stats=1 -artifact_prefix="$DIR/crashes/$n-" \
            "$DIR/corpus/$n" "$DIR/seeds/$n" > "$DIR/logs/$n.run" 2>&1
        cat "$DIR/logs/$n.run" >> "$DIR/logs/$n.log"
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$DIR/logs/$n.run")
        execs=$((execs + ${runs:-0}))
        grep -q '^stat::number_of_executed_units' "$DIR/logs/$n.run" || sleep 1
    done
    after=$(ls "$DIR/crashes" | grep -v slow-unit | grep -c "^$n-" || true)
    # The last status line: "#N  REDUCE|NEW|pulse|DONE  cov: C ft: F corp: ...".
    last=$(grep -E '^#[0-9]+.*cov: ' "$DIR/logs/$n.log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    eps=$((execs / (SECS > 0 ? SECS : 1)))
    printf '%-11s %10s %7s %8s %8s %7s\n' "$n" "$execs" "$eps" "${cov:-?}" "${ft:-?}" \
        "$((after - before))"
    [ "$after" -eq "$before" ] || status=1
done
exit $status
