sl-simulate -q -p sdss -b r -n 24000 -s 100 -o train.slr
sl-simulate -q -p sdss -b r -n 300 -s 201 -o val.slr
sl-train -t lens -s 105 --steps 9000 --epochs 100 --augment --val val.slr --checkpoint-every 250 -o lens.slm train.slr
