#!/bin/sh
# man-examples.sh: the example blocks of the man pages, as plain text, for
# man-examples.bats.
#
#   man-examples.sh list PAGE...        one line "NAME INDEX" per .EX/.EE block
#                                       of each PAGE's EXAMPLES section
#   man-examples.sh block PAGE INDEX    block INDEX (from 1) of PAGE, with the
#                                       groff escapes turned back into text
#
# An escape this script does not know is an error, not passed through: a page
# using a new one should fail the tests rather than run a mangled command.

set -eu

blocks() {  # PAGE: the blocks' lines, each prefixed with its block's index
    awk '
        /^\.SH/ { in_ex = ($0 ~ /^\.SH +"?EXAMPLES"?$/); next }
        in_ex && /^\.EX/ { n++; in_block = 1; next }
        in_ex && /^\.EE/ { in_block = 0; next }
        in_block { print n "\t" $0 }
    ' "$1"
}

unescape() {
    awk '
        BEGIN {
            esc["\\-"] = "-"; esc["\\e"] = "\\"; esc["\\(aq"] = "\047"
            esc["\\(dq"] = "\""; esc["\\(ga"] = "`"; esc["\\(mu"] = "\303\227"
            esc["\\&"] = ""; esc["\\(ti"] = "~"; esc["\\(ha"] = "^"
        }
        {
            out = ""
            line = $0
            while ((i = index(line, "\\")) > 0) {
                out = out substr(line, 1, i - 1)
                line = substr(line, i)
                if (substr(line, 2, 1) == "(")
                    e = substr(line, 1, 4)
                else
                    e = substr(line, 1, 2)
                if (!(e in esc)) {
                    printf "man-examples.sh: unknown groff escape %s in: %s\n", e, $0 > "/dev/stderr"
                    exit 1
                }
                out = out esc[e]
                line = substr(line, length(e) + 1)
            }
            print out line
        }
    '
}

case "${1:-}" in
list)
    shift
    for page in "$@"; do
        name=$(basename "$page" .1)
        blocks "$page" | cut -f1 | uniq | sed "s/^/$name /"
    done
    ;;
block)
    [ $# -eq 3 ] || { echo "usage: man-examples.sh block PAGE INDEX" >&2; exit 2; }
    blocks "$2" | awk -F'\t' -v n="$3" '$1 == n { sub(/^[^\t]*\t/, ""); print }' | unescape
    ;;
*)
    echo "usage: man-examples.sh list PAGE... | block PAGE INDEX" >&2
    exit 2
    ;;
esac
