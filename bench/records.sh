#!/bin/sh
# Record read+write throughput: sl-cat --raw over a 1 GB stream of 100 x 100
# image records, as a ratio to cat(1) on the same file in the same run (both
# from the page cache, best of three).  Target: at least 0.5.
set -eu
dir=$(mktemp -d "${TMPDIR:-/tmp}/sl-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
f="$dir/images.slr"
mkstream -n 25000 -w 100 -H 100 > "$f"
bytes=$(stat -c %s "$f")

best() { # best wall time of three runs of "$@", in seconds
    b=
    for i in 1 2 3; do
        t0=$(date +%s.%N)
        "$@"
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{t = $2 - $1; print (t < $3 ? t : $3)}')
    done
    echo "$b"
}
cat "$f" > /dev/null # warm the page cache
t_cat=$(best sh -c "cat '$f' > /dev/null")
t_sl=$(best sh -c "sl-cat --raw '$f' > /dev/null")
t_pipe_cat=$(best sh -c "cat '$f' | cat > /dev/null")
t_pipe_sl=$(best sh -c "sl-cat --raw '$f' | cat > /dev/null")
awk -v b="$bytes" -v c="$t_cat" -v s="$t_sl" -v pc="$t_pipe_cat" -v ps="$t_pipe_sl" 'BEGIN {
    printf "records: %.2f GB of image records\n", b / 1e9
    printf "records: to a file: cat %.0f MB/s, sl-cat --raw %.0f MB/s, ratio %.2f (target >= 0.5)\n", b / c / 1e6, b / s / 1e6, c / s
    printf "records: into a pipe: cat %.0f MB/s, sl-cat --raw %.0f MB/s, ratio %.2f\n", b / pc / 1e6, b / ps / 1e6, pc / ps
}'
