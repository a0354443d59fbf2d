#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_buckets.sh - the collection buckets and the admin report lock (agent/cqrs/buckets.c) on
# the stack's real PostgreSQL, in a fresh database: buckets_it checks every split against
# pg_locks. Fails (never skips) without the stack. Usage: test_buckets.sh BUCKETS_IT_BINARY
BIN=${1:?binary}
# shellcheck source=../kafka/lib.sh
. "$(dirname "$0")/../kafka/lib.sh"
need_stack
[ -n "${TW_DB_URL:-}" ] || fail "no PostgreSQL in the stack env: run scripts/stack.sh up"
db="tw_it_buckets_$$_$(date +%s)"
url="${TW_DB_URL%/*}/$db"
psql "$TW_DB_URL" -X -q -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"
trap 'psql "$TW_DB_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1' EXIT
timeout 120 "$BIN" "$url" || fail "a bucket split was wrong (or a claim failed)"
left=$(psql "$url" -X -A -t -q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
[ "$left" = 0 ] || fail "$left advisory locks left after every session closed"
ok "no advisory lock outlives its sessions"
echo "1 passed, 0 failed"
