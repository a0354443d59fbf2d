#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_smtp_client.sh - the SMTP client against the stack's aiosmtpd: STARTTLS and implicit TLS with
# AUTH and a verified certificate, one session per batch, 550 for one address, 451, refusal, stall,
# an untrusted CA. Asserts on the mail files the server writes. Fails (never skips) without a stack.
set -uo pipefail

SEND=${1:?usage: test_smtp_client.sh path/to/smtp_send}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
STACK=$SRC/scripts/stack.sh

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

eval "$("$STACK" env)" || fail "scripts/stack.sh env failed: run scripts/stack.sh up"
[ -n "${TW_SMTP_PORT_STARTTLS:-}" ] || fail "no SMTP in the stack env: run scripts/stack.sh up"
"$STACK" smtp-mode normal >/dev/null 2>&1 || fail "the stack's SMTP server does not answer: run scripts/stack.sh up"
# Whatever happens, leave the shared server in normal mode.
trap '"$STACK" smtp-mode normal >/dev/null 2>&1 || true' EXIT

export SMTP_USER=$TW_SMTP_USER SMTP_PASSWORD=$TW_SMTP_PASSWORD SMTP_TIMEOUT_MS=5000
RUN=it$(date +%s%N)$$
FROM="Tickwatch Test <alerts@tickwatch.test>"

files_for() { grep -l -F "Message-ID: <$1@tickwatch>" "$TW_MAIL_DIR"/*.eml 2>/dev/null; }
count_for() { files_for "$1" | wc -l; }
# wait_files ID N : wait up to 10 s for exactly N files carrying Message-ID <ID@tickwatch>
wait_files() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(count_for "$1")" -ge "$2" ] && break
		sleep 0.2
	done
	[ "$(count_for "$1")" -eq "$2" ] || fail "expected $2 file(s) for $1, found $(count_for "$1")"
}
send() { "$SEND" "$TW_SMTP_HOST" "$@"; }

# 1. STARTTLS + AUTH, a batch of three in one session, dot-stuffing and encoding on the wire
out=$(SMTP_SUBJECT=$'Pr\xc3\xa9sent \xe2\x82\xac' send "$TW_SMTP_PORT_STARTTLS" starttls "$TW_CA_FILE" "$FROM" \
	"${RUN}a:a@example.test" "${RUN}b:b@example.test" "${RUN}c:c@example.test") ||
	{ echo "$out" >&2; fail "STARTTLS batch failed"; }
grep -q "^session 0 " <<<"$out" || fail "session not reported ok: $out"
[ "$(grep -c ' sent 250 ' <<<"$out")" -eq 3 ] || { echo "$out" >&2; fail "not all three sent"; }
for x in a b c; do wait_files "${RUN}$x" 1; done
f=$(files_for "${RUN}a")
grep -q "^X-Stack-Channel: starttls" "$f" || fail "not received over STARTTLS"
grep -q "^X-Stack-Auth-User: $TW_SMTP_USER" "$f" || fail "not authenticated"
grep -q "^X-Stack-Rcpt-To: <a@example.test>" "$f" || fail "wrong recipient"
grep -q "^Subject: =?UTF-8?B?" "$f" || fail "non-ASCII subject not RFC 2047 encoded"
grep -q "^\.\.A line starting with a dot" "$f" && fail "dot-stuffing leaked into the stored message"
grep -q "^\.A line starting with a dot" "$f" || fail "the dot line was not restored by the server"
grep -q "^MIME-Version: 1.0" "$f" || fail "no MIME-Version"
grep -q "^Date: " "$f" || fail "no Date"
# one session: every file of the batch was accepted from the same client port
ports=$(for x in a b c; do n=$(basename "$(files_for "${RUN}$x")"); grep -F "accepted $n" "$TW_STACK_DIR/smtp/smtp.log" | sed -n "s/.*('127.0.0.1', \([0-9]*\)).*/\1/p"; done | sort -u | wc -l)
[ "$ports" -eq 1 ] || fail "the batch used $ports connections, expected one session"
ok "STARTTLS + AUTH: batch of 3 in one session, headers encoded"

# 2. implicit TLS
out=$(send "$TW_SMTP_PORT_TLS" tls "$TW_CA_FILE" "$FROM" "${RUN}t:t@example.test") ||
	{ echo "$out" >&2; fail "implicit TLS failed"; }
wait_files "${RUN}t" 1
grep -q "^X-Stack-Channel: tls" "$(files_for "${RUN}t")" || fail "not received over implicit TLS"
ok "implicit TLS + AUTH delivers"

# 3. an untrusted CA: the certificate is refused, nothing sent
if out=$(send "$TW_SMTP_PORT_TLS" tls /etc/ssl/certs/ca-certificates.crt "$FROM" "${RUN}v:v@example.test"); then
	fail "delivered although the server's certificate is not trusted"
fi
grep -q "^${RUN}v transient" <<<"$out" || fail "untrusted cert: message not transient: $out"
sleep 1
[ "$(count_for "${RUN}v")" -eq 0 ] || fail "mail stored despite an untrusted certificate"
ok "certificate verified against smtp.ca_file (system bundle refused)"

# 4. 550 for one address: that one is permanent, the others arrive, same session
"$STACK" smtp-mode 550 "bad-${RUN}@example.test" >/dev/null || fail "smtp-mode 550"
out=$(send "$TW_SMTP_PORT_STARTTLS" starttls "$TW_CA_FILE" "$FROM" \
	"${RUN}p:p@example.test" "${RUN}x:bad-${RUN}@example.test" "${RUN}q:q@example.test") ||
	{ echo "$out" >&2; fail "session with a 550 failed"; }
"$STACK" smtp-mode normal >/dev/null
grep -q "^${RUN}x permanent 550 " <<<"$out" || { echo "$out" >&2; fail "550 not permanent"; }
wait_files "${RUN}p" 1
wait_files "${RUN}q" 1
[ "$(count_for "${RUN}x")" -eq 0 ] || fail "the 550 address got mail"
ok "550 for one address: permanent, the others delivered"

# 5. 451: transient
"$STACK" smtp-mode 451 "slow-${RUN}@example.test" >/dev/null || fail "smtp-mode 451"
out=$(send "$TW_SMTP_PORT_STARTTLS" starttls "$TW_CA_FILE" "$FROM" "${RUN}s:slow-${RUN}@example.test" "${RUN}r:r@example.test")
"$STACK" smtp-mode normal >/dev/null
grep -q "^${RUN}s transient 451 " <<<"$out" || { echo "$out" >&2; fail "451 not transient"; }
wait_files "${RUN}r" 1
ok "451: transient, the next message still delivered (RSET)"

# 6. refused connections: a session error, every message transient
"$STACK" smtp-mode refuse >/dev/null || fail "smtp-mode refuse"
out=$(send "$TW_SMTP_PORT_STARTTLS" starttls "$TW_CA_FILE" "$FROM" "${RUN}n:n@example.test")
rc=$?
"$STACK" smtp-mode normal >/dev/null
[ $rc -eq 1 ] || fail "refused connection: exit $rc"
grep -q "^${RUN}n transient " <<<"$out" || fail "refused: not transient: $out"
grep -q "^session -6 " <<<"$out" || fail "refused: session error not 'refused': $out"
ok "refused connection: session error, message transient"

# 7. a server that never greets: the greeting time-out fires
"$STACK" smtp-mode stall --count 1 >/dev/null || fail "smtp-mode stall"
out=$(SMTP_TIMEOUT_MS=1500 send "$TW_SMTP_PORT_STARTTLS" starttls "$TW_CA_FILE" "$FROM" "${RUN}w:w@example.test")
"$STACK" smtp-mode normal >/dev/null
grep -q "^session -4 .*greeting" <<<"$out" || { echo "$out" >&2; fail "stall: no greeting time-out"; }
ok "stalled server: greeting time-out"
exit 0
