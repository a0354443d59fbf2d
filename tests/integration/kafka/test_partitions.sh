#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_partitions.sh - [kafka] partitions on the real 3-broker cluster: the admin role grows
# both existing topics to a larger P with CreatePartitions (kcat sees P partitions, each with
# 3 replicas), and a smaller P never shrinks them: the topics keep their partitions and the
# log says so. The topics grow by 2 each run (a topic never shrinks), whatever they had.
# Usage: test_partitions.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack

work=$(mktemp -d /tmp/tw-it-parts.XXXXXX)
trap 'agent_stop; rm -rf "$work"' EXIT

nparts() { # TOPIC: partitions kcat sees (0: missing)
	kcat -b "$TW_KAFKA_BOOTSTRAP" -L -J -m 10 -t "$1" 2>/dev/null |
		json "sum(len(x['partitions']) for x in d['topics'] if x['topic']=='$1' and not x.get('error'))"
}
admin_run() { # DIR P: one admin start, until the topics are ready, then stop
	mkdir -p "$1"
	TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP TICKWATCH_KAFKA_REPLICATION=3 \
		TICKWATCH_KAFKA_PARTITIONS=$2 agent_start "$1" --roles admin --console -
	wait_until 90 "admin: topics ready with P=$2" log_has "\[admin\] topics ready"
	agent_stop
}

# The topics exist (created now with 1 partition, or left by earlier tests).
admin_run "$work/a" 1
a=$(nparts to-alert-system) n=$(nparts to-notifier)
[ "$a" -ge 1 ] && [ "$n" -ge 1 ] || fail "topics missing after the admin said ready ($a, $n)"
have=$((a > n ? a : n))
want=$((have + 2))
note "topics have $a and $n partition(s); asking for $want"

admin_run "$work/b" "$want"
for t in to-alert-system to-notifier; do
	grep -q "\[admin\] growing topic $t from [0-9]* to $want partitions" "$work/b/log" ||
		fail "no 'growing topic $t' line: $(grep '\[admin\]' "$work/b/log" | tail -5)"
	grep -q "\[admin\] topic $t grown to $want partitions" "$work/b/log" || fail "$t: no 'grown' line"
	got=$(nparts "$t")
	[ "$got" = "$want" ] || fail "$t has $got partitions after growing to $want (kcat)"
	bad=$(kcat -b "$TW_KAFKA_BOOTSTRAP" -L -J -m 10 -t "$t" 2>/dev/null |
		json "[p['partition'] for x in d['topics'] if x['topic']=='$t' for p in x['partitions'] if len(p['replicas']) != 3]")
	[ "$bad" = "[]" ] || fail "$t: new partitions without 3 replicas: $bad"
	ok "$t grown to $want partitions, each with 3 replicas (kcat)"
done
grep -q "\[admin\] topics ready (0 created, 2 grown)" "$work/b/log" || fail "ready line lacks '2 grown'"
ok "the admin reports 2 topics grown"

# Once more with the same P: nothing to do.
admin_run "$work/c" "$want"
grep -q "growing topic" "$work/c/log" && fail "grew again at the same P"
grep -q "\[admin\] topics ready (0 created, 0 grown)" "$work/c/log" || fail "same P: not '0 grown'"
ok "the same P leaves the topics as they are"

# A smaller P: never shrunk, and said so.
admin_run "$work/d" $((want - 1))
for t in to-alert-system to-notifier; do
	grep -q "\[admin\] topic $t has $want partitions, more than \[kafka\] partitions $((want - 1)): left as it is (a topic never shrinks" "$work/d/log" ||
		fail "$t: no 'never shrinks' warning: $(grep '\[admin\]' "$work/d/log" | tail -5)"
	[ "$(nparts "$t")" = "$want" ] || fail "$t changed its partition count under a smaller P"
done
ok "a smaller P leaves both topics at $want partitions and warns that a topic never shrinks"
