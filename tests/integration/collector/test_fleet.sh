#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_fleet.sh - collection once per cycle across a fleet (docs/scale.md, issue 16): two,
# then three collector agents on one database split the watched tickers into [quotes] shards
# buckets. The agents are run in lock-step rounds (each one in turn is let run one cycle with
# SIGCONT, then held with SIGSTOP), so a round is one cycle of the fleet, and the quote
# server's per-ticker request counts give the fetches of each ticker in that round: exactly 1
# for every watched ticker once the shares have settled (the rule: a bucket is held by one
# session; a newcomer gets its share after one claim of each peer). Then one agent is SIGKILLed:
# from the very next round its tickers are fetched by the survivors, still exactly once. Every
# cycle that stored a new quote wakes every partition 0..P-1 of to-alert-system (header
# tw-partitions: P, key the agent's name, its cycle number), read back with kcat; a round with
# no new quote (the server not stepped) wakes nobody.
# Usage: test_fleet.sh TICKWATCH_BINARY
export TW_BIN=${1:?binary} # read by lib.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_stack
collector_setup "$(mktemp -d /tmp/tw-it-fleet.XXXXXX)"

SHARDS=16
TICKERS="AAPL MSFT NVDA SAP.DE ZZZZ"
for i in $(seq 10 29); do TICKERS="$TICKERS ZQ$i"; done # unknown to the server: counted, rejected
nparts() { # all topics' metadata: asking for one by name (-t) would auto-create it
	kcat -b "$TW_KAFKA_BOOTSTRAP" -L -J -m 10 2>/dev/null |
		json "sum(len(x['partitions']) for x in d['topics'] if x['topic']=='to-alert-system' and not x.get('error'))"
}
have=$(nparts)
P=$(( ${have:-0} > 3 ? have : 3 )) # every partition the topic has (a topic never shrinks)
# A long interval: the test holds each agent right after its cycle line, well before its next.
export TICKWATCH_QUOTES_SHARDS=$SHARDS TICKWATCH_KAFKA_PARTITIONS=$P TICKWATCH_QUOTES_INTERVAL=3s \
	TICKWATCH_KAFKA_REPLICATION=3

declare -A PID DIR
NAMES=()
fleet_cleanup() {
	local n
	for n in "${NAMES[@]}"; do
		kill -CONT "${PID[$n]}" 2>/dev/null
		kill -TERM "${PID[$n]}" 2>/dev/null
	done
	for n in "${NAMES[@]}"; do
		for ((i = 0; i < 100; i++)); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.1; done
		kill -9 "${PID[$n]}" 2>/dev/null
		wait "${PID[$n]}" 2>/dev/null
		[ -f "${DIR[$n]}/log" ] && cp "${DIR[$n]}/log" "/tmp/tw-it-fleet-$n.log"
	done
	[ -f "$WORK/rounds" ] && cp "$WORK/rounds" /tmp/tw-it-fleet-rounds
	collector_cleanup
}
trap fleet_cleanup EXIT

# fleet_start N ROLES : agent N (name $AGENT_NAME-N) with its own directory and log
fleet_start() {
	local n=$AGENT_NAME-$1 d=$WORK/a$1
	mkdir -p "$d"
	TICKWATCH_AGENT_NAME=$n "$TW_BIN" run --roles "$2" --console none </dev/null >"$d/out" 2>"$d/log" &
	PID[$n]=$!
	DIR[$n]=$d
	NAMES+=("$n")
}
# cycles_of NAME : cycles the agent ended (cycle lines, or a cycle that claimed nothing)
cycles_of() { grep -c "\[collector\] cycle [0-9]*: \([0-9]* tickers\|buckets not claimed\)" "${DIR[$1]}/log" || true; }
more_cycles() { [ "$(cycles_of "$1")" -gt "$2" ]; }
counts() { qget 'json.dumps(d["requests"]["yahoo"], sort_keys=True)'; }
LIVE=()
# one_round WHAT CHECK : every live agent in turn runs one cycle (SIGCONT .. its cycle line ..
# SIGSTOP); with CHECK=once, every watched ticker must have been fetched exactly once.
ROUND=0
one_round() {
	local what=$1 check=$2 before after n c0
	ROUND=$((ROUND + 1))
	before=$(counts)
	for n in "${LIVE[@]}"; do
		c0=$(cycles_of "$n")
		kill -CONT "${PID[$n]}"
		wait_until 60 "$n: one more cycle (round $ROUND)" more_cycles "$n" "$c0"
		kill -STOP "${PID[$n]}"
		# the round's cycle of this agent, for the wake-up check at the end
		grep "\[collector\] cycle [0-9]*:" "${DIR[$n]}/log" | tail -n 1 |
			sed "s/^.*\[collector\] cycle \([0-9]*\):.*wake-up \(sent\|none\).*; \(buckets .*\)$/$ROUND $n \1 \2 \3/" >>"$WORK/rounds"
	done
	after=$(counts)
	[ "$check" = once ] || return 0
	bad=$($PY -c 'import json,sys
b, a, want = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3].split()
d = {t: a.get(t, 0) - b.get(t, 0) for t in set(a) | set(b)}
bad = ["%s fetched %d times" % (t, d.get(t, 0)) for t in want if d.get(t, 0) != 1]
bad += ["%s (not watched) fetched" % t for t in d if t not in want and d[t]]
print("; ".join(bad))' "$before" "$after" "$TICKERS")
	[ -z "$bad" ] || fail "round $ROUND ($what): not once per cycle across the fleet: $bad; cycles: $(grep "^$ROUND " "$WORK/rounds")"
	note "round $ROUND ($what): every one of the $(wc -w <<<"$TICKERS") tickers fetched exactly once"
}
stop_all() { local n; for n in "${LIVE[@]}"; do kill -STOP "${PID[$n]}"; done; }
members() { # live collectors holding the membership lock (namespace 74771000 + 1)
	sql "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND
	     classid = 74771001 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
}
has_members() { [ "$(members)" = "$1" ]; }

# Agent 1 makes the schema and the topics; then the users; then agent 2.
fleet_start 1 admin,collector
A1=$AGENT_NAME-1
# shellcheck disable=SC2034 # read by lib.sh (log_has)
AGENT_DIR=${DIR[$A1]}
wait_until 60 "the agent's schema in $DB_NAME" sql "SELECT 1 FROM users LIMIT 1"
wait_until 90 "topics ready" log_has "\[admin\] topics ready"
[ "$(nparts)" = "$P" ] || fail "to-alert-system has $(nparts) partitions, not $P"
vals=
for t in $TICKERS; do vals="$vals${vals:+,}('u.$t@it.example', '$t')"; done
sql "INSERT INTO users (email, ticker) VALUES $vals"
fleet_start 2 collector
wait_until 60 "agent 2: its first cycle" more_cycles "$AGENT_NAME-2" 0
LIVE=("$A1" "$AGENT_NAME-2")
stop_all

# Two agents: shares settle in two rounds (release at one claim, take at the next).
for _ in 1 2; do qctl step -d by=1; one_round "2 agents, settling" none; done
for _ in 1 2; do qctl step -d by=1; one_round "2 agents" once; done
ok "2 collectors: each ticker fetched exactly once per cycle across the fleet (server counts)"

# A third agent joins.
fleet_start 3 collector
wait_until 60 "agent 3: its first cycle" more_cycles "$AGENT_NAME-3" 0
LIVE+=("$AGENT_NAME-3")
stop_all
for _ in 1 2; do qctl step -d by=1; one_round "3 agents, settling" none; done
for _ in 1 2; do qctl step -d by=1; one_round "3 agents" once; done
ok "3 collectors: each ticker fetched exactly once per cycle across the fleet (server counts)"

# No new quote: every cycle says so, and no wake-up (checked on the topic below).
one_round "3 agents, market shut" once
QUIET=$ROUND

# SIGKILL agent 2: its session (and buckets) end; the survivors take them at their next cycle.
K=$AGENT_NAME-2
kill -KILL "${PID[$K]}"
wait "${PID[$K]}" 2>/dev/null
LIVE=("$A1" "$AGENT_NAME-3")
wait_until 60 "the killed collector's session gone" has_members 2
for _ in 1 2; do qctl step -d by=1; one_round "agent 2 killed" once; done
grep "^$((QUIET + 1)) " "$WORK/rounds" | grep -q "of $SHARDS (2 agents)" ||
	fail "first round after the kill: the survivors did not count 2 agents: $(grep "^$((QUIET + 1)) " "$WORK/rounds")"
ok "agent 2 SIGKILLed: its tickers fetched by the survivors from the next cycle on, once each"

# Wake-ups: every cycle that logged one is on every partition 0..P-1 with the header; a cycle
# that logged none has none; every stepped round woke every partition. An agent held right
# after its cycle line may not have sent its last wake-ups yet: stop the survivors (a stop
# flushes the producer) before reading the topic.
for n in "${LIVE[@]}"; do kill -CONT "${PID[$n]}"; kill -TERM "${PID[$n]}"; done
for n in "${LIVE[@]}"; do
	for ((i = 0; i < 200; i++)); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.1; done
	kill -0 "${PID[$n]}" 2>/dev/null && fail "$n did not stop after SIGTERM"
done
lost=$(grep -h "\[collector\] .*wake-up.*\(lost\|given up\|not queued\)" "${DIR[$A1]}/log" "${DIR[$AGENT_NAME-3]}/log" | head -3)
[ -z "$lost" ] || fail "wake-ups lost: $lost"
kcat -b "$TW_KAFKA_BOOTSTRAP" -C -t to-alert-system -o beginning -e -q -f '%p\t%k\t%h\t%s\n' 2>/dev/null |
	awk -F'\t' -v k="$AGENT_NAME-" 'index($2, k) == 1' >"$WORK/topic"
bad=$($PY -c 'import json,sys
P, quiet = int(sys.argv[1]), int(sys.argv[2])
got = {}
for l in open(sys.argv[3]):
    p, key, hdr, val = l.rstrip("\n").split("\t", 3)
    d = json.loads(val)
    if hdr != "tw-partitions=%d" % P:
        print("partition %s: header %r" % (p, hdr)); continue
    got.setdefault((key, d["cycle"]), set()).add(int(p))
woke = {}
for l in open(sys.argv[4]):
    r, name, cycle, state = l.split()[:4]
    have = got.pop((name, int(cycle)), set())
    if state == "sent":
        woke[int(r)] = True
        if have != set(range(P)):
            print("%s cycle %s: wake-ups on partitions %s, not 0..%d" % (name, cycle, sorted(have), P - 1))
    elif have:
        print("%s cycle %s logged no wake-up but partitions %s got one" % (name, cycle, sorted(have)))
    else:
        woke.setdefault(int(r), False)
for r, w in sorted(woke.items()):
    if w == (r == quiet):
        print("round %d: %s" % (r, "a wake-up with no new quote" if w else "no wake-up after a step"))' \
	"$P" "$QUIET" "$WORK/topic" "$WORK/rounds")
[ -z "$bad" ] || fail "wake-ups: $bad"
ok "every cycle with a new quote woke all $P partitions of to-alert-system (header tw-partitions=$P); the market-shut round woke none"
