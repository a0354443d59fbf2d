#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_failover.sh - [quotes] source = yahoo,stooq: the chart API fails (503) until the yahoo
# breaker opens; the collector then takes every ticker from the Stooq CSV of the same server
# (rows with source 'stooq', the same market times: Warsaw local time read back to UTC), and
# when yahoo heals its breaker's trial succeeds and the quotes come from yahoo again.
# Usage: test_failover.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-fo.XXXXXX)"
trap collector_cleanup EXIT
export TICKWATCH_QUOTES_SOURCE=yahoo,stooq TICKWATCH_QUOTES_STOOQ_BASE=$TW_QUOTES_BASE

collector_start
wait_until 30 "quotes of step 0 from yahoo" has_rows_from 0 yahoo 4
[ "$(qget 'sum(d["requests"]["stooq"].values())')" = 0 ] || fail "stooq asked while yahoo works"
ok "yahoo first: step 0 stored from yahoo, stooq not asked"

qctl mode -d mode=503 -d count=100000 -d source=yahoo
qctl step -d to=1
wait_until 30 "yahoo breaker open" log_has "\[breaker\] quotes-yahoo: open"
wait_until 30 "quotes of step 1 from stooq" has_rows_from 1 stooq 4
[ "$(rows_at 1)" = 4 ] || fail "step 1 has $(rows_at 1) rows, not 4"
qctl step -d to=2
wait_until 30 "quotes of step 2 from stooq" has_rows_from 2 stooq 4
n=$(qget 'd["requests"]["stooq"].get("ZZZZ", 0)')
[ "$n" -ge 1 ] || fail "the unknown ticker was not asked of stooq"
grep -q "ZZZZ: rejected: Stooq has no data for zzzz.us (N/D)" "$AGENT_DIR/log" || fail "ZZZZ not rejected as N/D"
ok "yahoo 503: breaker open, steps 1 and 2 stored from stooq (same market times), ZZZZ rejected as N/D"
[ "$(sql "SELECT count(*) FROM quotes WHERE source = 'stooq' AND prev_close IS NULL AND currency IS NULL AND exchange IS NULL")" = 8 ] ||
	fail "stooq rows with a previous close, currency or exchange: $(sql "SELECT ticker, prev_close, currency, exchange FROM quotes WHERE source = 'stooq'")"
[ "$(sql "SELECT count(*) FROM quotes WHERE source = 'yahoo' AND prev_close > 0 AND currency ~ '^[A-Z]{3}$' AND exchange <> ''")" = 4 ] ||
	fail "yahoo rows without the chart meta's previous close, currency, exchange"
ok "stooq's CSV has no previous close, currency or exchange: stored NULL (yahoo's rows have them)"

qctl mode -d mode=normal
wait_until 30 "yahoo breaker closed again" log_has "\[breaker\] quotes-yahoo: closed again"
# (a quote already stored from stooq keeps that source: it is the same quote, no news)
qctl step -d to=3
wait_until 30 "quotes of step 3 from yahoo" has_rows_from 3 yahoo 4
s0=$(qget 'sum(d["requests"]["stooq"].values())')
sleep 3
[ "$(qget 'sum(d["requests"]["stooq"].values())')" = "$s0" ] || fail "stooq still asked after yahoo closed"
ok "yahoo healed: its breaker closed, step 3 stored from yahoo, stooq no longer asked"
[ "$(sql "SELECT string_agg(DISTINCT source, ',' ORDER BY source) FROM quotes")" = "stooq,yahoo" ] ||
	fail "sources recorded: $(sql "SELECT string_agg(DISTINCT coalesce(source, 'NULL'), ',') FROM quotes")"
