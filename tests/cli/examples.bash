# Running shell-session example blocks (man pages, README) and comparing what
# they print: shared by man-examples.bats and readme-examples.bats, which set
# FAILING and SHAPE_ONLY (" ID ID ... ", an ID being "PAGE:BLOCK:COMMAND")
# before running a block.  See man-examples.bats for the rules.

# TEXT with every number as '#' and every run of blanks as one space, for
# comparing outputs by their shape (column -t aligns on the numbers' widths).
shape() {
    sed -E 's/-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/#/g; s/[[:blank:]]+/ /g' <<< "$1"
}

SUMMARY='^sl-[a-z]+: .* in [0-9.]+ s real'
is_summary() {
    grep -qE "$SUMMARY" <<< "$1"
}

# Runs one "$ " command of a shell-session block and compares what it prints.
check_command() {
    local id="$1" cmd="$2" expected="$3" actual
    local status=0
    eval "$cmd" > "out.txt" 2>&1 || status=$?
    actual=$(< out.txt)
    if ! is_summary "$expected"; then
        actual=$(grep -vE "$SUMMARY" <<< "$actual" || true)
    fi
    local want=0
    case "$FAILING" in *" $id "*) want=1 ;; esac
    if [ "$status" -ne "$want" ]; then
        printf '%s: exit status %d (not %d) from:\n%s\noutput:\n%s\n' "$id" "$status" "$want" "$cmd" "$actual" >&2
        return 1
    fi
    local a="$actual" e="$expected"
    case "$SHAPE_ONLY" in
    *" $id "*) a=$(shape "$a"); e=$(shape "$e") ;;
    *) if is_summary "$e"; then
           a=$(shape "$a"); e=$(shape "$e")
       fi ;;
    esac
    if [ "$a" != "$e" ]; then
        printf '%s: the output of:\n%s\nexpected:\n%s\ngot:\n%s\n' "$id" "$cmd" "$expected" "$actual" >&2
        return 1
    fi
}

# Whether TEXT is an incomplete shell command, to be continued on the next line.
incomplete() {
    case "$1" in *\\ | *'|' | *'&&') return 0 ;; esac  # '|' also ends '||'
    bash -n -c "$1" 2>&1 | grep -q 'unexpected end of file\|unexpected EOF'
}

run_session() {
    local page="$1" index="$2" block="$3"
    local cmd="" expected="" line n=0 in_cmd=0
    while IFS= read -r line; do
        if [ "$in_cmd" = 1 ]; then
            cmd+=$'\n'"$line"
        elif [ "${line:0:2}" = '$ ' ]; then
            if [ -n "$cmd" ]; then check_command "$page:$index:$n" "$cmd" "$expected" || return 1; fi
            n=$((n + 1))
            cmd=${line:2}
            expected=""
        elif [[ $line == [[:blank:]]* && -n $expected ]]; then
            expected+=" ${line#"${line%%[![:blank:]]*}"}"
        else
            expected+="${expected:+$'\n'}$line"
        fi
        in_cmd=0
        if incomplete "$cmd"; then in_cmd=1; fi
    done <<< "$block"
    check_command "$page:$index:$n" "$cmd" "$expected"
}
