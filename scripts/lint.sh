#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lint.sh - cppcheck and clang-tidy over tickwatch's own C code (not third-party headers), and the
# module map of docs/developing.md checked against every #include (scripts/check-deps.py), and
# the shell linter (warnings and errors) over every tracked *.sh.
# Needs build/host/compile_commands.json (cmake --preset host). Exits non-zero on any finding.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1
db=build/host/compile_commands.json
[ -f "$db" ] || { echo "lint: $db missing: run cmake --preset host first"; exit 1; }
mapfile -t files < <(git ls-files 'agent/*.c' 'hal/*.c' | sort)
rc=0

echo "lint: cppcheck on ${#files[@]} files"
if ! cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
	--enable=warning,performance,portability \
	--suppress=missingIncludeSystem \
	-I hal -I agent -I agent/core -D_GNU_SOURCE "${files[@]}"; then
	rc=1
fi

echo "lint: clang-tidy on ${#files[@]} files"
checks='-*,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,'
checks+='-bugprone-narrowing-conversions,-bugprone-assignment-in-if-condition,'
checks+='clang-analyzer-*,-clang-analyzer-security.insecureAPI.*,'
checks+='-clang-analyzer-valist.Uninitialized,misc-redundant-expression'
out=$(clang-tidy --quiet -p build/host --checks="$checks" --warnings-as-errors='*' "${files[@]}" 2>&1)
tidy_rc=$?
# clang-tidy prints counts of suppressed system-header warnings; show only real findings.
grep -E 'warning:|error:' <<<"$out" | grep -v 'Suppressed' || true
[ $tidy_rc -eq 0 ] || rc=1
echo "lint: shellcheck on the shell scripts"
mapfile -t scripts < <(git ls-files '*.sh' | sort)
shellcheck -x -S warning "${scripts[@]}" || rc=1

echo "lint: module map (docs/developing.md) against the includes"
python3 scripts/check-deps.py || rc=1
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
