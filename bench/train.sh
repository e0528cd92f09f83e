#!/bin/sh
# Network engine throughput on the reference nets of research/cpu-perf-facts.md
# (detect: 1x100x100, batch 32; lens: 1x48x48, batch 64), training and
# inference, against PyTorch (Debian python3-torch) on the same nets, batch and
# threads, in the same run: as shipped, and with tcmalloc preloaded when
# libtcmalloc-minimal4 is installed (its best configuration here).  Also the
# achieved GFLOP/s against this machine's sgemm.  Targets: training >= 1.0x and
# inference >= 1.5x PyTorch.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
for t in 1 2; do
    peak=$(nnbench sgemm $t | awk '{print $3}')
    for net in detect lens; do
        ours=$(nnbench $net $t)
        if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
            shipped=$(/usr/bin/python3 "$here/peers/torch_nets.py" $net $t)
            best=$shipped
            [ -f $tc ] && best=$(LD_PRELOAD=$tc /usr/bin/python3 "$here/peers/torch_nets.py" $net $t)
            echo "$ours $shipped $best $peak" | awk '{
                printf "train: %-6s %d thr: sl %6.1f samples/s vs torch %6.1f (tcmalloc %6.1f): %.2fx (target 1.0); ", $1, $2, $3, $9, $14, $3 / ($14 > $9 ? $14 : $9)
                printf "infer: sl %6.1f vs torch %6.1f (%6.1f): %.2fx (target 1.5); training at %.0f GFLOP/s, sgemm peak %.0f\n", $4, $10, $15, $4 / ($15 > $10 ? $15 : $10), $5, $16 }'
        else
            echo "$ours $peak" | awk '{printf "train: %-6s %d thr: sl %.1f samples/s, infer %.1f; %.0f GFLOP/s (sgemm %.0f); torch skipped\n", $1, $2, $3, $4, $5, $6}'
        fi
    done
done
