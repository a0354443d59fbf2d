#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the stack's own tests: checks that what scripts/stack.sh started is real and behaves.
# Assumes `scripts/stack.sh up` was run; fails loudly (never skips) when the stack is not up.
#
# usage: tests/stack/run.sh [REGEX...]     (only tests whose name matches one of the REGEXes)
# Each test runs in a fresh bash with `set -euo pipefail`, under a time-out (TW_TEST_TIMEOUT,
# default 300 s); its output is kept in $TW_STACK_DIR/test-logs/NAME.log and shown on failure.
# Last line: "N passed, N failed"; exit status non-zero if any failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export STACK=$repo/scripts/stack.sh

if ! envtext=$("$STACK" env 2>&1); then
    echo "tests/stack: THE STACK IS NOT UP - run 'scripts/stack.sh up' first" >&2
    printf '%s\n' "$envtext" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
eval "$envtext"

files=(t_env.sh t_pg.sh t_smtp.sh t_quotes.sh t_kafka.sh)
logdir=$TW_STACK_DIR/test-logs
mkdir -p "$logdir"
passed=0 failed=0 failed_names=()

for f in "${files[@]}"; do
    if [ ! -f "$here/$f" ]; then
        echo "FAIL $f (test file missing)"; failed=$((failed + 1)) failed_names+=("$f"); continue
    fi
    for t in $(sed -n 's/^\(test_[A-Za-z0-9_]*\)() *{.*/\1/p' "$here/$f"); do
        if [ $# -gt 0 ]; then
            match=0
            for re in "$@"; do [[ $t =~ $re ]] && match=1; done
            [ $match -eq 1 ] || continue
        fi
        log=$logdir/$t.log
        start=$SECONDS
        timeout --kill-after=10 "${TW_TEST_TIMEOUT:-300}" \
            bash -c 'set -euo pipefail; source "$1/lib.sh"; source "$1/$2"; "$3"' _ "$here" "$f" "$t" \
            </dev/null >"$log" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then
            passed=$((passed + 1))
            echo "PASS $t ($((SECONDS - start))s)"
        else
            failed=$((failed + 1)) failed_names+=("$t")
            [ $rc -eq 124 ] && echo "  (killed by the ${TW_TEST_TIMEOUT:-300}s test time-out)" >>"$log"
            echo "FAIL $t ($((SECONDS - start))s, exit $rc)"
            sed 's/^/    | /' "$log" | tail -n 40
        fi
    done
done

[ $failed -eq 0 ] || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
