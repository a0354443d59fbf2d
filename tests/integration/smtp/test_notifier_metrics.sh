#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_notifier_metrics.sh - the notifier's /metrics families and [smtp] max_rate on the real stack.
# An agent with --roles admin,notifier,http and [smtp] max_rate = 2 gets a batch of e-mails (with
# a repeated id, a recipient who is no user, and a 550): the relay's own receipt times obey the
# documented bound (in any window of W seconds at most burst + max_rate x W e-mails; burst = 2
# here; one e-mail of slack for the relay's receipt jitter), the notifier logged its waits, and
# /metrics passes `promtool check metrics` with counts equal to what the mail folder, the ledger
# and the dead letters hold. A bad max_rate is refused with a clear error.
# Private database of the stack's PostgreSQL; fails (never skips) without the stack.
# Usage: test_notifier_metrics.sh TICKWATCH_BINARY
# shellcheck disable=SC2154 # work (and the rest of the suite's setup): set by smtp_suite, lib.sh
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
smtp_suite metrics
RATE=2 BURST=2 # the burst: one second's e-mails, at most a batch (docs/smtp.md)

# 0. a bad value is refused, naming the key and what it allows
printf '[smtp]\nmax_rate = 1.5\n' >"$work/bad.ini"
"$TW_BIN" config check "$work/bad.ini" >"$work/bad.out" 2>&1 && fail "max_rate = 1.5 accepted"
grep -q "\[smtp\] max_rate: '1.5' is not valid (allowed: a whole number from 0 to 100000)" "$work/bad.out" ||
	fail "unclear error: $(cat "$work/bad.out")"
ok "a bad [smtp] max_rate is refused: $(cat "$work/bad.out")"

HTTP_PORT=$((21000 + $$ % 20000))
smtp_agent admin,notifier,http TICKWATCH_SMTP_TIMEOUT=5s TICKWATCH_SMTP_MAX_RATE=$RATE \
	TICKWATCH_HTTP_LISTEN="127.0.0.1:$HTTP_PORT"
log_has "at most $RATE e-mails a second (burst $BURST)" || fail "the notifier did not log its max_rate"
smtp_warm

# 1. eleven to send, a repeat of one of them, a recipient who is no user; one of them 550s
ids=() mails=()
for i in $(seq 0 9); do ids+=("$(newid)"); mails+=("m$i-$RUN@example.test"); done
bad=$(newid) nu=$(newid)
user "${mails[@]}" "bad-$RUN@example.test"
"$STACK" smtp-mode 550 "bad-$RUN@example.test" >/dev/null || fail "smtp-mode 550"
{
	for i in $(seq 0 9); do notif "${ids[$i]}" "${mails[$i]}"; done
	notif "${ids[3]}" "${mails[3]}"
	notif "$nu" "nouser-$RUN@example.test"
	notif "$bad" "bad-$RUN@example.test"
} >"$work/batch"
produce <"$work/batch"
for id in "${ids[@]}"; do wait_until 120 "mail for $id" has_files "$id"; done
wait_until 60 "the 550's dead letter" sql_is "SELECT count(*) FROM dead_letters WHERE notification_id = '$bad'" 1
wait_until 30 "the no-user message dropped" log_has "$nu: nouser-$RUN@example.test no longer has"
"$STACK" smtp-mode normal >/dev/null
for id in "${ids[@]}"; do [ "$(count_for "$id")" -eq 1 ] || fail "$id delivered $(count_for "$id") times"; done

# 2. the rate, on the relay's own clock: every window between two receipts
for id in "${ids[@]}"; do received_ns "$id"; done | sort -n >"$work/times"
$PY - "$work/times" "$RATE" "$BURST" <<'EOF' || fail "the relay received more than max_rate allows"
import sys
t = [int(x) / 1e9 for x in open(sys.argv[1]).read().split()]
rate, burst = int(sys.argv[2]), int(sys.argv[3])
worst = 0.0
for i in range(len(t)):
    for j in range(i, len(t)):
        n, w = j - i + 1, t[j] - t[i]
        worst = max(worst, n - (burst + rate * w))
        if n > burst + rate * w + 1:
            sys.exit("%d e-mails in %.3f s (allowed %.2f + 1)" % (n, w, burst + rate * w))
print("  . worst window: %.2f e-mails over the bound (slack 1)" % worst, file=sys.stderr)
EOF
log_has "\[smtp\] max_rate $RATE/s: " || fail "no log line of a max_rate wait"
ok "[smtp] max_rate $RATE: the relay's receipts stay within burst + rate x window; the waits logged"

# 3. /metrics: valid, and its counts are what the folder, the ledger and dead_letters hold
curl -s -m 10 -o "$work/metrics" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/metrics" >"$work/code" ||
	fail "curl /metrics"
[ "$(cat "$work/code")" = 200 ] || fail "/metrics answered $(cat "$work/code")"
promtool check metrics <"$work/metrics" >"$work/promtool" 2>&1 || fail "promtool: $(cat "$work/promtool")"
metric() { # metric NAME [LABELS] : its value on the page
	local k=$1
	[ -z "${2:-}" ] || k="$1{$2}"
	awk -v k="$k" '$1 == k { print $2 }' "$work/metrics"
}
is() { [ "$(metric "$1" "${2:-}")" = "$3" ] || fail "$1{${2:-}} is '$(metric "$1" "${2:-}")', expected $3"; }
in_folder=$(grep -l -F "($RUN)" "$TW_MAIL_DIR"/*.eml | wc -l)
[ "$in_folder" -eq 11 ] || fail "$in_folder e-mails of this run in the folder, expected 11"
is tickwatch_notifier_emails_total 'result="sent"' "$in_folder"
is tickwatch_notifier_emails_total 'result="sent"' "$(sql "SELECT count(*) FROM sent_notifications WHERE state = 'sent'")"
# the repeat: a duplicate in its batch, or skipped (already sent) in the next (10 a batch)
[ $(($(metric tickwatch_notifier_emails_total 'result="duplicate"') + $(metric tickwatch_notifier_emails_total 'result="skipped"'))) -eq 1 ] ||
	fail "the repeated id counted $(metric tickwatch_notifier_emails_total 'result="duplicate"') duplicate + $(metric tickwatch_notifier_emails_total 'result="skipped"') skipped"
is tickwatch_notifier_emails_total 'result="gone"' 1
is tickwatch_notifier_emails_total 'result="dead"' "$(sql "SELECT count(*) FROM dead_letters")"
is tickwatch_notifier_emails_total 'result="dead"' 1
is tickwatch_notifier_emails_total 'result="deferred"' 0
is tickwatch_notifier_emails_total 'result="malformed"' 0
is tickwatch_notifier_retries_total 'event="deferred"' "$(sql "SELECT count(*) FROM notify_retry")"
is tickwatch_notifier_smtp_breaker_state '' 0
sessions=$(metric tickwatch_notifier_smtp_sessions_total)
# each accepted file names its session's client port in the relay's log: at least that many sessions
ports=$(for id in "${ids[@]}"; do
	n=$(basename "$(files_for "$id")")
	grep -F "accepted $n" "$TW_STACK_DIR/smtp/smtp.log" | sed -n "s/.*('127.0.0.1', \([0-9]*\)).*/\1/p"
done | sort -u | wc -l)
[ "$sessions" -ge "$((ports + 1))" ] || fail "$sessions sessions counted, the relay saw $ports for the batch (+1 warm-up)"
# 11 e-mails to send in the batch, at most BURST a session: at least 6
[ "$ports" -ge 5 ] || fail "the 10 delivered e-mails came in $ports sessions (at most $BURST a session)"
is tickwatch_notifier_smtp_session_seconds_count '' "$sessions"
is tickwatch_notifier_smtp_session_seconds_bucket 'le="+Inf"' "$sessions"
[ "$(metric tickwatch_notifier_rate_waits_total)" -ge 1 ] || fail "no max_rate wait counted"
batches=$(metric tickwatch_notifier_batches_total)
[ "$batches" -ge 2 ] || fail "batches_total $batches"
is tickwatch_notifier_commits_total '' "$batches"
# every batch committed and nothing produced since: each partition it took from is 0 behind
lag=$(awk '$1 ~ /^tickwatch_notifier_consumer_lag\{topic="to-notifier",partition="[0-9]+"\}$/ { n++; s += $2 } END { print n + 0, s + 0 }' "$work/metrics")
[ "${lag% *}" -ge 1 ] || fail "no consumer lag sample for to-notifier"
[ "${lag#* }" -eq 0 ] || fail "consumer lag ${lag#* } after every batch was committed"
ok "/metrics: promtool passes; sent $in_folder = the folder = the ledger, the repeat 1, gone 1, dead 1, $sessions sessions, lag 0 on ${lag% *} partition(s)"
exit 0
