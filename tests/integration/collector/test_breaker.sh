#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_breaker.sh - the quote server fails (HTTP 500): the breaker opens after 3 failures, the
# cycles skip the source without asking it (only one trial per recovery period), no wake-up
# goes out while nothing is saved; when the server heals the breaker closes and wake-ups resume.
# Usage: test_breaker.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
export TICKWATCH_QUOTES_CONNECTIONS=2
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-brk.XXXXXX)"
trap collector_cleanup EXIT

collector_start
wait_until 30 "a first cycle that saved quotes" has_rows_at 0 4
wait_until 30 "a first wake-up" log_has "wake-up sent"

# Fail every request (bounded by a count, so the server heals even if this test dies).
qctl mode -d mode=500 -d count=400
t_fail=$SECONDS
wait_until 30 "breaker open" log_has "\[breaker\] quotes: open"
opened_line=$(grep -n "\[breaker\] quotes: open" "$WORK/log" | head -1 | cut -d: -f1)
sleep 7 # about 7 cycles with the breaker open (recovery 2 s: about 3 trials)
say status
wait_until 10 "status while open" out_has "breaker quotes open"
ok "breaker opened after consecutive failures; console status says open"

open_log=$(tail -n +"$opened_line" "$WORK/log")
failures=$(grep -c "quote source yahoo failed" <<<"$open_log")
trials=$(grep -c "\[breaker\] quotes: half-open" <<<"$open_log")
[ "$trials" -ge 2 ] || fail "expected trials every 2 s while open, saw $trials"
# After the "open" line: the failure that opened it (logged after the breaker moved), the
# requests already in flight on the other connections, and one per trial; nothing else.
conns=${TICKWATCH_QUOTES_CONNECTIONS:-2}
[ "$failures" -le $((trials + conns)) ] ||
	fail "no storm expected: $failures failed requests for $trials trials while open ($conns connections)"
grep -q "cycle [0-9]*: 5 tickers, 0 saved.*[1-9][0-9]* skipped" <<<"$open_log" ||
	fail "no cycle skipped its tickers while open"
! grep -q "wake-up sent" <<<"$open_log" || fail "a wake-up was sent while nothing was saved"
ok "while open: $failures requests ($trials trials) in $((SECONDS - t_fail)) s, tickers skipped, no wake-up"

qctl mode -d mode=normal
qctl step -d to=1
wait_until 30 "breaker closed after a good trial" log_has "\[breaker\] quotes: closed again"
wait_until 30 "quotes of step 1 stored after recovery" has_rows_at 1 4
healed_line=$(grep -n "closed again" "$WORK/log" | head -1 | cut -d: -f1)
wait_until 30 "a wake-up after recovery" bash -c "tail -n +$healed_line '$WORK/log' | grep -q 'wake-up sent'"
ok "server healed: breaker closed, step 1 stored, wake-ups resumed"

agent_stop
logged=$(logged_wakeups)
topic=$(topic_wakeups) || fail "bad wake-up JSON on the topic"
[ "$(awk '{print $1}' <<<"$topic")" = "$logged" ] || fail "topic wake-ups differ from the logged ones"
ok "every logged wake-up is on the topic once ($(wc -l <<<"$logged") in all)"
