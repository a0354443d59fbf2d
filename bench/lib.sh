# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# bench/lib.sh - the preamble the collector benches share (bench/collector.sh, bench/quotes.sh):
# the binary, the collector suites' setup on the running stack (tests/integration/collector/
# lib.sh), a scenario of N tickers T0000.. loaded into the shared quote server with each
# request moving its ticker on, and the default scenario restored on exit.
# Usage, from a bench: . "$(dirname "$0")/lib.sh"; bench_setup NAME "$@"; bench_scenario PRICES
# Sets SRC, TW_BIN, N (TW_BENCH_TICKERS, default 1000) and, through collector_setup, WORK.
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tests/integration/collector/lib.sh
. "$SRC/tests/integration/collector/lib.sh"

# bench_setup NAME [TICKWATCH_BINARY] : the stack is up, the binary built, a fresh database
bench_setup() {
	TW_BIN=${2:-$SRC/build/host/tickwatch}
	N=${TW_BENCH_TICKERS:-1000}
	need_stack
	[ -x "$TW_BIN" ] || fail "no binary at $TW_BIN (cmake --build --preset host)"
	collector_setup "$(mktemp -d "/tmp/tw-bench-$1.XXXXXX")"
	trap bench_restore EXIT
}

bench_restore() {
	curl -sf -m 10 -X POST "$TW_QUOTES_CONTROL/scenario" --data-urlencode "path=$TW_QUOTES_SCENARIO" >/dev/null 2>&1
	curl -sf -m 10 -X POST "$TW_QUOTES_CONTROL/set" -d advance=manual >/dev/null 2>&1
	collector_cleanup
}

# bench_scenario PRICES : N tickers with PRICES steps each, in the quote server; each request
# moves its ticker's market time on, so every timed cycle stores N new quotes
bench_scenario() {
	$PY - "$WORK/scenario.json" "$N" "$1" <<'PYEOF'
import json, sys
n, k = int(sys.argv[2]), int(sys.argv[3])
json.dump({"start_time": 1767258000, "step_seconds": 60,
           "tickers": {"T%04d" % i: {"prices": [100 + i / 100 + j for j in range(k)]}
                       for i in range(n)}},
          open(sys.argv[1], "w"))
PYEOF
	qctl scenario --data-urlencode "path=$WORK/scenario.json"
	qctl set -d advance=request
}
