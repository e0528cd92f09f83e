sl-simulate -q -p sdss -b r -n 24000 -s 100 -o train.slr
sl-simulate -q -p sdss -b r -n 300 -s 201 -o val.slr
sl-train -t lens-detect -s 104 --steps 5500 --epochs 100 --width 16 --lr 2e-3 --augment --val val.slr --checkpoint-every 250 -o lens-detect.slm train.slr
