#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_hours.sh - [quotes] regular_hours_only: the quote server names a regular session that
# ended before the quotes' market time (currentTradingPeriod); with the key on the collector
# stores none of them and wakes nobody, however many cycles run; once the session is open
# again the quotes are stored and a wake-up goes out; with the key off (the default) the same
# ended session changes nothing: the quotes are stored and woken as before.
# Usage: test_hours.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-hours.XXXXXX)"
trap collector_cleanup EXIT

qctl period -d regular=ended
export TICKWATCH_QUOTES_REGULAR_HOURS_ONLY=true
collector_start
wait_until 30 "five cycles after the session ended" bash -c "[ \$(grep -c '\[collector\] cycle [0-9]*:' '$AGENT_DIR/log') -ge 5 ]"
ended_log=$(grep "\[collector\] cycle [0-9]*:" "$AGENT_DIR/log")
grep -q "wake-up sent" <<<"$ended_log" && fail "a wake-up was sent for quotes outside the regular session"
[ "$(sql "SELECT count(*) FROM quotes")" = 0 ] || fail "quotes outside the regular session were stored"
grep -q "cycle [0-9]*: 5 tickers, 0 saved, 0 unchanged, 1 rejected.*; 4 off hours$" <<<"$ended_log" ||
	fail "cycles did not count the 4 quotes as off hours: $(tail -1 <<<"$ended_log")"
[ "$(qget 'sum(d["requests"]["yahoo"].values())')" -ge 20 ] || fail "the collector stopped fetching"
ok "session ended: $(wc -l <<<"$ended_log") cycles, 4 off hours each, no row, no wake-up"

qctl period -d regular=open
wait_until 30 "quotes of step 0 once the session is open" has_rows_at 0 4
wait_until 30 "a wake-up once the session is open" log_has "wake-up sent"
ok "session open: step 0 stored, wake-up sent"
agent_stop

# the key off (its default): an ended session is not looked at
unset TICKWATCH_QUOTES_REGULAR_HOURS_ONLY
qctl period -d regular=ended
qctl step -d to=1
rm -f "$WORK/in"
agent_start "$WORK" --roles admin,collector --console -
wait_until 30 "quotes of step 1 without regular_hours_only" has_rows_at 1 4
wait_until 30 "a wake-up without regular_hours_only" log_has "wake-up sent"
log_has "; 0 off hours" || fail "cycles without the key should count no quote off hours"
ok "regular_hours_only off: quotes of an ended session stored and woken as before"
