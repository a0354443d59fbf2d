#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_notifier.sh - the notifier role on the real stack: messages produced to to-notifier with kcat
# arrive as mail files in the SMTP server's folder. A batch in one session; the same id twice is
# delivered once (in two batches, and twice in one batch); a 550 for one address is dead-lettered
# (table + log) while the others arrive; a malformed message and an address the ledger would refuse
# ('..') are dead-lettered and block nothing; a recipient who is not a user with that alert gets
# nothing; refused connections open the breaker and everything arrives exactly once after
# "smtp-mode normal". Runs in a private database of the stack's PostgreSQL, where each recipient is
# registered as a user with an AAPL high threshold. Fails (never skips) without the stack.
# Usage: test_notifier.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=../kafka/lib.sh
. "$(dirname "$0")/../kafka/lib.sh"
need_stack
[ -n "${TW_SMTP_PORT_STARTTLS:-}" ] || fail "no SMTP in the stack env: run scripts/stack.sh up"
"$STACK" smtp-mode normal >/dev/null 2>&1 || fail "the stack's SMTP server does not answer"

work=$(mktemp -d /tmp/tw-it-notifier.XXXXXX)
db="tw_it_notifier_$$_$(date +%s)"
URL="${TW_DB_URL%/*}/$db"
psql "$TW_DB_URL" -X -q -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"
trap 'agent_stop; "$STACK" smtp-mode normal >/dev/null 2>&1; cp "$work/log" /tmp/tw-it-notifier-last.log 2>/dev/null; rm -rf "$work"; psql "$TW_DB_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1' EXIT

RUN=$(date +%s%N)
newid() { $PY -c 'import uuid; print(uuid.uuid4().hex)'; }
# notif ID EMAIL : one contract message (docs/notifications.md), key|value for kcat -K '|',
# signed as the alert role signs: HMAC-SHA256 under notif_key's key of every byte before "sig"
notif() {
	local pre key
	pre=$(printf '{"v":2,"id":"%s","email":"%s","ticker":"AAPL","value":191.23,"threshold":190.0,"condition":"higher","quote_time":1767225600,"subject":"AAPL is above 190.00: 191.23 (%s)","body":"AAPL traded at 191.23, above your high threshold of 190.00.\\n.dot line\\n",' \
		"$1" "$2" "$RUN")
	key=$(sql "SELECT key FROM notif_key")
	printf '%s|%s"sig":"%s"}\n' "$2" "$pre" \
		"$(printf '%s' "$pre" | openssl dgst -sha256 -hmac "$key" -r | cut -d' ' -f1)"
}
produce() { kcat -P -b "$TW_KAFKA_BOOTSTRAP" -t to-notifier -K '|' || fail "kcat produce"; }
files_for() { grep -l -F "Message-ID: <$1@tickwatch>" "$TW_MAIL_DIR"/*.eml 2>/dev/null; }
count_for() { files_for "$1" | wc -l; }
has_files() { [ "$(count_for "$1")" -ge 1 ]; }
sql() { psql "$URL" -X -A -t -q -c "$1"; }
# user EMAIL... : registered, watching AAPL with a high threshold (the alert the messages are for)
user() { for e in "$@"; do sql "INSERT INTO users (email, ticker, high) VALUES ('$e', 'AAPL', 190)" >/dev/null || fail "cannot register $e"; done; }
port_of() { # the client port the server logged for the file of Message-ID $1
	local n; n=$(basename "$(files_for "$1" | head -n 1)")
	grep -F "accepted $n" "$TW_STACK_DIR/smtp/smtp.log" | sed -n "s/.*('127.0.0.1', \([0-9]*\)).*/\1/p"
}

# The shared topic may hold a backlog left by other suites or benchmarks (e.g. 200,000 bench
# notifications): move the group past it first, so this test sends only its own e-mails.
# On a fresh cluster the topic does not exist yet (the admin role below makes it): no backlog.
# (Listing all topics never auto-creates one; asking for this one by name could.)
drain_group tickwatch-notifier to-notifier

TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP TICKWATCH_DB_WRITE_URL=$URL TICKWATCH_DB_READ_URL=$URL \
	TICKWATCH_SMTP_HOST=$TW_SMTP_HOST TICKWATCH_SMTP_PORT=$TW_SMTP_PORT_STARTTLS \
	TICKWATCH_SMTP_MODE=starttls TICKWATCH_SMTP_USER=$TW_SMTP_USER \
	TICKWATCH_SMTP_PASSWORD=$TW_SMTP_PASSWORD TICKWATCH_SMTP_CA_FILE=$TW_CA_FILE \
	TICKWATCH_SMTP_FROM="Tickwatch <alerts@tickwatch.test>" TICKWATCH_SMTP_TIMEOUT=5s \
	TICKWATCH_SMTP_BREAKER_FAILURES=2 TICKWATCH_SMTP_BREAKER_RECOVERY=2s \
	agent_start "$work" --roles admin,notifier --console -
wait_until 30 "notifier started" log_has "\[notifier\] SMTP"
# The topics come from the admin role (producers never create them), so the batch below
# reaches a consumer that already has its partition.
wait_until 60 "admin: topics ready" log_has "\[admin\] topics ready"
# the messages are signed with the key migration 4 made (the agent migrated at start)
wait_until 60 "the signing key in notif_key" sql "SELECT key FROM notif_key"

# A first notification, delivered, shows the consumer has its partition and fetches live, so
# the five below reach it together (a group join in the middle would split them).
wait_until 60 "the schema in $db" sql "SELECT 1 FROM users LIMIT 0"
warm=$(newid)
user "warm-$RUN@example.test"
notif "$warm" "warm-$RUN@example.test" | produce
wait_until 90 "the warm-up mail" has_files "$warm"
# the drain above left no backlog for this agent: it dead-lettered nothing it was not sent here
[ "$(sql "SELECT count(*) FROM dead_letters")" = 0 ] ||
	fail "the agent read another suite's backlog: $(sql "SELECT count(*) FROM dead_letters") dead letters before the test sent any"

# 1. a batch of five, in one SMTP session
ids=()
for i in 1 2 3 4 5; do ids+=("$(newid)"); done
for i in 0 1 2 3 4; do user "b$i-$RUN@example.test"; done
# signed first, then produced at once: kcat sends them together and the notifier takes them in one
# batch (signing them one by one between produce calls could spread them over two batches)
for i in 0 1 2 3 4; do notif "${ids[$i]}" "b$i-$RUN@example.test"; done >"$work/batch"
produce <"$work/batch"
for id in "${ids[@]}"; do wait_until 90 "mail for $id" has_files "$id"; done
for id in "${ids[@]}"; do [ "$(count_for "$id")" -eq 1 ] || fail "$id delivered $(count_for "$id") times"; done
f=$(files_for "${ids[0]}")
grep -q "^X-Stack-Rcpt-To: <b0-$RUN@example.test>" "$f" || fail "wrong recipient"
grep -q "^Subject: AAPL is above 190.00: 191.23 ($RUN)" "$f" || fail "wrong subject"
grep -q "^\.dot line" "$f" || fail "the dot line did not survive"
nports=$(for id in "${ids[@]}"; do port_of "$id"; done | sort -u | wc -l)
[ "$nports" -eq 1 ] || fail "the batch of 5 used $nports SMTP sessions"
[ "$(sql "SELECT count(*) FROM sent_notifications WHERE notification_id IN ('${ids[0]}','${ids[4]}')")" = 2 ] ||
	fail "sent ids not recorded in sent_notifications"
ok "batch of 5 delivered in one SMTP session, ids recorded as sent"

# 2. the same id again: skipped, still one file
notif "${ids[2]}" "b2-$RUN@example.test" | produce
wait_until 60 "the repeat skipped" log_has "${ids[2]} to b2-$RUN@example.test already sent: skipped"
sleep 1
[ "$(count_for "${ids[2]}")" -eq 1 ] || fail "a repeated id was delivered again"
ok "the same id twice is delivered once"

# 2b. the same id twice in one produce (one batch): one e-mail (issue 11, item 2)
dup=$(newid)
user "dup-$RUN@example.test"
{ notif "$dup" "dup-$RUN@example.test"; notif "$dup" "dup-$RUN@example.test"; } | produce
wait_until 60 "the duplicate delivered" has_files "$dup"
wait_until 30 "the second copy settled" bash -c "grep -q -e '$dup to dup-$RUN@example.test twice in one batch' -e '$dup to dup-$RUN@example.test already sent: skipped' '$work/log'"
[ "$(count_for "$dup")" -eq 1 ] || fail "an id twice in one batch was delivered $(count_for "$dup") times"
ok "the same id twice in one batch is delivered once"

# 2c. a recipient who is not (or no longer) a user with that alert gets nothing (item 10)
nu=$(newid) after=$(newid)
user "after-$RUN@example.test"
{ notif "$nu" "nouser-$RUN@example.test"; notif "$after" "after-$RUN@example.test"; } | produce
wait_until 60 "the message behind it" has_files "$after"
wait_until 30 "the no-user message dropped" log_has "$nu: nouser-$RUN@example.test no longer has a higher alert on AAPL"
[ "$(count_for "$nu")" -eq 0 ] || fail "a recipient without that alert got mail"
ok "a recipient who is not a user with that alert gets nothing"

# 3. a 550 for one address and a malformed message: dead letters; the others arrive
"$STACK" smtp-mode 550 "bad-$RUN@example.test" >/dev/null || fail "smtp-mode 550"
p1=$(newid) bad=$(newid) p2=$(newid) dd=$(newid)
user "p1-$RUN@example.test" "bad-$RUN@example.test" "p2-$RUN@example.test"
# a..b: an address the ledger refuses (issue 11, item 3): dead-lettered, never a wedge
{ notif "$p1" "p1-$RUN@example.test"; echo "junk-$RUN@example.test|{not json $RUN"
  notif "$dd" "a..b-$RUN@example.test"
  notif "$bad" "bad-$RUN@example.test"; notif "$p2" "p2-$RUN@example.test"; } | produce
wait_until 60 "p1 delivered" has_files "$p1"
wait_until 60 "p2 delivered" has_files "$p2"
wait_until 30 "dead letter row for the 550" \
	bash -c "[ \"\$(psql '$URL' -X -A -t -q -c \"SELECT count(*) FROM dead_letters WHERE notification_id='$bad' AND reason LIKE '%550%'\")\" -ge 1 ]"
"$STACK" smtp-mode normal >/dev/null
log_has "dead letter $bad to bad-$RUN@example.test" || fail "the 550 dead letter is not logged"
[ "$(count_for "$bad")" -eq 0 ] || fail "the 550 address got mail"
[ "$(sql "SELECT count(*) FROM dead_letters WHERE payload LIKE '%not json $RUN%'")" -ge 1 ] ||
	fail "the malformed message is not in dead_letters"
[ "$(sql "SELECT count(*) FROM dead_letters WHERE payload LIKE '%$dd%'")" -ge 1 ] ||
	fail "the a..b address is not in dead_letters"
ok "550 for one address and a malformed message dead-lettered (table + log); the others delivered"

# 4. the relay refuses connections: breaker opens, nothing lost, each arrives once after healing
"$STACK" smtp-mode refuse >/dev/null || fail "smtp-mode refuse"
r=()
for i in 1 2 3; do r+=("$(newid)"); done
for i in 0 1 2; do user "r$i-$RUN@example.test"; done
for i in 0 1 2; do notif "${r[$i]}" "r$i-$RUN@example.test"; done | produce
wait_until 60 "breaker open" log_has "SMTP breaker open"
sleep 3
for id in "${r[@]}"; do [ "$(count_for "$id")" -eq 0 ] || fail "delivered while refusing?"; done
say status
"$STACK" smtp-mode normal >/dev/null
for id in "${r[@]}"; do wait_until 90 "mail for $id after healing" has_files "$id"; done
sleep 2
for id in "${r[@]}"; do [ "$(count_for "$id")" -eq 1 ] || fail "$id delivered $(count_for "$id") times"; done
wait_until 10 "status line" out_has "notifier"
ok "refusal: breaker opened, everything delivered exactly once after smtp-mode normal"
exit 0
