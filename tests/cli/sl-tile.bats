#!/usr/bin/env bats
# sl-tile: patch interiors partition the image (sizes on and off the grid),
# catalogs follow their sources, shards, cut-outs, FITS and SDSS input, and
# bad input.

load helpers

crop="$BATS_TEST_DIRNAME/../data/sdss-crop-r-002583-2-0136.fits"
photo="$BATS_TEST_DIRNAME/../data/photoField-002583-2-crop.fits"
psfield="$BATS_TEST_DIRNAME/../data/psField-002583-2-0136.fit"

# True when the interiors of the patches on stdin, clipped to their parent,
# cover every parent pixel exactly once with the parent's value (band 0).
partition_ok() {
    jq -n --slurpfile par "$1" '
      [inputs | select(.type == "image")] as $ps
      | $ps[0].parent_width as $W | $ps[0].parent_height as $H
      | [ $ps[] as $p
          | range($p.border; $p.height - $p.border) as $j
          | range($p.border; $p.width - $p.border) as $i
          | ($p.x0 + $i) as $x | ($p.y0 + $j) as $y
          | select($x < $W and $y < $H)
          | {k: ($y * $W + $x), v: $p.pixels[$j * $p.width + $i]} ]
      | length == $W * $H and (map(.k) | unique | length) == $W * $H
        and all(.[]; .v == $par[0][.k])'
}

@test "patch interiors partition the image, on and off the tile grid" {
    for size in "96 64 32 8" "100 100 32 8" "37 129 16 5" "20 20 64 0"; do
        set -- $size
        sl-simulate -q -n 1 -s 4 --set width=$1 --set height=$2 -o img.slr
        sl-cat --full --type image img.slr | jq -c '.pixels' > parent.json
        run sl-tile -q --patch $3 --border $4 img.slr -o p.slr
        assert_status 0
        [ "$(sl-cat --full p.slr | partition_ok parent.json)" = true ]
        # Every patch says where it is and how many siblings it has.
        n=$(sl-cat --count --type image p.slr | cut -f2)
        [ "$(sl-cat --type image p.slr | jq -s "map(.patches == $n) | all")" = true ]
    done
}

@test "each source's truth goes with the patch whose interior holds it" {
    sl-simulate -q -n 2 -s 5 --set density=2000 -o img.slr
    sl-tile -q --patch 32 --border 8 img.slr -o p.slr
    total=$(sl-cat --type image img.slr | jq -s 'map(.truth.n) | add')
    # In patch pixels, inside the interior [border, width - border).
    inside=$(sl-cat --full --type image p.slr | jq -s '
        [.[] as $p | range($p.truth.n) as $k
         | select($p.truth.x[$k] >= $p.border and $p.truth.x[$k] < $p.width - $p.border
                  and $p.truth.y[$k] >= $p.border and $p.truth.y[$k] < $p.height - $p.border)]
        | length')
    [ "$total" -gt 20 ]
    [ "$inside" = "$total" ]
    # Positions move with the patch: parent x = patch x + x0 (to float32 rounding).
    a=$(sl-cat --full --type image img.slr | jq -s -c '[.[0].truth.x[] * 100 | round] | sort')
    b=$(sl-cat --full --type image p.slr | jq -s -c '[.[] | select(.parent == 0) | . as $p
        | range($p.truth.n) as $k | select($p.truth.x[$k] >= $p.border and $p.truth.x[$k] < $p.width - $p.border
                  and $p.truth.y[$k] >= $p.border and $p.truth.y[$k] < $p.height - $p.border)
        | ($p.truth.x[$k] + $p.x0) * 100 | round] | sort')
    [ "$a" = "$b" ]
}

@test "shards of patches (--first, -n) add up to the whole" {
    sl-simulate -q -n 1 -s 6 -o img.slr
    sl-tile -q --patch 32 img.slr -o all.slr
    for k in 0 5 10 15; do sl-tile -q --patch 32 --first $k -n 5 img.slr; done | sl-cat --type image > shards.json
    sl-cat --type image all.slr > all.json
    cmp all.json shards.json
    [ "$(wc -l < all.json)" -eq 16 ]
}

@test "--shard K/N: N jobs cut every patch once, whatever the image's size" {
    for size in "128 128" "150 90" "20 20"; do
        set -- $size
        sl-simulate -q -n 2 -s 6 --set width=$1 --set height=$2 -o img.slr
        sl-tile -q --patch 32 img.slr | sl-cat --type image > all.json
        for n in 1 3 7 40; do
            for k in $(seq $n); do sl-tile -q --patch 32 --shard $k/$n img.slr; done |
                sl-cat --type image | jq -c . > shards.json
            # Image by image, the shards' patches in order are the whole's.
            cmp <(jq -c . all.json | sort) <(sort shards.json)
        done
    done
    run sl-tile --shard 0/3 img.slr
    assert_status 2
    run sl-tile --shard 2 img.slr
    assert_status 2
    assert_output_contains "is not K/N"
    run sl-tile --shard 1/2 --first 3 img.slr
    assert_status 2
}

@test "-m takes the border and grid from the models" {
    sl-simulate -q -n 4 -s 7 -o img.slr
    sl-train -q -t detect --steps 1 --width 4 --batch 4 --tile 4 --border 12 --patch-tiles 4 -o d.slm img.slr
    sl-train -q -t classify --steps 1 --width 4 --batch 4 --cutout 40 -o c.slm img.slr
    run sl-tile -q -m d.slm -m c.slm --patch 48 img.slr -o p.slr
    assert_status 0
    [ "$(sl-cat --type image p.slr | jq -s 'map(.border) | unique')" = "$(printf '[\n  20\n]')" ]
    run sl-tile -q -m d.slm --patch 40 img.slr
    assert_status 2
    assert_output_contains "sl-tile: --patch 40: the models need a multiple of 16 pixels"
}

@test "--cutout centres a stamp on each source" {
    sl-simulate -q -n 1 -s 8 -o img.slr
    run sl-tile -q --cutout 15 img.slr -o c.slr
    assert_status 0
    n=$(sl-cat --type image img.slr | jq '.truth.n')
    [ "$(sl-cat --count --type image c.slr | cut -f2)" = "$n" ]
    # The source sits in the stamp's pixel (7, 7).
    [ "$(sl-cat --full --type image c.slr | jq -s '
        map(. as $c | [range($c.truth.n)] | map(select(($c.truth.x[.] | floor) == 7
                                                      and ($c.truth.y[.] | floor) == 7)) | length >= 1)
        | all')" = true ]
}

@test "an SDSS frame is calibrated to electrons, with its PSF and zero point" {
    run sl-tile -q --photofield "$photo" --psfield "$psfield" --patch 128 "$crop" -o p.slr
    assert_status 0
    rec=$(sl-cat --type image p.slr | head -1)
    [ "$(echo "$rec" | jq -r '.bands[0]')" = r ]
    [ "$(echo "$rec" | jq -r '.psf[0].model')" = sdss ]
    [ "$(echo "$rec" | jq '.pixel_scale * 1000 | round')" = 396 ]
    [ "$(echo "$rec" | jq '.background_map.min > 100')" = true ]
    [ "$(sl-cat --count --type image p.slr | cut -f2)" = 4 ]
}

@test "FITS errors: not an image, a missing HDU, a truncated file, no gain" {
    run sl-tile -q --gain 4 "$photo[1]"
    assert_status 1
    assert_output_contains "sl-tile: "
    assert_output_contains "not an image"
    run sl-tile -q --gain 4 "$crop[9]"
    assert_status 1
    assert_output_contains "sl-tile: $crop[9]"
    head -c 20000 "$crop" > cut.fits
    run sl-tile -q --gain 4 cut.fits -o out.slr
    assert_status 1
    assert_output_contains "sl-tile: cut.fits"
    [ ! -e out.slr ]
    run sl-tile -q "$crop[0]" -o out.slr
    assert_status 1
    [ ! -e out.slr ]
}

@test "usage errors: FITS mixed with streams, bad options" {
    sl-simulate -q -n 1 -o img.slr
    run sl-tile img.slr "$crop"
    assert_status 2
    assert_output_contains "sl-tile: FITS files and record streams cannot be mixed"
    run sl-tile --catalog best img.slr
    assert_status 2
    assert_output_contains "sl-tile: --catalog best: truth or estimate"
    run sl-tile --patch 0 img.slr
    assert_status 2
}

@test "a truncated record stream is an error and leaves no output" {
    sl-simulate -q -n 2 -o img.slr
    head -c 30000 img.slr > cut.slr
    run sl-tile -q cut.slr -o out.slr
    assert_status 1
    assert_output_contains "sl-tile: cut.slr"
    [ ! -e out.slr ]
}
