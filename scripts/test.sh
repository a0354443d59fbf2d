#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh - the one test command (README, .ci/run): installs what is missing, builds the static
# binary and the sanitizer build, runs unit tests (plain and under ASan+UBSan), the binary's
# smoke test, the linters and a short pass of the fuzz targets (tests/fuzz), then brings the real
# local stack up and runs the stack, integration and end-to-end suites against it, the ARM
# boards' cross builds (static, under qemu, end to end against the same stack) and their
# bootable images under qemu-system (tests/device), and last the chaos suite (tests/chaos,
# docs/chaos.md: 3 minutes, seed 1). Prints one closing line "test: N passed, N failed".
# Longer chaos runs are a separate command: tests/chaos/run.sh --minutes 30 --seed S.
#
# usage: scripts/test.sh [--no-stack]
#   --no-stack: stop after unit, smoke, lint and fuzz
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1
with_stack=1
[ "${1:-}" = "--no-stack" ] && with_stack=0
log_dir=$repo/build/test-logs
mkdir -p "$log_dir"

# suite NAME COMMAND...: run one suite, count it, keep going after a failure; must NAME
# COMMAND...: a step the rest depends on, stop everything if it fails (tests/lib/suite.sh).
# shellcheck source=tests/lib/suite.sh
. "$repo/tests/lib/suite.sh"
suite_init test suites

must "bootstrap: Debian packages" scripts/bootstrap.sh
# shellcheck disable=SC2016 # $0 (the log folder) belongs to the inner bash
must "configure + build (host, static release)" bash -c \
	'cmake --preset host >"$0/configure-host.log" 2>&1 || { tail -40 "$0/configure-host.log"; exit 1; }
	 cmake --build --preset host' "$log_dir"
# shellcheck disable=SC2016
must "configure + build (asan: AddressSanitizer + UndefinedBehaviorSanitizer)" bash -c \
	'cmake --preset asan >"$0/configure-asan.log" 2>&1 || { tail -40 "$0/configure-asan.log"; exit 1; }
	 cmake --build --preset asan' "$log_dir"

# file's line is printed from a variable: never `tee /dev/stderr`, which re-opens (and so
# truncates) a log file that stderr was redirected to (scripts/test.sh >log 2>&1).
# shellcheck disable=SC2016 # $out belongs to the inner bash
suite "binary is fully static" bash -c 'out=$(file build/host/tickwatch) || exit 1
	printf "%s\n" "$out"; grep -q "statically linked" <<<"$out"'
suite "unit tests (host)" ctest --preset host -L unit
suite "unit tests under ASan + UBSan" ctest --preset asan -L unit
suite "smoke: the real binary" ctest --preset host -L smoke
suite "lint: cppcheck + clang-tidy" scripts/lint.sh
suite "fuzz: every parser, 10 s per target (tests/fuzz/run.sh)" tests/fuzz/run.sh --seconds 10

if [ "$with_stack" = 1 ]; then
	trap 'step "stack down"; scripts/stack.sh down' EXIT
	must "stack up (Kafka x3, PostgreSQL, SMTP, quote server)" scripts/stack.sh up
	suite "stack: the real servers behave" tests/stack/run.sh
	# Integration first: on the fresh cluster the admin role is the one that makes the topics.
	suite "integration (real stack)" ctest --preset host -L integration
	suite "end-to-end (real stack)" ctest --preset host -L e2e
	suite "cross: ARM boards (cross.sh, static, qemu, end to end)" tests/cross/run.sh
	suite "device: ARM images booted under qemu-system, serial console, attach as in production" tests/device/run.sh
	# Last: it kills brokers and restarts PostgreSQL (everything is healed when it ends).
	suite "chaos: 2 agents, seeded faults, oracle vs mail folder (3 min, seed 1)" \
		tests/chaos/run.sh --minutes 3 --seed 1
fi

suite_summary
