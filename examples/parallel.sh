#!/usr/bin/env bash
# GNU parallel recipes for the sl tools, as a script that runs them all.
#
#   usage: examples/parallel.sh [SCRATCH_DIR]
#
# Works in SCRATCH_DIR (default: a new directory under /tmp, kept at the end),
# with the programs of build/release/bin (or $BIN) first on PATH and $J jobs
# at a time (default 2).  It trains two tiny encoders of its own (20 steps,
# width 8: fast, not good) and then shows
#
#   1. a simulation in shards (--first/-n), joined into one stream, which is the
#      same as one long run, then each shard encoded and all calibrated at once;
#   2. many FITS frames, each tiled, encoded and merged into its own catalog;
#   3. the same spread over several hosts with --sshlogin (run here with the
#      local host only, ':');
#   4. one large frame cut into shards of patches, encoded by separate jobs
#      and merged in whatever order they finish.
#
# It takes about a minute on two cores and prints what it made.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${BIN:-$here/../build/release/bin}
bindir=$(cd "$BIN" && pwd)
export PATH="$bindir:$PATH"
J=${J:-2}
work=${1:-$(mktemp -d /tmp/sl-parallel.XXXXXX)}
mkdir -p "$work"
cd "$work"
mkdir -p shards frames catalogs remote

for tool in parallel sl-simulate sl-train sl-tile sl-encode sl-merge sl-calibrate sl-cat; do
    command -v "$tool" > /dev/null || { echo "parallel.sh: $tool not found" >&2; exit 1; }
done

# SDSS r band throughout; every image k of seed s depends on (s, k) only.
sim() { sl-simulate -q -p sdss -b r "$@"; }

echo "== 0. two tiny encoders (detect, classify), trained side by side"
# Each job reads its own endless simulation; sl-train stops it when done.
parallel -j "$J" --halt now,fail=1 \
    'sl-simulate -q -p sdss -b r -n 0 -s {#} |
       sl-train -q -t {} --steps 20 --width 8 --buffer 256 --checkpoint-every 0 -o {}.slm' \
    ::: detect classify

echo "== 1. a simulation in three shards of 100 images"
# The shards are independent jobs; shard k holds images k .. k+99 of seed 7.
parallel -j "$J" --halt now,fail=1 \
    sl-simulate -q -p sdss -b r -s 7 --first {} -n 100 -o shards/sim-{}.slr ::: 0 100 200
# Concatenated streams are a stream: join them in index order.
cat shards/sim-0.slr shards/sim-100.slr shards/sim-200.slr > sim.slr
sl-cat --check sim.slr
# The same images as one run of 300 (headers aside; pixels compared by their
# summaries, truths in full).
if cmp -s <(sl-cat --type image sim.slr) <(sim -s 7 -n 300 | sl-cat --type image); then
    echo "   sim.slr (3 shards) = sl-simulate -s 7 -n 300: same images"
else
    echo "parallel.sh: the shards differ from one run" >&2; exit 1
fi
# Encode each shard as its own job, then measure all of them together:
# sl-calibrate reads any number of streams, in any order.
parallel -j "$J" --halt now,fail=1 \
    'sl-encode -q --no-pixels -m detect.slm {} -o {.}-est.slr' \
    ::: shards/sim-*[0-9].slr
sl-calibrate -q shards/sim-*-est.slr > calibration.txt

echo "== 2. four FITS frames, each tiled, encoded and merged on its own"
# Frames of 300 x 200 pixels, written as FITS (image in HDU 'r', electrons).
sim -s 8 -n 4 --set width=300 --set height=200 --fits frames -o /dev/null
# A generic FITS image is read as ADU: these are electrons already, so the
# gain is 1; the sky is estimated from the pixels (a background mesh).
tile_opts='--gain 1 --pixel-scale 0.396 --psf-fwhm 1.43 --bands r'
parallel -j "$J" --halt now,fail=1 \
    "sl-tile -q -m detect.slm -m classify.slm $tile_opts {}'[r]' |
       sl-encode -q --no-pixels -m detect.slm -m classify.slm |
       sl-merge -q -o catalogs/{/.}.fits" \
    ::: frames/*.fits

echo "== 3. the same across hosts (here: the local host only)"
# On a cluster, list the hosts (N/ caps the jobs per host, ':' is this one):
#     --sshlogin 4/node1,4/node2,:
# Each remote host needs the sl programs on its PATH (--env PATH passes this
# PATH, which must then be valid there).  --basefile copies the models to
# each host once; --transferfile copies each frame before its job; --return
# brings the catalog back into the same relative path; --cleanup removes the
# copies afterwards.  Relative paths are kept under the remote home (or
# --workdir).  With ':' alone nothing is copied and the jobs run here.
parallel -j "$J" --halt now,fail=1 --sshlogin : --env PATH \
    --basefile detect.slm --basefile classify.slm \
    --transferfile {} --return 'remote/{/.}.fits' --cleanup \
    "mkdir -p remote && sl-tile -q -m detect.slm -m classify.slm $tile_opts {}'[r]' |
       sl-encode -q --no-pixels -m detect.slm -m classify.slm |
       sl-merge -q -o remote/{/.}.fits" \
    ::: frames/*.fits

echo "== 4. one large frame in shards of patches"
# A 1000 x 600 frame has 4 x 3 = 12 patches of 256 pixels; shards of 4
# patches are encoded by separate jobs (on any hosts), their outputs merged
# in whatever order they finish: sl-merge sorts the patches and checks that
# every one came exactly once.
sim -s 9 -n 1 --set width=1000 --set height=600 --fits big -o /dev/null
parallel -j "$J" --halt now,fail=1 \
    "sl-tile -q -m detect.slm --first {} -n 4 $tile_opts big/image-000000.fits'[r]' |
       sl-encode -q --no-pixels -m detect.slm" \
    ::: 0 4 8 | sl-merge -q -o big-catalog.fits
# ... which is the catalog of the frame encoded in one go.
# shellcheck disable=SC2086 # $tile_opts is a list of options
sl-tile -q -m detect.slm $tile_opts big/image-000000.fits'[r]' |
    sl-encode -q --no-pixels -m detect.slm | sl-merge -q -o big-whole.fits
if cmp -s big-catalog.fits big-whole.fits; then
    echo "   big-catalog.fits (3 shards of patches) = the frame encoded whole: same bytes"
else
    echo "parallel.sh: the shards of patches differ from the whole frame" >&2; exit 1
fi

# The number of rows of a FITS table: its NAXIS2 card (the primary HDU of
# these files has none).
rows() { grep -ao 'NAXIS2  = *[0-9]*' "$1" | head -1 | awk '{ print $3 }'; }

echo
echo "== made in $work:"
printf '  %-34s %s\n' "detect.slm, classify.slm" "tiny encoders (sl-cat --type model detect.slm | jq .task)"
printf '  %-34s %s\n' "shards/sim-{0,100,200}.slr" "simulation shards, 100 images each"
printf '  %-34s %s\n' "sim.slr" "the shards joined: $(sl-cat --count sim.slr | awk '$1 == "image" { print $2 }') images"
printf '  %-34s %s\n' "shards/sim-*-est.slr" "each shard encoded"
printf '  %-34s %s\n' "calibration.txt" "sl-calibrate over all shards: $(awk '$1 == "all" { printf "F1 %s (%s true sources, %s estimates: untrained)", $6, $2, $3; exit }' calibration.txt)"
for f in catalogs/*.fits; do
    printf '  %-34s %s\n' "$f" "$(rows "$f") sources (from frames/$(basename "$f"))"
done
for f in remote/*.fits; do
    printf '  %-34s %s\n' "$f" "$(rows "$f") sources (via --sshlogin :)"
done
printf '  %-34s %s\n' "big-catalog.fits" "$(rows big-catalog.fits) sources of a 1000 x 600 frame, 3 shards of patches"
