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

tw_target_setup "$target"
tw_sysroot_ensure
tw_build_env

TW_COMMON_HASH=$(cat "$TW_TP_DIR/build.sh" "$TW_TP_DIR/lib/common.sh" | sha256sum | cut -d' ' -f1)
TW_TOOLCHAIN_ID=$(tw_toolchain_id)

# recipe_ensure NAME - make sure the cache holds the recipe's build for this target; prints its folder.
recipe_ensure() (
    local name=$1 rfile hash dir tmp log t0 t1
    rfile=$TW_TP_DIR/$name/recipe.sh
    [ -f "$rfile" ] || tw_die "missing recipe $rfile"
    recipe_hash_extra() { :; }
    # shellcheck source=/dev/null
    . "$rfile"
    hash=$({
        printf 'recipe %s\n' "$(tw_sha256 "$rfile")"
        printf 'common %s\n' "$TW_COMMON_HASH"
        printf '%s\n' "$TW_TOOLCHAIN_ID"
        recipe_hash_extra
    } | sha256sum | cut -c1-16)
    dir=$TW_CACHE/build/$TW_TARGET/$TW_RECIPE_NAME-$TW_RECIPE_VERSION-$hash
    if [ -f "$dir/share/tickwatch/$TW_RECIPE_NAME.info" ]; then
        printf '%s\n' "$dir"
        return 0
    fi

    tw_fetch_source
    mkdir -p "$TW_CACHE/build/$TW_TARGET" "$TW_CACHE/logs/$TW_TARGET"
    log=$TW_CACHE/logs/$TW_TARGET/$TW_RECIPE_NAME-$hash.log
    : >"$log"
    tmp=$(mktemp -d "$TW_CACHE/build/$TW_TARGET/.tmp-$TW_RECIPE_NAME.XXXXXX")
    # An interrupted build leaves only this temp folder, never a half cache entry.
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/src" "$tmp/stage"
    tw_log "building $TW_RECIPE_NAME $TW_RECIPE_VERSION for $TW_TARGET (log: $log)"
    t0=$(tw_now)
    tw_run "$log" tar -xf "$TW_CACHE/downloads/$TW_RECIPE_TARBALL" -C "$tmp/src" --strip-components=1 ||
        tw_die "cannot unpack $TW_RECIPE_TARBALL"
    (cd "$tmp/src" && recipe_build "$tmp/src" "$tmp/stage" "$log") ||
        tw_die "$TW_RECIPE_NAME $TW_RECIPE_VERSION failed to build for $TW_TARGET (log: $log)"
    local f
    for f in $TW_RECIPE_OUTPUTS; do
        [ -f "$tmp/stage/$f" ] || tw_die "$TW_RECIPE_NAME: $f missing after the build (log: $log)"
    done
    # pkg-config files name the stage folder: make them relative to where they end up.
    find "$tmp/stage" -name '*.pc' -exec sed -i 's|^prefix=.*|prefix=${pcfiledir}/../..|' {} +
    t1=$(tw_now)
    mkdir -p "$tmp/stage/share/tickwatch"
    {
        printf 'name=%s\nversion=%s\ntarget=%s\nhash=%s\n' \
            "$TW_RECIPE_NAME" "$TW_RECIPE_VERSION" "$TW_TARGET" "$hash"
        printf 'tarball=%s\nsha256=%s\ndebian=%s=%s\n' \
            "$TW_RECIPE_TARBALL" "$TW_RECIPE_SHA256" "$TW_RECIPE_DEB_PKG" "$TW_RECIPE_DEB_VERSION"
        printf 'build_seconds=%s\nbuilt=%s\n' "$((t1 - t0))" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$tmp/stage/share/tickwatch/$TW_RECIPE_NAME.info"
    rm -rf "$dir"
    mv -T "$tmp/stage" "$dir"
    tw_log "built $TW_RECIPE_NAME $TW_RECIPE_VERSION for $TW_TARGET in $((t1 - t0)) s"
    printf '%s\n' "$dir"
)

dirs=()
for r in "${TW_RECIPES[@]}"; do
    d=$(recipe_ensure "$r") || exit 1
    dirs+=("$d")
done

# Merge the recipes' folders into one prefix per target and set of builds (hard links, atomic).
phash=$({
    printf '%s\n' "$TW_COMMON_HASH" "$TW_TARGET" "$TW_SYSROOT"
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
# Link order for a fully static program (-static); the last four come from the system/sysroot.
TW_LINK_LIBS="-lrdkafka -lpq -lpgcommon_shlib -lpgport_shlib -lmbedtls -lmbedx509 -lmbedcrypto -lssl -lcrypto -lzstd -lz -lpthread -lm -ldl -lrt"
EOF
    mv -T "$ptmp" "$prefix"
    trap - EXIT
    # A stable name for people; programs should use the printed path.
    ln -sfn "$(basename "$prefix")" "$TW_CACHE/prefix/.$TW_TARGET.new"
    mv -T "$TW_CACHE/prefix/.$TW_TARGET.new" "$TW_CACHE/prefix/$TW_TARGET"
    tw_log "prefix ready: $prefix"
fi
printf '%s\n' "$prefix"
