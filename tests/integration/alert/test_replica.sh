#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_replica.sh - [db] read_url on the stack's real streaming replica (scripts/stack/replica.sh):
# with the replica's replay paused (pg_wal_replay_pause()), a threshold change made on the
# primary is invisible to user-facing queries (they read the replica) and visible to the alert
# pass's crossing query (every read that decides a send goes to the writer). Fails (never
# skips) without the stack or its replica.
# Usage: test_replica.sh ADVANCE_CAS_BINARY
BIN=${1:?binary}
# shellcheck source=../kafka/lib.sh
. "$(dirname "$0")/../kafka/lib.sh"
need_stack
[ -n "${TW_DB_URL:-}" ] || fail "no PostgreSQL in the stack env: run scripts/stack.sh up"
[ -n "${TW_DB_READ_URL:-}" ] || fail "no replica in the stack env (TW_DB_READ_URL): run scripts/stack.sh up"

db="tw_it_replica_$$_$(date +%s)"
url="${TW_DB_URL%/*}/$db"
rurl="${TW_DB_READ_URL%/*}/$db"
rsql() { psql "$rurl" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
psql "$TW_DB_URL" -X -q -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"
cleanup() {
	psql "$TW_DB_READ_URL" -X -q -c "SELECT pg_wal_replay_resume()" >/dev/null 2>&1
	psql "$TW_DB_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT
[ "$(psql "$TW_DB_READ_URL" -X -A -t -q -c "SELECT pg_is_in_recovery()")" = t ] ||
	fail "TW_DB_READ_URL is not a standby"

timeout 120 "$BIN" "$url" replica-setup "$rurl" || fail "the setup on the primary failed"
# the replica catches up with the setup, then its replay is held
for _ in $(seq 1 300); do
	[ "$(rsql "SELECT count(*) FROM users WHERE email = 'lag@replica.test'" 2>/dev/null)" = 1 ] && break
	sleep 0.1
done
[ "$(rsql "SELECT high FROM users WHERE email = 'lag@replica.test'")" = 200 ] ||
	fail "the replica never received the setup"
psql "$TW_DB_READ_URL" -X -q -c "SELECT pg_wal_replay_pause()" >/dev/null ||
	fail "cannot pause the replica's replay"
timeout 120 "$BIN" "$url" replica-check "$rurl" ||
	fail "a read that decides a send went to the lagging replica (or a step failed)"
[ "$(rsql "SELECT high FROM users WHERE email = 'lag@replica.test'")" = 200 ] ||
	fail "the replica was not held behind during the check"
ok "with the replica held behind, user-facing reads see it; the crossing query reads the writer"
exit 0
