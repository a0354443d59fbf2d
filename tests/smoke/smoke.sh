#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smoke.sh - drives the real tickwatch binary from outside: version, config check (every bad
# file run refuses), run + SIGTERM, the whole memory budget, console commands over a pipe and
# their edges, config save keeping the user's file, start-up errors, ctl and db messages, the
# docs that quote the binary, scripts/stack.sh's argument checks. Usage: smoke.sh BINARY SOURCE_DIR
set -uo pipefail

bin=${1:?binary}
src=${2:?source dir}
work=$(mktemp -d /tmp/tw-smoke.XXXXXX)
trap 'rm -rf "$work"; [ -n "${agent_pid:-}" ] && kill -9 "$agent_pid" 2>/dev/null' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; [ $# -gt 1 ] && printf '  %s\n' "${@:2}"; }
check() { # check NAME COND-COMMAND...
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

# wait_for FILE PATTERN SECONDS: poll a log until PATTERN shows up, bounded.
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- version ---
out=$("$bin" version 2>&1)
rc=$?
check "version exits 0" test $rc -eq 0
check "version names librdkafka 2.14.x" grep -qE '^librdkafka 2\.14\.' <<<"$out"
check "version names Mbed TLS 3.6.x" grep -qE '^Mbed TLS 3\.6\.' <<<"$out"
check "version names libpq 18.x" grep -qE '^libpq 18\.' <<<"$out"
# Every role of agent/core/role_list.h is built into the host binary (read from the header).
all_roles=$(sed -n 's/^[[:space:]]*X(\([a-z]*\)).*/\1/p' "$src/agent/core/role_list.h" | tr '\n' ' ')
check "version lists every role of role_list.h ($all_roles)" test "$(grep '^roles ' <<<"$out")" = "roles ${all_roles% }"

# --- help and usage ---
for c in "--help" "run --help" "config --help" "version --help"; do
	# shellcheck disable=SC2086
	"$bin" $c >"$work/help" 2>&1
	rc=$?
	check "'$c' exits 0 with usage" bash -c "[ $rc -eq 0 ] && grep -q usage '$work/help'"
done
"$bin" frobnicate >"$work/out" 2>&1
rc=$?
check "unknown command exits 2 and says so" bash -c "[ $rc -eq 2 ] && grep -q \"unknown command 'frobnicate'\" '$work/out'"
"$bin" run --bogus >"$work/out" 2>&1
check "unknown run option exits 2" test $? -eq 2

# --- config check ---
out=$("$bin" config check "$src/board/host/tickwatch.conf" 2>&1)
check "board/host/tickwatch.conf passes config check" bash -c "[ $? -eq 0 ] && grep -q ': ok' <<<'$out'"
printf '[agent]\nname = x\n\n[quotes]\ninterval = 2 weeks\n' >"$work/bad.conf"
out=$("$bin" config check "$work/bad.conf" 2>&1)
rc=$?
check "bad config exits 1" test $rc -eq 1
check "bad config error names file, line, key and what is allowed" \
	grep -qF "$work/bad.conf:5: [quotes] interval: '2 weeks' is not valid (allowed: a duration" <<<"$out"
check "bad config error is one line" test "$(wc -l <<<"$out")" -eq 1
"$bin" config defaults >"$work/defaults.conf" 2>&1
check "config defaults output passes config check" "$bin" config check "$work/defaults.conf"
out=$(TICKWATCH_SMTP_PORT=99999 "$bin" config check "$work/defaults.conf" 2>&1)
check "bad environment override is refused" grep -q "environment TICKWATCH_SMTP_PORT" <<<"$out"

# --- run refuses a bad start ---
out=$("$bin" run --config "$work/bad.conf" --console none 2>&1)
check "run with a bad config exits 1" test $? -eq 1
out=$(TICKWATCH_LIMITS_ARENA_KB=128 TICKWATCH_LIMITS_CONSOLE_OUT_KB=100 "$bin" run --console - </dev/null 2>&1)
rc=$?
check "arena exhaustion at start exits 1" test $rc -eq 1
check "arena exhaustion names the [limits] key" grep -q "raise \[limits\] arena_kb or lower \[limits\] console_out_kb" <<<"$out"

# --- run, then SIGTERM ---
"$bin" run --console none --config "$src/board/host/tickwatch.conf" --roles all >"$work/run.out" 2>"$work/run.log" &
agent_pid=$!
if wait_for "$work/run.log" "ready" 10; then ok "run reaches ready"; else bad "run reaches ready" "$(tail -5 "$work/run.log")"; fi
check "boot log prints the memory budget" grep -q "memory budget: .* KiB arena" "$work/run.log"
# Every line of the budget whole (issue 12 item 3: a fixed buffer cut it mid-line).
budget_lines() { # FILE: the budget block of a boot log or a status, one carve a line
	sed -n '/memory budget: /,/ready: roles\|^loop: /p' "$1" | sed '1d;$d' | sed 's/^.*\[agent\] //'
}
budget_lines "$work/run.log" >"$work/budget"
check "boot budget lists every carve whole (with every role)" bash -c \
	"[ \$(wc -l <'$work/budget') -ge 20 ] && ! grep -qvE '^  .{1,40} +[0-9]+ bytes  \[[a-z]+\] [a-z_-]+\$' '$work/budget'"
check "boot budget reaches the notifier's last carve" grep -qE "^  SMTP TLS session +[0-9]+ bytes" "$work/budget"
kill -TERM "$agent_pid"
wait "$agent_pid"
rc=$?
agent_pid=
check "SIGTERM stops run with exit code 0" test $rc -eq 0
check "SIGTERM is logged and the agent says stopped" bash -c "grep -q 'SIGTERM received' '$work/run.log' && grep -q 'stopped' '$work/run.log'"

# --- console commands over a pipe ---
mkfifo "$work/in"
TICKWATCH_SMTP_USER=alice TICKWATCH_SMTP_PASSWORD=Sup3rS3cret \
	"$bin" run --console - <"$work/in" >"$work/con.out" 2>"$work/con.log" &
agent_pid=$!
exec 7>"$work/in"
wait_for "$work/con.log" "ready" 10
printf 'help\nstatus\nconfig show\nconfig set quotes.interval 5x\nconfig set agent.log_level debug\nlog 5\nnonsense\n' >&7
wait_for "$work/con.out" "unknown command 'nonsense'" 10
printf 'quit\n' >&7
wait "$agent_pid"
rc=$?
agent_pid=
exec 7>&-
check "console quit exits 0" test $rc -eq 0
check "console help lists commands" grep -q "config set KEY VALUE" "$work/con.out"
check "console status shows uptime and budget" bash -c "grep -q ', up 0d' '$work/con.out' && grep -q 'memory budget' '$work/con.out'"
check "console config show masks the secret" bash -c "grep -q '^smtp.password = \*\*\*' '$work/con.out' && ! grep -q Sup3rS3cret '$work/con.out' '$work/con.log'"
check "console config show names the origin" grep -q "^smtp.user = alice .*TICKWATCH_SMTP_USER" "$work/con.out"
check "console config set refuses a bad value" grep -q "error: quotes.interval: '5x' is not valid" "$work/con.out"
check "console config set applies log_level at once" grep -q "ok: agent.log_level applied now" "$work/con.out"
check "console log shows recent lines" grep -q "info  \[console\] config set agent.log_level (applied now)" "$work/con.out"

# --- config save from the console writes a file that loads back ---
cp "$src/board/host/tickwatch.conf" "$work/saved.conf"
printf 'config set quotes.interval 90s\nconfig save\nquit\n' |
	"$bin" run --config "$work/saved.conf" --console - >"$work/save.out" 2>"$work/save.log"
check "config save exits 0" test $? -eq 0
check "config save wrote the new value" grep -q "^interval = 90s" "$work/saved.conf"
check "saved file is private (0600)" test "$(stat -c %a "$work/saved.conf")" = 600
check "saved file passes config check" "$bin" config check "$work/saved.conf"

# --- issue 12: config check runs every check run makes before it connects ---
printf 'AAPL x\n' >"$work/bad.replay"
outcome() { # RC WANT-RC NEEDLE FILE: the exit code, and the text in FILE
	[ "$1" -eq "$2" ] && grep -qF -- "$3" "$4"
}
badcheck() { # NAME FILE-TEXT NEEDLE
	printf '%b' "$2" >"$work/chk.conf"
	"$bin" config check "$work/chk.conf" >"$work/chk.out" 2>&1
	check "config check refuses $1" outcome $? 1 "$3" "$work/chk.out"
	timeout 20 env -u TICKWATCH_CONFIG "$bin" run --config "$work/chk.conf" --console none --roles all \
		</dev/null >"$work/chk.out" 2>&1
	check "run refuses $1 too, before it connects" outcome $? 1 "$3" "$work/chk.out"
}
badcheck "an unknown librdkafka property" '[kafka]\nno.such.property = 5\n' "librdkafka refused property 'no.such.property'"
badcheck "a bad librdkafka value" '[kafka]\nsocket.timeout.ms = abc\n' "librdkafka refused property 'socket.timeout.ms'"
badcheck "a baud rate the tty does not take" '[agent]\nconsole_baud = 12345\n' "'12345' is not a rate the serial console takes"
badcheck "a missing replay file" '[quotes]\nsource = replay:/nonexistent/q.txt\n' "[quotes] source: /nonexistent/q.txt"
badcheck "a replay file that does not parse" "[quotes]\nsource = replay:$work/bad.replay\n" "bad.replay:1:"
printf '# t ticker price\n1767258000 AAPL 190.5\n1767258000 MSFT 410\n1767258060 AAPL 191\n' >"$work/good.replay"
printf '[quotes]\nsource = replay:%s\n' "$work/good.replay" >"$work/replay.conf"
check "config check reads and takes a good replay file" "$bin" config check "$work/replay.conf"
printf '[quotes]\nsource = replay:%s\n[limits]\nreplay_rows = 2\n' "$work/good.replay" >"$work/chk.conf"
out=$("$bin" config check "$work/chk.conf" 2>&1)
check "config check refuses a replay file beyond [limits] replay_rows" grep -qF "good.replay: 3 quotes, more than [limits] replay_rows (2)" <<<"$out"
badcheck "a malformed [quotes] stooq_map" '[quotes]\nsource = yahoo,stooq\nstooq_map = SAP.DE\n' "[quotes] stooq_map: 'SAP.DE' is not TICKER=symbol"
badcheck "a missing CA file" '[kafka]\nsecurity = SSL\nca_file = /nonexistent/ca.pem\n' "[kafka] ca_file: cannot read /nonexistent/ca.pem"
badcheck "a section header without ]" '; c\n[agent\nname = x\n' "chk.conf:2: section header '[agent' is missing ']'"
badcheck "an agent.name that is no EHLO name" '[agent]\nname = my box\n' "[agent] name: 'my box' is not a host name"
badcheck "a loopback-looking DNS name without a token" '[rpc]\nlisten = 127.evil.example:7070\n' "[rpc] token: required"
"$bin" config reference >"$work/ref2.md"
check "the reference lists the baud rates" grep -q "console_baud.*one of 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600" "$work/ref2.md"
check "the reference says a bare duration is seconds" grep -q "a bare number is seconds" "$work/ref2.md"
printf '[smtp]\nverify = TRUE # hash comment\n' >"$work/ok.conf"
check "TRUE and a '#' inline comment are taken" "$bin" config check "$work/ok.conf"

# --- issue 13: config show masks librdkafka's secrets ---
printf '[kafka]\nsasl.oauthbearer.client.secret = S1cr\nssl.key.pem = S2cr\nsasl.jaas.config = S3cr\nssl.keystore.password = S4cr\nssl.key.password = S5cr\nsasl.oauthbearer.config = S6cr\n' >"$work/sec.conf"
env -u TICKWATCH_CONFIG "$bin" config show --config "$work/sec.conf" >"$work/sec.out" 2>&1
check "config show prints no librdkafka secret" bash -c "! grep -q 'S[0-9]cr' '$work/sec.out' && [ \$(grep -c ' = \*\*\*' '$work/sec.out') -ge 6 ]"

# --- issue 12: help texts ---
check "'tickwatch --help' lists config reference" bash -c "'$bin' --help | grep -q 'config reference'"
out=$("$bin" db migrate --help 2>&1)
check "'db migrate --help' exits 0 with usage" bash -c "[ $? -eq 0 ] && grep -q '^usage: tickwatch db migrate' <<<'$out'"
out=$(timeout 10 "$bin" run --roles "" --console none </dev/null 2>&1)
check "run --roles '' is refused" bash -c "[ $? -eq 2 ] && grep -q 'names no role' <<<'$out'"

# --- issue 12: ctl messages ---
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(env -u TICKWATCH_CONFIG TICKWATCH_RPC_LISTEN=127.0.0.1:$port "$bin" ctl --retries 1 status 2>&1)
check "ctl to a stopped agent asks whether it runs, naming rpc.listen" grep -qF "is the agent running? (rpc.listen = 127.0.0.1:$port)" <<<"$out"
check "ctl status does not claim a request id" bash -c "grep -q '(retrying)' <<<'$out' && ! grep -q 'same request id' <<<'$out'"

# --- issue 12: console edges (no admin role, no RPC port, a 128-byte line limit) ---
line128="status$(printf '%122s' '')"
printf 'config set agent.name\nconfig set kafka.linger.ms 7\nconfig set kafka.no.such.property 1\nkafka\nstatus\n%s\n%s \nquit\n' "$line128" "$line128" |
	env -u TICKWATCH_CONFIG TICKWATCH_RPC_LISTEN=none TICKWATCH_LIMITS_CONSOLE_LINE=128 \
	"$bin" run --console - --roles rpc >"$work/edge.out" 2>"$work/edge.log"
check "config set KEY without a value prints usage" grep -q "^usage: config set SECTION.KEY VALUE" "$work/edge.out"
check "config set takes a librdkafka property" grep -q "^ok: kafka.linger.ms" "$work/edge.out"
check "config set asks librdkafka about the property" grep -q "^error: .*librdkafka refused property 'no.such.property'" "$work/edge.out"
check "console kafka without the admin role says so" grep -q "the admin role is not running here" "$work/edge.out"
check "status with listen = none shows no port -1" bash -c "grep -q '^role rpc .*no port (listen = none)' '$work/edge.out' && ! grep -q 'port -1' '$work/edge.out'"
check "a line of exactly console_line bytes is taken" test "$(grep -c ', up 0d' "$work/edge.out")" -eq 2
check "a line one byte longer is refused, naming the limit" grep -q "line longer than 128 bytes ignored" "$work/edge.out"

# --- issue 12 item 1: config save keeps the user's file ---
cat >"$work/user.conf" <<'EOF'
; my notes: this box is in the shop

[agent]
name = shop-7   ; inline note
log_level = info # hash note

[quotes]
; interval comment
interval = 60s
EOF
chmod 644 "$work/user.conf"
printf 'config set quotes.interval 90s\nconfig set smtp.port 2525\nconfig save\nquit\n' |
	env -u TICKWATCH_CONFIG TICKWATCH_DB_WRITE_URL=postgresql://tw:Hunter2pw@db.example/tw \
	TICKWATCH_QUOTES_TIMEOUT=45s "$bin" run --config "$work/user.conf" --console - --roles rpc \
	>"$work/usave.out" 2>"$work/usave.log"
cat >"$work/user.want" <<'EOF'
; my notes: this box is in the shop

[agent]
name = shop-7   ; inline note
log_level = info # hash note

[quotes]
; interval comment
interval = 90s

[smtp]
port = 2525
EOF
check "config save over the console says ok" grep -q "^ok: saved $work/user.conf" "$work/usave.out"
if cmp -s "$work/user.want" "$work/user.conf"; then ok "config save keeps comments and order, changes only the console's keys"
else bad "config save keeps comments and order, changes only the console's keys" "$(diff "$work/user.want" "$work/user.conf")"; fi
check "config save writes no environment value and no default" bash -c "! grep -qE 'Hunter2pw|write_url|read_url|45s|timeout' '$work/user.conf'"
check "config save leaves the file 0600" test "$(stat -c %a "$work/user.conf")" = 600
ln -s "$work/user.conf" "$work/link.conf"
printf 'config set quotes.interval 30s\nconfig save\nquit\n' |
	env -u TICKWATCH_CONFIG "$bin" run --config "$work/link.conf" --console - --roles rpc >"$work/lsave.out" 2>&1
check "config save refuses to write through a symbolic link" bash -c "grep -q 'is a symbolic link' '$work/lsave.out' && grep -q '^interval = 90s' '$work/user.conf'"

# --- docs that quote the binary ---
awk '/^Then type `help`/ { f = 1 } f && /^```$/ { if (in_block) exit; in_block = 1; next } in_block' \
	"$src/docs/device.md" >"$work/help.doc"
printf 'help\nquit\n' | env -u TICKWATCH_CONFIG "$bin" run --console - --config "$src/board/host/tickwatch.conf" --roles all 2>/dev/null | sed '/^bye$/d' >"$work/help.real"
if cmp -s "$work/help.doc" "$work/help.real"; then ok "docs/device.md shows what help prints"
else bad "docs/device.md shows what help prints" "$(diff "$work/help.doc" "$work/help.real")"; fi
check "docs stand alone (no DESIGN.md/STYLE.md outside the repository)" bash -c "! grep -nE 'DESIGN\.md|STYLE\.md|/work/shared' '$src/docs/developing.md' '$src/docs/stack.md' '$src/README.md'"

# --- scripts/stack.sh checks its arguments (no stack needed: refused before it is asked) ---
stack() { TW_STACK_DIR="$work/nostack" "$src/scripts/stack.sh" "$@" >"$work/stack.out" 2>&1; }
stack frobnicate
check "stack.sh names an unknown command" bash -c "[ $? -eq 2 ] && grep -q \"unknown command 'frobnicate'\" '$work/stack.out'"
stack quotes-set encodng chunked
check "stack.sh quotes-set refuses an unknown key" bash -c "[ $? -eq 1 ] && grep -q \"unknown key 'encodng'\" '$work/stack.out'"
stack quotes-set encoding gzip
check "stack.sh quotes-set refuses an unknown value" bash -c "[ $? -eq 1 ] && grep -q \"'gzip' is not allowed\" '$work/stack.out'"
stack quotes-scenario "$work/none.json"
check "stack.sh quotes-scenario says the file is missing" bash -c "[ $? -eq 1 ] && grep -q 'none.json: no such file' '$work/stack.out'"

# --- generated docs are current (scripts/gen-docs.sh) ---
"$bin" config reference >"$work/ref.md"
python3 - "$work/ref.md" "$src/README.md" >"$work/ref.diff" <<'PY'
import sys
ref, readme = open(sys.argv[1]).read(), open(sys.argv[2]).read()
b, e = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
sys.exit(0 if readme[readme.index(b) + len(b):readme.index(e)] == ref else 1)
PY
check "README's configuration reference matches the key table (scripts/gen-docs.sh)" test $? -eq 0
for b in "$src"/board/*/tickwatch.conf; do
	name=$(basename "$(dirname "$b")")
	# Every key set in the file itself: none left to a built-in default.
	env -u TICKWATCH_CONFIG "$bin" config show --config "$b" >"$work/show.$name" 2>&1
	check "$name board conf sets every key" bash -c "! grep -q '; default\$' '$work/show.$name'"
	check "$name board conf passes config check" "$bin" config check "$b"
done

echo
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
