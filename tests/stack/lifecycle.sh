#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lifecycle.sh - up / idempotent up / down of the whole stack, then: no tracked process and no
# port left. Unlike run.sh it starts and stops the stack itself, so do not run it while others
# use the same stack (point TW_STACK_DIR and the TW_*_PORT variables elsewhere for that).
# Prints "N passed, N failed"; exit status non-zero on failure.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STACK=$here/../../scripts/stack.sh
passed=0 failed=0
check() { # NAME CMD...
    local name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "PASS $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

up_cold() { local t0=$SECONDS; "$STACK" up || return 1; echo "  cold up: $((SECONDS - t0))s"; }
up_again() {
    local before after
    before=$(cat "$TW_STACK_DIR"/pids/* | sort)
    "$STACK" up 2>/dev/null || return 1
    after=$(cat "$TW_STACK_DIR"/pids/* | sort)
    [ "$before" = "$after" ]
}
status_ok() { "$STACK" status >/dev/null; }
down_clean() {
    local pids ports p pid
    ports=$(grep -oE "TW_[A-Z_]*PORT[A-Z_]*='[0-9]+'" <<<"$envtext" | grep -oE '[0-9]+' | sort -u)
    for p in 0 1 2; do ports+=" $((TW_KAFKA_PORT_BASE + p)) $((TW_KAFKA_CONTROLLER_PORT_BASE + p))"; done
    pids=$(cat "$TW_STACK_DIR"/pids/* | awk '{print $1}')
    "$STACK" down || return 1
    for pid in $pids; do
        # a zombie waiting for init to reap it is gone already
        if [ -e "/proc/$pid" ] && ! grep -q '^State:\s*Z' "/proc/$pid/status" 2>/dev/null; then echo "  process $pid still alive after down: $(tr '\0' ' ' </proc/$pid/cmdline)"; return 1; fi
    done
    for p in $ports; do
        if ss -Hltn "sport = :$p" | grep -q .; then echo "  port $p still listening after down"; return 1; fi
    done
    ! "$STACK" env >/dev/null 2>&1 || { echo "  env still succeeds after down"; return 1; }
}

"$STACK" down >/dev/null 2>&1 || true
check "cold up" up_cold
envtext=$("$STACK" env) && eval "$envtext"
check "second up changes nothing" up_again
check "status healthy" status_ok
check "down leaves no process and no port" down_clean
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
