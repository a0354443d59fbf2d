# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Kafka: really three KRaft nodes; RF 3 / ISR 3; acks=all survives the loss of one broker.

md() { kcat -b "$TW_KAFKA_BOOTSTRAP" -L -J -m 10 "$@" 2>/dev/null; }
brokers() { md | json '" ".join(str(b["id"]) for b in sorted(d["brokers"], key=lambda b: b["id"]))'; }
# topic_state TOPIC -> "p:leader:replicas:isr ..." sorted by partition
topic_state() {
    md -t "$1" | json "' '.join('%d:%d:%s:%s' % (p['partition'], p['leader'], ','.join(sorted(str(r['id']) for r in p['replicas'])), ','.join(sorted(str(r['id']) for r in p['isrs']))) for t in d['topics'] if t['topic'] == '$1' and not t.get('error') for p in sorted(t['partitions'], key=lambda p: p['partition']))"
}
# all_isr TOPIC WANT_ISR [NOT_LEADER] : every partition has exactly the ISR WANT_ISR (e.g. 1,2,3)
all_isr() {
    local st p; st=$(topic_state "$1")
    [ -n "$st" ] || return 1
    for p in $st; do
        IFS=: read -r _ leader reps isr <<<"$p"
        [ "$reps" = 1,2,3 ] || return 1
        [ "$isr" = "$2" ] || return 1
        [ -z "${3:-}" ] || [ "$leader" != "$3" ] || return 1
        [ "$leader" -ge 1 ] || return 1
    done
}
produce() { # TOPIC PREFIX N : acks=all; kcat exits non-zero if any message is not acknowledged
    local i
    for ((i = 0; i < $3; i++)); do echo "$2-$i"; done |
        kcat -b "$TW_KAFKA_BOOTSTRAP" -P -t "$1" -X acks=all -X message.timeout.ms=90000
}
consume() { kcat -b "$TW_KAFKA_BOOTSTRAP" -C -t "$1" -o beginning -e -q -m 20 | sort; }
expect_msgs() { # TOPIC PREFIX N...: the topic holds exactly these messages
    local topic=$1 want="" p n i
    shift
    while [ $# -ge 2 ]; do
        p=$1 n=$2; shift 2
        for ((i = 0; i < n; i++)); do want+="$p-$i"$'\n'; done
    done
    want=$(printf '%s' "$want" | sort)
    # right after a leader change the new leader's high watermark can lag for a moment, so a
    # read to the end may briefly come back short: read again until complete, or fail
    local got deadline=$((SECONDS + 60))
    while :; do
        got=$(consume "$topic") || true
        [ "$got" = "$want" ] && return 0
        [ $SECONDS -lt $deadline ] || break
        note "read of $topic came back with $(grep -c . <<<"$got") of $(grep -c . <<<"$want") messages; reading again"
        sleep 1
    done
    echo "missing: $(comm -23 <(echo "$want") <(echo "$got") | paste -sd' ')" >&2
    echo "unexpected: $(comm -13 <(echo "$want") <(echo "$got") | paste -sd' ')" >&2
    fail "messages read back from $topic differ from those produced"
}

test_kafka_has_three_brokers_and_a_quorum() {
    assert_eq "1 2 3" "$(brokers)" "broker ids in a metadata request"
    local n
    for n in 1 2 3; do
        kcat -b "127.0.0.1:$((TW_KAFKA_PORT_BASE + n - 1))" -L -J -m 10 2>/dev/null |
            json 'd["originating_broker"]["id"]' | grep -qx "$n" || fail "broker $n does not answer on its own port"
        ss -Hltn "sport = :$((TW_KAFKA_CONTROLLER_PORT_BASE + n - 1))" | grep -q . || fail "controller $n not listening"
        grep -q "Kafka Server started" "$TW_STACK_DIR/kafka/$n/server.log" || fail "node $n never logged its start"
        grep -q "^cluster.id=$TW_KAFKA_CLUSTER_ID" "$TW_STACK_DIR/kafka/$n/data/meta.properties" || fail "node $n has another cluster id"
    done
    # three distinct JVMs
    assert_eq 3 "$(cat "$TW_STACK_DIR"/pids/kafka{1,2,3} | awk '{print $1}' | sort -u | wc -l)" "distinct pids"
}

test_kafka_rf3_topic_isr3_and_acks_all_roundtrip() {
    local t; t=stack-rt-$(uniq_id)
    produce "$t" m 30 || fail "produce with acks=all failed"
    wait_until 60 "topic $t: 3 partitions with replicas 1,2,3 and ISR 1,2,3" all_isr "$t" 1,2,3
    assert_eq 3 "$(topic_state "$t" | wc -w)" "partition count (num.partitions=3)"
    expect_msgs "$t" m 30
}

test_kafka_survives_sigkill_of_one_broker_and_it_rejoins() {
    local t victim; t=stack-fo-$(uniq_id)
    produce "$t" before 20 || fail "produce before the kill failed"
    wait_until 60 "ISR 1,2,3 on $t" all_isr "$t" 1,2,3
    victim=$(topic_state "$t" | tr ' ' '\n' | awk -F: '$1==0 {print $2}')
    note "killing node $victim, leader of $t partition 0"
    trap '"$STACK" kafka-start '"$victim"' >/dev/null 2>&1 || true' EXIT
    "$STACK" kafka-kill "$victim"
    local rest; rest=$(printf '%s\n' 1 2 3 | grep -vx "$victim" | paste -sd,)
    # acks=all still succeeds with min.insync.replicas=2 and two brokers
    produce "$t" during 20 || fail "produce with acks=all failed with one broker down"
    wait_until 90 "ISR shrunk to $rest and leaders moved off node $victim" all_isr "$t" "$rest" "$victim"
    wait_until 30 "metadata lists the two live brokers" bash -c "[ \"\$(kcat -b '$TW_KAFKA_BOOTSTRAP' -L -J -m 10 2>/dev/null | $PY -c 'import json,sys; print(len(json.load(sys.stdin)[\"brokers\"]))')\" = 2 ]"
    expect_msgs "$t" before 20 during 20
    "$STACK" kafka-start "$victim"
    trap - EXIT
    wait_until 120 "node $victim back in the ISR of every partition" all_isr "$t" 1,2,3
    assert_eq "1 2 3" "$(brokers)" "brokers after the restart"
    produce "$t" after 20 || fail "produce after the restart failed"
    expect_msgs "$t" before 20 during 20 after 20
}
