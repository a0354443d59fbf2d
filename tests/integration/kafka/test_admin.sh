#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_admin.sh - the admin role on the real 3-broker cluster: topics with RF 3 and
# min.insync.replicas 2 (checked with kcat and Kafka's own ConfigCommand), the periodic
# report and the console's "kafka" command list 3 brokers and each partition's ISR.
# Usage: test_admin.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack

work=$(mktemp -d /tmp/tw-it-admin.XXXXXX)
trap 'agent_stop; rm -rf "$work"' EXIT

TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP TICKWATCH_KAFKA_REPORT_INTERVAL=2s \
	TICKWATCH_KAFKA_REPLICATION=3 TICKWATCH_KAFKA_PARTITIONS=1 \
	agent_start "$work" --roles admin --console -
wait_until 60 "admin: topics ready" log_has "\[admin\] topics ready"
if log_has "topic to-alert-system created"; then note "the topics were created by this run"
else log_has "topic to-alert-system exists, left as it is" || fail "neither created nor found existing"
	note "the topics existed: left as they are"; fi
ok "admin reports the topics ready"

# The cluster's view, through kcat: every partition has 3 replicas and the ISR is a subset.
for t in to-alert-system to-notifier; do
	md=$(kcat -b "$TW_KAFKA_BOOTSTRAP" -L -J -m 10 -t "$t" 2>/dev/null) || fail "kcat -L -t $t"
	np=$(json "len([p for x in d['topics'] if x['topic']=='$t' for p in x['partitions']])" <<<"$md")
	[ "$np" -ge 1 ] || fail "$t has no partitions in metadata"
	bad=$(json "[p['partition'] for x in d['topics'] if x['topic']=='$t' for p in x['partitions'] if len(p['replicas']) != 3]" <<<"$md")
	[ "$bad" = "[]" ] || fail "$t partitions without 3 replicas: $bad"
	ok "$t: $np partition(s), replication factor 3 (kcat)"
	cfg=$(java -cp "$TW_KAFKA_JARS/*" kafka.admin.ConfigCommand --bootstrap-server "$TW_KAFKA_BOOTSTRAP" \
		--entity-type topics --entity-name "$t" --describe 2>/dev/null | grep -v '^\[')
	grep -q "DYNAMIC_TOPIC_CONFIG:min.insync.replicas=2" <<<"$cfg" ||
		fail "$t: no topic-level min.insync.replicas=2 (ConfigCommand said: $cfg)"
	ok "$t: min.insync.replicas=2 set on the topic (kafka.admin.ConfigCommand)"
done

# The periodic report (every 2 s here): at least two full reports.
wait_until 30 "two cluster reports" bash -c "[ \$(grep -c '\[admin\] cluster .*: 3 broker(s)' '$work/log') -ge 2 ]"
md=$(kcat -b "$TW_KAFKA_BOOTSTRAP" -L -J -m 10 -t to-alert-system 2>/dev/null)
for b in $(json "' '.join('%d@%s' % (b['id'], b['name']) for b in d['brokers'])" <<<"$md"); do
	log_has "\[admin\] broker ${b%%@*} ${b#*@}\$" || fail "report lacks broker ${b%%@*} at ${b#*@}"
done
ok "the periodic report lists the 3 brokers with host and port"
for t in to-alert-system to-notifier; do
	n=$(grep -c "\[admin\] topic $t partition [0-9]* leader [0-9-]* replicas [0-9,]* isr [0-9,]*" "$work/log")
	[ "$n" -ge 2 ] || fail "report lacks partition lines of $t"
done
ok "the periodic report gives each partition's leader, replicas and ISR"

# The same report on demand from the console.
say kafka
wait_until 20 "console kafka report" out_has "topic to-notifier partition 0 leader"
[ "$(grep -c '^broker [0-9]* ' "$work/out")" -ge 3 ] || fail "console report lacks 3 brokers: $(cat "$work/out")"
isr_line=$(grep -m1 '^topic to-alert-system partition 0 ' "$work/out")
want=$(json "','.join(str(r['id']) for x in d['topics'] for p in x['partitions'] if p['partition']==0 for r in p['isrs'])" <<<"$md")
case $isr_line in *"isr "*) ;; *) fail "no ISR in '$isr_line'" ;; esac
got=$(sed 's/.* isr //' <<<"$isr_line" | tr ',' '\n' | sort | paste -sd,)
want=$(tr ',' '\n' <<<"$want" | sort | paste -sd,)
[ "$got" = "$want" ] || fail "console ISR of to-alert-system p0 is $got, kcat says $want"
ok "console 'kafka' lists 3 brokers and the ISR kcat sees ($got)"

agent_stop
grep -q "\[agent\] stopped" "$work/log" || fail "agent did not stop cleanly"
ok "agent stopped cleanly"

# kafka.metadata over JSON-RPC (the rpc role dispatches it; console JSON lines go to it).
db=tw_itk_$(date +%s)$$
psql "$TW_DB_URL" -XAtq -c "CREATE DATABASE $db" || fail "cannot create database $db"
trap 'agent_stop; psql "$TW_DB_URL" -XAtq -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -rf "$work"' EXIT
mkdir "$work/rpc"
TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP TICKWATCH_DB_WRITE_URL="${TW_DB_URL%/*}/$db" \
	TICKWATCH_RPC_LISTEN=none agent_start "$work/rpc" --roles rpc,admin --console -
wait_until 60 "first cluster report" log_has "\[admin\] topic to-notifier partition 0 leader"
say '{"jsonrpc":"2.0","id":7,"method":"kafka.metadata"}'
wait_until 20 "kafka.metadata answer" out_has '"id":7'
answer=$(grep '"id":7' "$work/rpc/out")
[ "$(json 'len(d["result"]["brokers"])' <<<"$answer")" = 3 ] || fail "kafka.metadata lacks 3 brokers: $answer"
[ "$(json 'sorted(b["id"] for b in d["result"]["brokers"])' <<<"$answer")" = "[1, 2, 3]" ] || fail "broker ids: $answer"
[ "$(json 'len(d["result"]["topics"]) == 2 and all(t["partitions"] and all(len(p["isr"]) >= 2 and len(p["replicas"]) == 3 for p in t["partitions"]) for t in d["result"]["topics"])' <<<"$answer")" = true ] ||
	fail "kafka.metadata partitions lack replicas/ISR: $answer"
ok "RPC kafka.metadata lists 3 brokers and each partition's replicas and ISR"
agent_stop
