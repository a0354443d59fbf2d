#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_retry.sh - the notifier's retry schedule on the real stack (issue 11, item 9): a recipient
# the SMTP server answers 451 is deferred into notify_retry (its whole signed message) and the
# partition goes on -- later messages of the same partition arrive while the 451 lasts, and the
# deferred one is not dead-lettered after a few attempts; once the 451 lifts it arrives exactly
# once (same Message-ID) and its row is gone. A 451 lasting past [smtp] max_retry_age makes a
# dead letter row that keeps the message; `tickwatch ctl redrive` (twice, one request id) moves
# it back and it arrives once; the console's deadletters / the RPC deadletter.list show it.
# Private database of the stack's PostgreSQL; fails (never skips) without the stack.
# Usage: test_retry.sh TICKWATCH_BINARY
# shellcheck disable=SC2154 # work (and the rest of the suite's setup): set by smtp_suite, lib.sh
export TW_BIN=${1:?binary} # read by lib.sh
# every message of this test to partition 0: one partition, so "not held" means what it says
export PRODUCE_ARGS="-p 0"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
smtp_suite retry
RPC_PORT=$((20000 + $$ % 20000))
ctl() { "$TW_BIN" ctl --connect "127.0.0.1:$RPC_PORT" "$@"; }

smtp_agent admin,notifier,rpc TICKWATCH_SMTP_TIMEOUT=5s TICKWATCH_SMTP_RETRY_INTERVAL=1s \
	TICKWATCH_SMTP_RETRY_MAX_INTERVAL=4s TICKWATCH_SMTP_MAX_RETRY_AGE=40s \
	TICKWATCH_RPC_LISTEN="127.0.0.1:$RPC_PORT"
smtp_warm

# 1. a 451 for one recipient: deferred, the partition goes on, then delivered exactly once
d1=$(newid) a1=$(newid) a2=$(newid)
D1="d1-$RUN@example.test"
user "$D1" "a1-$RUN@example.test" "a2-$RUN@example.test"
"$STACK" smtp-mode 451 "$D1" >/dev/null || fail "smtp-mode 451"
{ notif "$d1" "$D1"; notif "$a1" "a1-$RUN@example.test"; } | produce
wait_until 60 "a1 delivered" has_files "$a1"
# today's main dead-letters it after 5 attempts (~15 s) and holds the partition meanwhile
wait_until 60 "$d1 deferred into the retry schedule (notify_retry)" \
	sql_is "SELECT count(*) FROM notify_retry WHERE notification_id = '$d1' AND message LIKE '%\"id\":\"$d1\"%'" 1
notif "$a2" "a2-$RUN@example.test" | produce
wait_until 60 "a2 (same partition, after the deferred one) delivered while the 451 lasts" has_files "$a2"
[ "$(count_for "$d1")" -eq 0 ] || fail "the 451 recipient got mail while refused"
# past the 5 attempts after which it used to be a dead letter: still scheduled
wait_until 60 "$d1 tried 5 times and still scheduled" \
	sql_is "SELECT count(*) FROM notify_retry WHERE notification_id = '$d1' AND attempts >= 5" 1
[ "$(sql "SELECT count(*) FROM dead_letters WHERE notification_id = '$d1'")" = 0 ] ||
	fail "the deferred e-mail was dead-lettered"
log_has "$d1 to $D1 deferred" || fail "no 'deferred' log line"
"$STACK" smtp-mode normal >/dev/null
wait_until 90 "$d1 delivered after the 451 lifted" has_files "$d1"
wait_until 30 "its schedule row gone" sql_is "SELECT count(*) FROM notify_retry WHERE notification_id = '$d1'" 0
sql_is "SELECT state FROM sent_notifications WHERE notification_id = '$d1'" sent ||
	fail "$d1 not recorded as sent"
smtp_sentinel # a later e-mail through: no second copy of d1 can be still on its way
[ "$(count_for "$d1")" -eq 1 ] || fail "$d1 delivered $(count_for "$d1") times"
for id in "$a1" "$a2"; do [ "$(count_for "$id")" -eq 1 ] || fail "$id delivered $(count_for "$id") times"; done
ok "a 451 recipient was deferred, later messages of its partition went on, and it arrived once"

# 2. a 451 lasting past max_retry_age (40 s here): a dead letter that keeps its message
d2=$(newid)
D2="d2-$RUN@example.test"
user "$D2"
"$STACK" smtp-mode 451 "$D2" >/dev/null || fail "smtp-mode 451"
notif "$d2" "$D2" | produce
wait_until 60 "$d2 deferred" sql_is "SELECT count(*) FROM notify_retry WHERE notification_id = '$d2'" 1
wait_until 120 "a dead letter for $d2 after max_retry_age" \
	sql_is "SELECT count(*) FROM dead_letters WHERE notification_id = '$d2' AND reason LIKE '%max_retry_age%' AND message LIKE '%\"id\":\"$d2\"%'" 1
sql_is "SELECT count(*) FROM notify_retry WHERE notification_id = '$d2'" 0 ||
	fail "the dead letter is still scheduled"
[ "$(count_for "$d2")" -eq 0 ] || fail "the 451 recipient got mail"
ok "a 451 past max_retry_age became a dead letter that keeps its message"

# 3. listed (RPC through ctl, and the console), re-driven at most once, delivered once
"$STACK" smtp-mode normal >/dev/null
dl=$(sql "SELECT id FROM dead_letters WHERE notification_id = '$d2'")
ctl deadletters >"$work/list" || fail "ctl deadletters failed: $(cat "$work/list")"
grep -q "^$dl  $d2  $D2 .*re-drivable" "$work/list" || fail "ctl deadletters: $(cat "$work/list")"
say deadletters
wait_until 10 "the console's deadletters" out_has "dead letter $dl: $d2 to $D2"
ctl --request-id "redrive-$RUN" redrive "$dl" >"$work/r1" || fail "ctl redrive: $(cat "$work/r1")"
grep -q "dead letter $dl re-driven: $d2" "$work/r1" || fail "ctl redrive said: $(cat "$work/r1")"
# the same request id again (a client's retry): the same answer, nothing run twice
ctl --request-id "redrive-$RUN" redrive "$dl" >"$work/r2" || fail "ctl redrive (repeat): $(cat "$work/r2")"
cmp -s "$work/r1" "$work/r2" || fail "the repeat answered differently: $(cat "$work/r2")"
wait_until 90 "$d2 delivered after the re-drive" has_files "$d2"
wait_until 30 "its schedule row gone" sql_is "SELECT count(*) FROM notify_retry WHERE notification_id = '$d2'" 0
sql_is "SELECT count(*) FROM dead_letters WHERE notification_id = '$d2'" 0 || fail "the dead letter stayed"
# another request id for the same (now gone) dead letter: not found, nothing scheduled
ctl --request-id "redrive2-$RUN" redrive "$dl" >"$work/r3" 2>&1 && fail "a gone dead letter re-driven: $(cat "$work/r3")"
grep -q "no dead letter $dl" "$work/r3" || fail "unexpected answer: $(cat "$work/r3")"
smtp_sentinel # a later e-mail through: no second copy of d2 can be still on its way
[ "$(count_for "$d2")" -eq 1 ] || fail "$d2 delivered $(count_for "$d2") times"
ok "the dead letter listed (ctl, console), re-driven once (same request id twice) and delivered once"
exit 0
