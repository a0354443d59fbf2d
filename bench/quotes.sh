#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/quotes.sh - a 1,000-ticker collector cycle with [quotes] connections 1, 2 and 4 against
# the stack's HTTPS quote server, each next to curl fetching the same 1,000 URLs with the same
# parallelism (one curl process, --parallel --parallel-max N: N keep-alive TLS connections) in
# the same run; prints each cycle, each curl time and their ratio. The agent runs with the
# crumb off (the very same URLs as curl) and [quotes] rate 10000 (no cap in the way); a cycle
# also stores each quote in PostgreSQL (the inserts go one after another on the write
# connection) and produces the wake-up; "fetch ms" is the cycle until its last fetch ended.
# It loads a 1,000-ticker scenario into the shared quote server and restores the default after
# (bench/lib.sh).
# usage: bench/quotes.sh [TICKWATCH_BINARY]   (needs scripts/stack.sh up)
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_setup quotes "$@"
bench_scenario 50
for i in $(seq 0 $((N - 1))); do
	printf 'url = "%s/v8/finance/chart/T%04d?range=1d&interval=1d"\noutput = /dev/null\n' "$TW_QUOTES_BASE" "$i"
done >"$WORK/curl.cfg"

curl_ms() { # PARALLEL -> ms for the N URLs
	local t0
	t0=$(date +%s%N)
	curl -sS --no-progress-meter --fail --cacert "$TW_CA_FILE" --parallel --parallel-max "$1" -K "$WORK/curl.cfg" || fail "curl failed"
	echo $((($(date +%s%N) - t0) / 1000000))
}

export TICKWATCH_QUOTES_INTERVAL=15s TICKWATCH_QUOTES_TIMEOUT=10s TICKWATCH_QUOTES_RATE=10000 \
	TICKWATCH_QUOTES_CRUMB=false TICKWATCH_AGENT_LOG_LEVEL=info TICKWATCH_QUOTES_MAX_AGE=3650d
users_made=0
echo "collector cycle of $N tickers (HTTPS keep-alive, PostgreSQL insert, wake-up) vs curl, same URLs, same parallelism:"
printf '%-12s %10s %10s %10s %12s %12s\n' connections "cycle ms" "fetch ms" "curl ms" "cycle/curl" "fetch/curl"
for c in 1 2 4; do
	mkdir -p "$WORK/c$c"
	export TICKWATCH_QUOTES_CONNECTIONS=$c
	agent_start "$WORK/c$c" --roles collector --console -
	wait_until 60 "schema" sql "SELECT 1 FROM users LIMIT 1"
	if [ $users_made = 0 ]; then
		sql "INSERT INTO users (email, ticker) SELECT 'u' || i || '@bench.example', 'T' || lpad(i::text, 4, '0') FROM generate_series(0, $((N - 1))) i"
		users_made=1
	fi
	wait_until 120 "two cycles of $N tickers" bash -c "[ \$(grep -c 'cycle [0-9]*: $N tickers' '$WORK/c$c/log') -ge 2 ]"
	agent_stop
	lines=$(grep "cycle [0-9]*: $N tickers, [0-9]* saved" "$WORK/c$c/log" | head -2)
	saved=$(grep -o "$N tickers, [0-9]* saved" <<<"$lines" | awk '{print $3}' | sort -n | head -1)
	[ "$saved" = "$N" ] || fail "a timed cycle did not save all $N quotes: $lines"
	best=$(grep -o "[0-9]* ms, wake-up" <<<"$lines" | awk '{print $1}' | sort -n | head -1)
	fetch=$(grep -o "fetches done in [0-9]* ms" <<<"$lines" | awk '{print $4}' | sort -n | head -1)
	# curl three times around the agent's run, the best kept (the machine is shared)
	cm=$( (curl_ms "$c"; curl_ms "$c"; curl_ms "$c") | sort -n | head -1)
	awk -v c="$c" -v a="$best" -v f="$fetch" -v b="$cm" 'BEGIN { printf "%-12s %10d %10d %10d %12.2f %12.2f\n", c, a, f, b, a / b, f / b }'
done
