#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the cross suite: for each ARM board, build it with scripts/cross.sh (what a fresh
# machine or Dockerfile.cross runs), check the static binary for the board's machine and run
# it under qemu-user (version, config check, the conf's completeness), then an end-to-end smoke
# against the local stack with every role in the ARM agent (t_e2e.py) inside a private mount
# namespace whose /etc/hosts carries the test names; plus the Dockerfile.cross and board-file
# checks. Needs the stack up (scripts/stack.sh up; fails, never skips, when it is not).
#
# usage: tests/cross/run.sh [--no-stack] [BOARD...]   (default: rpi4-aarch64 armhf-generic)
# Prints "cross: N passed, N failed" last; exit 0 only when everything passed.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$src/tests/cross
with_stack=1
if [ "${1:-}" = "--no-stack" ]; then with_stack=0; shift; fi
boards=("$@")
[ ${#boards[@]} -gt 0 ] || boards=(rpi4-aarch64 armhf-generic)
log_dir=$src/build/test-logs
mkdir -p "$log_dir"
# shellcheck source=tests/lib/suite.sh
. "$src/tests/lib/suite.sh"
suite_init cross parts

part() { # part NAME COMMAND...: one counted part; its output is shown and kept in a log.
	local name=$1 log
	shift
	log=$log_dir/cross-$(tr -c 'a-zA-Z0-9-' '_' <<<"$name" | tr -s _ | sed 's/_$//').log
	printf '\n---- %s\n' "$name"
	run_counted "$name" "$log" "$@"
}

# e2e BOARD: t_e2e.py in a private mount namespace with a temporary /etc/hosts.
e2e() {
	local board=$1 qemu hosts rc
	case "$board" in
	rpi4-aarch64) qemu="qemu-aarch64-static" ;;
	*) qemu="qemu-arm-static" ;;
	esac
	hosts=$(mktemp /tmp/tw-cross-hosts.XXXXXX)
	{
		cat /etc/hosts
		echo "127.0.0.1 tw-cross-db.test tw-cross-kafka.test tw-cross-rpc.test"
	} >"$hosts"
	chmod 0644 "$hosts"
	# unshare -m makes the new namespace's mounts private: the bind mount is seen only there.
	# shellcheck disable=SC2016 # $1 and $@ belong to the inner sh
	unshare -m -- sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$hosts" \
		python3 "$here/t_e2e.py" "$board" "$src/dist/$board/tickwatch" "$qemu"
	rc=$?
	rm -f "$hosts"
	return $rc
}

part "Dockerfile.cross runs scripts/cross.sh and nothing else builds" "$here/t_dockerfile.sh"
part "board files (Mbed TLS configs, confs)" "$here/t_boards.sh"
for b in "${boards[@]}"; do
	t0=$SECONDS
	if part "$b: scripts/cross.sh $b" "$src/scripts/cross.sh" "$b"; then
		echo "# $b: cross.sh took $((SECONDS - t0)) s; $(stat -c %s "$src/dist/$b/tickwatch") bytes stripped"
		part "$b: static binary, version and config check under qemu" "$here/t_binary.sh" "$b"
		if [ "$with_stack" = 1 ]; then
			part "$b: end to end under qemu (stack, every role, /etc/hosts names)" e2e "$b"
		fi
	fi
done

suite_summary
