#!/usr/bin/env bats
# The EXAMPLES of the man pages, run, so that they cannot drift from the tools.
#
# Each .EX/.EE block of man/man1/*.1 is one test, "PAGE #N" (N counts the
# page's blocks from 1); man-examples.sh pulls a block out of its page with the
# groff escapes undone.  The last test checks that every block has its test.
#
# A block whose lines start with "$ " is a shell session: a "$ " line is a
# command (with the lines that follow it while it is incomplete: a trailing
# '|', '\' or '&&', an open quote), every other line is what it prints.  The
# commands run in order in one shell, so variables carry over; each must exit
# 0 (1 for those in FAILING below, which show an error) and print exactly the
# lines shown (stdout and stderr together; a shown line that starts with
# blanks continues the line above, wrapped to fit the page; no lines shown
# means it must print nothing), with two allowances:
#   - a run summary ("sl-x: ... in 1.23 s real, ...") is compared only where
#     the page shows one, and then by its shape (see below): times vary;
#   - the commands listed in SHAPE_ONLY below are compared by shape: the same
#     text with every number standing for any number, because their numbers
#     come from a model's weights, whose floating point sums may differ
#     between machines and BLAS builds.  Everything else, random draws
#     included, is exact: the simulator's draws are fixed by its seed.
# A block without "$ " lines is a script shown without its output: it runs
# under "set -e -o pipefail" and must succeed.  A block that begins with a
# Python import is a Python script, run by python3 when astropy is there.
#
# Each block runs in its own scratch directory holding links to the fixture
# files its text names: tiny models (3 steps of width 4, made once in
# setup_file under the names the pages use), copies of the SDSS test data of
# tests/data (the 256 x 256 crop stands in for the 2048 x 1489 r frame, and its
# bzip2 for the .bz2 file), streams from mkstream and a catalog of the crop.
# The fixtures are read-only, so an example that wrote into one in place would
# fail.  Blocks that need more say so in prepare(), which skips them, with the
# reason, when this machine lacks what they need: GNU parallel, python3 with
# astropy, the five full SDSS frames of ../shared/data.

load helpers
load examples

MAN="$BATS_TEST_DIRNAME/../../man/man1"
EXTRACT="$BATS_TEST_DIRNAME/man-examples.sh"
DATA="$BATS_TEST_DIRNAME/../data"
# The full SDSS field, when this checkout sits next to the project's shared data.
SHARED="$BATS_TEST_DIRNAME/../../../shared/data/sdss-2583-2-136"

# Commands, "PAGE:BLOCK:COMMAND" (COMMAND counts the block's "$ " lines from 1),
# whose output is compared by shape: numbers from the weights of a model.
SHAPE_ONLY=" sl-merge:3:3 sl-merge:4:1 sl-train:2:4 "
# Commands that show an error: they must exit 1, not 0.
FAILING=" sl-cat:5:1 "

setup_file() {
    FX="$BATS_FILE_TMPDIR/fixtures"
    export FX
    mkdir -p "$FX"
    cd "$FX" || return 1
    local t
    for t in detect classify lens; do
        sl-simulate -q -n 0 -s 1 --set lens_prob=1 |
            sl-train -q -t $t --steps 3 --width 4 --batch 4 --buffer 8 -o $t.slm
    done
    sl-simulate -q -n 0 -s 1 -p sdss |
        sl-train -q -t detect --steps 3 --width 4 --batch 4 --buffer 8 -o detect5.slm
    # sl-cat(1): three 40 x 40 images (passed through sl-cat to have a
    # provenance), and shards of which the last is cut short.
    mkstream -n 3 | sl-cat --raw > images.slr
    mkstream -n 1 > shard-0.slr
    mkstream -n 2 > shard-1.slr
    mkstream -n 2 | head -c 5000 > shard-2.slr
    # Copies, not links: nothing a test does can reach the repository's files.
    cp "$DATA/psField-002583-2-0136.fit" .
    cp "$DATA/photoField-002583-2-crop.fits" photoField-002583-2.fits
    cp "$DATA/sdss-crop-r-002583-2-0136.fits" frame-r-002583-2-0136.fits
    bzip2 -c "$DATA/sdss-crop-r-002583-2-0136.fits" > frame-r-002583-2-0136.fits.bz2
    # sl-merge(1): the catalog of the frame, as records and as FITS.
    sl-tile -q --photofield photoField-002583-2.fits frame-r-002583-2-0136.fits |
        sl-encode -q -m detect.slm > encoded.slr
    sl-merge -q encoded.slr -o cat.slr
    sl-merge -q encoded.slr -o cat.fits
    rm encoded.slr
    chmod a-w ./*
}

setup() {
    [ -n "${SL_BIN:-}" ] || { echo "run the tests through 'make check'" >&2; return 1; }
    TMP="$BATS_TEST_TMPDIR"
    cd "$TMP" || return 1
}

# Links the fixtures BLOCK names into the current directory.  A file the
# block decompresses from its .bz2 is left for the block to make, and the .bz2
# is copied: bunzip2 refuses links.
link_fixtures() {
    local block="$1" f name
    for f in "$FX"/*; do
        name=${f##*/}
        case "$block" in
        *"$name.bz2"*) continue ;;
        *"$name"*) ;;
        *) continue ;;
        esac
        case "$name" in
        *.bz2) cp "$f" . ;;
        *) ln -s "$f" . ;;
        esac
    done
}

# Puts first on PATH a python3 that has astropy, if there is one.
find_astropy() {
    local py
    for py in $(type -ap python3); do
        if "$py" -c 'import astropy' 2> /dev/null; then
            PATH="${py%/*}:$PATH"
            return 0
        fi
    done
    return 1
}

# The needs of a block beyond the fixtures: skips, and data made on demand.
prepare() {
    local page="$1" index="$2" block="$3"
    case "$block" in
    *parallel\ *) command -v parallel > /dev/null || skip "needs GNU parallel" ;;
    esac
    case "$block" in
    *python3* | from\ astropy*) find_astropy || skip "needs python3 with astropy" ;;
    esac
    case "$page $index" in
    "sl-cat 5") ln -sf "$FX"/shard-?.slr . ;;  # named by a glob, shard-*.slr
    "sl-tile 2")
        [ -d "$SHARED" ] || skip "needs the five SDSS frames of $SHARED"
        local b pids=()
        rm -f photoField-002583-2.fits
        cp "$SHARED/photoField-002583-2.fits" .
        for b in u g r i z; do
            bunzip2 -c "$SHARED/frame-$b-002583-2-0136.fits.bz2" > frame-$b-002583-2-0136.fits &
            pids+=($!)
        done
        for b in "${pids[@]}"; do wait "$b" || return 1; done
        ;;
    esac
}

run_example() {
    local page="$1" index="$2" block
    block=$(sh "$EXTRACT" block "$MAN/$page.1" "$index")
    [ -n "$block" ] || { echo "$page(1) has no example block $index" >&2; return 1; }
    link_fixtures "$block"
    prepare "$page" "$index" "$block"
    if grep -q '^\$ ' <<< "$block"; then
        run_session "$page" "$index" "$block"
    elif grep -qE '^(from|import) ' <<< "${block%%$'\n'*}"; then
        run python3 -c "$block"
        assert_status 0
    else
        run bash -c "set -e -o pipefail; $block"
        assert_status 0
    fi
}

@test "sl-calibrate #1" { run_example sl-calibrate 1; }
@test "sl-calibrate #2" { run_example sl-calibrate 2; }
@test "sl-calibrate #3" { run_example sl-calibrate 3; }
@test "sl-cat #1" { run_example sl-cat 1; }
@test "sl-cat #2" { run_example sl-cat 2; }
@test "sl-cat #3" { run_example sl-cat 3; }
@test "sl-cat #4" { run_example sl-cat 4; }
@test "sl-cat #5" { run_example sl-cat 5; }
@test "sl-cat #6" { run_example sl-cat 6; }
@test "sl-encode #1" { run_example sl-encode 1; }
@test "sl-encode #2" { run_example sl-encode 2; }
@test "sl-encode #3" { run_example sl-encode 3; }
@test "sl-encode #4" { run_example sl-encode 4; }
@test "sl-merge #1" { run_example sl-merge 1; }
@test "sl-merge #2" { run_example sl-merge 2; }
@test "sl-merge #3" { run_example sl-merge 3; }
@test "sl-merge #4" { run_example sl-merge 4; }
@test "sl-merge #5" { run_example sl-merge 5; }
@test "sl-merge #6" { run_example sl-merge 6; }
@test "sl-simulate #1" { run_example sl-simulate 1; }
@test "sl-simulate #2" { run_example sl-simulate 2; }
@test "sl-simulate #3" { run_example sl-simulate 3; }
@test "sl-simulate #4" { run_example sl-simulate 4; }
@test "sl-simulate #5" { run_example sl-simulate 5; }
@test "sl-simulate #6" { run_example sl-simulate 6; }
@test "sl-simulate #7" { run_example sl-simulate 7; }
@test "sl-simulate #8" { run_example sl-simulate 8; }
@test "sl-tile #1" { run_example sl-tile 1; }
@test "sl-tile #2" { run_example sl-tile 2; }
@test "sl-tile #3" { run_example sl-tile 3; }
@test "sl-tile #4" { run_example sl-tile 4; }
@test "sl-train #1" { run_example sl-train 1; }
@test "sl-train #2" { run_example sl-train 2; }
@test "sl-train #3" { run_example sl-train 3; }
@test "sl-train #4" { run_example sl-train 4; }

@test "every example block of the man pages has its test above" {
    local listed tested
    listed=$(sh "$EXTRACT" list "$MAN"/*.1)
    tested=$(sed -nE 's/^@test .*\{ run_example ([^ ]+) ([0-9]+); \}$/\1 \2/p' "$BATS_TEST_FILENAME")
    [ -n "$listed" ]
    if [ "$listed" != "$tested" ]; then
        diff <(echo "$listed") <(echo "$tested") >&2
        return 1
    fi
}
