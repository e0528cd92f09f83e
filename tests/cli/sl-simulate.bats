#!/usr/bin/env bats
# sl-simulate: determinism, sharding, threads, outputs and configuration errors.

load helpers

small="--set width=40 --set height=40 --set density=400"

@test "writes image records with a truth catalog" {
    run sl-simulate -n 3 $small
    assert_status 0
    sl-simulate -n 3 $small > s.slr
    [ "$(sl-cat --count s.slr)" = "$(printf 'header\t1\nimage\t3\nend\t1')" ]
    run sl-cat --check s.slr
    assert_status 0
    # Every source has a position inside the image and a positive flux.
    n=$(sl-cat --full --type image s.slr | jq -s '[.[].truth.n] | add')
    [ "$n" -gt 0 ]
    [ "$(sl-cat --full --type image s.slr | jq -s '[.[].truth | .x[], .y[]] | map(select(. < 0 or . > 40)) | length')" = 0 ]
    [ "$(sl-cat --full --type image s.slr | jq -s '[.[].truth.flux[]] | map(select(. <= 0)) | length')" = 0 ]
}

@test "image k of seed s is the same in shards and for any thread count" {
    sl-simulate -s 7 -n 12 $small > all.slr
    sl-simulate -s 7 -n 5 $small > a.slr
    sl-simulate -s 7 --first 5 -n 7 $small > b.slr
    sl-simulate -s 7 -n 12 -j 2 $small > j2.slr
    sl-cat --full --type image all.slr > all.json
    cat a.slr b.slr | sl-cat --full --type image > shards.json
    sl-cat --full --type image j2.slr > j2.json
    cmp all.json shards.json
    cmp all.json j2.json
    # Headers aside, the streams are byte-identical.
    sl-cat --raw --type image all.slr | sl-cat --full --type image > again.json
    cmp all.json again.json
    sl-simulate -s 8 -n 12 $small | sl-cat --full --type image > other.json
    ! cmp -s all.json other.json
}

@test "-n 0 streams until the reader goes away" {
    run bash -c "set -o pipefail; sl-simulate -n 0 $small | head -c 2000000 > /dev/null"
    assert_status 0
    [ -z "$output" ]
}

@test "the header records the seed and the configuration in effect" {
    sl-simulate -n 1 -s 42 $small --set lens_prob=1 > s.slr
    run sl-cat --type header s.slr
    [ "$(echo "$output" | jq -c '[.tool, .seed, .config.width, .config.lens_prob]')" = '["sl-simulate",42,"40","1"]' ]
}

@test "--noiseless gives the expectation: sky where there are no sources" {
    sl-simulate -n 1 --noiseless --set density=0 --set width=8 --set height=8 --set sky=865 > s.slr
    [ "$(sl-cat --full --type image s.slr | jq -c '[.pixels | min, max]')" = '[865,865]' ]
}

@test "lens systems carry their lens parameters" {
    sl-simulate -n 2 $small --set star_prob=0 --set lens_prob=1 > s.slr
    run bash -c "sl-cat --full --type image s.slr | jq -s '[.[].truth | .theta_e[]] | map(select(. < 1.98 or . > 11.88)) | length'"
    [ "$output" = 0 ]
    run bash -c "sl-cat --full --type image s.slr | jq -s '[.[].truth | .lens[]] | unique'"
    [ "$(echo $output | tr -d ' ')" = '[1]' ]
}

@test "--fits and --png write a file per image" {
    run sl-simulate -n 2 $small --fits fits --png png --mark-lenses -o s.slr
    assert_status 0
    [ -f fits/image-000000.fits ] && [ -f fits/image-000001.fits ]
    [ "$(head -c 9 fits/image-000000.fits)" = "SIMPLE  =" ]
    [ $(( $(stat -c %s fits/image-000000.fits) % 2880 )) -eq 0 ]
    [ "$(head -c 4 png/image-000001.png | tail -c 3)" = "PNG" ]
    [ -z "$(ls fits png | grep tmp)" ]
}

@test "bad configurations are refused with the key named" {
    run sl-simulate -n 1 --set density=-1
    assert_status 2
    assert_output_contains "density"
    assert_output_contains "-1"
    run sl-simulate -n 1 --set densty=3
    assert_status 2
    assert_output_contains "unknown key 'densty' (did you mean 'density'?)"
    run sl-simulate -n 1 --set theta_e_min=20 --set theta_e_max=5
    assert_status 1
    [ "$output" = "sl-simulate: theta_e_min (20) is greater than theta_e_max (5)" ]
    printf 'width = 10\nlens_prob = 2\n' > bad.conf
    run sl-simulate -n 1 -c bad.conf
    assert_status 1
    assert_output_contains "bad.conf:2"
    run sl-simulate -n 1 -p nosuch
    assert_status 2
    assert_output_contains "nosuch"
    run sl-simulate -n -3
    assert_status 2
}

@test "presets change the survey" {
    sl-simulate -n 1 -p lsst --set width=16 --set height=16 > s.slr
    [ "$(sl-cat --type image s.slr | jq -c '[(.bands | length), .pixel_scale]')" = '[6,0.2]' ]
    run sl-simulate --print-config -p des
    assert_status 0
    assert_output_contains "pixel_scale = 0.263"
}

@test "--render redraws the truth: the same image for the same seed" {
    sl-simulate -s 5 -n 6 $small > a.slr
    sl-simulate -s 5 --render a.slr > r.slr
    cmp <(sl-cat --full --type image a.slr | jq -c .pixels) <(sl-cat --full --type image r.slr | jq -c .pixels)
    [ "$(sl-cat --type image r.slr | jq -r .rendered_from | sort -u)" = truth ]
    # The expectation: rendered without noise equals simulated without noise.
    sl-simulate -s 5 -n 3 --noiseless $small > e.slr
    sl-simulate --render --noiseless < a.slr | sl-cat --full --type image | head -3 | jq -c .pixels > re.json
    cmp re.json <(sl-cat --full --type image e.slr | jq -c .pixels)
}

@test "--render passes other records and keys through" {
    sl-simulate -n 2 $small | sl-simulate --render | sl-simulate --render > rr.slr
    [ "$(sl-cat --count rr.slr)" = "$(printf 'header\t1\nimage\t2\nend\t1')" ]
    [ "$(sl-cat --type header rr.slr | jq -r '[.provenance[].tool] | join(" ")')" = "sl-simulate sl-simulate" ]
    [ "$(sl-cat --type image rr.slr | jq -c '[.id, .truth.n > 0, .zero_point[0] > 20]' | head -1)" = '[0,true,true]' ]
}

@test "--render refuses truncated input and missing catalogs cleanly" {
    sl-simulate -n 3 $small > a.slr
    head -c 5000 a.slr > cut.slr
    run sl-simulate --render -o out.slr cut.slr
    assert_status 1
    assert_output_contains "sl-simulate: cut.slr: record 2: truncated"
    [ ! -e out.slr ]
    [ -z "$(ls | grep tmp)" ]
    run sl-simulate --render --catalog estimate a.slr
    assert_status 1
    [ "$output" = "sl-simulate: a.slr: record 2: key 'estimate.n': missing" ]
    run sl-simulate --render --catalog posterior a.slr
    assert_status 2
    run sl-simulate -n 2 a.slr
    assert_status 2
    [ "${lines[0]}" = "sl-simulate: input files are read only with --render" ]
    run sl-simulate --render -n 2 a.slr
    assert_status 2
    [ "${lines[0]}" = "sl-simulate: --render draws every image record it reads: -n, --first and -j do not apply" ]
}

@test "--bands keeps a subset of a preset's bands with their per-band values" {
    sl-simulate -n 1 -p sdss -b i,r --set width=16 --set height=16 > s.slr
    [ "$(sl-cat --type image s.slr | jq -c '.bands')" = '["i","r"]' ]
    # gain = u g r i z in the preset: r is the third value.
    r_gain=$(sl-simulate -p sdss --print-config | awk '$1 == "gain" {print $5}')
    [ "$(sl-simulate -p sdss -b r --print-config | awk '$1 == "gain" || $1 == "bands" {print $3}' | tr '\n' ' ')" = "r $r_gain " ]
    run sl-simulate -n 1 -p sdss -b y
    assert_status 2
    [ "${lines[0]}" = "sl-simulate: --bands: band 'y' is not among the configured bands (u g r i z)" ]
}

@test "a summary on stderr unless -q; read noise leaves the Poisson draws alone" {
    run --separate-stderr sl-simulate -n 2 $small -o s.slr
    assert_status 0
    [[ "$stderr" =~ ^sl-simulate:\ seed\ 1,\ images\ 0-1:\ 2\ images\ in\ [0-9.]+\ s\ real,\ [0-9.]+\ s\ CPU,\ [0-9.]+\ MB\ peak\ memory$ ]]
    run --separate-stderr sl-simulate -q -n 2 $small -o s.slr
    [ -z "$stderr" ]
    # With read noise the pixels differ from the Poisson draw by a Gaussian of
    # read_noise electrons, not by a different Poisson draw.
    sl-simulate -n 1 $small --set read_noise=0.001 --set add_read_noise=true | sl-cat --full --type image | jq -c '.pixels | map(. * 1 | round)' > rn.json
    sl-simulate -n 1 $small | sl-cat --full --type image | jq -c '.pixels' > plain.json
    cmp rn.json plain.json
}

@test "PSFs from an SDSS psField and from a FITS image" {
    data="$BATS_TEST_DIRNAME/../data"
    run sl-simulate -q -n 1 $small --set psf_model=sdss --set psf_file="$data/psField-002583-2-0136.fit" -o a.slr
    assert_status 0
    [ "$(sl-cat --type image a.slr | jq -r '.psf[0].model')" = sdss ]
    run sl-simulate -q -n 1 $small --set psf_model=pixel --set psf_file="$data/sdss-002583-2-0136-psf-r.fits" -o b.slr
    assert_status 0
    [ "$(sl-cat --type image b.slr | jq -c '[.psf[0].model, .psf[0].size]')" = '["pixel",25]' ]
    # Rendering a record uses the PSF it carries.
    sl-simulate -q -s 1 --render b.slr -o c.slr
    cmp <(sl-cat --full --type image b.slr | jq -c .pixels) <(sl-cat --full --type image c.slr | jq -c .pixels)
    run sl-simulate -n 1 --set psf_model=sdss
    assert_status 1
    [ "$output" = "sl-simulate: key 'psf_model': sdss needs psf_file" ]
    run sl-simulate -n 1 --set psf_model=pixel --set psf_file=nope.fits
    assert_status 1
    assert_output_contains "nope.fits"
}

@test "--compare previews: input, rendering and residual side by side" {
    sl-simulate -q -n 1 -s 3 --set width=40 --set height=30 -o s.slr
    run sl-simulate -q --render --noiseless --png cmp --compare --png-scale 1 s.slr -o r.slr
    assert_status 0
    # The PNG header: width 3 x 40 + 2 gaps of 2 pixels, height 30 (big-endian at bytes 16-23).
    [ "$(od -An -tu1 -j16 -N8 cmp/image-000000.png | tr -s ' ')" = " 0 0 0 124 0 0 0 30" ]
    run sl-simulate --png cmp --compare -n 1
    assert_status 2
    assert_output_contains "sl-simulate: --compare goes with --render and --png"
}

@test "--compare --mark-lenses circles the true lens systems of a reconstruction" {
    sl-simulate -q -n 0 -s 1 --set lens_prob=1 |
        sl-train -q -t lens --steps 2 --width 4 --batch 4 --buffer 8 -o lens.slm
    # Estimates at the true positions, without P(lens): the estimate marks no
    # lens system, the truth several.
    sl-simulate -q -n 1 -s 21 --set lens_prob=1 | sl-encode -q --at truth -m lens.slm > e.slr
    [ "$(sl-cat --full --type image e.slr | jq '([.truth.lens[]] | add > 0) and (.estimate | has("lens") | not)')" = true ]
    for m in plain marked; do
        opt=; [ $m = marked ] && opt=--mark-lenses
        sl-simulate -q --render --catalog estimate --noiseless --compare --png $m $opt -o /dev/null e.slr
    done
    ! cmp -s plain/image-000000.png marked/image-000000.png
}
