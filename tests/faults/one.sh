#!/bin/bash
# one.sh TOOL OUT FUNC K: one failure-injection run for faults.bats, in a
# directory of its own (so that runs may go in parallel) beside the inputs.
# The command is in ./cmd (bash words, as printf %q writes them).  Prints a
# line "TOOL FUNC:K: why: message" when the run misbehaved, nothing otherwise.
tool=$1 out=$2 f=$3 k=$4
d=job-$f-$k
mkdir "$d" && cd "$d" || exit 1
for x in ../*; do [ -f "$x" ] && ln -s "$x" .; done
rm -f "$out"
eval "cmd=($(cat ../cmd))"
st=0
SL_FAULT=$f:$k "$SL_FAULT_BIN/${cmd[0]}" "${cmd[@]:1}" > stdout.txt 2> stderr.txt || st=$?
why=
if [ $st -ne 1 ]; then why="exit $st"
elif ! grep -q "^$tool: " stderr.txt; then why="no message naming $tool"
elif grep -q -e Sanitizer -e 'runtime error' stderr.txt; then why="sanitizer report"
elif [ -e "$out" ] && [ ! -L "$out" ]; then why="$out left under its real name"
elif ls | grep -q '\.tmp\.'; then why="temporary file left: $(ls | grep '\.tmp\.' | head -1)"
fi
[ -z "$why" ] || echo "$tool $f:$k: $why: $(head -c 300 stderr.txt | tr '\n' ' ')"
cd .. && rm -rf "$d"
