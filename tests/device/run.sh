#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the device suite: for each ARM board, its static binary (scripts/cross.sh, reused
# when dist/BOARD/tickwatch is current) and its bootable image (scripts/image.sh), then the image
# booted under qemu-system -M virt and driven over its serial line against the local stack,
# attached as in production (device.py). Needs the stack up (fails, never skips, when it is not).
#
# usage: tests/device/run.sh [BOARD...]   (default: rpi4-aarch64 armhf-generic)
# Prints "device: N passed, N failed" last; exit 0 only when everything passed.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
boards=("$@")
[ ${#boards[@]} -gt 0 ] || boards=(rpi4-aarch64 armhf-generic)
log_dir=$src/build/test-logs
mkdir -p "$log_dir"
# shellcheck source=tests/lib/suite.sh
. "$src/tests/lib/suite.sh"
suite_init device parts

part() { # part NAME COMMAND...: one counted part; its output is shown and kept in a log.
	local name=$1 log
	shift
	log=$log_dir/device-$(tr -c 'a-zA-Z0-9-' '_' <<<"$name" | tr -s _ | sed 's/_$//').log
	printf '\n---- %s\n' "$name"
	run_counted "$name" "$log" "$@"
}

# binary BOARD: scripts/cross.sh unless dist/BOARD/tickwatch is newer than every source file.
binary() {
	local b=$1 bin=$src/dist/$1/tickwatch
	if [ -x "$bin" ] && [ -z "$(find "$src/agent" "$src/hal" "$src/board" "$src/third_party" \
		"$src/CMakeLists.txt" "$src/toolchains" -newer "$bin" -type f -print -quit)" ]; then
		echo "dist/$b/tickwatch is newer than the sources: reused"
		return 0
	fi
	"$src/scripts/cross.sh" "$b"
}

for b in "${boards[@]}"; do
	t0=$SECONDS
	if part "$b: static binary (scripts/cross.sh)" binary "$b" &&
		part "$b: image (scripts/image.sh)" "$src/scripts/image.sh" "$b"; then
		part "$b: boot under qemu-system -M virt, serial console, attach as in production" \
			python3 "$src/tests/device/device.py" "$b"
	fi
	printf '# %s: %d s\n' "$b" $((SECONDS - t0))
done
suite_summary
