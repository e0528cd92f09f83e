# Shared setup for the bats tests: a scratch directory per test, and the
# binaries from the build tree on PATH (the Makefile sets PATH and SL_BIN).

bats_require_minimum_version 1.5.0

setup() {
    [ -n "${SL_BIN:-}" ] || { echo "run the tests through 'make check'" >&2; return 1; }
    TMP="$BATS_TEST_TMPDIR"
    cd "$TMP" || return 1
}

# A status above 125 means a crash or a signal, never a controlled failure.
assert_status() {
    if [ "$status" -ne "$1" ]; then
        echo "expected exit status $1, got $status" >&2
        echo "output: $output" >&2
        return 1
    fi
}

assert_output_contains() {
    case "$output" in
    *"$1"*) ;;
    *) echo "expected output to contain: $1" >&2; echo "output: $output" >&2; return 1 ;;
    esac
}
