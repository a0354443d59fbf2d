#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/collector.sh - time of one collector cycle for 1,000 tickers against the stack's HTTPS
# quote server (fetch each quote over one keep-alive TLS connection, store it in PostgreSQL,
# produce the wake-up), printed as a ratio to references measured in the same run: a Python
# http.client and one curl process fetching the same 1,000 URLs sequentially over keep-alive.
# It loads a 1,000-ticker scenario into the shared quote server and restores the default after
# (bench/lib.sh).
# usage: bench/collector.sh [TICKWATCH_BINARY]   (needs scripts/stack.sh up; TW_BENCH_TICKERS=N
# for another size than 1,000)
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_setup coll "$@"
# N tickers T0000.. (two prices each), and the user rows that watch them (below).
bench_scenario 2
for i in $(seq 0 $((N - 1))); do printf '%s/v8/finance/chart/T%04d\n' "$TW_QUOTES_BASE" "$i"; done >"$WORK/urls"

# Reference 1: Python http.client, one TLS connection, sequential GETs.
py_ms=$($PY - "$WORK/urls" "$TW_CA_FILE" <<'PYEOF'
import http.client, ssl, sys, time, urllib.parse
urls = open(sys.argv[1]).read().split()
u = urllib.parse.urlsplit(urls[0])
ctx = ssl.create_default_context(cafile=sys.argv[2])
t0 = time.monotonic()
c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
for url in urls:
    c.request("GET", urllib.parse.urlsplit(url).path, headers={"Accept": "application/json"})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, (url, r.status)
print(round((time.monotonic() - t0) * 1000))
PYEOF
) || fail "python reference failed"
# Reference 2: one curl process, the same URLs, connection reused.
t0=$(date +%s%N)
mapfile -t curl_args < <(sed 's/^/-o\n\/dev\/null\n/' "$WORK/urls")
curl -sf --cacert "$TW_CA_FILE" "${curl_args[@]}" || fail "curl reference failed"
curl_ms=$((($(date +%s%N) - t0) / 1000000))

# The agent: a cycle every 20 s; the first starts at once. Two cycles are timed.
# [quotes] rate lifted: the bench times the fetch and store machinery, not the politeness cap
# (the collector tests' 100/s would make any cycle of 1,000 tickers take 10 s).
export TICKWATCH_QUOTES_INTERVAL=20s TICKWATCH_QUOTES_TIMEOUT=10s TICKWATCH_AGENT_LOG_LEVEL=info \
	TICKWATCH_QUOTES_RATE=10000
agent_start "$WORK" --roles collector --console -
wait_until 60 "schema" sql "SELECT 1 FROM users LIMIT 1"
sql "INSERT INTO users (email, ticker) SELECT 'u' || i || '@bench.example', 'T' || lpad(i::text, 4, '0') FROM generate_series(0, $((N - 1))) i"
wait_until 120 "two cycles of $N tickers" bash -c "[ \$(grep -c 'cycle [0-9]*: $N tickers' '$WORK/log') -ge 2 ]"
agent_stop
lines=$(grep -o "cycle [0-9]*: $N tickers, [0-9]* saved.*, [0-9]* ms" "$WORK/log" | head -2)
saved=$(grep -o "$N tickers, [0-9]* saved" <<<"$lines" | awk '{print $3}' | sort -n | head -1)
[ "$saved" = "$N" ] || fail "a timed cycle did not save all $N quotes: $lines"
best=$(grep -o "[0-9]* ms" <<<"$lines" | awk '{print $1}' | sort -n | head -1)
echo "collector cycle, $N tickers (HTTPS keep-alive fetch + PostgreSQL insert + wake-up):"
grep -o "[0-9]* ms" <<<"$lines" | sed 's/^/  cycle: /'
echo "reference, same $N URLs fetched sequentially over one keep-alive TLS connection:"
echo "  python http.client: $py_ms ms"
echo "  curl (one process): $curl_ms ms"
awk -v a="$best" -v p="$py_ms" -v c="$curl_ms" 'BEGIN {
	printf "ratio collector/python: %.2f   collector/curl: %.2f   (%.1f ms per ticker)\n", a / p, a / c, a / '"$N"' }'
