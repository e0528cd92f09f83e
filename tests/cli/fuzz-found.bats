#!/usr/bin/env bats
# What the fuzzing harnesses (tests/fuzz) and the failure-injection build
# (tests/faults) found beyond tests/data/hostile, each with its fix, as tests
# that need neither clang nor the fault build.  Under `make check SANITIZE=1`
# a sanitizer report fails them.

load helpers

# A tiny detect model and the estimates it makes on two 16 x 16 images.
estimates() {
    sl-simulate -q -n 4 -s 2 --set width=16 --set height=16 -o train.slr
    sl-train -q --task detect --steps 2 --batch 2 --width 4 --tile 2 --border 2 \
        --patch-tiles 2 --buffer 8 --checkpoint-every 0 -o m.slm train.slr
    sl-simulate -q -n 2 -s 1 --set width=16 --set height=16 -o sim.slr
    sl-encode -q -m m.slm --threshold 0.2 -o est.slr sim.slr
}

@test "sl-calibrate: a parameter with no true value (no star matched) is reported, not memcpy'd from NULL" {
    estimates
    run sl-calibrate -q --json r.json est.slr
    assert_status 0
    [ "$(jq '.continuous[] | select(.name == "star_flux_r") | .n' r.json)" = 0 ]
}

@test "sl-calibrate: the JSON file appears only once the table is written" {
    estimates
    # Standard output full: the table cannot be written, so neither may the file be.
    run bash -c 'sl-calibrate -q --json r.json est.slr > /dev/full'
    assert_status 1
    assert_output_contains "sl-calibrate: standard output: write error"
    [ ! -e r.json ]
    [ -z "$(ls | grep '\.tmp\.')" ]
}
