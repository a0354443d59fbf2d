#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_sent_states.sh - the notifier's two-phase record in a fresh database of the stack's real
# PostgreSQL: migration 3 applies, MarkSending / RecordSent / ForgetSending move an id between
# none, 'sending' and 'sent' as docs/schema.md says, LedgerCheck reports each (and a live
# peer's lease, an expired lease taken over, a recipient without that alert, a
# further alert removed, moved or disabled), a 'sent' row is never
# downgraded, and the state column only takes 'sending' or 'sent'. Fails (never skips) without
# the stack.
# Usage: test_sent_states.sh SENT_STATES_BINARY
BIN=${1:?binary}
# shellcheck source=../kafka/lib.sh
. "$(dirname "$0")/../kafka/lib.sh"
need_stack
[ -n "${TW_DB_URL:-}" ] || fail "no PostgreSQL in the stack env: run scripts/stack.sh up"

db="tw_it_sent_$$_$(date +%s)"
url="${TW_DB_URL%/*}/$db"
psql "$TW_DB_URL" -X -q -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"
trap 'psql "$TW_DB_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1' EXIT
sql() { psql "$url" -X -A -t -q -c "$1"; }

id="it-$(date +%s%N)"
timeout 120 "$BIN" "$url" "$id" "sent.states@example.test" || fail "a transition gave the wrong result"
[ "$(sql "SELECT max(version) FROM schema_migrations")" -ge 5 ] || fail "migration 5 not recorded"
[ "$(sql "SELECT owner FROM sent_notifications WHERE notification_id = '$id'")" = B ] ||
	fail "the row's owner is not the agent that took it over"
[ "$(sql "SELECT state FROM sent_notifications WHERE notification_id = '$id'")" = sent ] ||
	fail "the row does not read 'sent' at the end"
# the batched RecordSent: both ids 'sent', the one given twice written once
[ "$(sql "SELECT count(*) FILTER (WHERE state = 'sent') || '/' || count(*) FROM sent_notifications WHERE notification_id IN ('rec-a-$id', 'rec-b-$id')")" = 2/2 ] ||
	fail "the batched RecordSent did not leave its two ids 'sent', one row each"
# the further alert (issue 18): its once e-mail recorded by AdvanceAlertRows, then disabled by the user
[ "$(sql "SELECT episode || '/' || disabled_reason FROM alerts WHERE email = 'sent.states@example.test'")" = 3/user ] ||
	fail "AdvanceAlertRows (episode 1) and the two updates (2, 3) did not leave episode 3, disabled by the user"
# a row written the old way (no state) counts as sent; the column takes nothing else
sql "INSERT INTO sent_notifications (notification_id, email) VALUES ('old-$id', 'o@example.test')"
[ "$(sql "SELECT state FROM sent_notifications WHERE notification_id = 'old-$id'")" = sent ] ||
	fail "a row without a state is not 'sent'"
if sql "INSERT INTO sent_notifications (notification_id, email, state) VALUES ('bad-$id', 'b@example.test', 'bogus')" 2>/dev/null; then
	fail "the state column took 'bogus'"
fi
ok "MarkSending (owner, lease), RecordSent, ForgetSending and LedgerCheck (with the recipient check), batched LedgerCheck and RecordSent move and report as documented"
exit 0
