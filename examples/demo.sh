#!/bin/sh
# The main job as far as the toolchain goes today: simulate SDSS-like fields
# with lens systems, write them as records, FITS and PNG previews, and show the
# truth.  Run by `make demo`; outputs go to demo-out/.
set -eu
bin=${SL_BIN:-build/release/bin}
out=${1:-demo-out}
mkdir -p "$out"

echo "== simulating 8 SDSS r-band fields (seed 1), lens systems circled in the previews"
"$bin/sl-simulate" -p sdss -b r -n 8 -s 1 -j 2 \
    --png "$out/previews" --mark-lenses --fits "$out/fits" -o "$out/fields.slr"
"$bin/sl-cat" --count "$out/fields.slr"

echo "== a field rich in lenses, for a closer look (bright lensed sources)"
"$bin/sl-simulate" -p sdss -b r -n 4 -s 2 --set density=8 --set star_prob=0 \
    --set lens_prob=1 --set src_flux_min=5000 --set src_flux_max=30000 \
    --png "$out/lenses" --mark-lenses -o "$out/lenses.slr"

echo "== truth of the first field: sources, galaxies, lens systems, Einstein radii (arcsec)"
"$bin/sl-cat" --full --type image "$out/fields.slr" | head -1 |
    jq -c '.truth | {n, galaxies: ([.galaxy[]] | add), lenses: ([.lens[]] | add),
                     theta_e: [.theta_e[] | select(. != null)]}'

echo "== done. Made:"
echo "  $out/fields.slr        8 image records with their truth (sl-cat $out/fields.slr | jq .)"
echo "  $out/fits/*.fits       the same images as FITS (one HDU per band + TRUTH table)"
echo "  $out/previews/*.png    asinh previews, lens systems circled at their Einstein radius"
echo "  $out/lenses/*.png      four lens-rich fields"
