#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sysroot.sh - make (or reuse) the cached sysroot of a cross target and print its path.
#
# Usage: third_party/sysroot.sh aarch64|armhf
# The sysroot holds the target architecture's OpenSSL, zlib and zstd (headers, .a, .so,
# pkg-config files) unpacked from Debian's packages; see third_party/lib/common.sh.
# The toolchain files in toolchains/ call it when no -DTW_SYSROOT is given. Prints the path
# as the last line of stdout (an empty line for host).
set -euo pipefail
shopt -s inherit_errexit

TW_TP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=third_party/lib/common.sh
. "$TW_TP_DIR/lib/common.sh"
# shellcheck source=third_party/lib/fetch.sh
. "$TW_TP_DIR/lib/fetch.sh"
[ $# -eq 1 ] || tw_die "usage: third_party/sysroot.sh aarch64|armhf"
mkdir -p "$TW_CACHE"
# build.sh holds the lock already when its Mbed TLS build reads a toolchain file.
if [ "${TW_CACHE_LOCKED:-}" != "$TW_CACHE" ]; then
    exec 9>"$TW_CACHE/.lock"
    flock -n 9 || { tw_log "waiting for another third_party build using $TW_CACHE"; flock 9; }
fi
tw_target_setup "$1"
tw_sysroot_ensure
printf '%s\n' "$TW_SYSROOT"
