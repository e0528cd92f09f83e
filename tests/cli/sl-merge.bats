#!/usr/bin/env bats
# sl-merge: patches' estimates stitched into one catalog per parent image,
# whatever the order of the shards, as records, FITS or CSV; and every kind
# of bad input.
#
# mkpatches cuts 20 x 12 parents into 8 x 8 interiors with a 2-pixel border
# (6 patches each) and lists every source inside each patch's window, so the
# 13 sources of a parent and one outside it that only a border sees (src -1)
# appear 25 times over its patches.

load helpers

catalogs() { sl-cat --full --type catalog "$@"; }

@test "patches merge into one catalog per parent: interiors only, shifted into the parent" {
    mkpatches -N 2 --truth > p.slr
    [ "$(sl-cat --full --type image p.slr | jq -s 'map(.estimate.n) | add')" = 50 ]
    run sl-merge -q p.slr -o m.slr
    assert_status 0
    [ -z "$output" ]
    [ "$(sl-cat --count m.slr)" = "$(printf 'header\t1\ncatalog\t2\nend\t1')" ]
    [ "$(catalogs m.slr | jq -c '[.id, .width, .height, .bands, .pixel_scale, .zero_point]')" = \
      "$(printf '[1,20,12,["u","g"],0.396,[22.5,22.5]]\n[2,20,12,["u","g"],0.396,[22.5,22.5]]')" ]
    # Every source once, none lost; rows in patch order (0: sources 0 1 4 8 10 11, ...).
    [ "$(catalogs m.slr | jq -c '.estimate.src' | head -1)" = '[0,1,4,8,10,11,2,5,6,9,3,7,12]' ]
    [ "$(catalogs m.slr | jq -c '.estimate.x' | head -1)" = \
      '[1.25,6.75,3.25,5.25,7.75,0,12.25,8.75,14.25,8,17.75,19.75,19.875]' ]
    [ "$(catalogs m.slr | jq -c '.estimate.y' | head -1)" = \
      '[0.75,4,1.75,2.75,1,0,7.25,5,8.25,8,10.5,11.5,11.875]' ]
    # Source 9 sits on the corner of four patches (8, 8): kept once, by patch 4.
    # x_q moves with x; L and flux do not move.
    [ "$(catalogs m.slr | jq -c '.estimate | [.x_q[18:20], .L[27:30], .flux[18:20]]' | head -1)" = \
      '[[7.5,8.5],[0,1,2],[11000,11001]]' ]
    [ "$(catalogs m.slr | jq -c '.estimate | [.widths, .units, .per_band]' | head -1)" = \
      '[{"x_q":2,"flux":2,"L":3},{"x":"pixel","y":"pixel","flux":"electron"},["flux"]]' ]
    # The truth goes through the same cut: the same sources, in the same order.
    [ "$(catalogs m.slr | jq -c '[.truth.n, .truth.src == .estimate.src, .truth.x == .estimate.x]' | sort -u)" = \
      '[13,true,true]' ]
    # --key truth merges the truth alone.
    [ "$(sl-merge -q --key truth p.slr | catalogs | jq -c '[has("estimate"), .truth.n, .truth.src]' | head -1)" = \
      '[false,13,[0,1,4,8,10,11,2,5,6,9,3,7,12]]' ]
}

@test "without truth the catalog has none; the summary counts images and sources" {
    mkpatches > p.slr
    run --separate-stderr sl-merge p.slr
    assert_status 0
    [[ "$stderr" == "sl-merge: p.slr: 6 images into 1 catalogs of 13 sources in "* ]]
    [ "$(sl-merge -q p.slr | catalogs | jq -c 'has("truth")')" = false ]
}

@test "shards in any order give the same catalogs, FITS and CSV byte for byte" {
    mkpatches -N 3 > all.slr
    mkpatches -N 3 --first 0 -n 5 > a.slr
    mkpatches -N 3 --first 5 -n 8 > b.slr
    mkpatches -N 3 --first 13 > c.slr
    sl-merge -q all.slr > ref.slr
    sl-merge -q a.slr b.slr c.slr > abc.slr
    sl-merge -q c.slr a.slr b.slr > cab.slr
    cat b.slr c.slr a.slr | sl-merge -q > bca.slr
    [ "$(catalogs ref.slr | wc -l)" -eq 3 ]
    [ "$(catalogs abc.slr)" = "$(catalogs ref.slr)" ]
    [ "$(catalogs cab.slr)" = "$(catalogs ref.slr)" ]
    [ "$(catalogs bca.slr)" = "$(catalogs ref.slr)" ]
    sl-merge -q a.slr b.slr c.slr -o abc.fits
    cat c.slr b.slr a.slr | sl-merge -q -o cba.fits
    cmp abc.fits cba.fits
    sl-merge -q --csv a.slr b.slr c.slr > abc.csv
    sl-merge -q --csv c.slr a.slr b.slr > cab.csv
    cmp abc.csv cab.csv
    # Every shard's header is kept: the first in our header, the later ones in our end.
    [ "$(sl-cat --type header bca.slr | jq -c '[.provenance[].first]')" = '[5]' ]
    [ "$(sl-cat --type end bca.slr | jq -c '[.provenance[].first]')" = '[13,0]' ]
}

@test "merging is idempotent: catalog records pass through unchanged" {
    mkpatches -N 2 --truth > p.slr
    sl-merge -q p.slr > m.slr
    sl-merge -q m.slr > mm.slr
    [ "$(catalogs mm.slr)" = "$(catalogs m.slr)" ]
    [ "$(sl-merge -q --csv m.slr)" = "$(sl-merge -q --csv p.slr)" ]
    # A catalog and the patches of the same image are one image twice.
    run sl-merge m.slr p.slr
    assert_status 1
    [ "${lines[0]}" = "sl-merge: p.slr: record 2: image 1 appears twice (first at m.slr: record 2)" ]
}

@test "whole images keep every row, their own id as the parent" {
    mkpatches -N 2 whole > w.slr
    run sl-merge -q w.slr -o m.slr
    assert_status 0
    [ "$(catalogs m.slr | jq -c '[.id, .estimate.n, (.estimate.src | sort == [range(13)])]')" = \
      "$(printf '[1,13,true]\n[2,13,true]')" ]
    cat w.slr w.slr > ww.slr
    run sl-merge ww.slr
    assert_status 1
    [ "${lines[0]}" = "sl-merge: ww.slr: record 6: image 1 appears twice (first at ww.slr: record 2)" ]
}

@test "FITS output: one row per source, the image id first, units; astropy reads it" {
    mkpatches -N 2 --truth > p.slr
    run sl-merge -q p.slr -o cat.fits
    assert_status 0
    [ ! -e cat.fits.tmp ]
    head -c 11520 cat.fits | fold -w 80 > hdr.txt
    grep -q "^XTENSION= 'BINTABLE'" hdr.txt
    grep -q "^NAXIS2  =                   26 " hdr.txt
    grep -q "^TTYPE1  = 'image   '" hdr.txt
    grep -q "^TTYPE7  = 'flux_u  '" hdr.txt
    grep -q "^TUNIT7  = 'electron'" hdr.txt
    grep -q "^TTYPE5  = 'x_q_0   '" hdr.txt
    grep -q "^EXTNAME = 'ESTIMATE'" hdr.txt
    # --fits writes FITS whatever the name.
    sl-merge -q --fits -o cat.out p.slr
    cmp cat.fits cat.out
    /usr/bin/python3 -c 'import astropy' 2> /dev/null || skip "no astropy"
    run /usr/bin/python3 -c '
import warnings; warnings.simplefilter("ignore")
from astropy.table import Table
t = Table.read("cat.fits", hdu=1); u = Table.read("cat.fits", hdu="TRUTH")
print(len(t), t.colnames[:4], sorted(set(t["image"])), t["x"][9], t["y"][9], t["flux_g"][9], len(u))'
    assert_status 0
    [ "$output" = "26 ['image', 'src', 'x', 'y'] [1, 2] 8.0 8.0 11001.0 26" ]
}

@test "CSV output: a header line and one line per source" {
    mkpatches -N 2 > p.slr
    run sl-merge -q --csv p.slr
    assert_status 0
    [ "${#lines[@]}" -eq 27 ]
    [ "${lines[0]}" = "image,src,x,y,x_q_0,x_q_1,flux_u,flux_g,L_0,L_1,L_2,p" ]
    [ "${lines[10]}" = "1,9,8,8,7.5,8.5,11000,11001,0,1,2,0.5" ]
    [ "${lines[26]}" = "2,12,19.875,11.875,19.375,20.375,14000,14001,0,1,2,0.5" ]
    sl-merge -q -o p.csv p.slr
    [ "$(cat p.csv)" = "$output" ]
}

@test "records of other types pass through as records, and are left out of tables" {
    mkpatches note > n.slr
    [ "$(sl-merge -q n.slr | sl-cat --count)" = "$(printf 'header\t1\nnote\t1\ncatalog\t1\nend\t1')" ]
    run --separate-stderr sl-merge --csv n.slr
    assert_status 0
    [ "${#lines[@]}" -eq 14 ]
    [ "${stderr%%$'\n'*}" = "sl-merge: 1 records that are neither images nor catalogs left out of the table" ]
}

@test "a missing or repeated patch names the parent and the patch" {
    mkpatches -N 2 --first 0 -n 5 > a.slr
    mkpatches -N 2 --first 6 > b.slr
    run sl-merge a.slr b.slr
    assert_status 1
    [ "${lines[-1]}" = "sl-merge: parent 1: patch 5 of 6 is missing (1 of 6 missing in all)" ]
    mkpatches skip > s.slr
    run sl-merge -q -o out.slr s.slr
    assert_status 1
    [ "$output" = "sl-merge: parent 1: patch 1 of 6 is missing (1 of 6 missing in all)" ]
    [ ! -e out.slr ]
    [ -z "$(ls | grep tmp)" ]
    mkpatches dup > d.slr
    run sl-merge -q -o out.fits d.slr
    assert_status 1
    [ "$output" = "sl-merge: d.slr: record 4: parent 1, patch 1 appears twice (first at d.slr: record 3)" ]
    [ ! -e out.fits ]
    # The same patch in two shards.
    mkpatches --first 1 -n 1 > one.slr
    run sl-merge -q --csv a.slr one.slr b.slr
    assert_status 1
    [ "$output" = "sl-merge: one.slr: record 2: parent 1, patch 1 appears twice (first at a.slr: record 3)" ]
    # ... also once the parent was complete.
    mkpatches > full.slr
    run sl-merge -q --csv full.slr one.slr
    assert_status 1
    [ "$output" = "sl-merge: one.slr: record 2: parent 1, patch 1 appears twice (first at full.slr: record 3)" ]
}

@test "bad patches: no estimate, a short column, other bands, no truth, another width" {
    mkpatches --truth no-estimate > a.slr
    run sl-merge -q a.slr
    assert_status 1
    [ "${lines[-1]}" = "sl-merge: a.slr: record 3: key 'estimate': missing" ]
    mkpatches short-column > b.slr
    run sl-merge -q --csv b.slr
    assert_status 1
    [ "$output" = "sl-merge: b.slr: record 3: key 'estimate.flux': expected bin of 12 float32, got 44 bytes" ]
    mkpatches bands > c.slr
    run sl-merge -q --csv c.slr
    assert_status 1
    [ "$output" = "sl-merge: c.slr: record 3: key 'bands': u g r, but the first patch of parent 1 (c.slr: record 2) has u g" ]
    mkpatches --truth truthless > d.slr
    run sl-merge -q --csv d.slr
    assert_status 1
    [ "$output" = "sl-merge: d.slr: record 3: key 'truth': missing, but the first patch of parent 1 (d.slr: record 2) has one" ]
    mkpatches wide-flux > e.slr
    run sl-merge -q --csv e.slr
    assert_status 1
    [ "$output" = "sl-merge: e.slr: record 3: key 'estimate': column 'flux': width 1 does not match the width 2 of the rows before" ]
    run sl-merge -q --key posterior --csv e.slr
    assert_status 1
    [ "$output" = "sl-merge: e.slr: record 2: key 'posterior': missing" ]
}

@test "images without an estimate, and a truncated stream, fail whole" {
    mkstream -n 1 > s.slr
    run sl-merge -q --csv s.slr
    assert_status 1
    [ "$output" = "sl-merge: s.slr: record 2: key 'estimate': missing" ]
    mkpatches > p.slr
    head -c $(( $(stat -c %s p.slr) - 5 )) p.slr > cut.slr
    run sl-merge -q -o out.csv cut.slr
    assert_status 1
    assert_output_contains "sl-merge: cut.slr: record 8: truncated"
    [ ! -e out.csv ]
    [ -z "$(ls | grep tmp)" ]
}

@test "usage errors exit 2" {
    run sl-merge --fits x.slr
    assert_status 2
    [ "${lines[0]}" = "sl-merge: --fits needs -o FILE: a FITS file is not written to a pipe" ]
    run sl-merge --fits --csv -o x.fits x.slr
    assert_status 2
    [ "${lines[0]}" = "sl-merge: --fits and --csv exclude each other" ]
    run sl-merge --key a.b x.slr
    assert_status 2
    [ "${lines[0]}" = "sl-merge: option -k/--key: 'a.b' is not a key name" ]
    run sl-merge --bogus
    assert_status 2
    run sl-merge --help
    assert_status 0
    assert_output_contains "Usage: sl-merge"
    run sl-merge nope.slr
    assert_status 1
    [ "$output" = "sl-merge: nope.slr: cannot open: No such file or directory" ]
}
