# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# lib.sh - helpers for the kafka and collector integration suites: stack env, a running agent
# with a console on a FIFO, bounded waits, assertions. Sourced; tests fail (never skip).
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
STACK=$SRC/scripts/stack.sh
PY=/usr/bin/python3

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "  . $*" >&2; }
ok() { echo "ok - $*"; }

# The stack must be up: these tests never skip.
need_stack() {
	"$STACK" status >/dev/null 2>&1 || true
	eval "$("$STACK" env)" || fail "scripts/stack.sh env failed: is the stack up? (scripts/stack.sh up)"
	[ -n "${TW_KAFKA_BOOTSTRAP:-}" ] || fail "TW_KAFKA_BOOTSTRAP not set: run scripts/stack.sh up"
	kcat -b "$TW_KAFKA_BOOTSTRAP" -L -m 10 >/dev/null 2>&1 ||
		fail "Kafka at $TW_KAFKA_BOOTSTRAP does not answer: run scripts/stack.sh up"
}

json() { $PY -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1]); print(json.dumps(r) if isinstance(r,(dict,list,bool)) or r is None else r)' "$1"; }

# wait_until SECONDS WHAT CMD... : retry CMD until it succeeds, fail at the deadline
wait_until() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s waiting for: $what"
		sleep 0.3
	done
}

# agent_start WORKDIR ARGS... : tickwatch run with console on WORKDIR/in, stdout in WORKDIR/out,
# log in WORKDIR/log. Environment TICKWATCH_* is passed as is.
agent_start() {
	local w=$1
	shift
	mkfifo "$w/in"
	"$TW_BIN" run "$@" <"$w/in" >"$w/out" 2>"$w/log" &
	AGENT_PID=$!
	exec 9>"$w/in"
	AGENT_DIR=$w
}
say() { echo "$*" >&9; }
agent_stop() {
	[ -n "${AGENT_PID:-}" ] || return 0
	say quit 2>/dev/null || true
	{ exec 9>&-; } 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
}
log_has() { grep -q -- "$1" "$AGENT_DIR/log"; }
log_count() { grep -c -- "$1" "$AGENT_DIR/log" || true; }
out_has() { grep -q -- "$1" "$AGENT_DIR/out"; }

# drain_group GROUP TOPIC : commit GROUP's offsets at the end of every partition of TOPIC, so an
# agent in GROUP reads only what is produced after this (the shared topics hold other suites'
# backlogs). Every message is read and committed: a partition the group never committed on
# (one the admin role added later, say) starts at its beginning, as the agent's consumer would
# (auto.offset.reset=earliest); "end" would commit nothing there and leave the backlog behind.
# A topic that does not exist yet has no backlog (listing all topics never creates one).
drain_group() {
	kcat -b "$TW_KAFKA_BOOTSTRAP" -L -m 10 | grep -q "topic \"$2\"" || return 0
	timeout 180 kcat -b "$TW_KAFKA_BOOTSTRAP" -G "$1" -X enable.auto.commit=true \
		-X auto.offset.reset=beginning -q -e "$2" >/dev/null 2>&1 ||
		fail "could not drain group $1 on $2"
}
