# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# lib.sh - the collector suites' setup: a fresh database, users, a unique agent name, the
# quote server reset, the agent running admin+collector with a 1 s interval; and checks of
# the wake-ups on to-alert-system against the cycles the agent logged.
# shellcheck source=../kafka/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../kafka/lib.sh"

qstate() { curl -sf -m 10 "$TW_QUOTES_CONTROL/state" || fail "quote server state unreadable"; }
# qget EXPR : EXPR of the quote server's state (d: the /state JSON)
qget() { qstate | json "$1"; }
qctl() { curl -sf -m 10 -X POST "$TW_QUOTES_CONTROL/$1" "${@:2}" >/dev/null || fail "quote server control $1 failed"; }
scen() { json "$1" <"$TW_QUOTES_SCENARIO"; }
sql() { psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# collector_setup WORKDIR : database, environment, quote server at step 0
collector_setup() {
	WORK=$1
	RUN_ID=$(date +%s)$$$RANDOM
	AGENT_NAME=itc$RUN_ID
	DB_NAME=tw_itc_$RUN_ID
	DB_URL="${TW_DB_URL%/*}/$DB_NAME"
	psql "$TW_DB_URL" -XAtq -c "CREATE DATABASE $DB_NAME" || fail "cannot create database $DB_NAME"
	qctl reset
	export TICKWATCH_AGENT_NAME=$AGENT_NAME TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP \
		TICKWATCH_DB_WRITE_URL=$DB_URL TICKWATCH_QUOTES_SOURCE=yahoo \
		TICKWATCH_QUOTES_BASE=$TW_QUOTES_BASE TICKWATCH_QUOTES_CA_FILE=$TW_CA_FILE \
		TICKWATCH_QUOTES_INTERVAL=1s TICKWATCH_QUOTES_MAX_AGE=3650d \
		TICKWATCH_QUOTES_TIMEOUT=3s TICKWATCH_QUOTES_BREAKER_FAILURES=3 \
		TICKWATCH_QUOTES_BREAKER_RECOVERY=2s TICKWATCH_KAFKA_REPORT_INTERVAL=1h \
		TICKWATCH_QUOTES_RATE=100
}

collector_cleanup() {
	agent_stop
	[ -n "${WORK:-}" ] && [ -f "$WORK/log" ] && cp "$WORK/log" "/tmp/tw-it-collector-last.log"
	curl -sf -m 10 -X POST "$TW_QUOTES_CONTROL/reset" >/dev/null 2>&1 || true
	[ -n "${DB_NAME:-}" ] && psql "$TW_DB_URL" -XAtq -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
}

# Start the agent and give it users once its schema is in place.
collector_start() {
	agent_start "$WORK" --roles admin,collector --console -
	wait_until 60 "the agent's schema in $DB_NAME" sql "SELECT 1 FROM users LIMIT 1"
	wait_until 60 "topics ready" log_has "\[admin\] topics ready"
	sql "INSERT INTO users (email, ticker) VALUES ('a@it.example', 'AAPL'), ('b@it.example', 'MSFT'),
	     ('c@it.example', 'NVDA'), ('d@it.example', 'SAP.DE'), ('e@it.example', 'ZZZZ'),
	     ('f@it.example', 'AAPL')"
}

# rows_from STEP SOURCE : the quotes of STEP stored with that source
rows_from() { sql "SELECT count(*) FROM quotes WHERE source = '$2' AND at = to_timestamp($(($(scen 'd["start_time"]') + $1 * $(scen 'd["step_seconds"]'))))"; }
has_rows_from() { [ "$(rows_from "$1" "$2")" = "$3" ]; }
# cycles_after LINE : cycle lines the agent logged after log line LINE
cycles_after() { tail -n +"$1" "$AGENT_DIR/log" | grep -c "\[collector\] cycle [0-9]*:" || true; }

# rows_at STEP : the quotes stored for the scenario time of STEP
rows_at() { sql "SELECT count(*) FROM quotes WHERE at = to_timestamp($(($(scen 'd["start_time"]') + $1 * $(scen 'd["step_seconds"]'))))"; }
has_rows_at() { [ "$(rows_at "$1")" = "$2" ]; }

# Cycles whose wake-up the agent logged as sent, one per line, sorted.
logged_wakeups() { grep -o "\[collector\] cycle [0-9]*: .*wake-up sent" "$AGENT_DIR/log" | awk '{print $3}' | tr -d ':' | sort -n; }
# The wake-ups of this agent found on to-alert-system: "cycle tickers saved" per line, sorted.
topic_wakeups() {
	kcat -b "$TW_KAFKA_BOOTSTRAP" -C -t to-alert-system -o beginning -e -q -f '%k\t%s\n' 2>/dev/null |
		awk -F'\t' -v k="$AGENT_NAME" '$1 == k {print $2}' |
		$PY -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l)
    assert set(d) == {"cycle", "time", "tickers", "saved", "agent"}, d
    print(d["cycle"], d["tickers"], d["saved"])' | sort -n
}
