#!/usr/bin/env bats
# sl-cat: JSON view, counting, checking and raw passthrough of record streams,
# on good streams and on every kind of broken one.

load helpers

@test "prints one JSON line per record, framing included, that jq reads" {
    mkstream -n 3 > s.slr
    run sl-cat s.slr
    assert_status 0
    [ "${#lines[@]}" -eq 5 ]
    [ "$(sl-cat s.slr | jq -r .type | tr '\n' ' ')" = "header image image image end " ]
    [ "$(sl-cat --type image s.slr | jq -c '[.id, .width, .bands, .pixel_scale]' | head -1)" = '[1,40,["u"],0.396]' ]
}

@test "bins are summarized, and printed whole with --full" {
    mkstream -n 1 -w 4 -H 2 > s.slr
    run sl-cat --type image s.slr
    assert_status 0
    [ "$(echo "$output" | jq -c '.pixels | [.bin, .n, .nan]')" = '["float32",8,0]' ]
    [ "$(echo "$output" | jq '.truth.flux.max')" = 25000.5 ]
    run sl-cat --full --type image s.slr
    [ "$(echo "$output" | jq '.pixels | length')" = 8 ]
    [ "$(echo "$output" | jq -c '.truth.x')" = '[1.5,1.75]' ]
}

@test "counts records by type across concatenated streams" {
    mkstream -n 3 > a.slr
    mkstream -n 2 > b.slr
    cat a.slr b.slr > ab.slr
    run sl-cat --count ab.slr
    assert_status 0
    [ "$output" = "$(printf 'header\t2\nimage\t5\nend\t2')" ]
    run sl-cat --count a.slr b.slr
    [ "$output" = "$(printf 'header\t2\nimage\t5\nend\t2')" ]
}

@test "reads standard input and '-'" {
    mkstream -n 2 > s.slr
    [ "$(sl-cat --count < s.slr | grep image)" = "$(printf 'image\t2')" ]
    [ "$(cat s.slr | sl-cat --count - | grep image)" = "$(printf 'image\t2')" ]
}

@test "--raw makes a valid stream with the same records and the inputs' provenance" {
    mkstream -n 3 > a.slr
    mkstream -n 2 > b.slr
    cat a.slr b.slr | sl-cat --raw > r.slr
    run sl-cat --check r.slr
    assert_status 0
    [ "$(sl-cat --type image r.slr)" = "$(sl-cat --type image a.slr b.slr)" ]
    run sl-cat --type header r.slr
    [ "$(echo "$output" | jq -r '.tool, .provenance[0].tool, (.argv | join(" "))')" = "$(printf 'sl-cat\nmkstream\nsl-cat --raw')" ]
    # The second input segment began after our header: it is named in the end record.
    [ "$(sl-cat --type end r.slr | jq -c '[.records, .provenance[0].tool]')" = '[5,"mkstream"]' ]
}

@test "--raw --type keeps only that type, and pipes into itself" {
    mkstream -n 4 > s.slr
    run bash -c 'sl-cat --raw --type image s.slr | sl-cat --raw | sl-cat --count'
    assert_status 0
    [ "$output" = "$(printf 'header\t1\nimage\t4\nend\t1')" ]
    run bash -c 'sl-cat --raw --type catalog s.slr | sl-cat --count'
    [ "$output" = "$(printf 'header\t1\nend\t1')" ]
}

@test "-o writes the file only when complete" {
    mkstream -n 2 > s.slr
    run sl-cat --raw -o out.slr s.slr
    assert_status 0
    [ -z "$output" ]
    run sl-cat --check out.slr
    assert_status 0
    head -c 300 s.slr > cut.slr
    run sl-cat --raw -o bad.slr cut.slr
    assert_status 1
    [ ! -e bad.slr ]
    [ -z "$(ls | grep tmp)" ]
    run sl-cat -o bad.json cut.slr
    assert_status 1
    [ ! -e bad.json ]
    [ -z "$(ls | grep tmp)" ]
}

@test "an unwritable -o is an error that names the file" {
    mkstream -n 1 > s.slr
    run sl-cat --raw -o /nonexistent/dir/out.slr s.slr
    assert_status 1
    [ "$output" = "sl-cat: /nonexistent/dir/out.slr: cannot write: No such file or directory" ]
    run sl-cat -o /proc/version s.slr
    assert_status 1
    assert_output_contains "sl-cat: /proc/version: cannot write"
}

@test "a full disk is a write error, not a short file" {
    [ -w /dev/full ] || skip "no /dev/full"
    mkstream -n 20 > s.slr
    run sl-cat --raw s.slr > /dev/full
    run bash -c 'sl-cat --raw s.slr > /dev/full'
    assert_status 1
    assert_output_contains "write error: No space left on device"
    run bash -c 'sl-cat s.slr > /dev/full'
    assert_status 1
    assert_output_contains "standard output: write error: No space left on device"
}

@test "-o naming a device writes to it in place, never replacing it" {
    mkstream -n 2 > s.slr
    run sl-cat --raw -o /dev/null s.slr
    assert_status 0
    [ -c /dev/null ]
    [ -w /dev/full ] || skip "no /dev/full"
    run sl-cat --raw -o /dev/full s.slr
    assert_status 1
    [ "$output" = "sl-cat: /dev/full: write error: No space left on device" ]
    [ -c /dev/full ]
}

@test "a closed pipe ends sl-cat quietly" {
    mkstream -n 400 > big.slr
    run bash -c 'set -o pipefail; sl-cat --full big.slr | head -c 100 > /dev/null'
    assert_status 0
    [ -z "$output" ]
    run bash -c 'set -o pipefail; sl-cat --raw big.slr | head -c 100 > /dev/null'
    assert_status 0
    [ -z "$output" ]
}

@test "--check accepts good streams and is silent" {
    mkstream -n 3 > a.slr
    cat a.slr a.slr > aa.slr
    run sl-cat --check a.slr aa.slr
    assert_status 0
    [ -z "$output" ]
}

@test "empty input is an error" {
    : > empty.slr
    run sl-cat empty.slr
    assert_status 1
    [ "$output" = "sl-cat: empty.slr: empty input: no header record" ]
    run sl-cat --check < /dev/null
    assert_status 1
    [ "$output" = "sl-cat: -: empty input: no header record" ]
}

@test "a stream cut at every byte offset is reported truncated, never crashes" {
    mkstream -n 2 -w 3 -H 2 > s.slr
    size=$(stat -c %s s.slr)
    [ "$size" -gt 200 ]
    for ((k = 1; k < size; k++)); do
        head -c "$k" s.slr > cut.slr
        run sl-cat --check cut.slr
        if [ "$status" -ne 1 ]; then echo "offset $k: status $status: $output" >&2; return 1; fi
        case "$output" in
        *truncated*) ;;
        *) echo "offset $k: $output" >&2; return 1 ;;
        esac
    done
    run sl-cat --check s.slr
    assert_status 0
}

@test "a cut stream still reports the records before the cut" {
    mkstream -n 3 -w 3 -H 2 > s.slr
    head -c $(( $(stat -c %s s.slr) - 5 )) s.slr > cut.slr
    run --separate-stderr sl-cat cut.slr
    assert_status 1
    [ "${#lines[@]}" -eq 4 ]
    [ "$stderr" = "sl-cat: cut.slr: record 5: truncated: the stream ends inside a record (14 bytes of it present)" ]
}

@test "a segment without its end record is truncated" {
    mkstream -n 2 no-end > s.slr
    run sl-cat --check s.slr
    assert_status 1
    [ "$output" = "sl-cat: s.slr: truncated: the segment begun by the header at record 1 has no end record" ]
    mkstream -n 1 > good.slr
    cat s.slr good.slr > mid.slr
    run sl-cat --check mid.slr
    assert_status 1
    [ "$output" = "sl-cat: mid.slr: record 4: truncated: the segment begun by the header at record 1 has no end record before a new header" ]
}

@test "a wrong type for a key names the file, record and key" {
    mkstream -n 3 wrong-type > s.slr
    run sl-cat --check s.slr
    assert_status 1
    [ "$output" = "sl-cat: s.slr: record 3: key 'width': expected integer, got string" ]
}

@test "a pixels bin of the wrong size is refused with both sizes" {
    mkstream -n 3 short-pixels > s.slr
    run sl-cat --check s.slr
    assert_status 1
    [ "$output" = "sl-cat: s.slr: record 3: key 'pixels': expected bin of 1600 float32, got 17 bytes" ]
}

@test "a bin declaring more bytes than a record may hold is refused, without a huge allocation" {
    mkstream huge-bin > s.slr
    # A 4 GiB buffer would not fit under this limit (AddressSanitizer needs its
    # own huge reservation, so the limit is left out under SANITIZE=1).
    limit="ulimit -v 500000;"
    [ "${SL_SANITIZE:-}" != 1 ] || limit=
    run bash -c "$limit sl-cat --check s.slr"
    assert_status 1
    assert_output_contains "sl-cat: s.slr: record 2: a bin at byte "
    assert_output_contains " declares 4294967280 bytes: more than a record of at most 2147483648 bytes can hold"
    # The same from a pipe: refused when its header arrives, not at the end.
    run bash -c "$limit cat s.slr | sl-cat --check"
    assert_status 1
    assert_output_contains "sl-cat: -: record 2: a bin at byte "
}

@test "a map nested 10,000 deep is refused cleanly" {
    mkstream deep > s.slr
    run sl-cat s.slr
    assert_status 1
    assert_output_contains "sl-cat: s.slr: record 2: nested deeper than msgpack-c's limit of 32 levels"
}

@test "framing errors: no header, bad count, not a map, newer format" {
    mkstream -n 1 no-header > a.slr
    run sl-cat --check a.slr
    assert_status 1
    [ "$output" = "sl-cat: a.slr: record 1: a record of type 'image' outside a segment (expected a header)" ]
    mkstream -n 2 bad-count > b.slr
    run sl-cat --check b.slr
    assert_status 1
    [ "$output" = "sl-cat: b.slr: record 4: key 'records': the end record counts 3 records but the segment holds 2" ]
    mkstream not-map > c.slr
    run sl-cat --check c.slr
    assert_status 1
    [ "$output" = "sl-cat: c.slr: record 1: expected a map, got array" ]
    mkstream future > d.slr
    run sl-cat --check d.slr
    assert_status 1
    [ "$output" = "sl-cat: d.slr: record 1: key 'format_version': version 99 is newer than this tool reads (1)" ]
    printf 'hello world\n' > e.slr
    run sl-cat --check e.slr
    assert_status 1
    [ "$output" = "sl-cat: e.slr: record 1: this is text, not a record stream" ]
    printf '\x07\x01' > f.slr
    run sl-cat --check f.slr
    assert_status 1
    [ "$output" = "sl-cat: f.slr: record 1: expected a map, got integer" ]
}

@test "--check reports each bad file, -q silences it, status 1" {
    mkstream -n 1 > good.slr
    mkstream -n 1 no-end > bad.slr
    run sl-cat --check good.slr bad.slr missing.slr
    assert_status 1
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[1]}" = "sl-cat: missing.slr: cannot open: No such file or directory" ]
    run sl-cat -q --check good.slr bad.slr
    assert_status 1
    [ -z "$output" ]
}

@test "no input on a terminal prints the usage instead of waiting" {
    command -v script > /dev/null || skip "no script(1) to make a terminal"
    run script -qec "sl-cat" /dev/null < /dev/null
    assert_status 2
    assert_output_contains "Usage: sl-cat"
    run script -qec "sl-simulate --render" /dev/null < /dev/null
    assert_status 2
    assert_output_contains "Usage: sl-simulate"
}

@test "usage errors exit 2; --help and --version exit 0" {
    run sl-cat --bogus
    assert_status 2
    [ "${lines[0]}" = "sl-cat: unknown or incomplete option '--bogus'" ]
    run sl-cat --raw --type header x.slr
    assert_status 2
    run sl-cat -j zero x.slr
    assert_status 2
    [ "${lines[0]}" = "sl-cat: option -j/--threads: 'zero' is not an integer" ]
    run sl-cat --help
    assert_status 0
    assert_output_contains "Usage: sl-cat"
    run sl-cat --version
    assert_status 0
    [ "$output" = "sl-cat 0.1.0" ]
    run sl-cat nope.slr
    assert_status 1
    [ "$output" = "sl-cat: nope.slr: cannot open: No such file or directory" ]
    run sl-cat .
    assert_status 1
    [ "$output" = "sl-cat: .: is a directory" ]
}
