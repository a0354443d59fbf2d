#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t_binary.sh - a board's dist/BOARD/ from scripts/cross.sh: a static executable for the board's
# machine, checksums that verify, `version` and `config check` under qemu-user, and the board's
# tickwatch.conf complete (every key of `config defaults`) with its board values.
#
# usage: tests/cross/t_binary.sh BOARD     (after scripts/cross.sh BOARD)
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
board=${1:?board}
# shellcheck source=tests/cross/lib.sh
. "$src/tests/cross/lib.sh"
board_machine "$board" || exit 1
dist=$src/dist/$board
bin=$dist/tickwatch
work=$(mktemp -d /tmp/tw-cross-bin.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- the file ---
check "dist/$board has tickwatch, tickwatch.conf, SHA256SUMS" \
	test -x "$bin" -a -f "$dist/tickwatch.conf" -a -f "$dist/SHA256SUMS"
check "SHA256SUMS verifies" bash -c "cd '$dist' && sha256sum --quiet -c SHA256SUMS"
desc=$(file -b "$bin")
check "file: $machine_file" grep -qE "$machine_file" <<<"$desc"
check "file: statically linked" grep -q 'statically linked' <<<"$desc"
check "file: stripped" grep -qE ', stripped$|, stripped,' <<<"$desc"
hdr=$(readelf -h "$bin")
check "readelf -h: Class $elf_class" grep -qE "Class: +$elf_class" <<<"$hdr"
check "readelf -h: Machine $elf_machine" grep -qE "Machine: +$elf_machine" <<<"$hdr"
check "readelf -h: Type EXEC" grep -qE 'Type: +EXEC' <<<"$hdr"
check "no program interpreter (no INTERP header)" bash -c "! readelf -lW '$bin' | grep -q INTERP"
check "no dynamic section" bash -c "readelf -d '$bin' | grep -q 'no dynamic section'"
check "conf is the board's" cmp -s "$dist/tickwatch.conf" "$src/board/$board/tickwatch.conf"

# --- under qemu ---
out=$("$qemu" "$bin" version 2>&1)
rc=$?
check "version exits 0 under $qemu" test $rc -eq 0
check "version names librdkafka 2.14.x" grep -qE '^librdkafka 2\.14\.' <<<"$out"
check "version names Mbed TLS 3.6.x" grep -qE '^Mbed TLS 3\.6\.' <<<"$out"
check "version names libpq 18.x" grep -qE '^libpq 18\.' <<<"$out"
printf '%s\n' "$out" | sed "s/^/# $board: /"
out=$("$qemu" "$bin" config check "$dist/tickwatch.conf" 2>&1)
rc=$?
check "config check of the board's conf: ok" bash -c "[ $rc -eq 0 ] && grep -q ': ok' <<<'$out'" \
	|| echo "  $out"
"$qemu" "$bin" config defaults >"$work/defaults.conf" 2>&1
keys() { awk '/^\[/{s=$0} /^[a-z_]+ *=/{sub(/ *=.*/,""); print s" "$0}' "$1" | sort; }
missing=$(comm -23 <(keys "$work/defaults.conf") <(keys "$dist/tickwatch.conf"))
check "the board's conf sets every key of 'config defaults'" test -z "$missing" ||
	printf '  missing (run board/update-confs.sh, then review): %s\n' "$(tr '\n' ' ' <<<"$missing")"
check "[agent] board = $board" grep -qE "^board *= *$board\$" "$dist/tickwatch.conf"
check "[agent] console is a serial device" grep -qE '^console *= */dev/tty' "$dist/tickwatch.conf"
check "[agent] console_baud is set" grep -qE '^console_baud *= *[0-9]+$' "$dist/tickwatch.conf"
check "the header states the memory budget" grep -qi '^; .*budget' "$dist/tickwatch.conf"

# A bad console device is refused at start, naming it (the serial path is really taken).
out=$(TICKWATCH_RPC_LISTEN=none timeout 60 "$qemu" "$bin" run --config "$dist/tickwatch.conf" --roles rpc \
	--console /dev/tw-no-such-tty --baud 115200 </dev/null 2>&1)
rc=$?
check "run --console /dev/tw-no-such-tty exits 1 naming the device" \
	bash -c "[ $rc -eq 1 ] && grep -q '/dev/tw-no-such-tty' <<<'$out'" || echo "  rc $rc: ${out: -300}"

summary "$board binary"
