#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_advance_cas.sh - AdvanceAlert's compare-and-set and the retention Prune in a fresh
# database of the stack's real PostgreSQL (advance_cas drives the cqrs calls the alert role and
# the collector make): a threshold change, a ticker change, or a deletion and new registration
# landing between a crossing decision and its advance leaves the re-arm standing; Prune deletes
# rows older than the age in batches of its limit and keeps the newer ones (and every ticker's
# latest quote). Fails (never skips) without the stack.
# Usage: test_advance_cas.sh ADVANCE_CAS_BINARY
BIN=${1:?binary}
# shellcheck source=../kafka/lib.sh
. "$(dirname "$0")/../kafka/lib.sh"
need_stack
[ -n "${TW_DB_URL:-}" ] || fail "no PostgreSQL in the stack env: run scripts/stack.sh up"

db="tw_it_cas_$$_$(date +%s)"
url="${TW_DB_URL%/*}/$db"
psql "$TW_DB_URL" -X -q -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"
trap 'psql "$TW_DB_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1' EXIT
sql() { psql "$url" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

timeout 120 "$BIN" "$url" cas || fail "an advance overwrote a re-arm (or a step failed)"
# the rows as PostgreSQL holds them: the users' states after the races
[ "$(sql "SELECT count(*) FROM alert_state WHERE email = 'reborn@cas.test' AND last_condition IS NOT NULL")" = 0 ] ||
	fail "the user registered again carries its first life's suppression state"
[ "$(sql "SELECT count(DISTINCT generation) FROM users")" = "$(sql "SELECT count(*) FROM users")" ] ||
	fail "two users share a generation"

# retention: 25 rows older than 40 days and 5 new ones in each table
sql "INSERT INTO sent_notifications (notification_id, email, sent_at)
       SELECT 'old' || i, 'o@p.test', now() - interval '40 days' - i * interval '1 s' FROM generate_series(1, 25) i;
     INSERT INTO sent_notifications (notification_id, email) SELECT 'new' || i, 'n@p.test' FROM generate_series(1, 5) i;
     INSERT INTO dead_letters (notification_id, email, payload, reason, attempts, created_at)
       SELECT 'old' || i, 'o@p.test', '{}', 'r', 1, now() - interval '40 days' FROM generate_series(1, 25) i;
     INSERT INTO dead_letters (notification_id, email, payload, reason, attempts)
       SELECT 'new' || i, 'n@p.test', '{}', 'r', 1 FROM generate_series(1, 5) i;
     INSERT INTO rpc_requests (request_id, method, params_hash, created_at)
       SELECT 'old' || i, 'm', 'h', now() - interval '40 days' FROM generate_series(1, 25) i;
     INSERT INTO rpc_requests (request_id, method, params_hash) SELECT 'new' || i, 'm', 'h' FROM generate_series(1, 5) i;
     INSERT INTO quotes (ticker, at, value)
       SELECT 'OLDQ', now() - interval '40 days' - i * interval '1 min', 10 + i FROM generate_series(1, 25) i;
     INSERT INTO quotes (ticker, at, value) SELECT 'NEWQ', now() - i * interval '1 min', 5 FROM generate_series(1, 5) i" >/dev/null ||
	fail "cannot fill the tables"
timeout 120 "$BIN" "$url" prune || fail "a prune batch deleted the wrong number of rows"
[ "$(sql "SELECT count(*) FROM sent_notifications WHERE notification_id LIKE 'new%'")" = 5 ] || fail "new ledger rows pruned"
[ "$(sql "SELECT count(*) FROM sent_notifications WHERE notification_id LIKE 'old%'")" = 0 ] || fail "old ledger rows kept"
[ "$(sql "SELECT count(*) FROM dead_letters")" = 5 ] || fail "dead_letters: not exactly the 5 new rows left"
[ "$(sql "SELECT count(*) FROM rpc_requests WHERE request_id LIKE 'new%'")" = 5 ] || fail "new request ids pruned"
[ "$(sql "SELECT count(*) FROM rpc_requests WHERE request_id LIKE 'old%'")" = 0 ] || fail "old request ids kept"
[ "$(sql "SELECT count(*) || ' ' || min(value) FROM quotes WHERE ticker = 'OLDQ'")" = "1 11" ] ||
	fail "OLDQ: not exactly its latest quote left: $(sql "SELECT count(*), min(value) FROM quotes WHERE ticker = 'OLDQ'")"
[ "$(sql "SELECT count(*) FROM quotes WHERE ticker = 'NEWQ'")" = 5 ] || fail "new quotes pruned"
ok "AdvanceAlert compare-and-set keeps re-arms (threshold, ticker, new registration); Prune deletes old rows in batches, keeps new ones and each ticker's latest quote"
exit 0
