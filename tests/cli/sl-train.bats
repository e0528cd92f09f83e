#!/usr/bin/env bats
# sl-train: a tiny deterministic training run, thread-count independence,
# --resume equivalence, and bad input (NaN pixels, no truth, corrupted models).

load helpers

tiny="--width 4 --batch 8 --buffer 64 --warmup 0 --lr 3e-3"
det="--task detect --tile 4 --border 4 --patch-tiles 2 $tiny"
sim="--set width=32 --set height=32 --set density=300"

# The model record without its header: what must not depend on -j or resumes.
model_json() { sl-cat --full --type model "$1" | jq -c 'del(.history)'; }

@test "a tiny detect run learns: the held-out loss falls well below its start" {
    sl-simulate -q -n 40 -s 1 $sim -o train.slr
    sl-simulate -q -n 10 -s 2 $sim -o val.slr
    run sl-train -q $det --lr 1e-2 --epochs 3 --steps 200 --val val.slr --val-every 20 -o m.slm train.slr
    assert_status 0
    [ "$(sl-cat --type model m.slm | jq -r '.task')" = detect ]
    # history.val_loss[0] is the untrained network's, at step 0.
    first=$(sl-cat --full --type model m.slm | jq '.history.val_loss[0]')
    best=$(sl-cat --full --type model m.slm | jq '.best_val_loss')
    echo "validation loss $first -> $best" >&2
    awk -v a="$first" -v b="$best" 'BEGIN { exit !(b < 0.5 * a) }'
    # The prior the data came from travels with the model.
    [ "$(sl-cat --type model m.slm | jq -r '.prior.density')" = 300 ]
}

@test "the model is byte-identical for -j 1 and -j 2" {
    sl-simulate -q -n 20 -s 2 $sim -o train.slr
    sl-train -q $det --steps 12 -j 1 -o a.slm train.slr
    sl-train -q $det --steps 12 -j 2 -o b.slm train.slr
    cmp <(model_json a.slm) <(model_json b.slm)
    sl-train -q $det --steps 12 -j 1 -s 5 -o c.slm train.slr
    ! cmp -s <(model_json a.slm) <(model_json c.slm)
}

@test "--resume continues a stopped run to the same model" {
    sl-simulate -q -n 30 -s 3 $sim -o train.slr
    sl-simulate -q -n 5 -s 4 $sim -o val.slr
    common="-q --task classify --cutout 16 $tiny --val val.slr --val-every 5 --checkpoint-every 10"
    sl-train $common --steps 20 -o full.slm train.slr
    # A run stopped after step 13 (its last checkpoint at step 10), then resumed.
    sl-train $common --steps 20 --stop-after 13 -o part.slm train.slr
    [ -f part.slm.ckpt ] && [ ! -e part.slm ]
    run sl-train $common --steps 20 --resume -o part.slm train.slr
    assert_status 0
    cmp <(sl-cat --full --type model full.slm | jq -c 'del(.history)') <(sl-cat --full --type model part.slm | jq -c 'del(.history)')
    cmp <(sl-cat --full --type model full.slm | jq -c .history) <(sl-cat --full --type model part.slm | jq -c .history)
}

@test "all five tasks train on a lens-rich stream" {
    sl-simulate -q -n 12 -s 6 --set width=48 --set height=48 --set density=200 --set lens_prob=0.8 -o train.slr
    for task in classify galaxy lens-detect lens; do
        run sl-train -q --task $task --cutout 24 $tiny --steps 3 -o $task.slm train.slr
        assert_status 0
        [ "$(sl-cat --type model $task.slm | jq -r .task)" = $task ]
    done
    [ "$(sl-cat --type model lens.slm | jq -r '.factors[0].family')" = "mvn(log,logit(-1,1),logit(-1,1),identity,identity)" ]
}

@test "images without truth, or with NaN pixels, are refused with the record named" {
    mkstream -n 2 > notruth.slr
    # mkstream's plain truth lacks the columns a catalog needs (y, galaxy).
    run sl-train -q $det --steps 2 -o m.slm notruth.slr
    assert_status 1
    [ "$output" = "sl-train: notruth.slr: record 2: key 'truth.y': missing" ]
    mkstream -n 3 nan-pixel > nan.slr
    run sl-train -q $det --steps 20 -o m.slm nan.slr
    assert_status 1
    [ "$output" = "sl-train: nan.slr: record 3: image 2: band u: pixel (5, 0) is NaN: training needs every pixel" ]
    [ ! -e m.slm ]
}

@test "corrupted or mismatched checkpoints are refused with the key named" {
    sl-simulate -q -n 8 -s 3 $sim -o train.slr
    sl-train -q $det --steps 4 --checkpoint-every 2 --stop-after 2 -o m.slm train.slr
    # The weights cut short.
    sl-cat --raw m.slm.ckpt > /dev/null
    size=$(stat -c %s m.slm.ckpt)
    head -c $((size - 40)) m.slm.ckpt > cut.ckpt
    cp cut.ckpt m.slm.ckpt
    run sl-train -q $det --steps 4 --resume -o m.slm train.slr
    assert_status 1
    assert_output_contains "truncated"
    # Another architecture.
    sl-train -q $det --steps 4 --checkpoint-every 2 --stop-after 2 -o m.slm train.slr
    run sl-train -q $det --width 8 --steps 4 --resume -o m.slm train.slr
    assert_status 1
    [ "$output" = "sl-train: m.slm.ckpt: the checkpoint is for another task or network than these options make" ]
}

@test "usage errors: no task, unknown task, no output" {
    run sl-train -o m.slm x.slr
    assert_status 2
    [ "${lines[0]}" = "sl-train: --task is required (detect, classify, galaxy, lens-detect, lens)" ]
    run sl-train --task find -o m.slm x.slr
    assert_status 2
    run sl-train --task detect x.slr
    assert_status 2
    [ "${lines[0]}" = "sl-train: -o MODEL is required: a model file (and MODEL.ckpt checkpoints)" ]
}

@test "resuming a finished run writes its model; --val need not be repeated" {
    sl-simulate -q -n 20 -s 3 $sim -o train.slr
    sl-simulate -q -n 4 -s 4 $sim -o val.slr
    sl-train -q $det --steps 8 --checkpoint-every 4 --val val.slr --val-every 4 --stop-after 4 -o m.slm train.slr
    run sl-train -q $det --steps 8 --checkpoint-every 4 --resume -o m.slm train.slr
    assert_status 0
    [ "$(sl-cat --type model m.slm | jq -c '[.steps, .best_step]')" = '[8,4]' ]
    run sl-train -q $det --steps 8 --resume -o m.slm train.slr
    assert_status 0
}

@test "images unlike the first (bands, pixel scale) are refused" {
    sl-simulate -q -n 3 $sim -o a.slr
    sl-simulate -q -n 3 $sim --set pixel_scale=0.2 -o b.slr
    run sl-train -q $det --steps 50 -o m.slm a.slr b.slr
    assert_status 1
    [ "$output" = "sl-train: b.slr: record 2: bands or pixel scale (1 bands, 0.2\"/pixel) differ from the first image's (1 bands starting r, 0.396\"/pixel): one model is for one kind of image" ]
}

@test "--augment mirrors images: -j independent, resumable, not the plain run; pixel PSFs refused" {
    sl-simulate -q -n 20 -s 2 $sim -o train.slr
    sl-train -q $det --steps 12 -j 1 --augment -o a.slm train.slr
    sl-train -q $det --steps 12 -j 2 --augment -o b.slm train.slr
    cmp <(model_json a.slm) <(model_json b.slm)
    sl-train -q $det --steps 12 -o plain.slm train.slr
    ! cmp -s <(model_json a.slm) <(model_json plain.slm)
    sl-train -q $det --steps 12 --augment --checkpoint-every 5 --stop-after 7 -o c.slm train.slr
    sl-train -q $det --steps 12 --augment --checkpoint-every 5 --resume -o c.slm train.slr
    cmp <(model_json a.slm) <(model_json c.slm)
    data="$BATS_TEST_DIRNAME/../data"
    sl-simulate -q -n 2 $sim --set psf_model=pixel --set psf_file="$data/sdss-002583-2-0136-psf-r.fits" -o pix.slr
    run sl-train -q $det --steps 2 --augment -o p.slm pix.slr
    assert_status 1
    [ "$output" = "sl-train: pix.slr: record 2: key 'psf[0]': a pixel PSF image is not known to be mirror symmetric: train without --augment" ]
}

@test "an output directory that cannot be written is refused before training" {
    sl-simulate -q -n 2 -s 2 $sim -o train.slr
    run sl-train -q $det --steps 2 -o /nonexistent/m.slm train.slr
    assert_status 1
    [ "$output" = "sl-train: /nonexistent/m.slm: cannot write: No such file or directory" ]
}
