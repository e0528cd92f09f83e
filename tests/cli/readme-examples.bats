#!/usr/bin/env bats
# The command blocks of README.md, run, so that the README cannot drift from
# the tools (as man-examples.bats does for the man pages, with its rules for
# shell sessions: "$ " lines are commands, the other lines what they print).
#
# A block is a run of lines indented by four spaces after a blank line.  Each
# runs in its own scratch directory laid out as the README assumes: "top" is
# the top of the checkout (models/sdss-r links to the shipped encoders) and
# ../shared/data/sdss-2583-2-136 beside it holds the SDSS test data of
# tests/data under the real file names (the 256 x 256 crop and its bzip2
# stand in for the 2048 x 1489 r frame).  The blocks are scaled to make check
# by scale() below: counts of 100 images and more become 4, training runs 3
# steps of a width-4 network; nothing else is changed.  Blocks that are not
# commands, or that cannot run inside make check, are listed in SKIP.

load helpers
load examples

README="$BATS_TEST_DIRNAME/../../README.md"
REPO="$BATS_TEST_DIRNAME/../.."
DATA="$BATS_TEST_DIRNAME/../data"
FAILING=" "
SHAPE_ONLY=" "

# The first line of each block that is not run, and why.
skip_reason() {
    case "$1" in
    "make demo"*) echo "make demo and make check are the project's own targets" ;;
    "Makefile "*) echo "the layout of the checkout, not commands" ;;
    *) return 1 ;;
    esac
}

# Block N of README.md (from 1), without its indentation.
readme_block() {
    awk -v want="$1" '
        /^    / && (prev_blank || in_block) { if (!in_block) n++; in_block = 1
                                              if (n == want) print substr($0, 5); prev_blank = 0; next }
        /^[[:space:]]*$/ { prev_blank = 1; if (in_block && n == want) held = held "\n"; next }
        { if (in_block && n == want) exit; in_block = 0; prev_blank = 0 }
    ' "$README"
}

readme_count() {
    awk '/^    / && (prev_blank || in_block) { if (!in_block) n++; in_block = 1; prev_blank = 0; next }
         /^[[:space:]]*$/ { prev_blank = 1; next }
         { in_block = 0; prev_blank = 0 }
         END { print n + 0 }' "$README"
}

# The scale of make check: a few images, a few training steps.
scale() {
    sed -E -e 's/-n (100|500|1000|2000)( |$)/-n 4\2/g' \
           -e 's/\{\} \* 1000/{} * 4/g' \
           -e 's/--steps [0-9]+/--steps 3/g' \
           -e 's/sl-train /sl-train --steps 3 --width 4 --batch 4 --buffer 8 --checkpoint-every 0 /g'
}

setup() {
    [ -n "${SL_BIN:-}" ] || { echo "run the tests through 'make check'" >&2; return 1; }
    TMP="$BATS_TEST_TMPDIR"
    local d="$TMP/shared/data/sdss-2583-2-136"
    mkdir -p "$TMP/top/models" "$d"
    ln -s "$(cd "$REPO/models/sdss-r" && pwd)" "$TMP/top/models/sdss-r"
    cp "$DATA/psField-002583-2-0136.fit" "$DATA/sdss-002583-2-0136-psf-r.fits" "$d/"
    cp "$DATA/photoField-002583-2-crop.fits" "$d/photoField-002583-2.fits"
    bzip2 -c "$DATA/sdss-crop-r-002583-2-0136.fits" > "$d/frame-r-002583-2-0136.fits.bz2"
    chmod -R a-w "$TMP/shared"
    cd "$TMP/top" || return 1
}

run_readme() {
    local index="$1" block reason
    block=$(readme_block "$index")
    [ -n "$block" ] || { echo "README.md has no block $index" >&2; return 1; }
    if reason=$(skip_reason "$block"); then
        skip "$reason"
    fi
    case "$block" in
    *parallel\ *) command -v parallel > /dev/null || skip "needs GNU parallel" ;;
    esac
    block=$(scale <<< "$block")
    if grep -q '^\$ ' <<< "$block"; then
        run_session README "$index" "$block"
    else
        run bash -c "set -e -o pipefail; $block"
        assert_status 0
    fi
}

@test "README #1" { run_readme 1; }
@test "README #2" { run_readme 2; }
@test "README #3" { run_readme 3; }
@test "README #4" { run_readme 4; }
@test "README #5" { run_readme 5; }
@test "README #6" { run_readme 6; }
@test "README #7" { run_readme 7; }
@test "README #8" { run_readme 8; }
@test "README #9" { run_readme 9; }
@test "README #10" { run_readme 10; }

@test "every block of README.md has its test above" {
    local n tested
    n=$(readme_count)
    tested=$(grep -cE '^@test "README #[0-9]+" \{ run_readme [0-9]+; \}$' "$BATS_TEST_FILENAME")
    [ "$n" -gt 0 ]
    [ "$n" -eq "$tested" ] || { echo "README.md has $n blocks, $tested are tested" >&2; return 1; }
}
