#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/notifier.sh - 20,000 notifications through the notifier role (Kafka -> IsSent -> one SMTP
# session per batch of 10 -> RecordSent -> commit) into the stack's smtp-sink, in e-mails/s,
# printed next to Postfix's smtp-source against the same sink in the same run: one session for
# all messages (the practical limit of one SMTP session here) and one connection per e-mail
# (the way the original system sent). Usage: bench/notifier.sh [N] (default 20000).
set -uo pipefail
N=${1:-20000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TW_BIN:-$SRC/build/host/tickwatch}
STACK=$SRC/scripts/stack.sh
SOURCE=${TW_SMTP_SOURCE_BIN:-/usr/sbin/smtp-source}
fail() { echo "bench/notifier: $*" >&2; exit 1; }
eval "$("$STACK" env)" || fail "stack env failed: run scripts/stack.sh up"
[ -x "$BIN" ] || fail "$BIN missing: cmake --build --preset host"
[ -x "$SOURCE" ] || fail "$SOURCE missing (Debian package postfix)"
work=$(mktemp -d /tmp/tw-bench-notifier.XXXXXX)
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,t=float(sys.argv[1]),float(sys.argv[2]); print(f'{n/t:,.0f}')" "$1" "$2"; }

# A fresh stack has no to-notifier yet: the agent creates it ([kafka] partitions) when its role
# starts, so it runs once until the topic shows in the metadata.
if ! kcat -b "$TW_KAFKA_BOOTSTRAP" -L -t to-notifier 2>/dev/null | grep -q 'partition 0,'; then
	TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP TICKWATCH_DB_WRITE_URL=$TW_DB_URL \
		"$BIN" run --roles notifier --console none >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 60); do
		kcat -b "$TW_KAFKA_BOOTSTRAP" -L -t to-notifier 2>/dev/null | grep -q 'partition 0,' && break
		sleep 0.5
	done
	kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
fi
# The group starts past any backlog in the shared topic (read from the beginning where the group
# never committed, as the agent would: "end" would commit nothing there).
timeout 300 kcat -b "$TW_KAFKA_BOOTSTRAP" -G tickwatch-notifier -X enable.auto.commit=true \
	-X auto.offset.reset=beginning -q -e to-notifier >/dev/null 2>&1 || fail "draining the group failed"
run=$(date +%s%N)
# Messages are signed with the database's notif_key (migration 4: `tickwatch db migrate` first).
TICKWATCH_DB_WRITE_URL=$TW_DB_URL "$BIN" db migrate >/dev/null || fail "db migrate failed"
key=$(psql "$TW_DB_URL" -X -A -t -q -c "SELECT key FROM notif_key") || fail "no notif_key"
python3 - "$N" "$run" "$key" >"$work/msgs" <<'PY'
import hashlib, hmac, json, sys
n, run, key = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
for i in range(n):
    email = f"bench{i:07d}@sink.test"
    nid = hashlib.sha256(f"{email}|AAPL|higher|191|{run}".encode()).hexdigest()[:32]
    m = {"v": 2, "id": nid, "email": email, "ticker": "AAPL", "value": 191.23, "threshold": 190.0,
         "condition": "higher", "quote_time": 1767225600,
         "subject": "AAPL is above 190.00: 191.23",
         "body": "AAPL traded at 191.23 at 2026-01-01 00:00 UTC, above your high threshold of 190.00.\n"}
    pre = json.dumps(m, separators=(',', ':'))[:-1] + ","
    sig = hmac.new(key, pre.encode(), hashlib.sha256).hexdigest()
    print(f'{email}|{pre}"sig":"{sig}"}}')
PY
kcat -P -b "$TW_KAFKA_BOOTSTRAP" -t to-notifier -K '|' <"$work/msgs" || fail "producing failed"
# The recipients are users with that alert: the notifier drops an e-mail whose recipient no
# longer has it (LedgerCheck), so they exist for the run and go afterwards.
users_sql() { psql "$TW_DB_URL" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
users_sql "DELETE FROM users WHERE email LIKE 'bench_______@sink.test'" || fail "cannot clear bench users"
users_sql "INSERT INTO users (email, ticker, high) SELECT 'bench' || lpad(i::text, 7, '0') || '@sink.test', 'AAPL', 190 FROM generate_series(0, $((N - 1))) i" || fail "cannot add bench users"
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; users_sql "DELETE FROM users WHERE email LIKE '"'"'bench_______@sink.test'"'"'"; rm -rf "$work"' EXIT

t0=$(now)
: >"$work/log" # (exists before the loop reads it: the agent's redirection runs in the background)
TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP TICKWATCH_DB_WRITE_URL=$TW_DB_URL \
	TICKWATCH_SMTP_HOST=127.0.0.1 TICKWATCH_SMTP_PORT=$TW_SMTP_SINK_PORT TICKWATCH_SMTP_MODE=plain \
	TICKWATCH_SMTP_USER="" TICKWATCH_SMTP_FROM=alerts@tickwatch.test TICKWATCH_AGENT_LOG_LEVEL=info \
	"$BIN" run --roles notifier --console none >"$work/out" 2>"$work/log" &
pid=$!
deadline=$((SECONDS + 900))
while [ "$(grep -c '\[notifier\] .* sent to ' "$work/log")" -lt "$N" ]; do
	kill -0 "$pid" 2>/dev/null || { tail "$work/log" >&2; fail "the agent died"; }
	[ $SECONDS -lt $deadline ] || fail "not all $N sent within 900 s"
	! grep -q '\[notifier\] .*: not sent$' "$work/log" || fail "the notifier dropped e-mails: $(grep -m1 ': not sent$' "$work/log")"
	sleep 0.5
done
# The agent's loop thread: how often it slept and woke (its voluntary context switches), the
# machine's noise aside a count of the round trips it waited for.
wakes=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
# From the first to the last 250, by the agent's own log clock (start-up and group join excluded).
t_notifier=$(python3 - "$work/log" <<'PY'
import re, sys, datetime
ts = [l[:24] for l in open(sys.argv[1]) if " sent to " in l and "[notifier]" in l]
f = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
print(max(f(ts[-1]) - f(ts[0]), 0.001))
PY
)
dup=$(grep -c "already sent: skipped" "$work/log")

t1=$(now); "$SOURCE" -s 1 -m "$N" -f alerts@tickwatch.test -t bench@sink.test "127.0.0.1:$TW_SMTP_SINK_PORT" || fail "smtp-source failed"
t_source=$(python3 -c "print($(now) - $t1)")
M=$((N / 10))
t1=$(now); "$SOURCE" -d -s 1 -m "$M" -f alerts@tickwatch.test -t bench@sink.test "127.0.0.1:$TW_SMTP_SINK_PORT" || fail "smtp-source -d failed"
t_conn=$(python3 -c "print($(now) - $t1)")

r_n=$(rate "$N" "$t_notifier"); r_s=$(rate "$N" "$t_source"); r_c=$(rate "$M" "$t_conn")
echo "notifier: $N e-mails in $(printf %.2f "$t_notifier") s = $r_n e-mails/s (batches of 10, one SMTP session each, Kafka + PostgreSQL per e-mail; $dup skipped as already sent)"
[ -n "$wakes" ] && echo "notifier loop wake-ups: $wakes in all, $(python3 -c "print(round($wakes / $N, 2))") per e-mail (start-up and idle seconds included)"
echo "smtp-source, one session:            $r_s e-mails/s"
echo "smtp-source -d, one connection each: $r_c e-mails/s ($M e-mails)"
python3 - "$N" "$t_notifier" "$t_source" "$M" "$t_conn" <<'PY'
import sys
n, tn, ts, m, tc = int(sys.argv[1]), *map(float, sys.argv[2:4]), int(sys.argv[4]), float(sys.argv[5])
rn, rs, rc = n / tn, n / ts, m / tc
print(f"ratio notifier / smtp-source one session: {rn / rs:.2f}")
print(f"ratio notifier / one connection per e-mail: {rn / rc:.2f}")
PY
echo "(total wall time including start-up: $(python3 -c "print(round($(now) - $t0, 1))") s)"
