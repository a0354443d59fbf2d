#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t_dockerfile.sh - Dockerfile.cross (no hadolint here) builds only through scripts/cross.sh:
# Debian bookworm, packages through scripts/bootstrap.sh, every RUN is bootstrap.sh or cross.sh,
# no compiler or build tool is called directly, and the boards it names exist.
#
# usage: tests/cross/t_dockerfile.sh [DOCKERFILE]   (default: Dockerfile.cross)
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/cross/lib.sh
. "$src/tests/cross/lib.sh"
df=${1:-$src/Dockerfile.cross}
[ -f "$df" ] || { bad "$df exists"; summary dockerfile; }

# Instructions with their continuation lines joined, comments dropped.
instr=$(sed -e '/^[[:space:]]*#/d' "$df" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | sed '/^[[:space:]]*$/d')
runs=$(grep -iE '^[[:space:]]*RUN[[:space:]]' <<<"$instr" | sed -E 's/^[[:space:]]*RUN[[:space:]]+//I')

check "first FROM is debian:bookworm" \
	bash -c "grep -iE '^[[:space:]]*FROM' <<<'$instr' | head -n1 | grep -qE '^[[:space:]]*FROM[[:space:]]+debian:bookworm([[:space:]]|\$)'"
check "a RUN calls scripts/cross.sh" grep -qE '^scripts/cross\.sh( |$)' <<<"$runs"
check "a RUN calls scripts/bootstrap.sh" grep -qxE 'scripts/bootstrap\.sh' <<<"$runs"
others=$(grep -vxE 'scripts/bootstrap\.sh|scripts/cross\.sh "?\$\{?BOARD\}?"?' <<<"$runs")
check "no RUN other than bootstrap.sh and cross.sh \"\$BOARD\"" test -z "$others" ||
	printf '  other RUN: %s\n' "$others"
chained=$(grep -E '&&|;|\|' <<<"$runs")
check "no command chained onto those RUNs" test -z "$chained" || printf '  %s\n' "$chained"
tools=$(grep -inE '(^|[^a-z./_-])(cmake|make|ninja|gcc|cc|g\+\+|clang|ld|ar|[a-z0-9_]+-linux-gnu[a-z]*-[a-z+]+)([^a-z0-9._-]|$)' <<<"$instr" |
	grep -vE '^[0-9]+:[[:space:]]*COPY[[:space:]]')
check "no build tool (cmake, make, ninja, gcc, ld, cross tools) outside COPY lines" test -z "$tools" ||
	printf '  %s\n' "$tools"
check "no ENTRYPOINT/CMD building at run time" bash -c "! grep -qiE '^[[:space:]]*(ENTRYPOINT|CMD)[[:space:]]' <<<'$instr'"
check "no ADD (sources only through COPY of the tree)" bash -c "! grep -qiE '^[[:space:]]*ADD[[:space:]]' <<<'$instr'"
board=$(grep -iE '^[[:space:]]*ARG[[:space:]]+BOARD=' <<<"$instr" | head -n1 | sed -E 's/.*BOARD=//')
check "default BOARD ($board) is a board cross.sh knows" bash -c "[ -n '$board' ] && [ -d '$src/board/$board' ] && grep -q '^	$board)' '$src/scripts/cross.sh'"
# Everything the build reads must be copied in: each top-level source path of the repository
# the configure step uses.
for p in CMakeLists.txt CMakePresets.json toolchains third_party board hal agent scripts; do
	# shellcheck disable=SC2016 # awk's own $1, $i
	check "COPY brings $p" awk -v p="$p" 'toupper($1) == "COPY" { for (i = 2; i < NF; i++) if ($i == p || $i == p "/") f = 1 } END { exit !f }' <<<"$instr"
done

summary "Dockerfile.cross"
