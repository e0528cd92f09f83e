sl-simulate -q -p sdss -b r -n 12000 -s 100 -o train.slr
sl-simulate -q -p sdss -b r -n 300 -s 201 -o val.slr
sl-train -t classify -s 102 --steps 1500 --epochs 100  --val val.slr --checkpoint-every 250 -o classify.slm train.slr
