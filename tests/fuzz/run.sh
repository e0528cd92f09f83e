#!/bin/sh
# run.sh DIR SECONDS [HARNESS...]: runs each libFuzzer harness DIR/fuzz_NAME
# for SECONDS on its corpus DIR/corpus/NAME (grown from DIR/seeds/NAME), after
# replaying the regression inputs of tests/fuzz/regress/NAME, and prints per
# harness the executions, coverage (cov: edges, ft: features) and the crashes
# (files DIR/crashes/NAME-*).  Exit status 1 when a regression input fails or
# a new crash was found.  Run by `make fuzz SECONDS=N`.
set -u
DIR=$1 SECS=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
NAMES=${*:-record decode model config frame photofield psf}
export SL_FUZZ_DATA="$HERE/../data"
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
    before=$(ls "$DIR/crashes" | grep -c "^$n-" || true)
    # -fork keeps going after a crash (each one saved), so one bug does not end the run.
    "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=30 \
        -max_len=600000 -print_final_stats=1 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
        -ignore_ooms=1 -artifact_prefix="$DIR/crashes/$n-" \
        "$DIR/corpus/$n" "$DIR/seeds/$n" > "$DIR/logs/$n.log" 2>&1
    after=$(ls "$DIR/crashes" | grep -c "^$n-" || true)
    # The fork mode's last status line: "#N: cov: C ft: F corp: ... exec/s: E ...".
    last=$(grep -E '^#[0-9]+: cov:' "$DIR/logs/$n.log" | tail -n 1)
    execs=$(echo "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    eps=$(echo "$last" | sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p')
    printf '%-11s %10s %7s %8s %8s %7s\n' "$n" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" \
        "$((after - before))"
    [ "$after" -eq "$before" ] || status=1
done
exit $status
