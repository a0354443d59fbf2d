#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_frozen.sh - a shut market: the quote server freezes every ticker's market time and price;
# the collector keeps fetching, finds nothing new, and sends no wake-up however many cycles run
# (the alert role is not woken all night); when the market opens again wake-ups resume.
# Usage: test_frozen.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-frz.XXXXXX)"
trap collector_cleanup EXIT

collector_start
wait_until 30 "quotes of step 0" has_rows_at 0 4
wait_until 30 "a first wake-up" log_has "wake-up sent"
qctl freeze -d tickers=all
line=$(($(wc -l <"$AGENT_DIR/log") + 1))
qctl step -d to=3 # the clock of the scenario moves on; the frozen market does not
wait_until 30 "five cycles with the market frozen" bash -c "[ \$(tail -n +$line '$AGENT_DIR/log' | grep -c '\[collector\] cycle [0-9]*:') -ge 5 ]"
frozen_log=$(tail -n +"$line" "$AGENT_DIR/log")
grep -q "wake-up sent" <<<"$frozen_log" && fail "a wake-up was sent while the market was frozen"
grep -q "cycle [0-9]*: 5 tickers, 0 saved, 4 unchanged" <<<"$frozen_log" || fail "cycles did not find the quotes unchanged"
[ "$(rows_at 3)" = 0 ] || fail "rows stored for a step the frozen market never reached"
ok "market frozen: $(grep -c '\[collector\] cycle' <<<"$frozen_log") cycles, 4 unchanged each, no wake-up"

qctl freeze -d tickers=none
wait_until 30 "quotes of step 3 when the market opens" has_rows_at 3 4
line2=$(grep -n "\[collector\] cycle [0-9]*: 5 tickers, 4 saved" "$AGENT_DIR/log" | tail -1 | cut -d: -f1)
tail -n +"$line2" "$AGENT_DIR/log" | grep -q "wake-up sent" || fail "no wake-up when the market opened"
ok "market open again: step 3 stored, wake-up sent"
agent_stop
logged=$(logged_wakeups)
topic=$(topic_wakeups) || fail "bad wake-up JSON on the topic"
[ "$(awk '{print $1}' <<<"$topic")" = "$logged" ] || fail "topic wake-ups differ from the logged ones"
ok "every logged wake-up is on the topic once ($(wc -l <<<"$logged") in all)"
