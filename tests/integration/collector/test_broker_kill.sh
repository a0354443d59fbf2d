#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_broker_kill.sh - the leader of to-alert-system is SIGKILLed while the collector runs a
# cycle a second: every wake-up the agent logged as sent is on the topic (none lost), and the
# agent keeps collecting. The broker is started again at the end, even on failure.
# Usage: test_broker_kill.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-kill.XXXXXX)"
victim=
cleanup() {
	[ -n "$victim" ] && "$STACK" kafka-start "$victim" >/dev/null 2>&1
	collector_cleanup
}
trap cleanup EXIT

# Every request moves its ticker's market time on: each cycle stores new quotes and wakes.
qctl set -d advance=request
collector_start
wait_until 30 "two wake-ups before the kill" bash -c "[ \$(grep -c 'wake-up sent' '$WORK/log') -ge 2 ]"
victim=$(kcat -b "$TW_KAFKA_BOOTSTRAP" -L -J -m 10 -t to-alert-system 2>/dev/null |
	json "[p['leader'] for t in d['topics'] for p in t['partitions'] if p['partition'] == 0][0]")
[ "$victim" -ge 1 ] 2>/dev/null || fail "no leader found for to-alert-system"
before=$(grep -c 'wake-up sent' "$WORK/log")
note "killing broker $victim, leader of to-alert-system, after $before wake-ups"
"$STACK" kafka-kill "$victim" >/dev/null || fail "kafka-kill $victim"
kill_line=$(wc -l <"$WORK/log")
wait_until 60 "6 more wake-ups with broker $victim down" bash -c "[ \$(grep -c 'wake-up sent' '$WORK/log') -ge $((before + 6)) ]"
ok "collection went on with broker $victim down"
"$STACK" kafka-start "$victim" >/dev/null || fail "kafka-start $victim"
victim=
wait_until 60 "2 more wake-ups after the restart" bash -c "[ \$(grep -c 'wake-up sent' '$WORK/log') -ge $((before + 8)) ]"
agent_stop
grep -q "given up\|wake-up of cycle [0-9]* lost\|not queued" "$WORK/log" && fail "the agent gave up a wake-up"
logged=$(logged_wakeups)
topic=$(topic_wakeups) || fail "bad wake-up JSON on the topic"
missing=$(comm -23 <(sort <<<"$logged") <(awk '{print $1}' <<<"$topic" | sort -u))
[ -z "$missing" ] || fail "wake-ups logged as sent but not on the topic: cycles $(paste -sd, <<<"$missing")"
dups=$(awk '{print $1}' <<<"$topic" | uniq -d | paste -sd,)
[ -z "$dups" ] || note "re-sent wake-ups present twice (at-least-once): cycles $dups"
resent=$(tail -n +"$kill_line" "$WORK/log" | grep -c "sending it again")
ok "no lost wake-up: $(wc -l <<<"$logged") logged, all on the topic ($resent re-sent by the agent)"
