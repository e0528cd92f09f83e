#!/bin/sh
# A full SDSS frame through the pipeline: the 2048 x 1489 r-band frame of the
# M2 field through sl-tile | sl-encode (all five encoders, default
# architectures) | sl-merge, wall time and peak memory on this machine, with
# -j 1 and -j 2.  Seed 000's figure is 25 s per frame on a GPU; target: 25 s
# or less here, under 2 GB.  Accuracy does not matter for the time, but how
# many sources are found does (each costs cut-out passes): the detect encoder
# is trained for 300 steps, enough to find this crowded field's stars; the
# others for one step, their architecture is what costs.
set -eu
data=${SL_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data/sdss-2583-2-136}
frame=$data/frame-r-002583-2-0136.fits.bz2
if [ ! -f "$frame" ]; then
    echo "frame: skipped ($frame not found; set SL_DATA to the sdss-2583-2-136 directory)"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bunzip2 -c "$frame" > "$work/frame-r.fits"
sl-simulate -q -n 8 -s 1 --set lens_prob=0.5 -o "$work/train.slr"
sl-simulate -q -n 0 -s 2 | sl-train -q -t detect --steps 300 -j 2 -o "$work/detect.slm"
models="-m $work/detect.slm"
for t in classify galaxy lens-detect lens; do
    sl-train -q -t $t --steps 1 -o "$work/$t.slm" "$work/train.slr"
    models="$models -m $work/$t.slm"
done
for j in 1 2; do
    /usr/bin/time -f "%e %M" -o "$work/time" sh -c "
        sl-tile -q $models --photofield '$data/photoField-002583-2.fits' \
            --psfield '$data/psField-002583-2-0136.fit' '$work/frame-r.fits' |
        sl-encode -q -j $j --no-pixels $models | sl-merge -q -o '$work/cat.slr'"
    # GNU time's %M is the largest of the processes it waited for: sl-encode's.
    read -r wall kb < "$work/time"
    n=$(sl-cat --type catalog "$work/cat.slr" | jq '.estimate.n')
    echo "$wall $kb $j $n" | awk '{printf "frame: 2048x1489 r band, 5 encoders, -j %d: %d sources in %.1f s wall (target 25), peak %.0f MB in one process (target 2000)\n", $3, $4, $1, $2 / 1024}'
done
