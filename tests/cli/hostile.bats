#!/usr/bin/env bats
# Hostile inputs (issue 16): small files, found by fuzzing the readers or made
# by hand from what the fuzzing showed, that crashed a tool, took gigabytes
# before an error, converted NaN or 1e300 to an integer, or gave garbage with
# exit 0.  Each must give exit 1 with a message naming the tool, the file,
# the record (or HDU, or line) and the key, in memory bounded by what the
# file holds.  tests/data/hostile/README.md says what each file is.

load helpers

H="$BATS_TEST_DIRNAME/../data/hostile"
DATA="$BATS_TEST_DIRNAME/../data"
MODELS="$BATS_TEST_DIRNAME/../../models/sdss-r"

# Peak resident memory of a command, KiB, into $rss; its status and output in
# $status and $output as `run` gives them.
run_rss() {
    run /usr/bin/time -f '%M' -o rss.txt "$@"
    rss=$(tail -n 1 rss.txt)
    # /usr/bin/time adds "Command exited with non-zero status N" to its file.
    [[ "$rss" =~ ^[0-9]+$ ]] || { echo "no peak RSS from /usr/bin/time: $(cat rss.txt)" >&2; return 1; }
}

# The bound on peak memory for a file of a few hundred bytes: what the tool
# needs anyway (a model's buffers, AddressSanitizer's shadow), far below the
# gigabytes these files used to cost.
rss_limit() { [ "${SL_SANITIZE:-}" = 1 ] && echo 600000 || echo 250000; }

assert_rss_bounded() {
    if [ "$rss" -gt "$(rss_limit)" ]; then
        echo "peak RSS $rss KiB, above $(rss_limit) KiB" >&2
        return 1
    fi
}

@test "A: a cut-out around a NaN position is refused, not a crash" {
    run sl-tile --cutout 8 "$H/A-cutout-x-nan.slr"
    assert_status 1
    [ "$output" = "sl-tile: $H/A-cutout-x-nan.slr: record 2: key 'truth.x': row 0: nan is not a position (finite, at most 1.07374e+09 pixels from the origin)" ]
}

@test "A: a cut-out around a position beyond int is refused" {
    run sl-tile --cutout 8 "$H/A-cutout-x-huge.slr"
    assert_status 1
    [ "$output" = "sl-tile: $H/A-cutout-x-huge.slr: record 2: key 'truth.x': row 0: 3e+09 is not a position (finite, at most 1.07374e+09 pixels from the origin)" ]
    # Patches too: the tables every tool reads are checked on reading.
    run sl-tile --patch 8 "$H/A-cutout-x-huge.slr"
    assert_status 1
    assert_output_contains "key 'truth.x': row 0: 3e+09 is not a position"
}

@test "C: a NaN truth position is refused by the renderer and by training" {
    run sl-simulate --render "$H/C-truth-x-nan-16.slr"
    assert_status 1
    [ "$output" = "sl-simulate: $H/C-truth-x-nan-16.slr: record 2: key 'truth.x': source 0: nan is not a position (finite, at most 1.07374e+09 pixels from the origin)" ]
    run sl-train -q --task detect -o m.slm "$H/C-truth-x-nan-16.slr"
    assert_status 1
    [ "$output" = "sl-train: $H/C-truth-x-nan-16.slr: record 2: key 'truth.x': source 0: nan is not a position (finite, at most 1.07374e+09 pixels from the origin)" ]
    [ ! -e m.slm ]
}

@test "E: a FRAME keyword of 1E300 is refused, not converted to an integer" {
    run sl-tile --photofield "$DATA/photoField-002583-2-crop.fits" "$H/E-frame-1e300.fits"
    assert_status 1
    [ "$output" = "sl-tile: $H/E-frame-1e300.fits: HDU 0: keyword FRAME = 1e+300 is not a whole number from 0 to 2147483647 (needed to read the gain from $DATA/photoField-002583-2-crop.fits)" ]
}

@test "B: a catalog declaring ten million sources costs what it holds" {
    run_rss sl-encode -q --at truth -m "$MODELS/galaxy.slm" "$H/B-catalog-n-10M.slr"
    assert_status 1
    [ "${lines[0]}" = "sl-encode: $H/B-catalog-n-10M.slr: record 2: key 'truth.x': expected bin of 10000000 float32, got 4 bytes" ]
    assert_rss_bounded
    echo "sl-encode --at truth: peak RSS $rss KiB" >&3
    run_rss sl-train -q -t galaxy -o m.slm "$H/B-catalog-n-10M.slr"
    assert_status 1
    [ "${lines[0]}" = "sl-train: $H/B-catalog-n-10M.slr: record 2: key 'truth.x': expected bin of 10000000 float32, got 4 bytes" ]
    assert_rss_bounded
    [ ! -e m.slm ]
}

@test "D: a model's weights are checked before its buffers are sized" {
    sl-simulate -q -n 1 -s 1 --set width=16 --set height=16 -o s.slr
    run_rss sl-encode -q -m "$H/D-model-arena-4GB.slm" s.slr
    assert_status 1
    [ "$output" = "sl-encode: $H/D-model-arena-4GB.slm: record 2: key 'params': expected bin of 42001 float32, got 0 bytes" ]
    assert_rss_bounded
    echo "sl-encode -m D: peak RSS $rss KiB" >&3
    run_rss sl-tile -m "$H/D-model-arena-4GB.slm" "$DATA/sdss-crop-r-002583-2-0136.fits"
    assert_status 1
    [ "$output" = "sl-tile: $H/D-model-arena-4GB.slm: record 2: key 'params': expected bin of 42001 float32, got 0 bytes" ]
    assert_rss_bounded
}

@test "M: a model whose outputs are not finite is an error, not garbage with exit 0" {
    sl-simulate -q -n 1 -s 1 --set width=16 --set height=16 -o s.slr
    run sl-encode -q -m "$H/M-model-huge-weights.slm" -o out.slr s.slr
    assert_status 1
    [[ "$output" == "sl-encode: s.slr: record 2: $H/M-model-huge-weights.slm: record 2: key 'params': the detect network gives a non-finite output ("*" of a batch) on image 0: its weights are unusable" ]]
    [ ! -e out.slr ]
}

@test "G: an image without a single detection is encoded (no qsort of nothing)" {
    run --separate-stderr sl-encode -m "$MODELS/detect.slm" -o out.slr "$H/G-flat-image.slr"
    assert_status 0
    [[ "$stderr" == "sl-encode: G-flat-image.slr [image 0]: 1 images, 0 sources in "* ]]
    [ "$(sl-cat --type image out.slr | jq .estimate.n)" = 0 ]
}

@test "F: an array declaring 64 Mi elements in 11 bytes is refused for what it is" {
    for tool in "sl-cat --check" "sl-merge -o m.fits" "sl-encode -m $MODELS/detect.slm" "sl-tile"; do
        run_rss $tool "$H/F-array32-64M.slr"
        assert_status 1
        name=${tool%% *}
        [ "$output" = "$name: $H/F-array32-64M.slr: record 1: truncated: the stream ends inside a record (11 bytes of it present): an array at byte 6 declares 67108864 elements, more than the bytes present could hold" ]
        assert_rss_bounded
    done
    run bash -c "cat '$H/F-array32-64M.slr' | sl-cat --check"
    assert_status 1
    [ "$output" = "sl-cat: -: record 1: truncated: the stream ends inside a record (11 bytes of it present): an array at byte 6 declares 67108864 elements, more than the bytes present could hold" ]
}

@test "X: a URL as psf_file is refused before cfitsio sees it" {
    run sl-simulate -q -c "$H/X-config-psf-url.conf" -n 1 -o s.slr
    assert_status 1
    assert_output_contains "sl-simulate: $H/X-config-psf-url.conf:2: key 'psf_file': '"
    assert_output_contains "' is a URL: only local files are read"
    [ ! -e s.slr ]
    run sl-tile --psf http://example.org/psf.fits --gain 1 "$DATA/sdss-crop-r-002583-2-0136.fits"
    assert_status 1
    [ "$output" = "sl-tile: http://example.org/psf.fits: cannot open: a URL (only local files are read)" ]
}

@test "X: a FITS file with stray bytes after an empty primary: an error, and cfitsio's handle closed" {
    # Under SANITIZE=1 LeakSanitizer fails the tool if the handle leaks.
    run sl-tile "$H/X-fits-stray-bytes.fits"
    assert_status 1
    [ "$output" = "sl-tile: $H/X-fits-stray-bytes.fits: cannot open: error reading from FITS file" ]
}

@test "a record of 4 Mi small objects reads as fast from a pipe as from a file" {
    mkstream -n 4194304 big-array > big.slr
    start=$(date +%s.%N)
    run sl-cat --check big.slr
    assert_status 0
    mid=$(date +%s.%N)
    run bash -c "cat big.slr | sl-cat --check"
    assert_status 0
    end=$(date +%s.%N)
    echo "4 Mi-element record: file $(awk "BEGIN {print $mid - $start}") s, pipe $(awk "BEGIN {print $end - $mid}") s" >&3
    # It used to be 11 times slower (re-parsed from the start after every read()).
    awk "BEGIN {exit !($end - $mid < 3 * ($mid - $start) + 1)}"
}
