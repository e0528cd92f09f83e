#!/usr/bin/env bats
# sl-encode: the cascade on images and patches (patches + sl-merge = the
# whole image), thread independence, --at truth, NaN masking, the real SDSS
# crop end to end, and mismatched models and inputs.

load helpers

crop="$BATS_TEST_DIRNAME/../data/sdss-crop-r-002583-2-0136.fits"
photo="$BATS_TEST_DIRNAME/../data/photoField-002583-2-crop.fits"
psfield="$BATS_TEST_DIRNAME/../data/psField-002583-2-0136.fit"

# Tiny models, trained once for the file: what matters here is the plumbing,
# not their accuracy.
setup_file() {
    cd "$BATS_FILE_TMPDIR" || return 1
    tiny="-q --width 4 --batch 8 --buffer 64 --steps 6"
    sl-simulate -q -n 12 -s 3 --set lens_prob=0.5 -o train.slr
    sl-train $tiny -t detect --tile 4 --border 8 --patch-tiles 4 -o detect.slm train.slr
    sl-train $tiny -t lens-detect --tile 4 --border 8 --patch-tiles 4 -o lens-detect.slm train.slr
    for t in classify galaxy lens; do
        sl-train $tiny -t $t --cutout 24 -o $t.slm train.slr
    done
}

models() { for t in "$@"; do printf -- '-m %s/%s.slm ' "$BATS_FILE_TMPDIR" "$t"; done; }
all_models=$(echo detect classify galaxy lens-detect lens)

# id, p_source, p_galaxy, theta_e, x and y of every source of every image,
# positions in the parent's pixels, sorted: a catalog's content, whatever
# order its rows come in.  The probabilities are bit for bit what the
# networks computed; positions are float32 in the pixels of the record that
# holds them, so a patch's differ from the whole image's by rounding.
summary() {
    jq -r 'select(.type == "catalog" or .type == "image")
           | (.parent // .id) as $id | (.x0 // 0) as $dx | (.y0 // 0) as $dy | .estimate as $e
           | range($e.n) | [$id, $e.p_source[.], $e.p_galaxy[.], $e.theta_e[.],
                            $e.x[.] + $dx, $e.y[.] + $dy] | @tsv' | sort
}

# The same sources, with the same probabilities, at positions within 1e-4 pixel.
same_catalog() {
    [ "$(wc -l < "$1")" -eq "$(wc -l < "$2")" ] &&
        paste "$1" "$2" | awk -F'\t' '$1 != $7 || $2 != $8 || $3 != $9 || $4 != $10 ||
            ($5 - $11) ^ 2 > 1e-8 || ($6 - $12) ^ 2 > 1e-8 { print "differs: " $0; bad = 1 }
            END { exit bad }'
}

@test "every source gets every factor's summaries" {
    sl-simulate -q -n 3 -s 9 -o img.slr
    run sl-encode -q $(models $all_models) --threshold 0.2 --all-factors img.slr -o est.slr
    assert_status 0
    e=$(sl-cat --full --type image est.slr | head -1 | jq -c '.estimate')
    n=$(echo "$e" | jq '.n')
    [ "$n" -gt 0 ]
    for c in p_source x x_q05 x_q95 x_mean u_mu u_sigma star_flux star_flux_mean p_galaxy galaxy_flux \
             galaxy_flux_mean disk_q angle_q50 p_lens theta_e theta_e_q16 theta_e_mean lens_mu \
             lens_chol src_flux galaxy flux lens; do
        [ "$(echo "$e" | jq --arg c "$c" '.[$c] | length > 0')" = true ] || { echo "no $c" >&2; false; }
    done
    [ "$(echo "$e" | jq '.widths.lens_chol')" = 15 ]
    # The headline value is the median; the mean is beside it, and a
    # log-normal's mean lies above its median.
    # (Rows of lens systems found without a detection have no detect factors.)
    [ "$(echo "$e" | jq '[range(.n) as $i | .theta_e[$i] == .theta_e_q50[$i]
                          and (.p_source[$i] == null or (.x[$i] == .x_q50[$i]
                               and .star_flux[$i] == .star_flux_q50[$i]
                               and .star_flux_mean[$i] > .star_flux[$i]))
                          and .flux[$i] == (if .galaxy[$i] == 1 then .galaxy_flux[$i] else .star_flux[$i] end)]
                         | all')" = true ]
    # Quantiles are ordered and bracket the median; probabilities in [0, 1].
    [ "$(echo "$e" | jq '[range(.n) as $i | .x_q05[$i] <= .x_q50[$i] and .x_q50[$i] <= .x_q95[$i]
                          and .theta_e_q05[$i] <= .theta_e_q95[$i]
                          and .p_galaxy[$i] >= 0 and .p_galaxy[$i] <= 1] | all')" = true ]
    # Each source is in the tile of P(source) > threshold its location says,
    # or a lens system the lens finder found without a detected deflector.
    [ "$(echo "$e" | jq '[range(.n) as $i | .p_source[$i] > 0.2
                          or (.p_source[$i] == null and .p_lens[$i] > 0.5)] | all')" = true ]
    # The other keys pass through.
    [ "$(sl-cat --type image est.slr | jq -s 'map(.truth.n > 0) | all')" = true ]
}

@test "the gated cascade measures galaxies as galaxies and lenses as lenses" {
    sl-simulate -q -n 3 -s 9 -o img.slr
    sl-encode -q $(models $all_models) --threshold 0.2 img.slr -o gated.slr
    sl-encode -q $(models $all_models) --threshold 0.2 --all-factors img.slr -o all.slr
    # Galaxy parameters exactly where P(galaxy) > 0.5 or P(lens) > 0.5 (a
    # deflector is a galaxy), lens parameters where P(lens) > 0.5; those
    # present equal the ungated run's.
    [ "$(sl-cat --full --type image gated.slr | jq -s '[.[].estimate | . as $e | range(.n)
        | (($e.p_galaxy[.] > 0.5 or $e.p_lens[.] > 0.5) == ($e.disk_q[.] != null))
          and (($e.p_lens[.] > 0.5) == ($e.theta_e[.] != null))] | all')" = true ]
    paste <(sl-cat --full --type image gated.slr | jq -r '.estimate | . as $e | range(.n) | [$e.disk_q[.], $e.p_galaxy[.]] | @tsv') \
          <(sl-cat --full --type image all.slr | jq -r '.estimate | . as $e | range(.n) | [$e.disk_q[.], $e.p_galaxy[.]] | @tsv') |
        awk -F'\t' '$2 != $4 || ($1 != "" && $1 != $3) { bad = 1 } END { exit bad }'
}

@test "a factor is reported only where the factors that gate it were evaluated" {
    sl-simulate -q -n 1 -s 9 -o img.slr
    # Refused: a gated model without the model that gates it.
    for set in "detect galaxy" "detect lens" "detect classify lens" "detect lens-detect galaxy" \
               "detect classify galaxy lens"; do
        run sl-encode $(models $set) img.slr -o out.slr
        assert_status 2
        [ ! -e out.slr ]
    done
    run sl-encode $(models detect lens) img.slr
    assert_output_contains "sl-encode: the lens model needs a lens-detect model (P(lens) says which sources are lens systems): give one with -m, or --all-factors for lens values at every source"
    run sl-encode $(models detect galaxy) img.slr
    assert_output_contains "sl-encode: the galaxy model needs a classify model (P(galaxy) says which sources are galaxies)"
    # Accepted: complete cascades, ungated runs, and given positions.
    for set in "detect" "detect classify" "detect lens-detect" "detect classify galaxy" \
               "detect lens-detect lens" "detect classify galaxy lens-detect lens"; do
        run sl-encode -q $(models $set) --threshold 0.2 img.slr -o out.slr
        assert_status 0
    done
    # Ungated, the lens parameters are there for every source; --at truth too.
    run sl-encode -q $(models detect lens) --threshold 0.2 --all-factors img.slr -o all.slr
    assert_status 0
    [ "$(sl-cat --full --type image all.slr | jq '.estimate | . as $e | .n > 0 and ([range(.n) | $e.theta_e[.] != null] | all)')" = true ]
    run sl-encode -q --at truth $(models galaxy lens) img.slr -o at.slr
    assert_status 0
}

@test "the output does not depend on -j or --batch" {
    sl-simulate -q -n 4 -s 10 -o img.slr
    sl-encode -q $(models $all_models) --threshold 0.2 --samples 2 -j 1 img.slr -o a.slr
    sl-encode -q $(models $all_models) --threshold 0.2 --samples 2 -j 2 --batch 5 img.slr -o b.slr
    cmp <(sl-cat --type image a.slr) <(sl-cat --type image b.slr)
}

@test "patches encoded and merged give what the whole image gives" {
    sl-simulate -q -n 3 -s 11 --set width=150 --set height=90 -o img.slr
    sl-encode -q $(models $all_models) --threshold 0.2 img.slr | sl-merge -q -o whole.slr
    sl-tile -q $(models $all_models) --patch 32 img.slr -o p.slr
    [ "$(sl-cat --count --type image p.slr | cut -f2)" -eq 45 ]
    sl-encode -q $(models $all_models) --threshold 0.2 --no-pixels p.slr | sl-merge -q -o merged.slr
    sl-cat --full whole.slr | summary > a.txt
    sl-cat --full merged.slr | summary > b.txt
    [ "$(wc -l < a.txt)" -gt 30 ]
    same_catalog a.txt b.txt
}

@test "posterior samples: as many sources as P(source) says, the same whole or in patches" {
    sl-simulate -q -n 1 -s 13 --set width=40 --set height=40 -o img.slr
    # With threshold 0 every interior tile is a row: the expected count of a
    # sample is the sum of P(source), its variance the sum of p (1 - p)
    # (without the lens finder, which adds the deflectors detect missed).
    sl-encode -q $(models detect classify galaxy) --threshold 0 --samples 300 -s 4 img.slr -o s.slr
    sl-cat --full --type image s.slr | jq -r '
        ([.estimate.p_source[]] | add) as $m | ([.estimate.p_source[] | . * (1 - .)] | add) as $v
        | ([.samples[].n] | add / length) as $mean
        | "\($m) \($v) \($mean) \(.samples | length)"' > stats.txt
    read -r m v mean k < stats.txt
    [ "$k" = 300 ]
    awk -v m="$m" -v v="$v" -v x="$mean" 'BEGIN { exit !((x - m) ^ 2 < 16 * v / 300) }'
    # Every sampled lens is a sampled galaxy, with lens parameters.
    sl-encode -q $(models $all_models) --threshold 0 --samples 30 -s 4 img.slr -o s.slr
    [ "$(sl-cat --full --type image s.slr | jq '[.samples[] | . as $c | range($c.n)
        | select($c.lens[.] == 1) | $c.galaxy[.] == 1 and $c.theta_e[.] != null] | length > 0 and all')" = true ]
    # Samples come from the tiles' own random streams: patches give the same.
    sl-encode -q $(models $all_models) --samples 3 img.slr | sl-merge -q -o w.slr
    sl-tile -q $(models $all_models) --patch 16 img.slr |
        sl-encode -q $(models $all_models) --samples 3 --no-pixels | sl-merge -q -o p.slr
    for f in w p; do
        sl-cat --full --type catalog $f.slr | jq -r '.samples | to_entries[] | .key as $k | .value as $c
            | range($c.n) | [$k, $c.galaxy[.], $c.lens[.], $c.flux[.], $c.theta_e[.], $c.x[.], $c.y[.]] | @tsv' |
            sort > $f.txt
    done
    [ "$(wc -l < w.txt)" -gt 0 ]
    [ "$(wc -l < w.txt)" -eq "$(wc -l < p.txt)" ]
    paste w.txt p.txt | awk -F'\t' '$1 != $8 || $2 != $9 || $3 != $10 || $4 != $11 || $5 != $12 ||
        ($6 - $13) ^ 2 > 1e-8 || ($7 - $14) ^ 2 > 1e-8 { bad = 1 } END { exit bad }'
}

@test "--at truth encodes each true source in the interior, in order" {
    sl-simulate -q -n 2 -s 12 -o img.slr
    run sl-encode -q --at truth $(models classify lens) img.slr -o est.slr
    assert_status 0
    [ "$(sl-cat --full --type image est.slr | jq -s 'map(.truth.x == .estimate.x and .truth.n == .estimate.n) | all')" = true ]
    [ "$(sl-cat --full --type image est.slr | jq -s 'map(.estimate | has("p_source")) | any')" = false ]
}

@test "NaN pixels are masked, counted, and do not reach the estimate" {
    "$SL_TESTS/mkstream" -n 3 -w 40 -H 40 -b 1 -f 2 nan-pixel > nan.slr
    run sl-encode $(models detect classify) --threshold 0 nan.slr -o est.slr
    assert_status 0
    assert_output_contains "sl-encode: 1 NaN pixels masked (read as background)"
    [ "$(sl-cat --full --type image est.slr | jq -s '[.[].estimate.p_source[] | . == null] | any')" = false ]
}

@test "the SDSS crop runs end to end into a FITS catalog" {
    sl-tile -q $(models detect classify) --photofield "$photo" --psfield "$psfield" "$crop" |
        sl-encode -q --no-pixels $(models detect classify) --threshold 0.2 | sl-merge -q -o cat.fits
    [ -s cat.fits ]
    [ "$(head -c 6 cat.fits)" = SIMPLE ]
    if /usr/bin/python3 -c 'import astropy' 2>/dev/null; then
        n=$(/usr/bin/python3 -c 'from astropy.table import Table; t = Table.read("cat.fits"); print(len(t), "x" in t.colnames)')
        [ "${n#* }" = True ]
        [ "${n% *}" -gt 0 ]
    fi
}

@test "sky coordinates: the frame's WCS travels with the patches into RA, Dec and their errors" {
    # A simulated FITS image: a TAN WCS centred on --sky-centre, north up.
    sl-simulate -q -n 1 -s 4 --set width=64 --set height=64 --fits sim --sky-centre 150.1,2.2 -o /dev/null
    sl-tile -q --bands r $(models detect) sim/image-000000.fits -o p.slr
    [ "$(sl-cat --full --type image p.slr | jq -s 'map(.wcs | length % 80 == 0 and test("RA---TAN")) | all')" = true ]
    sl-encode -q $(models detect) --threshold 0.2 --no-pixels p.slr | sl-merge -q -o cat.csv
    # Every source's RA and Dec, against the projection done by hand (TAN is
    # linear to 1e-8 degree this close to its centre); errors in arcsec from
    # the location's 16-84% interval and the 0.396 arcsec pixels.
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { ra = 150.1 + (32 - $c["x"]) * 0.396 / 3600 / cos(2.2 * 3.14159265358979 / 180)
          dec = 2.2 + ($c["y"] - 32) * 0.396 / 3600
          sx = ($c["x_q84"] - $c["x_q16"]) / 2 * 0.396; sy = ($c["y_q84"] - $c["y_q16"]) / 2 * 0.396
          d = ($c["ra"] - ra) ^ 2 + ($c["dec"] - dec) ^ 2
          e = ($c["ra_err"] - sx) ^ 2 + ($c["dec_err"] - sy) ^ 2
          if (d > 1e-14 || e > 1e-8) { print "differs: " $0; bad = 1 }; n++ }
        END { exit bad || n == 0 }' cat.csv
    # The SDSS crop's WCS, against astropy's reading of the same header.
    sl-tile -q $(models detect) --photofield "$photo" "$crop" |
        sl-encode -q --no-pixels $(models detect) --threshold 0.2 | sl-merge -q -o sdss.fits
    if /usr/bin/python3 -c 'import astropy' 2>/dev/null; then
        /usr/bin/python3 -c '
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
t = Table.read("sdss.fits")
ra, dec = WCS(fits.getheader(sys.argv[1])).all_pix2world(t["x"] - 0.5, t["y"] - 0.5, 0)
assert len(t) > 0 and t["ra"].unit == "deg" and t["ra_err"].unit == "arcsec"
assert np.max(np.abs((ra - t["ra"] + 180) % 360 - 180)) < 1e-6
assert np.max(np.abs(dec - t["dec"])) < 1e-6' "$crop"
    fi
    # Without a WCS there are no sky columns.
    sl-simulate -q -n 1 -s 4 | sl-encode -q $(models detect) | sl-merge -q -o nowcs.csv
    ! head -1 nowcs.csv | grep -q ',ra,'
}

@test "probabilities for the sky: the training prior's on simulations, a base rate on frames" {
    # From sl-simulate: the training prior's probabilities, as --lens-rate train.
    sl-simulate -q -n 2 -s 9 -o img.slr
    sl-encode -q $(models $all_models) --threshold 0.2 img.slr -o def.slr
    sl-encode -q $(models $all_models) --threshold 0.2 --lens-rate train img.slr -o train.slr
    cmp <(sl-cat --type image def.slr) <(sl-cat --type image train.slr)
    [ "$(sl-cat --full def.slr | head -1 | jq -r '.config.lens_rate + " " + .config.lens_rate_train')" = "train 0.5" ]
    # Another rate: the prior odds replaced, odds' = odds (r / (1 - r)) / (pi / (1 - pi)),
    # pi = 0.5 (lens_prob of the training set) and 0.7 (1 - star_prob).
    sl-encode -q $(models $all_models) --threshold 0.2 --lens-rate 0.01 --galaxy-rate 0.2 img.slr -o r.slr
    paste <(sl-cat --full --type image train.slr | jq -r '.estimate | . as $e | range(.n) | [$e.p_lens[.], $e.p_galaxy[.]] | @tsv') \
          <(sl-cat --full --type image r.slr | jq -r '.estimate | . as $e | range(.n) | [$e.p_lens[.], $e.p_galaxy[.], $e.lens[.]] | @tsv') |
        awk -F'\t' 'function moved(p, r, pi) { a = r / (1 - r) / (pi / (1 - pi)); return p * a / (p * a + 1 - p) }
            { if (($3 - moved($1, 0.01, 0.5)) ^ 2 > 1e-12 || ($2 != "" && ($4 - moved($2, 0.2, 0.7)) ^ 2 > 1e-12) ||
                  $5 != ($3 > 0.5)) { print "differs: " $0; bad = 1 }; n++ }
            END { exit bad || n == 0 }'
    # A frame: a base rate of 0.001 by default, stated in the FITS header with
    # the models' SHA-256 and the command lines; every column described.
    sl-tile -q $(models $all_models) --photofield "$photo" --psfield "$psfield" "$crop" -o p.slr
    sl-encode -q $(models $all_models) --threshold 0.2 --no-pixels p.slr | sl-merge -q -o sky.fits --regions sky.reg
    sl-encode -q $(models $all_models) --threshold 0.2 --no-pixels --lens-rate train p.slr |
        sl-merge -q -o train.fits --regions train.reg
    [ "$(sl-cat --full p.slr | head -1 | jq -r .tool)" = sl-tile ]
    if /usr/bin/python3 -c 'import astropy' 2>/dev/null; then
        /usr/bin/python3 -c '
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from astropy.io import fits
from astropy.table import Table
import astropy.units as u
h = fits.open("sky.fits")
p, e = h[0].header, h[1].header
assert p["LENSRATE"] == "0.001" and p["LRTRAIN"] == "0.5" and p["GALRATE"] == "train"
assert p["PROG1"].startswith("sl-encode") and p["PROG2"].startswith("sl-tile")
assert sys.argv[1] in p["CMD2"] and p["THRESH"] == "0.2"
assert [p["MODEL%d" % i].split("/")[-1] for i in range(1, 6)] ==     ["detect.slm", "classify.slm", "galaxy.slm", "lens-detect.slm", "lens.slm"]
assert len(p["MSHA1"]) == 64
n = e["TFIELDS"]
assert all("TCOMM%d" % i in e for i in range(1, n + 1)), "a column without TCOMM"
for i in range(1, n + 1):
    if "TUNIT%d" % i in e:
        u.Unit(e["TUNIT%d" % i], format="fits")
s, t = Table.read("sky.fits"), Table.read("train.fits")
a = 0.001 / 0.999
assert np.nanmax(np.abs(s["p_lens"] - t["p_lens"] * a / (t["p_lens"] * a + 1 - t["p_lens"]))) < 1e-6
' "$crop"
    fi
    # The models' digests are sha256sum's.
    [ "$(sha256sum "$BATS_FILE_TMPDIR/detect.slm" | cut -c1-64)" = \
      "$(sl-encode -q $(models detect) p.slr | sl-cat --full | head -1 | jq -r .config.model1_sha256)" ]
    # The regions: one fk5 circle of radius theta_E per source of P(lens) > 0.5.
    head -3 train.reg | grep -q '^# Region file format: DS9 version 4.1'
    n=$(sl-merge -q --csv -o - <(sl-encode -q $(models $all_models) --threshold 0.2 --no-pixels --lens-rate train p.slr) |
        awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $c["p_lens"] > 0.5 { n++ } END { print n + 0 }')
    [ "$n" -gt 0 ]
    [ "$(grep -c '^fk5; circle(' train.reg)" -eq "$n" ]
    grep '^fk5; circle(' train.reg | head -1 | grep -Eq '^fk5; circle\(323\.[0-9]+,-0\.[0-9]+,[0-9.]+"\) # text=\{P\(lens\)=0\.[0-9]{3}\}$'
    [ "$(grep -c '^fk5; circle(' sky.reg)" -lt "$n" ]
    # Without a WCS the circles are in image pixels.
    sl-encode -q $(models $all_models) img.slr | sl-merge -q -o /dev/null --regions img.reg
    ! grep -q '^fk5' img.reg
    # Usage errors.
    run sl-encode $(models detect) --lens-rate 1 img.slr
    assert_status 2
    assert_output_contains "option --lens-rate: a base rate is a probability strictly between 0 and 1, or 'train'"
    run sl-merge --regions - img.slr
    assert_status 2
    assert_output_contains "sl-merge: --regions -: standard output already takes the catalog"
}

@test "models and images that disagree are refused" {
    sl-simulate -q -n 2 --set pixel_scale=0.2 -o fine.slr
    run sl-encode $(models detect) fine.slr -o out.slr
    assert_status 1
    assert_output_contains "sl-encode: fine.slr: record 2: image 0 has pixel scale 0.2 arcsec, the models 0.396"
    [ ! -e out.slr ]
    sl-simulate -q -n 2 -p sdss -b g,r -o gr.slr
    run sl-encode $(models detect) gr.slr
    assert_status 1
    assert_output_contains "image 0 has bands g,r, the models r"
    sl-train -q --width 4 --batch 4 --steps 1 -t classify --cutout 24 -o gr.slm gr.slr
    run sl-encode $(models detect) -m gr.slm fine.slr
    assert_status 1
    assert_output_contains "sl-encode: gr.slm: classify model for bands g,r, the detect model for r"
    run sl-encode $(models detect detect) fine.slr
    assert_status 1
    assert_output_contains "a second detect model"
}

@test "a patch without the border the models need is refused" {
    sl-simulate -q -n 1 -o img.slr
    sl-tile -q --border 4 --patch 32 img.slr -o p.slr
    run sl-encode $(models detect classify) p.slr
    assert_status 1
    assert_output_contains "patch 0 of image 0 has a border of 4 pixels, the models need 12 (cut patches with sl-tile -m MODEL...)"
    sl-tile -q --border 12 --patch 24 img.slr -o q.slr
    run sl-encode $(models detect) q.slr
    assert_status 1
    assert_output_contains "reaches past the patch"
}

@test "usage errors and broken input" {
    run sl-encode img.slr
    assert_status 2
    assert_output_contains "sl-encode: no model: give one or more with -m"
    run sl-encode $(models classify) /dev/null
    assert_status 2
    assert_output_contains "no detect model"
    run sl-encode -m "$BATS_TEST_DIRNAME/helpers.bash" /dev/null
    assert_status 1
    sl-simulate -q -n 2 -o img.slr
    head -c 30000 img.slr > cut.slr
    run sl-encode $(models detect) cut.slr -o out.slr
    assert_status 1
    assert_output_contains "sl-encode: cut.slr"
    [ ! -e out.slr ]
    sl-train -q --width 4 --batch 4 --steps 3 -t detect --stop-after 1 -o ck.slm img.slr
    run sl-encode -m ck.slm.ckpt img.slr
    assert_status 1
    assert_output_contains "no model record"
}
