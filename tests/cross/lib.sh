# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# lib.sh - helpers of the cross suite (sourced): counted checks and each board's machine.

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
# check NAME COMMAND...: run COMMAND, count it as NAME; returns COMMAND's status.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; return 1; fi
}
# summary WHAT: print the counts; exit non-zero when a check failed.
summary() {
	echo "# $1: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] || exit 1
	exit 0
}

# board_machine BOARD: set qemu, machine_file (file(1) regex), elf_class, elf_machine.
board_machine() {
	case "$1" in
	rpi4-aarch64)
		qemu=qemu-aarch64-static machine_file='ELF 64-bit LSB executable, ARM aarch64'
		elf_class=ELF64 elf_machine=AArch64 ;;
	armhf-generic)
		qemu=qemu-arm-static machine_file='ELF 32-bit LSB executable, ARM, EABI5'
		elf_class=ELF32 elf_machine=ARM ;;
	*) echo "FAIL - unknown board '$1'"; return 1 ;;
	esac
	command -v "$qemu" >/dev/null || { echo "FAIL - $qemu not found: scripts/bootstrap.sh"; return 1; }
}
