#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_admin_lock.sh - one cluster report for the fleet: two agents with the admin role on the
# same database (the stack's PostgreSQL) and the real 3-broker cluster, reporting every 2 s;
# only the holder of the report lock logs the periodic report (pg_locks shows one holder) while
# the other says it stands by; SIGKILL the holder and the other takes the reports over.
# Usage: test_admin_lock.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
[ -n "${TW_DB_URL:-}" ] || fail "no PostgreSQL in the stack env"

work=$(mktemp -d /tmp/tw-it-adminlock.XXXXXX)
db="tw_it_adminlock_$$_$(date +%s)"
url="${TW_DB_URL%/*}/$db"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	psql "$TW_DB_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
psql "$TW_DB_URL" -X -q -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"

start() { # NAME
	TICKWATCH_AGENT_NAME=$1 TICKWATCH_AGENT_LOG_LEVEL=debug TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP \
		TICKWATCH_KAFKA_REPORT_INTERVAL=2s TICKWATCH_DB_WRITE_URL=$url \
		"$TW_BIN" run --roles admin --console none >"$work/$1.out" 2>"$work/$1.log" &
	pids+=($!)
}
reports() { grep -c "\[admin\] cluster .*broker(s), controller" "$work/$1.log" || true; }
standby() { grep -c "\[admin\] another agent reports the cluster" "$work/$1.log" || true; }

start a1
wait_until 60 "a1: topics ready" grep -q "\[admin\] topics ready" "$work/a1.log"
wait_until 30 "a1 reports" bash -c "[ \$(grep -c '\[admin\] cluster .*controller' '$work/a1.log') -ge 2 ]"
start a2
wait_until 60 "a2 stands by twice" bash -c "[ \$(grep -c 'another agent reports the cluster' '$work/a2.log') -ge 2 ]"
r1=$(reports a1) r2=$(reports a2) s2=$(standby a2)
# Two more report periods of a2's own, proved by its log: each period a2 claims the lock and
# either reports or stands by, so two more stand-bys mean two periods decided; a1 reported in
# them too. Only then is "a2 did not report" a finding.
wait_until 60 "two more report periods of a2 (standing by)" bash -c "[ \$(grep -c 'another agent reports the cluster' '$work/a2.log') -ge $((s2 + 2)) ]"
wait_until 60 "a1 reports on" bash -c "[ \$(grep -c '\[admin\] cluster .*controller' '$work/a1.log') -gt $r1 ]"
[ "$(reports a2)" = "$r2" ] || fail "a2 reported while a1 holds the lock ($r2 -> $(reports a2))"
holders=$(psql "$url" -X -A -t -q -c "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND classid = 74772000 AND granted")
[ "$holders" = 1 ] || fail "$holders sessions hold the admin report lock"
ok "one agent reports the cluster, the other stands by (pg_locks: one holder)"

kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
r2=$(reports a2)
wait_until 60 "a2 takes the reports over" bash -c "[ \$(grep -c '\[admin\] cluster .*controller' '$work/a2.log') -ge $((r2 + 2)) ]"
ok "after SIGKILL of the reporting agent the other takes the reports over"
echo "1 passed, 0 failed"
