#!/bin/sh
# Simulation throughput on the reference field: 100 x 100 pixels of SDSS r
# (0.396"/pixel, Gaussian PSF FWHM 1.4"), about 10 sources, about one lens
# system per image, 3x supersampling of the lensed light, Poisson noise.
# Prints images/s on one core and ratios against peers timed in the same run:
# Gnuastro (astmkprof + astconvolve, unlensed light) and lenstronomy (when
# LENSTRONOMY_SRC points at its source tree and it imports with
# /usr/bin/python3).  Targets: 1000 images/s per core, 10x lenstronomy.
set -eu
dir=$(mktemp -d "${TMPDIR:-/tmp}/sl-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

# About 10 sources per image (22.96 per arcmin^2 x 0.4356 arcmin^2), 7 of them
# galaxies, and lens_prob 1/7: one lens system per image on average.
field="--set width=100 --set height=100 --set psf_fwhm=1.4 --set density=22.96 --set lens_prob=0.1429 --set supersample=3"
n=3000
t0=$(date +%s.%N)
sl-simulate -q -j 1 -n $n -s 1 $field > "$dir/sim.slr"
t1=$(date +%s.%N)
ours=$(echo "$t0 $t1 $n" | awk '{print ($2 - $1) / $3}')
stats=$(sl-cat --full --type image "$dir/sim.slr" | jq -s '[length, ([.[].truth.n] | add), ([.[].truth.lens[]] | add)] | @tsv' -r)
echo "$stats" | awk -v t="$ours" '{printf "simulate: %d images, %.1f sources and %.2f lens systems per image\n", $1, $2 / $1, $3 / $1
    printf "simulate: sl-simulate %.3f ms per image, %.0f images/s on one core (target >= 1000)\n", t * 1e3, 1 / t}'
t0=$(date +%s.%N)
sl-simulate -q -j 2 -n $n -s 1 $field > /dev/null
t1=$(date +%s.%N)
echo "$t0 $t1 $n" | awk '{printf "simulate: -j 2: %.0f images/s\n", $3 / ($2 - $1)}'

# Gnuastro: a fixed catalog of 7 bulge+disk galaxies and 3 stars, oversampled 3x,
# then convolved; two processes per image, as a user would run them.
if command -v astmkprof > /dev/null && command -v astconvolve > /dev/null; then
    cat > "$dir/cat.txt" <<'CAT'
1 50 50 1 2.5 4 30 0.8 18 10
2 50 50 1 5.0 1 30 0.5 18 5
3 20 30 1 1.5 4 10 0.7 19 10
4 20 30 1 3.0 1 10 0.6 19 5
5 70 25 1 1.2 4 80 0.9 20 10
6 70 25 1 2.5 1 80 0.4 20 5
7 30 75 1 1.0 4 45 0.7 20 10
8 30 75 1 2.2 1 45 0.5 20 5
9 80 80 1 1.3 4 120 0.8 21 10
10 80 80 1 2.7 1 120 0.6 21 5
11 60 60 1 1.0 4 0 0.9 21 10
12 60 60 1 2.0 1 0 0.5 21 5
13 15 85 1 1.2 4 60 0.8 21 10
14 15 85 1 2.6 1 60 0.7 21 5
15 40 15 4 0 0 0 1 17 1
16 85 45 4 0 0 0 1 18 1
17 55 88 4 0 0 0 1 19 1
CAT
    astmkprof --kernel=gaussian,3.54,5 --oversample=1 --output="$dir/psf.fits" -q
    reps=10
    t0=$(date +%s.%N)
    i=0
    while [ $i -lt $reps ]; do
        astmkprof "$dir/cat.txt" --mergedsize=100,100 --oversample=3 --zeropoint=30 --mode=img \
            --numthreads=1 --output="$dir/img.fits" -q
        astconvolve "$dir/img.fits" --kernel="$dir/psf.fits" --domain=spatial --numthreads=1 \
            --output="$dir/conv.fits" -q
        rm -f "$dir/img.fits" "$dir/conv.fits"
        i=$((i + 1))
    done
    t1=$(date +%s.%N)
    echo "$t0 $t1 $reps $ours" | awk '{g = ($2 - $1) / $3; printf "simulate: Gnuastro astmkprof+astconvolve %.1f ms per image (no lens): sl-simulate is %.0fx faster\n", g * 1e3, g / $4}'
else
    echo "simulate: Gnuastro skipped (astmkprof not installed; apt-get install gnuastro)"
fi

# lenstronomy, pure Python on numpy/scipy.
if [ -n "${LENSTRONOMY_SRC:-}" ] && PYTHONPATH="$LENSTRONOMY_SRC" /usr/bin/python3 -c 'import lenstronomy' 2> /dev/null; then
    for case in source lens field; do
        reps=20
        [ $case = field ] && reps=5
        PYTHONPATH="$LENSTRONOMY_SRC" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
            /usr/bin/python3 "$here/peers/lenstronomy_field.py" $case $reps |
            awk -v t="$ours" '{printf "simulate: lenstronomy %s (%s) %.1f ms per image: sl-simulate (whole field) is %.1fx faster (target >= 10)\n", $2, ($2 == "source" ? "SIE + lensed source only" : $2 == "lens" ? "lens light + SIE + source" : "the whole field"), $3 * 1e3, $3 / t}'
    done
else
    echo "simulate: lenstronomy skipped (set LENSTRONOMY_SRC to a lenstronomy source tree)"
fi
