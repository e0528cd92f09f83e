#!/bin/sh
# seeds.sh BIN TESTS OUT: the seed corpora of the fuzzing harnesses, made
# from the tests' fixtures and data with the release build's tools (BIN) and
# fixtures (TESTS) into OUT/<harness>/.  Run by `make fuzz`.
set -eu
BIN=$1 TESTS=$2 OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$HERE/../data
H=$DATA/hostile
rm -rf "$OUT"
for d in record decode model config frame photofield psf; do mkdir -p "$OUT/$d"; done
W=$OUT/work
mkdir -p "$W"
cd "$W"

# Record streams: every mode of mkstream, small; simulated images with their
# truth; patches and cut-outs; estimates; the hostile files.
for m in good no-end wrong-type short-pixels bad-count no-header not-map huge-bin future nan-pixel; do
    "$TESTS/mkstream" -n 2 -w 4 -H 3 -b 2 $m > "mk-$m.slr" || true
done
"$TESTS/mkstream" -n 40 big-array > mk-big-array.slr
SIM="$BIN/sl-simulate -q -s 7 --set width=24 --set height=24"
$SIM -n 2 -o sim.slr
$SIM -n 1 --set bands='g r' --set psf_fwhm='1.2 1.4' --set sky='300 800' --set zero_point='28 28' \
    --set gain='4 4' --set read_noise='5 5' -o sim-2band.slr
$SIM -n 1 --set density=300 --set lens_prob=1 -o sim-lens.slr 2>/dev/null || $SIM -n 1 -o sim-lens.slr
"$BIN/sl-tile" -q --patch 8 --border 4 sim.slr > patches.slr
"$BIN/sl-tile" -q --cutout 8 sim.slr > cutouts.slr
# A detect model small enough to be a seed (and to encode with).
"$BIN/sl-simulate" -q -s 8 -n 8 --set width=16 --set height=16 -o train.slr
"$BIN/sl-train" -q --task detect --steps 2 --batch 2 --width 4 --tile 2 --border 2 \
    --patch-tiles 2 --buffer 8 --checkpoint-every 0 -o detect.slm train.slr
"$BIN/sl-train" -q --task classify --steps 2 --batch 2 --width 4 --cutout 8 --buffer 8 \
    --checkpoint-every 0 -o classify.slm train.slr 2>/dev/null || true
"$BIN/sl-simulate" -q -s 9 -n 1 --set width=16 --set height=16 -o enc-in.slr
"$BIN/sl-encode" -q -m detect.slm --threshold 0.1 enc-in.slr > est.slr
"$BIN/sl-encode" -q -m detect.slm --threshold 0.1 --samples 2 enc-in.slr > est-samples.slr
"$BIN/sl-merge" -q est.slr > merged.slr 2>/dev/null || true
for f in *.slr "$H"/*.slr; do
    cp "$f" "$OUT/decode/"
    # fuzz_record: a first byte of read size and framing, then the stream.
    for b in 0 135 255; do
        { printf "\\$(printf %03o $b)"; cat "$f"; } > "$OUT/record/$b-$(basename "$f")"
    done
done

# Models.
for f in detect.slm classify.slm "$H"/*.slm; do [ -f "$f" ] && cp "$f" "$OUT/model/"; done
"$BIN/sl-cat" --raw --type model "$H/M-model-huge-weights.slm" > "$OUT/model/M-raw.slm"

# Configurations: the presets and the hostile one.
for p in sdss; do "$BIN/sl-simulate" -p $p --print-config > "$OUT/config/preset-$p.conf"; done
"$BIN/sl-simulate" --print-config > "$OUT/config/default.conf"
printf '@sdss\nbands = g r\n--set psf_fwhm = 1.2 1.3\npsf_model = moffat\n' > "$OUT/config/set.conf"
cp "$H/X-config-psf-url.conf" "$OUT/config/"

# FITS: the SDSS crop (frame layout with calibration HDUs), small generic
# images written by sl-simulate --fits, the hostile ones.
mkdir -p fits
"$BIN/sl-simulate" -q -s 10 -n 2 --set width=12 --set height=10 --fits fits -o /dev/null
cp fits/*.fits "$OUT/frame/" 2>/dev/null || true
cp "$DATA/sdss-crop-r-002583-2-0136.fits" "$H"/*.fits "$OUT/frame/"
cp "$DATA/photoField-002583-2-crop.fits" "$OUT/photofield/"
{ printf '\000'; cat "$DATA/psField-002583-2-0136.fit"; } > "$OUT/psf/psfield-r"
{ printf '\001'; cat "$DATA/sdss-002583-2-0136-psf-r.fits"; } > "$OUT/psf/image-primary"
{ printf '\003'; cat "$DATA/sdss-002583-2-0136-psf-r.fits"; } > "$OUT/psf/image-hdu0"

cd "$OUT" && rm -rf work
for d in */; do echo "seeds: ${d%/}: $(ls "$d" | wc -l) files"; done
