# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the stack's own tests (sourced by run.sh into each test's fresh bash).
# A test is a function test_NAME; it fails by exiting non-zero (set -e is on) or via fail.

STACK=${STACK:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/stack.sh}
PY=/usr/bin/python3

fail() { echo "FAILED: $*" >&2; exit 1; }
note() { echo "  . $*" >&2; }

assert_eq() {  # EXPECTED ACTUAL WHAT
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}
assert_contains() {  # HAYSTACK NEEDLE WHAT
    case $1 in *"$2"*) ;; *) printf '%s\n' "$1" | tail -n 30 >&2; fail "$3: output lacks '$2'" ;; esac
}
assert_not_contains() {
    case $1 in *"$2"*) printf '%s\n' "$1" | tail -n 30 >&2; fail "$3: output has '$2'" ;; *) ;; esac
}

# wait_until SECONDS WHAT CMD... : retry CMD until it succeeds; fail with WHAT at the deadline
wait_until() {
    local secs=$1 what=$2; shift 2
    local deadline=$((SECONDS + secs))
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        [ $SECONDS -lt $deadline ] || { "$@" >&2 || true; fail "timed out after ${secs}s waiting for: $what"; }
        sleep 0.5
    done
}

# json EXPR : read JSON on stdin, print the Python expression EXPR evaluated with d = the document
json() { $PY -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1]); print(json.dumps(r) if isinstance(r,(dict,list,bool)) or r is None else r)' "$1"; }

uniq_id() { echo "$(date +%s%N)-$$-$RANDOM"; }
