#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_values.sh - the collector stores the quote server's scenario values step by step (length
# and chunked bodies over HTTPS), rejects an unknown ticker, and emits exactly one wake-up per
# cycle that saved a new quote, read back from to-alert-system, with the chart meta's previous
# close, currency and exchange; a frozen market (same market time
# and price) stores nothing new and wakes nobody.
# Usage: test_values.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-coll.XXXXXX)"
trap collector_cleanup EXIT

collector_start
for step in 0 1 2; do
	[ "$step" = 1 ] && qctl set -d encoding=chunked
	qctl step -d to=$step
	wait_until 30 "4 quotes stored for scenario step $step" has_rows_at "$step" 4
done
ok "4 tickers stored for scenario steps 0, 1 and 2 (length and chunked bodies)"

# Every stored value is the scenario's, at the scenario's time.
want=$(scen "'\n'.join('%s %d %.2f' % (t, d['start_time'] + s * d['step_seconds'], d['tickers'][t]['prices'][s]) for t in sorted(d['tickers']) for s in range(3))")
got=$(sql "SELECT ticker, extract(epoch FROM at)::bigint, to_char(value, 'FM99999990.00') FROM quotes ORDER BY 1, 2" | tr '|' ' ')
[ "$got" = "$want" ] || fail "stored quotes differ from the scenario:
want:
$want
got:
$got"
ok "stored values and times equal the scenario's (12 rows)"

# What the chart meta tells besides the price (schema 12): the previous close the quote server
# serves (the step before's price; step 0: its own), the ticker's currency and exchange.
want=$(scen "'\n'.join('%s %d %.2f %s %s' % (t, s, d['tickers'][t]['prices'][max(s - 1, 0)], d['tickers'][t]['currency'], d['tickers'][t]['exchange']) for t in sorted(d['tickers']) for s in range(3))")
got=$(sql "SELECT ticker, (extract(epoch FROM at)::bigint - $(scen 'd["start_time"]')) / $(scen 'd["step_seconds"]'), to_char(prev_close, 'FM99999990.00'), currency, exchange FROM quotes ORDER BY 1, 2" | tr '|' ' ')
[ "$got" = "$want" ] || fail "stored previous close / currency / exchange differ from the scenario:
want:
$want
got:
$got"
ok "stored previous close, currency and exchange equal the chart meta's (12 rows)"
[ "$(sql "SELECT count(*) FROM quotes WHERE ticker = 'ZZZZ'")" = 0 ] || fail "a row for the unknown ticker"
log_has "ZZZZ: rejected: chart.error Not Found" || fail "no rejection logged for ZZZZ"
ok "unknown ticker rejected with chart.error, no row"

say status
wait_until 10 "console status" out_has "role collector"
grep -q "role collector .*breaker quotes closed" "$WORK/out" || fail "status lacks the breaker: $(grep collector "$WORK/out")"
ok "console status shows the collector and its breaker"

# Market shut: the quote server keeps step 2 (same market time, same price), so the cycles that
# follow store nothing new and wake nobody (the alert role does not scan every user all night).
cycles_now=$(grep -c 'cycle [0-9]*: [0-9]* tickers' "$WORK/log")
wait_until 30 "three more cycles on a frozen market" bash -c \
	"[ \$(grep -c 'cycle [0-9]*: [0-9]* tickers' '$WORK/log') -ge $((cycles_now + 3)) ]"
frozen=$(grep 'cycle [0-9]*: [0-9]* tickers' "$WORK/log" | tail -n +$((cycles_now + 1)))
grep -v -q ', 0 saved, 4 unchanged, .*wake-up none (nothing new)' <<<"$frozen" &&
	fail "a cycle on a frozen market saved something or woke the alert side:
$frozen"
ok "frozen market: $(wc -l <<<"$frozen") cycles, each 0 saved / 4 unchanged, no wake-up"

agent_stop
logged=$(logged_wakeups)
[ "$(wc -l <<<"$logged")" -eq 3 ] || fail "expected 3 wake-ups (steps 0, 1, 2), logged: $(paste -sd, <<<"$logged")"
topic=$(topic_wakeups) || fail "a wake-up on the topic is not the expected JSON"
[ "$(awk '{print $1}' <<<"$topic")" = "$logged" ] ||
	fail "wake-ups on the topic (cycles $(awk '{print $1}' <<<"$topic" | paste -sd,)) differ from the cycles logged ($(paste -sd, <<<"$logged"))"
awk '$2 != 5 || $3 != 4 {exit 1}' <<<"$topic" || fail "a wake-up does not say 5 tickers, 4 saved: $topic"
ok "one wake-up per cycle: $(wc -l <<<"$logged") cycles, same numbers on the topic, each 5 tickers / 4 saved"
