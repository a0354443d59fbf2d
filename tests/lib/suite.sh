# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# suite.sh - the counted suite runner of scripts/test.sh and tests/cross/run.sh (sourced): run
# each suite (or part) under a name, count it passed or failed and keep going, stop at once
# when a step the rest depends on fails, and close with one line "WORD: N passed, N failed".
#
#   suite_init WORD KIND      WORD starts the closing line (test, cross); KIND names the
#                             failures in the summary (suites, parts)
#   step TITLE                a "==== TITLE" heading
#   suite NAME COMMAND...     a heading, then a counted run (see run_counted)
#   must NAME COMMAND...      a heading, then COMMAND; if it fails, the counts so far and exit 1
#   run_counted NAME LOG COMMAND...
#                             run COMMAND and count it; with LOG (not empty) its output (stdout
#                             and stderr) is also kept in that file, and a failure names it.
#                             Prints "---- NAME: ok (S s)" or "---- NAME: FAILED (S s...)";
#                             returns COMMAND's status
#   suite_summary             the failed names, the closing line; status 0 when none failed

suite_init() {
	suite_word=$1 suite_kind=$2
	passed=0
	failed=0
	failures=()
}

step() { printf '\n==== %s\n' "$*"; }

run_counted() {
	local name=$1 log=$2 t0=$SECONDS rc
	shift 2
	if [ -n "$log" ]; then
		"$@" 2>&1 | tee "$log"
		rc=$?   # with pipefail (set by the callers): COMMAND's status unless tee failed
	else
		"$@"
		rc=$?
	fi
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "---- $name: ok ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "---- $name: FAILED ($((SECONDS - t0)) s${log:+, log $log})"
	fi
	return "$rc"
}

suite() {
	local name=$1
	shift
	step "$name"
	run_counted "$name" "" "$@"
}

must() {
	local name=$1
	shift
	step "$name"
	if ! "$@"; then
		echo "$suite_word: $name failed; nothing after it can run"
		echo "$suite_word: $passed passed, $((failed + 1)) failed"
		exit 1
	fi
}

suite_summary() {
	echo
	if [ ${#failures[@]} -gt 0 ]; then
		printf 'failed %s:\n' "$suite_kind"
		printf '  %s\n' "${failures[@]}"
	fi
	echo "$suite_word: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
