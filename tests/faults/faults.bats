#!/usr/bin/env bats
# Failure injection (issue 16; tests/faults/README.md): a small pipeline of
# every tool, run once to count the calls of read, write, fclose, rename,
# malloc and fopen its own code makes, then once per call with that call
# failing.  Each must end with exit 1, a message that starts with the tool's
# name, nothing under the output's real name (nor a temporary file left
# beside it), and no sanitizer report.  Run by `make faults`.

load ../cli/helpers

FUNCS="read write fclose rename malloc fopen"
DATA="$BATS_TEST_DIRNAME/../data"
# Sanitizer reports get their own exit status, so that they cannot pass for
# the tool's own status 1.
export ASAN_OPTIONS=exitcode=86:detect_leaks=1
export UBSAN_OPTIONS=exitcode=86:print_stacktrace=1
export OPENBLAS_NUM_THREADS=1

inputs() {
    sl-simulate -q -n 2 -s 1 --set width=16 --set height=16 -o sim.slr
    sl-simulate -q -n 4 -s 2 --set width=16 --set height=16 -o train.slr
    sl-train -q -j 1 --task detect --steps 2 --batch 2 --width 4 --tile 2 --border 2 \
        --patch-tiles 2 --buffer 8 --checkpoint-every 0 -o m.slm train.slr
    sl-encode -q -m m.slm --threshold 0.2 -o est.slr sim.slr
}

# inject TOOL OUT CMD...: runs CMD (a tool of the fault build, then its
# arguments) failing each counted call in turn, SL_FAULT_JOBS runs at a time
# (tests/faults/one.sh).  OUT is the output's path.
inject() {
    local tool=$1 out=$2
    shift 2
    rm -f counts.txt "$out"
    SL_FAULT_COUNTS=counts.txt "$SL_FAULT_BIN/$@" > /dev/null 2> clean.err || {
        echo "$tool: fails without injection: $(cat clean.err)" >&2; return 1; }
    [ -e "$out" ] || { echo "$tool: no $out without injection" >&2; return 1; }
    rm -f "$out"
    printf '%q ' "$@" > cmd
    local f k n
    for f in $FUNCS; do
        n=$(awk -v f=$f '$1 == f {s += $2} END {print s + 0}' counts.txt)
        for ((k = 1; k <= n; k++)); do echo "$f $k"; done
    done > points.txt
    xargs -P "${SL_FAULT_JOBS:-2}" -L 1 "$BATS_TEST_DIRNAME/one.sh" "$tool" "$out" \
        < points.txt > bad.txt
    local points bad
    points=$(wc -l < points.txt)
    bad=$(wc -l < bad.txt)
    head -n 15 bad.txt >&2
    echo "$tool: $points injected failure points ($(tr '\n' ' ' < counts.txt)), $bad bad" >&3
    echo "$tool $points $bad" >> "$BATS_FILE_TMPDIR/points"
    rm -f points.txt bad.txt cmd counts.txt clean.err
    [ "$bad" -eq 0 ]
}

@test "sl-simulate" {
    inject sl-simulate out.slr sl-simulate -q -j 1 -n 1 -s 1 --set width=16 --set height=16 -o out.slr
}

@test "sl-cat: raw records and JSON" {
    inputs
    inject sl-cat out.slr sl-cat --raw -o out.slr sim.slr
    inject sl-cat out.json sl-cat -o out.json sim.slr
}

@test "sl-tile: records and a FITS frame" {
    inputs
    inject sl-tile out.slr sl-tile -q --patch 8 --border 4 -o out.slr sim.slr
    inject sl-tile out.slr sl-tile -q --gain 4.7 --psf-fwhm 1.4 --patch 128 -n 1 -o out.slr \
        "$DATA/sdss-crop-r-002583-2-0136.fits"
}

@test "sl-train" {
    inputs
    inject sl-train out.slm sl-train -q -j 1 --task detect --steps 2 --batch 2 --width 4 --tile 2 \
        --border 2 --patch-tiles 2 --buffer 8 --checkpoint-every 0 -o out.slm train.slr
}

@test "sl-encode" {
    inputs
    inject sl-encode out.slr sl-encode -q -j 1 -m m.slm --threshold 0.2 -o out.slr sim.slr
}

@test "sl-merge: FITS and records" {
    inputs
    inject sl-merge out.fits sl-merge -q -o out.fits est.slr
    inject sl-merge out.slr sl-merge -q -o out.slr est.slr
}

@test "sl-calibrate" {
    inputs
    inject sl-calibrate out.json sl-calibrate -q --json out.json est.slr
}

@test "total" {
    [ -f "$BATS_FILE_TMPDIR/points" ]
    echo "all tools: $(awk '{s += $2; b += $3} END {print s " injected failure points, " b " bad"}' "$BATS_FILE_TMPDIR/points")" >&3
}
