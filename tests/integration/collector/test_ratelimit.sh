#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_ratelimit.sh - the quote server answers a burst of 429s with Retry-After: the collector
# opens the source's breaker for exactly that long each time, so no request reaches the server
# inside a window it asked to be left alone (the server's own "early" count stays 0 with one
# connection; at most the requests already in flight with two), and quotes resume after the
# burst. Then the same with Retry-After as an HTTP-date, and without it (back-off: no storm).
# Usage: test_ratelimit.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-429.XXXXXX)"
trap collector_cleanup EXIT
export TICKWATCH_QUOTES_CONNECTIONS=1

collector_start
wait_until 30 "quotes of step 0" has_rows_at 0 4
before=$(qget 'sum(d["requests"]["yahoo"].values())')
per0=$(qget 'd["requests"]["yahoo"]')

# Three 429s, each with Retry-After: 3 (seconds).
qctl mode -d mode=429 -d count=3 -d retry_after=3 -d source=yahoo
qctl step -d to=1
t0=$SECONDS
wait_until 60 "quotes of step 1 after the burst" has_rows_at 1 4
took=$((SECONDS - t0))
st=$(qstate)
limited=$(json 'd["limited"]' <<<"$st")
early=$(json 'd["early"]' <<<"$st")
during=$(($(json 'sum(d["requests"]["yahoo"].values())' <<<"$st") - before))
[ "$limited" = 3 ] || fail "expected 3 answers 429, server says $limited"
[ "$early" = 0 ] || fail "$early request(s) arrived inside a Retry-After window: $st"
[ "$(log_count "quote source yahoo rate-limited")" = 3 ] || fail "expected 3 rate-limited fetches in the log"
[ "$(log_count "\[breaker\] quotes: open (rate limited); next trial in 3000 ms")" = 3 ] ||
	fail "the breaker did not hold for the Retry-After each time"
ok "429 burst (3 x Retry-After 3 s): 0 requests inside the windows, $during chart requests from the burst to step 1 stored ($took s), per ticker: $(json "{k: v - $per0.get(k, 0) for k, v in d['requests']['yahoo'].items()}" <<<"$st")"

# Retry-After as an HTTP-date (3 s ahead, whole seconds).
qctl mode -d mode=429 -d count=1 -d retry_after=date -d source=yahoo
qctl step -d to=2
wait_until 60 "quotes of step 2 after an HTTP-date Retry-After" has_rows_at 2 4
[ "$(qget 'd["early"]')" = 0 ] || fail "a request inside the HTTP-date window: $(qstate)"
ok "Retry-After as an HTTP-date: no request before it, step 2 stored"

# No Retry-After: exponential back-off from breaker_recovery (2 s here), at most one trial each.
qctl mode -d mode=429 -d count=2 -d retry_after=none -d source=yahoo
n0=$(qget 'sum(d["requests"]["yahoo"].values())')
qctl step -d to=3
wait_until 60 "quotes of step 3 after a back-off" has_rows_at 3 4
grep -q "quiet for [0-9]* ms" "$AGENT_DIR/log" || fail "no back-off logged"
n1=$(qget 'sum(d["requests"]["yahoo"].values())')
[ $((n1 - n0)) -le $((2 + 5 + 1)) ] || fail "back-off storm: $((n1 - n0)) requests for 2 x 429 and 5 tickers"
ok "429 without Retry-After: back-off ($(grep -o 'quiet for [0-9]* ms' "$AGENT_DIR/log" | tail -2 | tr '\n' ' ')), $((n1 - n0)) requests, step 3 stored"
agent_stop

# Two connections: only a request already in flight may land inside the window.
mkdir "$WORK/two"
export TICKWATCH_QUOTES_CONNECTIONS=2
qctl reset
agent_start "$WORK/two" --roles collector --console -
wait_until 30 "quotes of step 0 (two connections)" log_has "cycle [0-9]*: 5 tickers"
qctl mode -d mode=429 -d count=2 -d retry_after=3 -d source=yahoo
qctl step -d to=4
wait_until 60 "quotes of step 4" has_rows_at 4 4
early=$(qget 'd["early"]')
[ "$early" -le 1 ] || fail "with 2 connections at most 1 request may be in flight at the 429, $early were early"
ok "two connections: $early request(s) already in flight at a 429, none sent after it inside the window"
