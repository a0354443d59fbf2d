#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_crumb.sh - the quote server demands Yahoo's cookie and crumb: the collector gets them
# first (GET /, then /v1/test/getcrumb with the cookie) and quotes are stored; the crumbs are
# expired: the next cycle's chart requests are refused (401) and the collector fetches exactly
# one new cookie and crumb (two connections refused together make one), then stores quotes
# again. The collector also verifies the server's RSA chain: without its root, no quote.
# Usage: test_crumb.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-crumb.XXXXXX)"
trap collector_cleanup EXIT
export TICKWATCH_QUOTES_CONNECTIONS=2

qctl crumb -d require=1
collector_start
wait_until 30 "quotes of step 0 stored with a crumb" has_rows_at 0 4
[ "$(qget 'd["crumb_requests"]')" = 1 ] || fail "expected one crumb request, state: $(qstate)"
[ "$(qget 'd["cookie_requests"]')" = 1 ] || fail "expected one cookie request, state: $(qstate)"
[ "$(qget 'd["unauthorized"]')" = 0 ] || fail "a chart request was refused: $(qstate)"
[ "$(sql "SELECT count(*) FROM quotes WHERE source = 'yahoo'")" = 4 ] || fail "rows without source yahoo"
ok "crumb required: one cookie, one crumb, 4 quotes stored (source yahoo), no 401"

# Expire every crumb the server gave: the next requests are 401, one new crumb is fetched.
qctl crumb -d expire=1
qctl step -d to=1
wait_until 30 "quotes of step 1 stored after the crumb expired" has_rows_at 1 4
wait_until 10 "the new crumb in the log" log_has "crumb 2)"
# Two whole cycles begun after crumb 2 was ready (the first cycle line after it may end the
# cycle that fetched it), each asking the server for AAPL with it: a crumb refused again would
# have been fetched anew by then. Only then is "no third crumb" a finding.
mark=$(($(wc -l <"$AGENT_DIR/log") + 1))
aapl=$(qget 'd["requests"]["yahoo"].get("AAPL", 0)')
used_crumb() { # two whole cycles after $mark, and two more AAPL requests at the server
	[ "$(cycles_after "$mark")" -ge 3 ] &&
		[ "$(qget 'd["requests"]["yahoo"].get("AAPL", 0)')" -ge $((aapl + 2)) ]
}
wait_until 30 "two more cycles with crumb 2 (3 cycle lines, 2 AAPL requests)" used_crumb
[ "$(qget 'd["crumb_requests"]')" = 2 ] || fail "expected exactly one re-crumb, state: $(qstate)"
[ "$(qget 'd["cookie_requests"]')" = 2 ] || fail "expected one new cookie, state: $(qstate)"
refused=$(qget 'd["unauthorized"]')
[ "$refused" -ge 1 ] && [ "$refused" -le 2 ] || fail "expected 1 or 2 refused requests (one per connection), got $refused"
[ "$(log_count "crumb 1 refused")" = 1 ] || fail "the stale crumb was dropped $(log_count "crumb 1 refused") times"
ok "crumb expired: $refused request(s) refused, exactly one new cookie + crumb, step 1 stored"
agent_stop

# The chain: a CA file with only the stack's P-256 CA (not the quote server's RSA root).
$PY - "$TW_CA_FILE" "$WORK/p256-only.crt" <<'PYEOF'
import sys
pem = open(sys.argv[1]).read()
first = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"
open(sys.argv[2], "w").write(first)
PYEOF
mkdir "$WORK/p256"
export TICKWATCH_QUOTES_CA_FILE=$WORK/p256-only.crt
agent_start "$WORK/p256" --roles collector --console -
wait_until 30 "a failed handshake" log_has "quote source yahoo failed: .*\(verify\|certificate\)"
requests() { qget 'sum(sum(v.values()) for v in d["requests"].values())'; }
served=$(requests)
qctl step -d to=2
# A cycle begun after the step (the second cycle line after it) that fetched, not skipped, a
# ticker (the breaker lets a trial through every 2 s): had its handshake passed, that cycle
# would have stored step 2 before it logged its line. Only then is "no row" a finding.
mark=$(($(wc -l <"$AGENT_DIR/log") + 1))
tried_after_step() { # "cycle N: T tickers, S saved, U unchanged, R rejected, F failed, K skipped"
	tail -n +"$mark" "$AGENT_DIR/log" | grep -o "\[collector\] cycle [0-9]*: .* skipped" |
		tail -n +2 | awk '$15 == "skipped" && $14 < $4 { f = 1 } END { exit !f }'
}
wait_until 30 "a cycle after the step that fetched from the server" tried_after_step
[ "$(rows_at 2)" = 0 ] || fail "quotes stored from an unverified server"
[ "$(requests)" = "$served" ] || fail "chart requests reached the server over an unverified handshake ($served -> $(requests))"
ok "without the RSA root the server is not trusted: $(grep -m1 -o 'quote source yahoo failed: .*' "$AGENT_DIR/log" | cut -c1-160)"
