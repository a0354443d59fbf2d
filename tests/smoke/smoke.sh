#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smoke.sh - drives the real tickwatch binary from outside: version, config check, run + SIGTERM,
# console commands over a pipe, start-up errors. Usage: smoke.sh BINARY SOURCE_DIR
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
