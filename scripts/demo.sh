#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - tickwatch end to end on a fresh Debian machine: install, build the static binary,
# bring the real local stack up (Kafka x3, PostgreSQL, SMTP), make a demo database, register four
# users with `tickwatch ctl`, run the agent with every role on a replayed price scenario
# (scripts/demo/scenario.replay) and show the e-mails as they land in the SMTP server's folder,
# then a summary. It ends by itself when the scenario is done (no terminal needed); Ctrl-C stops
# it early. Either way the agent is stopped, and the stack too when this script started it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
say() { printf '\n==== demo: %s\n' "$*"; }

say "installing Debian packages (once)"
scripts/bootstrap.sh
say "building the static tickwatch binary (dependencies are cached after the first build)"
cmake --preset host >build-demo-configure.log 2>&1 || { tail -30 build-demo-configure.log; exit 1; }
rm -f build-demo-configure.log
cmake --build --preset host
bin=$repo/build/host/tickwatch
"$bin" version

work=$(mktemp -d /tmp/tickwatch-demo.XXXXXX)
agent_pid=""
stack_started=0
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
		say "stopping the agent"
		kill -TERM "$agent_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$agent_pid" 2>/dev/null || true
	fi
	if [ "$stack_started" = 1 ]; then
		say "stopping the stack"
		scripts/stack.sh down || true
	else
		say "the stack was already running before the demo: left up"
	fi
	echo "     agent log and configuration: $work"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM

if scripts/stack.sh status >/dev/null 2>&1; then
	say "the local stack is already up"
else
	say "bringing the local stack up"
	stack_started=1
	scripts/stack.sh up
fi
eval "$(scripts/stack.sh env)"

say "a fresh demo database in the stack's PostgreSQL, migrated with 'tickwatch db migrate'"
db=tickwatch_demo
psql "$TW_DB_URL" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
	-c "CREATE DATABASE $db"
url=${TW_DB_URL%/*}/$db
TICKWATCH_DB_WRITE_URL=$url "$bin" db migrate

rpc_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf=$work/demo.conf
cat >"$conf" <<CONF
[agent]
name = tickwatch-demo
roles = all
console = none
[kafka]
bootstrap = $TW_KAFKA_BOOTSTRAP
[db]
write_url = $url
[smtp]
host = $TW_SMTP_HOST
port = $TW_SMTP_PORT_STARTTLS
mode = starttls
user = $TW_SMTP_USER
password = $TW_SMTP_PASSWORD
ca_file = $TW_CA_FILE
from = alerts@tickwatch.test
[quotes]
source = replay:$repo/scripts/demo/scenario.replay
interval = 1s
[rpc]
listen = 127.0.0.1:$rpc_port
CONF
chmod 600 "$conf"
"$bin" config check "$conf"

# On a brand-new cluster the admin role creates the topics; a consumer that subscribed before
# they existed would only notice them at its next metadata refresh, so create them first.
if ! kcat -b "$TW_KAFKA_BOOTSTRAP" -L -t to-notifier 2>/dev/null | grep -q 'partition 0' ||
	! kcat -b "$TW_KAFKA_BOOTSTRAP" -L -t to-alert-system 2>/dev/null | grep -q 'partition 0'; then
	say "creating the topics (admin role)"
	"$bin" run --config "$conf" --roles admin >"$work/admin.log" 2>&1 &
	admin_pid=$!
	for _ in $(seq 1 150); do
		if kcat -b "$TW_KAFKA_BOOTSTRAP" -L -t to-notifier 2>/dev/null | grep -q 'partition 0' &&
			kcat -b "$TW_KAFKA_BOOTSTRAP" -L -t to-alert-system 2>/dev/null | grep -q 'partition 0'; then
			break
		fi
		sleep 0.2
	done
	kill -TERM "$admin_pid" 2>/dev/null || true
	wait "$admin_pid" 2>/dev/null || true
fi

say "starting the agent with every role (rpc, admin, collector, alert, notifier)"
ls "$TW_MAIL_DIR" >"$work/mail-before.txt" 2>/dev/null || true
"$bin" run --config "$conf" >"$work/agent.log" 2>&1 &
agent_pid=$!
echo "$agent_pid" >"$work/agent.pid"
for _ in $(seq 1 150); do
	grep -q "ready: roles" "$work/agent.log" && break
	kill -0 "$agent_pid" 2>/dev/null || { tail -20 "$work/agent.log"; exit 1; }
	sleep 0.2
done

say "registering four users with 'tickwatch ctl'"
run=$(date +%s)
alice=alice.$run@demo.tickwatch.test
bob=bob.$run@demo.tickwatch.test
carol=carol.$run@demo.tickwatch.test
dave=dave.$run@demo.tickwatch.test
ctl() { "$bin" ctl --connect "127.0.0.1:$rpc_port" "$@"; }
ctl register "$alice" AAPL --high 190 --low 150
ctl register "$bob" MSFT --high 420
ctl register "$carol" NVDA --low 120
ctl register "$dave" SAP.DE --high 200 --low 180

say "replaying scripts/demo/scenario.replay, one step a second; e-mails as they arrive:"
grep '^# ' scripts/demo/scenario.replay | sed -n '4,$p' | sed 's/^# /     step: /'
rc=0
python3 scripts/demo/watch.py "$TW_MAIL_DIR" "$work/mail-before.txt" 6 120 "$work/agent.pid" \
	"$alice" "$bob" "$carol" "$dave" || rc=$?
echo
grep -E '\[alert\] pass [0-9]+ done: [0-9]+ rows, [1-9]' "$work/agent.log" | sed 's/^/     /' || true
ctl status | sed 's/^/     /' || true
[ $rc -eq 0 ] && say "done: every expected e-mail arrived once" || say "done, but not every expected e-mail arrived (see $work/agent.log)"
exit $rc
