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
# shellcheck disable=SC2154 # work (and the rest of the suite's setup): set by smtp_suite, lib.sh
export TW_BIN=${1:?binary} # read by lib.sh
export NOTIF_BODY='AAPL traded at 191.23, above your high threshold of 190.00.\n.dot line\n'
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
smtp_suite notifier
port_of() { # the client port the server logged for the file of Message-ID $1
	local n; n=$(basename "$(files_for "$1" | head -n 1)")
	grep -F "accepted $n" "$TW_STACK_DIR/smtp/smtp.log" | sed -n "s/.*('127.0.0.1', \([0-9]*\)).*/\1/p"
}

smtp_agent admin,notifier TICKWATCH_SMTP_TIMEOUT=5s TICKWATCH_SMTP_BREAKER_FAILURES=2 \
	TICKWATCH_SMTP_BREAKER_RECOVERY=2s
# A first notification, delivered, shows the consumer has its partition and fetches live, so
# the five below reach it together (a group join in the middle would split them).
smtp_warm

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
smtp_sentinel # a later batch through: the repeat's batch is done
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
# a trial session after breaker_recovery, refused too: the breaker opened again
wait_until 60 "a failed trial re-opened the breaker" bash -c "[ \$(grep -c 'SMTP breaker open' '$AGENT_DIR/log') -ge 2 ]"
for id in "${r[@]}"; do [ "$(count_for "$id")" -eq 0 ] || fail "delivered while refusing?"; done
say status
"$STACK" smtp-mode normal >/dev/null
for id in "${r[@]}"; do wait_until 90 "mail for $id after healing" has_files "$id"; done
smtp_sentinel # a later batch through: no second copy can be still on its way
for id in "${r[@]}"; do [ "$(count_for "$id")" -eq 1 ] || fail "$id delivered $(count_for "$id") times"; done
wait_until 10 "status line" out_has "notifier"
ok "refusal: breaker opened, everything delivered exactly once after smtp-mode normal"
exit 0
