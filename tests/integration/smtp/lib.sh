# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# lib.sh - the notifier suites' shared setup (test_notifier.sh, test_retry.sh, test_fairness.sh,
# test_notifier_metrics.sh): the stack's env and the agent helpers of ../kafka/lib.sh, a private
# database of the stack's PostgreSQL (dropped on exit), signed to-notifier messages made as the
# alert role makes them (HMAC-SHA256 under notif_key's key of every byte before "sig"), users,
# the mail folder, and an agent started on the stack's STARTTLS relay. Sourced after TW_BIN is
# exported; every test fails (never skips) without the stack.
#
#   smtp_suite NAME       the stack checks, $work, $db, $URL, $RUN and the EXIT trap
#   smtp_agent ROLES ENV= ... start the agent with the relay's settings plus ENV=VALUE pairs, and
#                         wait until it has its topics, schema and signing key
#   smtp_warm             one e-mail through, so the consumer has its partition and fetches live
#                         (and no dead letter: the drain left no backlog of other suites)
#   smtp_sentinel         one more e-mail through: the event a "no second copy" check waits for
# shellcheck source=../kafka/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../kafka/lib.sh"

# the body as JSON string text (\n: a line feed once decoded)
NOTIF_BODY=${NOTIF_BODY:-'AAPL traded at 191.23, above your high threshold of 190.00.\n'}
PRODUCE_ARGS=${PRODUCE_ARGS:-}

smtp_suite() {
	local name=$1
	need_stack
	[ -n "${TW_SMTP_PORT_STARTTLS:-}" ] || fail "no SMTP in the stack env: run scripts/stack.sh up"
	"$STACK" smtp-mode normal >/dev/null 2>&1 || fail "the stack's SMTP server does not answer"
	work=$(mktemp -d "/tmp/tw-it-$name.XXXXXX")
	db="tw_it_${name}_$$_$(date +%s)"
	URL="${TW_DB_URL%/*}/$db"
	SUITE=$name
	psql "$TW_DB_URL" -X -q -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"
	trap 'agent_stop; "$STACK" smtp-mode normal >/dev/null 2>&1; cp "$work/log" "/tmp/tw-it-$SUITE-last.log" 2>/dev/null; rm -rf "$work"; psql "$TW_DB_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1' EXIT
	RUN=$(date +%s%N)
}

newid() { $PY -c 'import uuid; print(uuid.uuid4().hex)'; }
sql() { psql "$URL" -X -A -t -q -c "$1"; }
sql_is() { [ "$(sql "$1" 2>/dev/null)" = "$2" ]; }
# notif_value ID EMAIL : the signed contract message (docs/notifications.md)
notif_value() {
	local pre key
	pre=$(printf '{"v":2,"id":"%s","email":"%s","ticker":"AAPL","value":191.23,"threshold":190.0,"condition":"higher","quote_time":1767225600,"subject":"AAPL is above 190.00: 191.23 (%s)","body":"%s",' \
		"$1" "$2" "$RUN" "$NOTIF_BODY")
	key=$(sql "SELECT key FROM notif_key")
	printf '%s"sig":"%s"}\n' "$pre" \
		"$(printf '%s' "$pre" | openssl dgst -sha256 -hmac "$key" -r | cut -d' ' -f1)"
}
# notif ID EMAIL : key|value for kcat -K '|'
notif() { printf '%s|%s' "$2" "$(notif_value "$1" "$2")"; echo; }
# shellcheck disable=SC2086 # PRODUCE_ARGS: words on purpose (e.g. "-p 0")
produce() { kcat -P -b "$TW_KAFKA_BOOTSTRAP" -t to-notifier $PRODUCE_ARGS -K '|' || fail "kcat produce"; }
files_for() { grep -l -F "Message-ID: <$1@tickwatch>" "$TW_MAIL_DIR"/*.eml 2>/dev/null; }
count_for() { files_for "$1" | wc -l; }
has_files() { [ "$(count_for "$1")" -ge 1 ]; }
# user EMAIL... : registered, watching AAPL with a high threshold (the alert the messages are for)
user() { for e in "$@"; do sql "INSERT INTO users (email, ticker, high) VALUES ('$e', 'AAPL', 190)" >/dev/null || fail "cannot register $e"; done; }
# received_ns ID : the relay's receipt time of ID's file (its name: <ns-time>-<pid>-<seq>.eml)
received_ns() { basename "$(files_for "$1" | head -n 1)" | cut -d- -f1; }

smtp_agent() {
	local roles=$1
	shift
	# The shared topic may hold a backlog left by other suites or benchmarks: move the group
	# past it first, so the test sends only its own e-mails.
	drain_group tickwatch-notifier to-notifier
	# (agent_start runs $TW_BIN from this shell: the settings are exported for it)
	local kv
	export TICKWATCH_KAFKA_BOOTSTRAP="$TW_KAFKA_BOOTSTRAP" TICKWATCH_DB_WRITE_URL="$URL" \
		TICKWATCH_DB_READ_URL="$URL" TICKWATCH_SMTP_HOST="$TW_SMTP_HOST" \
		TICKWATCH_SMTP_PORT="$TW_SMTP_PORT_STARTTLS" TICKWATCH_SMTP_MODE=starttls \
		TICKWATCH_SMTP_USER="$TW_SMTP_USER" TICKWATCH_SMTP_PASSWORD="$TW_SMTP_PASSWORD" \
		TICKWATCH_SMTP_CA_FILE="$TW_CA_FILE" TICKWATCH_SMTP_FROM="Tickwatch <alerts@tickwatch.test>"
	for kv in "$@"; do export "${kv?}"; done
	agent_start "$work" --roles "$roles" --console -
	wait_until 30 "notifier started" log_has "\[notifier\] SMTP"
	# The topics come from the admin role (producers never create them).
	wait_until 60 "admin: topics ready" log_has "\[admin\] topics ready"
	# the messages are signed with the key the agent's migration made
	wait_until 60 "the signing key in notif_key" sql "SELECT key FROM notif_key"
	wait_until 60 "the schema in $db" sql "SELECT 1 FROM users LIMIT 0"
}

smtp_warm() {
	local warm
	warm=$(newid)
	user "warm-$RUN@example.test"
	notif "$warm" "warm-$RUN@example.test" | produce
	wait_until 90 "the warm-up mail" has_files "$warm"
	# the drain left no backlog for this agent: it dead-lettered nothing it was not sent here
	[ "$(sql "SELECT count(*) FROM dead_letters")" = 0 ] ||
		fail "the agent read another suite's backlog: $(sql "SELECT count(*) FROM dead_letters") dead letters before the test sent any"
}

# smtp_sentinel : one more e-mail through, produced now (to the partition PRODUCE_ARGS names) and
# delivered: the positive event after which a negative check ("no second copy") is made, instead
# of a fixed sleep -- the notifier finished what it had in work before it (a Kafka batch or a
# unit of re-driven rows) and took a new batch.
smtp_sentinel() {
	local s
	s=$(newid)
	user "s-$s@example.test"
	notif "$s" "s-$s@example.test" | produce
	wait_until 90 "a later e-mail (the sentinel $s)" has_files "$s"
}
