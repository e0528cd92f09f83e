#!/usr/bin/env bats
# Failure safety, tool by tool: a full disk on standard output, signals in the
# middle of writing a file, non-stream input, output paths that cannot be
# written.  Each failure must end with exit 1 (or the signal) and a message
# that names the tool and what failed: never a crash, never a sanitizer
# report, never a temporary file left behind.

load helpers

crop="$BATS_TEST_DIRNAME/../data/sdss-crop-r-002583-2-0136.fits"
photo="$BATS_TEST_DIRNAME/../data/photoField-002583-2-crop.fits"
psfield="$BATS_TEST_DIRNAME/../data/psField-002583-2-0136.fit"

setup_file() {
    cd "$BATS_FILE_TMPDIR" || return 1
    tiny="-q --width 4 --batch 8 --buffer 64 --steps 3"
    sl-simulate -q -n 6 -s 3 --set lens_prob=0.5 -o img.slr
    sl-train $tiny -t detect --tile 4 --border 8 --patch-tiles 4 -o detect.slm img.slr
    sl-train $tiny -t classify --cutout 24 -o classify.slm img.slr
    sl-encode -q --threshold 0.01 -m detect.slm -m classify.slm img.slr -o est.slr
    sl-tile -q --patch 32 img.slr | sl-encode -q --threshold 0.01 -m detect.slm -o patches.slr
}

# The command (a shell line) with standard output on a full disk: exit 1 and
# exactly one line on stderr, "TOOL: ...No space left on device".
full_disk() {
    local tool=$1
    shift
    run bash -c "$* > /dev/full"
    assert_status 1
    case "$output" in
    "$tool: "*"No space left on device") ;;
    *) echo "expected one line '$tool: ...No space left on device', got: $output" >&2; return 1 ;;
    esac
    [ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ] || { echo "more than one line: $output" >&2; return 1; }
}

@test "every tool's --help and --version on a full disk: exit 1 and a message" {
    [ -w /dev/full ] || skip "no /dev/full"
    for t in sl-cat sl-simulate sl-tile sl-encode sl-merge sl-calibrate sl-train; do
        full_disk $t "$t --help"
        full_disk $t "$t --version"
    done
}

@test "sl-cat on a full disk, every output mode" {
    [ -w /dev/full ] || skip "no /dev/full"
    f="$BATS_FILE_TMPDIR"
    full_disk sl-cat "sl-cat $f/img.slr"
    full_disk sl-cat "sl-cat --count $f/img.slr"
    full_disk sl-cat "sl-cat --raw $f/img.slr"
    full_disk sl-cat "sl-cat --full --type image $f/img.slr"
}

@test "sl-simulate on a full disk: simulating, rendering, listing keys" {
    [ -w /dev/full ] || skip "no /dev/full"
    f="$BATS_FILE_TMPDIR"
    full_disk sl-simulate "sl-simulate -n 3"
    full_disk sl-simulate "sl-simulate -n 20 -j 2"
    full_disk sl-simulate "sl-simulate -n 2 --fits fits --png png"
    full_disk sl-simulate "sl-simulate -s 3 --render $f/img.slr"
    full_disk sl-simulate "sl-simulate --render --catalog estimate $f/est.slr"
    full_disk sl-simulate "sl-simulate --list-keys"
    full_disk sl-simulate "sl-simulate --print-config"
}

@test "sl-tile on a full disk: record streams and FITS frames" {
    [ -w /dev/full ] || skip "no /dev/full"
    f="$BATS_FILE_TMPDIR"
    full_disk sl-tile "sl-tile --patch 32 $f/img.slr"
    full_disk sl-tile "sl-tile --cutout 16 $f/img.slr"
    full_disk sl-tile "sl-tile -m $f/detect.slm --psfield $psfield --photofield $photo $crop"
}

@test "sl-encode on a full disk: images, patches, samples, threads" {
    [ -w /dev/full ] || skip "no /dev/full"
    f="$BATS_FILE_TMPDIR"
    full_disk sl-encode "sl-encode --threshold 0.01 -m $f/detect.slm $f/img.slr"
    full_disk sl-encode "sl-encode --threshold 0.01 -j 2 -m $f/detect.slm -m $f/classify.slm $f/img.slr"
    full_disk sl-encode "sl-encode --threshold 0.01 --samples 2 -m $f/detect.slm $f/img.slr"
    full_disk sl-encode "sl-encode --threshold 0.01 --no-pixels -m $f/detect.slm $f/patches.slr"
    full_disk sl-encode "sl-encode --threshold 0.01 --at truth -m $f/classify.slm $f/img.slr"
}

@test "sl-merge on a full disk: records and CSV" {
    [ -w /dev/full ] || skip "no /dev/full"
    f="$BATS_FILE_TMPDIR"
    full_disk sl-merge "sl-merge $f/patches.slr"
    full_disk sl-merge "sl-merge --csv $f/patches.slr"
    full_disk sl-merge "sl-merge -k truth $f/patches.slr"
    run sl-merge -o /dev/full "$f/patches.slr"
    assert_status 1
    [ "$output" = "sl-merge: /dev/full: write error: No space left on device" ]
}

@test "sl-calibrate on a full disk: the table, --json -, -o -" {
    [ -w /dev/full ] || skip "no /dev/full"
    f="$BATS_FILE_TMPDIR"
    full_disk sl-calibrate "sl-calibrate $f/est.slr"
    full_disk sl-calibrate "sl-calibrate --json - $f/est.slr"
    full_disk sl-calibrate "sl-calibrate -o - $f/est.slr"
}

@test "sl-train on a full disk: the model and its checkpoint" {
    [ -w /dev/full ] || skip "no /dev/full"
    f="$BATS_FILE_TMPDIR"
    run sl-train -q --width 4 --batch 8 --steps 2 -t detect --tile 4 --border 8 \
        --patch-tiles 4 -o /dev/full "$f/img.slr"
    assert_status 1
    [ "$output" = "sl-train: /dev/full: write error: No space left on device" ]
}

# ---- Signals ------------------------------------------------------------------

# Starts CMD in the background with output to a file in the current
# directory, waits until its temporary file appears, sends SIG, and checks
# that the tool died of SIG and left no temporary file.
killed_leaves_nothing() {
    local sig=$1 num=$2
    shift 2
    "$@" 2> err.txt &
    local pid=$! i
    for i in $(seq 100); do
        compgen -G '*.tmp*' > /dev/null && break
        sleep 0.1
    done
    compgen -G '*.tmp*' > /dev/null || { kill $pid; echo "no temporary file appeared" >&2; return 1; }
    kill -s "$sig" $pid
    local rc=0
    wait $pid || rc=$?
    [ "$rc" -eq $((128 + num)) ] || { echo "exit status $rc, expected $((128 + num))" >&2; cat err.txt >&2; return 1; }
    if compgen -G '*.tmp*' > /dev/null; then
        echo "left behind: $(ls)" >&2
        return 1
    fi
}

@test "TERM, INT and HUP remove the temporary file of an unfinished output" {
    killed_leaves_nothing TERM 15 sl-simulate -q -n 100000 -o big.slr
    [ ! -e big.slr ]
    killed_leaves_nothing HUP 1 sl-simulate -q -n 100000 -j 2 -o big.slr
    # Background jobs of a non-interactive shell ignore INT (and a tool keeps
    # a signal ignored): env gives it the default it has at a terminal.
    killed_leaves_nothing INT 2 env --default-signal=INT sl-simulate -q -n 100000 -o big.slr
    [ ! -e big.slr ]
}

@test "a signal removes every temporary file: text outputs, FITS and PNG side outputs" {
    # sl-cat writing JSON to a file.
    yes "$BATS_FILE_TMPDIR/img.slr" | head -2000 | xargs cat > many.slr
    killed_leaves_nothing TERM 15 sl-cat --full -o big.json many.slr
    [ ! -e big.json ]
    # sl-simulate with FITS and PNG side outputs beside the stream.
    killed_leaves_nothing TERM 15 sl-simulate -q -n 100000 --fits fits --png png -o big.slr
    for d in fits png; do
        if compgen -G "$d/*.tmp*" > /dev/null; then
            echo "left behind in $d: $(ls $d | grep tmp)" >&2
            return 1
        fi
    done
}

@test "a tool that dies of an error leaves no temporary file either" {
    printf 'not a stream' > bad.slr
    run sl-cat --raw -o out.slr "$BATS_FILE_TMPDIR/img.slr" bad.slr
    assert_status 1
    ! compgen -G '*.tmp*'
    [ ! -e out.slr ]
    run sl-cat -o out.json "$BATS_FILE_TMPDIR/img.slr" bad.slr
    assert_status 1
    ! compgen -G '*.tmp*'
    [ ! -e out.json ]
}

# ---- Output paths checked before the work --------------------------------------

@test "an output that cannot be written fails before the work starts" {
    f="$BATS_FILE_TMPDIR"
    run sl-merge -o /nonexistent/cat.csv "$f/patches.slr"
    assert_status 1
    [ "$output" = "sl-merge: /nonexistent/cat.csv: cannot write: No such file or directory" ]
    run sl-merge -o /nonexistent/cat.fits "$f/patches.slr"
    assert_status 1
    [ "$output" = "sl-merge: /nonexistent/cat.fits: cannot write: No such file or directory" ]
    # Nothing read: the error comes before the input is opened.
    run sl-calibrate --json /nonexistent/r.json no-such-input.slr
    assert_status 1
    [ "$output" = "sl-calibrate: /nonexistent/r.json: cannot write: No such file or directory" ]
    mkdir ro && chmod a-w ro
    if [ ! -w ro ]; then # root writes anywhere
        run sl-merge --csv -o ro/cat.csv "$f/patches.slr"
        assert_status 1
        assert_output_contains "cannot write: Permission denied"
    fi
    ls ro | grep -q . && { echo "left behind: $(ls ro)" >&2; return 1; }
    true
}

# ---- Input that is not a record stream ---------------------------------------

@test "every stream tool names a FITS, compressed or JSON input for what it is" {
    f="$BATS_FILE_TMPDIR"
    cp "$crop" frame.fits
    bzip2 -c "$f/img.slr" > img.slr.bz2
    gzip -c "$f/img.slr" > img.slr.gz
    sl-cat "$f/img.slr" > img.json
    fits="frame.fits: record 1: this is a FITS file, not a record stream: convert it with sl-tile"
    for cmd in "sl-cat" "sl-cat --check" "sl-merge" "sl-encode -m $f/detect.slm" "sl-calibrate" \
               "sl-simulate --render" "sl-train -t detect -o m.slm"; do
        tool=${cmd%% *}
        run $cmd frame.fits
        assert_status 1
        [ "$output" = "$tool: $fits" ] || { echo "$cmd: $output" >&2; return 1; }
        # From a pipe too.
        run bash -c "$cmd < frame.fits"
        assert_status 1
        [ "$output" = "$tool: -: record 1: this is a FITS file, not a record stream: convert it with sl-tile" ]
        run $cmd img.slr.bz2
        assert_status 1
        assert_output_contains "$tool: img.slr.bz2: record 1: this is a bzip2-compressed file, not a record stream: decompress it (bzcat FILE | ...)"
        run $cmd img.slr.gz
        assert_status 1
        assert_output_contains "$tool: img.slr.gz: record 1: this is a gzip-compressed file"
        run $cmd img.json
        assert_status 1
        assert_output_contains "$tool: img.json: record 1: this is JSON text, not a record stream"
    done
    # A model is a stream too: sl-encode says the same of a FITS "model".
    run sl-encode -m frame.fits "$f/img.slr"
    assert_status 1
    assert_output_contains "frame.fits: record 1: this is a FITS file, not a record stream"
    # A compressed stream given to sl-tile is not taken for a FITS file.
    run sl-tile img.slr.gz
    assert_status 1
    assert_output_contains "sl-tile: img.slr.gz: record 1: this is a gzip-compressed file"
    # The real message still comes for a stream that is merely damaged.
    head -c 100 "$f/img.slr" > cut.slr
    run sl-cat cut.slr
    assert_status 1
    assert_output_contains "truncated"
}

@test "sl-tile reads FITS files compressed with bzip2 or gzip, and FITS under any name" {
    sl-tile -q --patch 64 --photofield "$photo" "$crop" | sl-cat --full --type image > plain.json
    bzip2 -c "$crop" > frame-r.fits.bz2
    gzip -c "$crop" > frame-r.fits.gz
    cp "$crop" frame-r.data
    for f in frame-r.fits.bz2 frame-r.fits.gz frame-r.data; do
        run bash -c "sl-tile -q --patch 64 --photofield '$photo' $f | sl-cat --full --type image > got.json"
        assert_status 0
        cmp plain.json got.json
    done
}

@test "sl-cat --check accepts the pixel-less records of sl-encode --no-pixels, and checks the rest" {
    f="$BATS_FILE_TMPDIR"
    sl-encode -q --threshold 0.01 --no-pixels -m "$f/detect.slm" "$f/img.slr" -o np.slr
    sl-encode -q --threshold 0.01 --no-pixels -m "$f/detect.slm" "$f/patches.slr" -o npp.slr
    run sl-cat --check np.slr npp.slr
    assert_status 0
    [ -z "$output" ]
    [ "$(sl-cat --type image np.slr | jq 'has("pixels") or has("background_map")' | sort -u)" = false ]
    # The rest is still checked.
    run bash -c "mkstream -n 3 wrong-type | sl-cat --check"
    assert_status 1
}

# ---- Progress and labelled summaries ---------------------------------------------

@test "--progress: a line with the shard, the rate and the ETA; -q silences it" {
    run sl-simulate -n 12 -s 3 --progress -o s.slr
    assert_status 0
    assert_output_contains "sl-simulate: seed 3, images 0-11: "
    grep -qE '^sl-simulate: seed 3, images 0-11: [0-9]+ images, [0-9.]+/s, [0-9]+%, ETA [0-9]+m[0-9]{2}s$' <<< "$output"
    [ "${lines[-1]%% in *}" = "sl-simulate: seed 3, images 0-11: 12 images" ]
    run sl-simulate -n 12 -s 3 --progress -q -o s.slr
    assert_status 0
    [ -z "$output" ]
    # Without --progress and without a terminal: the summary only.
    run sl-simulate -n 12 -s 3 --first 5 -o s.slr
    [ "${#lines[@]}" -eq 1 ]
    [ "${output%% in *}" = "sl-simulate: seed 3, images 5-16: 12 images" ]
    for t in sl-tile sl-encode sl-merge; do
        $t --help | grep -q -- '--progress'
    done
}

@test "summaries say which input and shard they are about" {
    f="$BATS_FILE_TMPDIR"
    summary() { sed -n 's/ in [0-9.]* s real.*//p'; }
    [ "$(sl-tile --patch 32 --first 2 -n 3 "$f/img.slr" 2>&1 > t.slr | summary)" = \
      "sl-tile: img.slr [images 0-5, patches 2-4 of 16 each]: 6 images, 18 patches" ]
    [ "$(sl-tile --patch 32 --first 4 -n 3 --id 7 --photofield "$photo" "$crop" 2>&1 > t.slr | summary)" = \
      "sl-tile: sdss-crop-r-002583-2-0136.fits [image 7, patches 4-6 of 64]: 1 images, 3 patches" ]
    # A shard of patches from a pipe: the records say which.
    got=$(sl-encode --threshold 0.01 -m "$f/detect.slm" < t.slr 2>&1 > /dev/null | summary)
    grep -q '^sl-encode: \[image 7, patches 4-6 of 64\]: 3 images, [0-9]* sources$' <<< "$got" ||
        { echo "$got" >&2; false; }
    sl-tile -q --patch 32 --first 1 -n 2 "$f/img.slr" | sl-cat --raw --type image > shard.slr
    got=$(sl-encode --threshold 0.01 -m "$f/detect.slm" < shard.slr 2>&1 > /dev/null | summary)
    [ "${got%%, 12 patches*}" = "sl-encode: [images 0-5" ] || { echo "$got" >&2; false; }
    got=$(sl-encode --threshold 0.01 -m "$f/detect.slm" "$f/img.slr" 2>&1 > /dev/null | summary)
    [ "${got%%, *}" = "sl-encode: img.slr [images 0-5]: 6 images" ] || { echo "$got" >&2; false; }
    got=$(sl-merge "$f/patches.slr" 2>&1 > /dev/null | summary)
    [ "${got%% of *}" = "sl-merge: patches.slr: 96 images into 6 catalogs" ] || { echo "$got" >&2; false; }
}

@test "a progress line on a terminal is redrawn in place and erased before the summary" {
    command -v script > /dev/null || skip "no script(1) to give the tool a terminal"
    script -qec "sl-simulate -n 20 -s 3 -o s.slr" /dev/null > tty.txt
    grep -q $'\r''sl-simulate: seed 3, images 0-19: [0-9]* images' tty.txt
    grep -q $'\r\033\\[Ksl-simulate: seed 3, images 0-19: 20 images in' tty.txt
    script -qec "sl-simulate -q -n 20 -s 3 -o s.slr" /dev/null > tty.txt
    [ ! -s tty.txt ]
}

@test "sl-simulate --render says when -s is not the seed its input was drawn with" {
    sl-simulate -q -n 2 -s 3 -o s3.slr
    run bash -c "sl-simulate -s 3 --render s3.slr 2>&1 > r.slr"
    ! grep -q "simulated with seed" <<< "$output"
    cmp <(sl-cat --full --type image r.slr | jq -c .pixels) <(sl-cat --full --type image s3.slr | jq -c .pixels)
    run bash -c "sl-simulate -s 7 --render s3.slr 2>&1 > r.slr"
    assert_output_contains "sl-simulate: s3.slr was simulated with seed 3: its images are redrawn bit for bit with -s 3, and with -s 7 the noise differs"
    run bash -c "sl-simulate -q -s 7 --render s3.slr 2>&1 > r.slr"
    [ -z "$output" ]
    run bash -c "sl-simulate -s 7 --render --noiseless s3.slr 2>&1 > r.slr"
    ! grep -q "simulated with seed" <<< "$output"
}
