#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh - the one test command (README, .ci/run): installs what is missing, builds the static
# binary and the sanitizer build, runs unit tests (plain and under ASan+UBSan), the binary's
# smoke test, the linters, then brings the real local stack up and runs the stack, integration
# and end-to-end suites against it, and the ARM boards' cross builds (static, under qemu, end to
# end against the same stack). Prints one closing line "test: N passed, N failed".
#
# usage: scripts/test.sh [--no-stack]   (--no-stack: stop after unit, smoke and lint)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
with_stack=1
[ "${1:-}" = "--no-stack" ] && with_stack=0
passed=0
failed=0
failures=()
log_dir=$repo/build/test-logs
mkdir -p "$log_dir"

step() { printf '\n==== %s\n' "$*"; }
# suite NAME COMMAND...: run one suite, count it, keep going after a failure.
suite() {
	local name=$1
	shift
	step "$name"
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "---- $name: ok ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "---- $name: FAILED ($((SECONDS - t0)) s)"
	fi
}
# must NAME COMMAND...: a step the rest depends on; stop everything if it fails.
must() {
	local name=$1
	shift
	step "$name"
	if ! "$@"; then
		echo "test: $name failed; nothing after it can run"
		echo "test: $passed passed, $((failed + 1)) failed"
		exit 1
	fi
}

must "bootstrap: Debian packages" scripts/bootstrap.sh
must "configure + build (host, static release)" bash -c \
	'cmake --preset host >"$0/configure-host.log" 2>&1 || { tail -40 "$0/configure-host.log"; exit 1; }
	 cmake --build --preset host' "$log_dir"
must "configure + build (asan: AddressSanitizer + UndefinedBehaviorSanitizer)" bash -c \
	'cmake --preset asan >"$0/configure-asan.log" 2>&1 || { tail -40 "$0/configure-asan.log"; exit 1; }
	 cmake --build --preset asan' "$log_dir"

suite "binary is fully static" bash -c 'file build/host/tickwatch | tee /dev/stderr | grep -q "statically linked"'
suite "unit tests (host)" ctest --preset host -L unit
suite "unit tests under ASan + UBSan" ctest --preset asan -L unit
suite "smoke: the real binary" ctest --preset host -L smoke
suite "lint: cppcheck + clang-tidy" scripts/lint.sh

if [ "$with_stack" = 1 ]; then
	trap 'step "stack down"; scripts/stack.sh down' EXIT
	must "stack up (Kafka x3, PostgreSQL, SMTP, quote server)" scripts/stack.sh up
	suite "stack: the real servers behave" tests/stack/run.sh
	# Integration first: on the fresh cluster the admin role is the one that makes the topics.
	suite "integration (real stack)" ctest --preset host -L integration
	suite "end-to-end (real stack)" ctest --preset host -L e2e
	suite "cross: ARM boards (cross.sh, static, qemu, end to end)" tests/cross/run.sh
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
	printf 'failed suites:\n'
	printf '  %s\n' "${failures[@]}"
fi
echo "test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
