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
    grep -q "Point accuracy of the posterior mean" table.txt
    for f in detection reliability_source reliability_galaxy reliability_lens coverage_detect \
             coverage_galaxy coverage_lens coverage_source tarp scatter_theta_e sbc_theta_e; do
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
    run -2 sl-calibrate -o - --json - c.slr
    assert_output_contains "cannot both write standard output"
    run -2 sl-calibrate --match exact --min-snr 3 c.slr
    run -2 sl-calibrate --no-such-option c.slr
    run -0 sl-calibrate --help
    assert_output_contains "Usage: sl-calibrate"
}
