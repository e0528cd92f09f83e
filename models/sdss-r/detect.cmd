sl-simulate -q -p sdss -b r -n 12000 -s 100 -o train.slr
sl-simulate -q -p sdss -b r -n 300 -s 201 -o val.slr
sl-train -t detect -s 101 --steps 3000 --epochs 100  --val val.slr --checkpoint-every 250 -o detect.slm train.slr
