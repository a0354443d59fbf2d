#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# build.sh - build the pinned static dependencies (librdkafka, Mbed TLS, libpq) for a target.
#
# Usage: third_party/build.sh [host|aarch64|armhf]
#
# Builds what is missing in the cache (${TICKWATCH_CACHE:-$HOME/.cache/tickwatch}) and prints,
# as the last line of stdout, the absolute path of a prefix holding include/ and lib/ for the
# target, with deps.env (versions, sysroot). Progress goes to stderr, build output to log files.
# Environment: TW_MBEDTLS_CONFIG=FILE builds Mbed TLS with FILE as its mbedtls_config.h;
# TW_JOBS (default 2); TW_SKIP_UPSTREAM=1 skips the upstream URLs and goes to Debian directly.
set -euo pipefail
shopt -s inherit_errexit

TW_TP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=third_party/lib/common.sh
. "$TW_TP_DIR/lib/common.sh"
# shellcheck source=third_party/lib/fetch.sh
. "$TW_TP_DIR/lib/fetch.sh"

# The recipes, in the order their libraries are linked.
TW_RECIPES=(librdkafka-2.14 libpq-18 mbedtls-3.6)

target=${1:-host}
case "$target" in -h|--help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;; esac
[ $# -le 1 ] || tw_die "usage: third_party/build.sh [host|aarch64|armhf]"

mkdir -p "$TW_CACHE"
# One build at a time per cache: a concurrent caller waits, then finds the work done.
exec 9>"$TW_CACHE/.lock"
if ! flock -n 9; then
    tw_log "waiting for another third_party/build.sh using $TW_CACHE"
    flock 9
fi
export TW_CACHE_LOCKED=$TW_CACHE
# Holding the lock, any temp folder left in the cache is from a killed run: remove it.
find "$TW_CACHE/build" "$TW_CACHE/prefix" "$TW_CACHE/sysroot" "$TW_CACHE/downloads" \
    -mindepth 1 -maxdepth 2 \( -name '.tmp-*' -o -name '.fetch.*' \) -prune \
    -exec rm -rf {} + 2>/dev/null || true

tw_target_setup "$target"
tw_sysroot_ensure
tw_build_env

tw_build_identity

# On INT/TERM/HUP stop the whole build (make, compilers), not only this shell; the temp
# folders are removed by the next run. A recipe runs in the background so that the trap
# runs at once (bash defers traps until a foreground command ends, but not during wait).
descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        printf '%s\n' "$c"
        descendants "$c"
    done
}
interrupted() {
    local pids
    trap - INT TERM HUP
    tw_log "interrupted: stopping the build"
    # List the whole tree first, then signal it at once: a killed shell's children move to init.
    pids=$(descendants $$)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
    exit "$1"
}
trap 'interrupted 130' INT
trap 'interrupted 143' TERM
trap 'interrupted 129' HUP

dirs=()
out=$(mktemp "$TW_CACHE/.recipe-out.XXXXXX")
for r in "${TW_RECIPES[@]}"; do
    tw_recipe_ensure "$r" >"$out" &
    wait $! || { rm -f "$out"; exit 1; }
    d=$(tail -n1 "$out")
    dirs+=("$d")
done
rm -f "$out"

# Merge the recipes' folders into one prefix per target and set of builds (hard links, atomic).
phash=$({
    tw_sha256 "$TW_TP_DIR/build.sh"
    printf '%s\n' "$TW_TARGET" "$TW_SYSROOT"
    printf '%s\n' "${dirs[@]}"
} | sha256sum | cut -c1-16)
prefix=$TW_CACHE/prefix/$TW_TARGET-$phash
if [ ! -f "$prefix/deps.env" ]; then
    mkdir -p "$TW_CACHE/prefix"
    ptmp=$(mktemp -d "$TW_CACHE/prefix/.tmp-$TW_TARGET.XXXXXX")
    trap 'rm -rf "$ptmp"' EXIT
    for d in "${dirs[@]}"; do
        cp -al "$d/." "$ptmp/"
    done
    vars=$(for r in "${TW_RECIPES[@]}"; do
        # shellcheck source=/dev/null
        (. "$TW_TP_DIR/$r/recipe.sh"; printf '%s=%s\n' "$TW_RECIPE_VERSION_VAR" "$TW_RECIPE_VERSION")
    done)
    if [ "$TW_CROSS" = 1 ]; then
        ssl_libdir=$TW_SYSROOT/usr/lib/$TW_TRIPLET
    else
        ssl_libdir=/usr/lib/$TW_TRIPLET
    fi
    cat >"$ptmp/deps.env" <<EOF
# Written by third_party/build.sh: the pinned dependencies of tickwatch for one target.
TW_TARGET=$TW_TARGET
TW_TRIPLET=$TW_TRIPLET
TW_CC=$TW_CC
$vars
TW_MBEDTLS_CONFIG=${TW_MBEDTLS_CONFIG:-}
TW_DEPS_PREFIX=$prefix
TW_SYSROOT=$TW_SYSROOT
TW_SYSTEM_LIBDIR=$ssl_libdir
TW_QEMU=$TW_QEMU
# Link order for a fully static program (-static): -lssl -lcrypto -lzstd -lz are the .a files
# in TW_SYSTEM_LIBDIR (Debian's, or the sysroot's), -lpthread -lm -ldl -lrt the C library's.
TW_LINK_LIBS="-lrdkafka -lpq -lpgcommon_shlib -lpgport_shlib -lmbedtls -lmbedx509 -lmbedcrypto -lssl -lcrypto -lzstd -lz -lpthread -lm -ldl -lrt"
EOF
    mv -T "$ptmp" "$prefix"
    trap - EXIT
    tw_log "prefix ready: $prefix"
fi
# A stable name for people (prefix/TARGET -> the last one printed); programs use the printed path.
if [ "$(readlink "$TW_CACHE/prefix/$TW_TARGET" 2>/dev/null)" != "$(basename "$prefix")" ]; then
    ln -sfn "$(basename "$prefix")" "$TW_CACHE/prefix/.$TW_TARGET.new"
    mv -T "$TW_CACHE/prefix/.$TW_TARGET.new" "$TW_CACHE/prefix/$TW_TARGET"
fi
printf '%s\n' "$prefix"
