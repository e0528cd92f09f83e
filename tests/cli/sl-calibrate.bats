#!/usr/bin/env bats
# sl-calibrate: detection, reliability, coverage, SBC, TARP and accuracy from
# streams with truth and estimate.
#
# mkcalib writes estimates whose truth is drawn from the stated posterior
# (calibrated by construction), or with every sigma scaled by --scale; each
# image has -k estimates, real with probability p_source, and k/5 true
# sources nobody detected, all at least 8 pixels apart.

load helpers

json() { sl-calibrate -q --json - "$@"; }

@test "a calibrated stream: every coverage level inside the band, ECE below 0.02 at n = 5000" {
    mkcalib -n 250 -s 1 > c.slr
    json c.slr > r.json
    [ "$(jq '.binary.source.equal_width.n' r.json)" = 5000 ]
    jq -e '.binary.source.equal_width.ece < 0.02' r.json
    jq -e '.binary.galaxy.equal_width.ece < 0.03 and .binary.lens.equal_width.ece < 0.04' r.json
    # 22 parameters (x, y, fluxes, shapes, lens, lensed source), none flagged.
    [ "$(jq '.continuous | length' r.json)" = 22 ]
    [ "$(jq -c '[.continuous[].verdict] | unique' r.json)" = '["ok"]' ]
    jq -e '.levels as $l | [.continuous[] | . as $p | range(10) as $i
           | ($p.coverage[$i] - $l[$i]) | (if . < 0 then -. else . end) <= $p.band[$i]] | all' r.json
    # Galaxy parameters on true galaxies, lens parameters on true lenses only.
    [ "$(jq '.continuous[] | select(.name == "disk_q") | .n' r.json)" -gt 1000 ]
    [ "$(jq '.continuous[] | select(.name == "theta_e") | .n' r.json)" -lt \
      "$(jq '.continuous[] | select(.name == "disk_q") | .n' r.json)" ]
    jq -e '.tarp.ks_p > 0.01 and .tarp.max_dev < 0.05' r.json
    jq -e '[.continuous[].sbc.p_value] | min > 0.001' r.json
    # The table says the same.
    run sl-calibrate -q c.slr
    assert_status 0
    assert_output_contains "Coverage of central credible intervals"
    [[ ! "$output" =~ [0-9]\* ]]
}

@test "sigmas halved are flagged over-confident, doubled under-confident, everywhere" {
    mkcalib -n 100 -s 2 --scale 0.5 > half.slr
    mkcalib -n 100 -s 2 --scale 2 > double.slr
    [ "$(json half.slr | jq -c '[.continuous[].verdict] | unique')" = '["over-confident"]' ]
    [ "$(json double.slr | jq -c '[.continuous[].verdict] | unique')" = '["under-confident"]' ]
    # Halved: the 90% intervals hold about P(|Z| < 0.82) = 59% of the truths.
    json half.slr | jq -e '.continuous[] | select(.name == "theta_e") | .coverage[8] < 0.7'
    json half.slr | jq -e '.tarp.ks_p < 0.01'
    json double.slr | jq -e '.tarp.ks_p < 0.01'
    run sl-calibrate -q half.slr
    assert_output_contains "over-confident"
}

@test "matching has the known answer: every real source found, every missed one not" {
    mkcalib -n 20 -k 10 -s 3 > c.slr
    n_true=$(sl-cat --full --type image c.slr | jq -s 'map(.truth.n) | add')
    json c.slr > r.json
    # 10 estimates and 2 undetected true sources per image; every truth but
    # the 2 x 20 undetected is an estimate's, within 1 pixel.
    [ "$(jq '.detection.all.n_true' r.json)" = "$n_true" ]
    [ "$(jq '.detection.all.n_est' r.json)" = 200 ]
    [ "$(jq '.detection.all.matched' r.json)" = "$((n_true - 40))" ]
    jq -e --argjson m "$((n_true - 40))" '.detection.all.precision == $m / 200' r.json
    # A radius far below the location error matches almost nothing.
    json --radius 0.001 c.slr | jq -e '.detection.all.matched < 5'
    # Estimates at the true positions (sl-encode --at truth) pair row to row.
    mkcalib -n 20 -k 10 -s 3 --at-truth > at.slr
    json at.slr > a.json
    [ "$(jq -c '[.match, .detection]' a.json)" = '["exact",null]' ]
    [ "$(jq '.continuous[] | select(.name == "disk_q") | .n' a.json)" -gt 0 ]
    run sl-calibrate -q at.slr
    assert_output_contains "Detection: not measured"
    # Exact matching of detections is refused: their positions are not the truth's.
    run -1 sl-calibrate -q --match exact c.slr
    assert_output_contains "sl-calibrate: c.slr: record 2: key 'estimate.x': row 0 at"
}

@test "magnitude bins, the SNR cut and instrumental magnitudes" {
    mkcalib -n 20 -s 4 > c.slr
    json --mag-bins 10,12,14,16 --min-snr 5 c.slr > r.json
    [ "$(jq '.detection.bins | length' r.json)" = 3 ]
    [ "$(jq -c '[.detection.bins[] | [.mag_lo, .mag_hi]]' r.json)" = '[[10,12],[12,14],[14,16]]' ]
    [ "$(jq '.detection.min_snr' r.json)" = 5 ]
    # SNR = flux / sqrt(865 * 4 pi sigma^2), sigma = (1.43 / 0.396) / 2.3548 px: 161 e-.
    jq -e '.detection.snr.n_true <= .detection.all.n_true and .detection.snr.n_true > 0' r.json
    run sl-calibrate -q --min-snr 5 c.slr
    assert_output_contains "SNR >= 5"
}

@test "merged catalog records calibrate like the images they came from" {
    mkcalib -n 30 -s 5 > c.slr
    json c.slr | jq -c '[.continuous[] | [.name, .n, .coverage]]' > direct.txt
    sl-merge -q c.slr | json | jq -c '[.continuous[] | [.name, .n, .coverage]]' > merged.txt
    cmp direct.txt merged.txt
    run -1 sl-calibrate -q --min-snr 5 <(sl-merge -q c.slr)
    assert_output_contains "key 'psf': missing"
}

@test "the report record, JSON, plots; deterministic for a seed" {
    mkcalib -n 40 -s 6 > c.slr
    sl-calibrate -q -o rep.slr --plots figs --json rep.json c.slr > table.txt
    [ "$(sl-cat --count rep.slr)" = "$(printf 'header\t1\nreport\t1\nend\t1')" ]
    [ "$(sl-cat --full --type report rep.slr | jq -c '[.tool, .match, (.continuous | length)]')" = \
      '["sl-calibrate","distance",22]' ]
    [ "$(sl-cat --full --type report rep.slr | jq -S -c .)" = "$(jq -S -c . rep.json)" ]
    grep -q "Point accuracy of the posterior median" table.txt
    for f in detection reliability_source reliability_galaxy reliability_lens coverage_detect \
             coverage_galaxy coverage_lens coverage_source tarp scatter_theta_e sbc_theta_e \
             sharpness_galaxy sharpness_lens lens_roc lens_pr lens_completeness_theta_e; do
        [ -s "figs/$f.svg" ]
        grep -q '<title>' "figs/$f.svg"
        tail -1 "figs/$f.svg" | grep -q '</svg>'
    done
    # Same seed, same numbers; another seed moves only the random draws.
    json -s 1 c.slr > a.json
    json -s 1 c.slr > b.json
    cmp a.json b.json
    json -s 9 c.slr > c.json
    ! cmp -s a.json c.json
    [ "$(jq -c '[.detection, .binary, [.continuous[].coverage]]' a.json)" = \
      "$(jq -c '[.detection, .binary, [.continuous[].coverage]]' c.json)" ]
    # The report to standard output replaces the table.
    [ "$(sl-calibrate -q -o - c.slr | sl-cat --count | head -2 | tail -1)" = "$(printf 'report\t1')" ]
}

@test "a reliability diagram of a set with one outcome only says that its ECE is no measure of calibration" {
    mkcalib -n 40 -s 6 > c.slr
    sl-calibrate -q --plots figs c.slr > /dev/null
    ! grep -q "not a measure of calibration" figs/reliability_source.svg
    ! grep -q "not a measure of calibration" figs/reliability_lens.svg
    # Every galaxy a lens system, P(lens) measured at the true positions: the
    # lens diagram has the outcome 1 only.
    sl-simulate -q -n 0 -s 1 --set lens_prob=1 |
        sl-train -q -t lens-detect --steps 3 --width 4 --batch 4 --buffer 8 --tile 4 \
            --border 8 --patch-tiles 4 -o ld.slm
    sl-simulate -q -n 4 -s 21 --set lens_prob=1 | sl-encode -q --at truth -m ld.slm > l.slr
    sl-calibrate -q --plots lfigs l.slr > /dev/null
    n=$(json l.slr | jq .binary.lens.equal_width.n)
    [ "$n" -gt 10 ]
    grep -q ">Every one of the $n outcomes is 1: ECE is 1 - mean P,<" lfigs/reliability_lens.svg
    grep -q ">not a measure of calibration (it needs both outcomes)<" lfigs/reliability_lens.svg
}

@test "sharpness: a posterior equal to the prior has width ratio 1 and R2 0; an informative one is narrower" {
    mkcalib -n 200 -s 7 --prior --snr > p.slr
    json p.slr > p.json
    # Every parameter but the location (whose prior is the whole image): the
    # 90% interval is as wide as the 5-95% range of the true values.
    jq -e '[.continuous[] | select(.name != "x" and .name != "y") | .sharpness.all
            | .width_ratio > 0.8 and .width_ratio < 1.25 and .r2 < 0.05] | all' p.json
    # Calibrated all the same: coverage cannot tell it from a sharp posterior.
    [ "$(jq -c '[.continuous[] | select(.name != "x" and .name != "y") | .verdict] | unique' p.json)" = '["ok"]' ]
    mkcalib -n 200 -s 7 --snr > c.slr
    json c.slr > c.json
    jq -e '[.continuous[] | .sharpness.all | .width_ratio < 0.7 and .r2 > 0.5] | all' c.json
    # Bins by the truth's snr (arc_snr for lens parameters) that add up to all.
    [ "$(jq -c '[.continuous[] | select(.name == "theta_e") | .sharpness.snr_key]' c.json)" = '["arc_snr"]' ]
    jq -e '[.continuous[] | .sharpness | ([.snr_bins[].n] | add) == .all.n] | all' c.json
    [ "$(jq -c '[.continuous[0].sharpness.snr_bins[] | [.snr_lo, .snr_hi]]' c.json)" = \
      '[[0,10],[10,20],[20,50],[50,100],[100,null]]' ]
    run sl-calibrate -q c.slr
    assert_output_contains "Sharpness: R2 of the posterior median / median posterior 90% width"
    sl-calibrate -q --plots figs c.slr > /dev/null
    for f in width_snr_galaxy r2_snr_lens sharpness_source; do grep -q '</svg>' figs/$f.svg; done
    # Without SNR columns the bins say so; the rest is measured.
    json p.slr > /dev/null
    mkcalib -n 20 -s 7 > n.slr
    [ "$(json n.slr | jq -c '[.continuous[].sharpness.snr_bins] | unique')" = '[null]' ]
    json n.slr | jq -e '.continuous[0].sharpness.all.n > 0'
    run sl-calibrate -q n.slr
    assert_output_contains "no snr in the truth"
    assert_output_contains "no arc_snr in the truth"
}

@test "lens finding over whole images: known completeness, purity, AUC and AP" {
    # Estimates exactly at the true positions, matched by distance, so every
    # true lens system has one estimate within 3 px and no other.
    mkcalib -n 100 -s 8 --at-truth --p-lens bright > b.slr
    json --match distance b.slr > b.json
    jq -c '.lens_finding | del(.curves)' b.json
    # P(lens) = 1 exactly for the lens systems of arc_snr >= 20, 0 elsewhere.
    [ "$(jq -c '[.lens_finding.arc_snr_bins[].completeness]' b.json)" = '[0,0,1,1,1]' ]
    jq -e '.lens_finding | .purity == 1 and .found == ([.arc_snr_bins[2:][].n] | add)
           and .completeness == .found / .n_systems' b.json
    # AUC: bright systems above every negative, faint ones tied with all of them.
    jq -e '.lens_finding | (.auc - (.found + 0.5 * (.n_systems - .found)) / .n_systems
           | fabs) < 1e-12' b.json
    # AP: the group at 1 is all right; the group at 0 has precision n_systems / n_estimates.
    jq -e '.lens_finding | (.average_precision - (.found + (.n_systems - .found)
           * .n_systems / .n_estimates) / .n_systems | fabs) < 1e-12' b.json
    [ "$(jq -c '.lens_finding.at_purity | [.reached, .threshold, .completeness, .purity]' b.json)" = \
      '[true,1,1,1]' ]
    run sl-calibrate -q --match distance b.slr
    assert_output_contains "completeness 1.000 at P(lens) >= 1 (purity 1.000)"
    # A perfect score ranks perfectly; a random one at chance.
    mkcalib -n 50 -s 8 --at-truth --p-lens perfect | json --match distance > p.json
    [ "$(jq -c '.lens_finding | [.auc, .average_precision, .completeness, .purity]' p.json)" = '[1,1,1,1]' ]
    mkcalib -n 300 -s 8 --p-lens random | json > r.json
    jq -e '.lens_finding | (.auc - 0.5 | fabs) < 0.04' r.json
    # No arc_snr column: the binned table and the purity target say so.
    [ "$(jq -c '.lens_finding | [.arc_snr_bins, .at_purity.reached, .arc_snr_known]' p.json)" = '[null,false,false]' ]
    # A radius too small to reach any deflector finds nothing and nothing it
    # selects is right; a threshold of 1 selects nothing.
    mkcalib -n 5 -s 8 --p-lens perfect > s.slr
    json --lens-radius 1e-3 s.slr | jq -e '.lens_finding | .found == 0 and .n_selected > 0 and .purity == 0'
    json --lens-threshold 1 s.slr | jq -e '.lens_finding | .found == 0 and .n_selected == 0 and .purity == null'
    # At the true positions (sl-encode --at truth), lens finding is not measured.
    [ "$(json b.slr | jq -c .lens_finding)" = null ]
}

@test "reconstruction: chi2 per pixel is 1 against a noisy rendering of the estimate, 0 against the rendering itself" {
    sl-simulate -q -n 0 -s 1 --set lens_prob=1 |
        sl-train -q -t lens --steps 3 --width 4 --batch 4 --buffer 8 -o lens.slm
    sl-simulate -q -n 8 -s 21 --set lens_prob=1 | sl-encode -q --at truth -m lens.slm > e.slr
    # The images replaced by the estimate's rendering: a Poisson draw, or the expectation.
    sl-simulate -q --render --catalog estimate e.slr > noisy.slr
    sl-simulate -q --render --noiseless --catalog estimate e.slr > exact.slr
    json --chi2 --match distance noisy.slr > n.json
    jq -e '.reconstruction | .n_systems > 50 and (.median_chi2 - 1 | fabs) < 0.05' n.json
    jq -e '.reconstruction | (.counts | add) == .n_systems and .edges[0] == 0' n.json
    json --chi2 --match distance exact.slr | jq -e '.reconstruction.median_chi2 < 1e-6'
    # The simulator's truth carries arc_snr: the bright systems' median too.
    jq -e '.reconstruction | .n_bright > 10 and (.median_chi2_bright - 1 | fabs) < 0.1' n.json
    # ...and sharpness of the lens parameters is binned by it.
    [ "$(jq -c '[.continuous[] | select(.name == "theta_e")
                | [.sharpness.snr_key, (.sharpness.snr_bins | length)]]' n.json)" = '[["arc_snr",5]]' ]
    run sl-calibrate -q --chi2 --match distance noisy.slr
    assert_output_contains "Reconstruction: chi2 per pixel"
    sl-calibrate -q --chi2 --match distance --plots figs noisy.slr > /dev/null
    grep -q '</svg>' figs/reconstruction_chi2.svg
    # Off by default; refused without pixels.
    [ "$(json --match distance noisy.slr | jq -c .reconstruction)" = null ]
    sl-simulate -q -n 2 -s 21 --set lens_prob=1 | sl-encode -q --no-pixels --at truth -m lens.slm > np.slr
    run -1 sl-calibrate -q --chi2 --match distance np.slr
    assert_output_contains "sl-calibrate: np.slr: record 2: key 'pixels': missing: --chi2 needs the image"
}

@test "streams without truth or estimate are refused, naming file, record and key" {
    mkcalib -n 2 --no-truth > nt.slr
    mkcalib -n 2 --no-estimate > ne.slr
    run -1 sl-calibrate nt.slr -o out.slr
    assert_output_contains "sl-calibrate: nt.slr: record 2: key 'truth': missing"
    [ ! -e out.slr ]
    run -1 sl-calibrate ne.slr
    assert_output_contains "sl-calibrate: ne.slr: record 2: key 'estimate': missing"
    run -1 sl-calibrate < nt.slr
    assert_output_contains "sl-calibrate: -: record 2: key 'truth'"
    mkcalib -n 2 --drop disk_q_sigma > d.slr
    run -1 sl-calibrate d.slr
    assert_output_contains "sl-calibrate: d.slr: record 2: key 'estimate.disk_q_sigma': missing"
    printf '' > empty.slr
    run -1 sl-calibrate empty.slr
    assert_output_contains "empty input"
}

@test "usage errors exit 2" {
    mkcalib -n 1 > c.slr
    run -2 sl-calibrate --bins 0 c.slr
    assert_output_contains "--bins"
    run -2 sl-calibrate --match nearest c.slr
    assert_output_contains "'nearest' is not auto, distance or exact"
    run -2 sl-calibrate --mag-bins 14,12 c.slr
    assert_output_contains "edges must increase"
    run -2 sl-calibrate --tile 3 c.slr
    run -2 sl-calibrate --lens-threshold 1.5 c.slr
    assert_output_contains "--lens-threshold"
    run -2 sl-calibrate --lens-radius 0 c.slr
    run -2 sl-calibrate -o - --json - c.slr
    assert_output_contains "cannot both write standard output"
    run -2 sl-calibrate --match exact --min-snr 3 c.slr
    run -2 sl-calibrate --no-such-option c.slr
    run -0 sl-calibrate --help
    assert_output_contains "Usage: sl-calibrate"
}
