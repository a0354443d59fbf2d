#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_fairness.sh - nothing the notifier waits for holds what it need not (docs/notifications.md,
# "What waits for what"), on the real stack:
#  1. an id a live peer holds (a 'sending' row of another agent, lease not ended) waits alone: the
#     other e-mails of its batch are delivered at once; the held id is not sent and the batch is not
#     committed while the lease lasts; once the lease ends it is sent (once) and the batch commits;
#  2. a backlog of due retries (notify_retry rows) does not hold a fresh to-notifier message: units
#     of re-driven rows and Kafka batches alternate, so the fresh e-mail arrives while the backlog
#     is still being worked (one unit of at most 5 before it), and every e-mail arrives once.
# Private database of the stack's PostgreSQL; fails (never skips) without the stack.
# Usage: test_fairness.sh TICKWATCH_BINARY
# shellcheck disable=SC2154 # work (and the rest of the suite's setup): set by smtp_suite, lib.sh
export TW_BIN=${1:?binary} # read by lib.sh
export PRODUCE_ARGS="-p 0" # one partition: one batch means what it says
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
smtp_suite fairness

smtp_agent admin,notifier TICKWATCH_SMTP_TIMEOUT=5s TICKWATCH_SMTP_RETRY_INTERVAL=1s \
	TICKWATCH_SMTP_RETRY_MAX_INTERVAL=4s TICKWATCH_SMTP_BATCH_LINGER=8s
smtp_warm
# commits: the notifier's count of committed batches (its console status line)
commits() {
	local before
	before=$(grep -c "^notifier: " "$AGENT_DIR/out")
	say notifier
	wait_until 10 "a status line" bash -c "[ \$(grep -c '^notifier: ' '$AGENT_DIR/out') -gt $before ]"
	grep "^notifier: " "$AGENT_DIR/out" | tail -n 1 | sed -n 's/.*, commits \([0-9]*\);.*/\1/p'
}

# 1. a held id waits alone
h=$(newid) o1=$(newid) o2=$(newid)
H="h-$RUN@example.test"
user "$H" "o1-$RUN@example.test" "o2-$RUN@example.test"
# another agent is sending it: its 'sending' row, its lease an hour long
sql "INSERT INTO sent_notifications (notification_id, email, state, owner, lease_until) VALUES ('$h', '$H', 'sending', 'peer-agent/1.1', now() + interval '1 hour')" >/dev/null ||
	fail "cannot insert the peer's row"
c0=$(commits)
[ -n "$c0" ] || fail "no commits count in the status line"
{ notif "$o1" "o1-$RUN@example.test"; notif "$h" "$H"; notif "$o2" "o2-$RUN@example.test"; } >"$work/held"
produce <"$work/held"
wait_until 60 "the held id seen held" log_has "$h to $H is being sent by another agent"
# today's main counted them as still checking until the lease ends (an hour here)
wait_until 60 "o1 delivered while the peer holds $h" has_files "$o1"
wait_until 60 "o2 delivered while the peer holds $h" has_files "$o2"
[ "$(count_for "$h")" -eq 0 ] || fail "the held id was sent while its peer holds it"
sql_is "SELECT owner FROM sent_notifications WHERE notification_id = '$h'" peer-agent/1.1 ||
	fail "the peer's row was taken over during its lease"
# both delivered, the batch is still not committed (its held id is neither sent nor given up)
[ "$(commits)" = "$c0" ] || fail "the batch was committed while $h is held"
# the peer dies: its lease ends, this agent sends it (the same Message-ID) and commits
sql "UPDATE sent_notifications SET lease_until = now() - interval '1 second' WHERE notification_id = '$h'" >/dev/null
wait_until 60 "$h sent once its peer's lease ended" has_files "$h"
wait_until 30 "$h recorded sent" sql_is "SELECT state FROM sent_notifications WHERE notification_id = '$h'" sent
log_has "ambiguous delivery id=$h to=$H window=crash" || fail "no ambiguous-delivery line for $h"
committed_past() { [ "$(commits)" != "$c0" ]; }
wait_until 30 "the batch committed" committed_past
for id in "$o1" "$o2" "$h"; do [ "$(count_for "$id")" -eq 1 ] || fail "$id delivered $(count_for "$id") times"; done
ok "a held id waited alone: the rest of its batch was delivered at once, the batch committed after it"

# 2. a backlog of due retries and a fresh message: both progress. The fresh one is collected first
# (its batch lingers 8 s), then the backlog is made due at once.
status_has() {
	local before
	before=$(grep -c "^notifier: " "$AGENT_DIR/out")
	say notifier
	wait_until 10 "a status line" bash -c "[ \$(grep -c '^notifier: ' '$AGENT_DIR/out') -gt $before ]"
	grep "^notifier: " "$AGENT_DIR/out" | tail -n 1 | grep -q -F "$1"
}
N=60
# (the backlog's rows are made before, so nothing slow runs while the batch lingers)
: >"$work/backlog.sql"
echo "BEGIN;" >>"$work/backlog.sql"
bl=()
for ((i = 0; i < N; i++)); do
	id=$(newid) e="bl$i-$RUN@example.test"
	bl+=("$id")
	echo "INSERT INTO users (email, ticker, high) VALUES ('$e', 'AAPL', 190);"
	echo "INSERT INTO notify_retry (notification_id, email, message, msg_key, attempts, first_at, next_at, last_reason) VALUES ('$id', '$e', '$(notif_value "$id" "$e")', '$e', 2, now(), now(), 'test backlog');"
done >>"$work/backlog.sql"
echo "COMMIT;" >>"$work/backlog.sql"
f=$(newid)
user "f-$RUN@example.test"
notif "$f" "f-$RUN@example.test" | produce
wait_until 30 "the fresh message collected (its batch lingering)" status_has "collecting, batch 1/10;"
psql "$URL" -X -q -v ON_ERROR_STOP=1 -f "$work/backlog.sql" >/dev/null || fail "cannot insert the backlog"
wait_until 120 "the fresh e-mail" has_files "$f"
for id in "${bl[@]}"; do wait_until 120 "backlog e-mail $id" has_files "$id"; done
wait_until 30 "the schedule emptied" sql_is "SELECT count(*) FROM notify_retry" 0
fns=$(received_ns "$f")
before=0
for id in "${bl[@]}"; do [ "$(received_ns "$id")" -lt "$fns" ] && before=$((before + 1)); done
note "$before of $N backlog e-mails arrived before the fresh one"
# today's main re-drove the whole backlog (full pages back to back) before the Kafka batch; the
# rule: after one unit of re-driven rows (5 at most) a collected batch goes next
[ "$before" -le 5 ] || fail "$before of $N due retries went before the fresh e-mail"
for id in "$f" "${bl[@]}"; do [ "$(count_for "$id")" -eq 1 ] || fail "$id delivered $(count_for "$id") times"; done
ok "a backlog of $N due retries and a fresh e-mail alternated ($before before it); each arrived once"
exit 0
