# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# common.sh - the build parts shared by the third_party recipes: targets, toolchains, flags,
# and building one recipe into the cache.
#
# Sourced by third_party/build.sh and sysroot.sh (then lib/fetch.sh); never run directly.
# Its content is part of every recipe's cache hash: change it and every recipe rebuilds.
# Everything it prints goes to stderr: stdout belongs to the caller's contract.

TW_TP_DIR=${TW_TP_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TW_REPO_DIR=$(cd "$TW_TP_DIR/.." && pwd)
TW_CACHE=${TICKWATCH_CACHE:-$HOME/.cache/tickwatch}
TW_JOBS=${TW_JOBS:-2}

# Compiler flags for every library: PIC so the .a files also link into a PIE
# (asan preset); separate sections so the final link may use --gc-sections.
TW_CFLAGS_COMMON="-O2 -fPIC -ffunction-sections -fdata-sections"

tw_log() { printf 'third_party: %s\n' "$*" >&2; }
tw_die() { printf 'third_party: error: %s\n' "$*" >&2; exit 1; }
tw_sha256() { sha256sum "$1" | cut -d' ' -f1; }
tw_sha256_str() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
tw_now() { date +%s; }

# tw_run LOG CMD... - run CMD with all output appended to LOG; on failure show LOG's tail.
tw_run() {
    local log=$1; shift
    printf '\n+ %s\n' "$*" >>"$log"
    if ! "$@" >>"$log" 2>&1; then
        tw_log "command failed: $*"
        tw_log "last lines of $log:"
        tail -n 40 "$log" >&2
        return 1
    fi
}

# tw_target_setup TARGET - set the toolchain variables of TARGET (host, aarch64, armhf).
tw_target_setup() {
    TW_TARGET=$1
    case "$TW_TARGET" in
    host)
        TW_CROSS=0
        TW_TRIPLET=$(gcc -dumpmachine)
        TW_DEB_ARCH=$(dpkg --print-architecture)
        TW_CC=gcc
        TW_TOOL_PREFIX=""
        TW_RDKAFKA_ARCH=$(uname -m)
        TW_CMAKE_PROCESSOR=$(uname -m)
        TW_QEMU=""
        TW_TOOLCHAIN_FILE=""
        ;;
    aarch64)
        TW_CROSS=1
        TW_TRIPLET=aarch64-linux-gnu
        TW_DEB_ARCH=arm64
        TW_RDKAFKA_ARCH=aarch64
        TW_CMAKE_PROCESSOR=aarch64
        TW_QEMU=qemu-aarch64-static
        TW_TOOLCHAIN_FILE=$TW_REPO_DIR/toolchains/aarch64-linux-gnu.cmake
        ;;
    armhf)
        TW_CROSS=1
        TW_TRIPLET=arm-linux-gnueabihf
        TW_DEB_ARCH=armhf
        TW_RDKAFKA_ARCH=armv7l
        TW_CMAKE_PROCESSOR=armv7l
        TW_QEMU=qemu-arm-static
        TW_TOOLCHAIN_FILE=$TW_REPO_DIR/toolchains/arm-linux-gnueabihf.cmake
        ;;
    *) tw_die "unknown target '$TW_TARGET' (known: host, aarch64, armhf)" ;;
    esac
    if [ "$TW_CROSS" = 1 ]; then
        TW_TOOL_PREFIX=$TW_TRIPLET-
        TW_CC=${TW_TRIPLET}-gcc
        command -v "$TW_CC" >/dev/null ||
            tw_die "cross compiler $TW_CC not found: run scripts/bootstrap.sh (scripts/packages/cross.txt)"
        [ -f "$TW_TOOLCHAIN_FILE" ] || tw_die "missing toolchain file $TW_TOOLCHAIN_FILE"
    fi
    command -v "$TW_CC" >/dev/null || tw_die "compiler $TW_CC not found: run scripts/bootstrap.sh"
    TW_AR=${TW_TOOL_PREFIX}ar
    TW_RANLIB=${TW_TOOL_PREFIX}ranlib
    TW_NM=${TW_TOOL_PREFIX}nm
    TW_STRIP=${TW_TOOL_PREFIX}strip
    TW_LD=${TW_TOOL_PREFIX}ld
    TW_OBJDUMP=${TW_TOOL_PREFIX}objdump
    TW_SYSROOT=""
}

# tw_toolchain_id - text naming the compiler and the target libraries a build depends on.
tw_toolchain_id() {
    local pkgs
    printf 'target=%s triplet=%s\n' "$TW_TARGET" "$TW_TRIPLET"
    "$TW_CC" --version | head -n1
    "$TW_CC" -dumpmachine
    if [ "$TW_CROSS" = 1 ]; then
        pkgs="libc6-dev-$TW_DEB_ARCH-cross"
        cat "$TW_SYSROOT/manifest.txt"
    else
        pkgs="libc6-dev libssl-dev zlib1g-dev libzstd-dev"
    fi
    # shellcheck disable=SC2086
    dpkg-query -W -f='${Package} ${Version}\n' $pkgs 2>/dev/null || true
}

# tw_build_env - export the variables a recipe's build uses.
tw_build_env() {
    export CC=$TW_CC AR=$TW_AR RANLIB=$TW_RANLIB NM=$TW_NM STRIP=$TW_STRIP LD=$TW_LD OBJDUMP=$TW_OBJDUMP
    export CFLAGS="$TW_CFLAGS_COMMON"
    TW_CPPFLAGS=""
    TW_LDFLAGS=""
    unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
    if [ "$TW_CROSS" = 1 ]; then
        TW_CPPFLAGS="-isystem $TW_SYSROOT/usr/include/$TW_TRIPLET -isystem $TW_SYSROOT/usr/include"
        TW_LDFLAGS="-L$TW_SYSROOT/usr/lib/$TW_TRIPLET -Wl,-rpath-link,$TW_SYSROOT/usr/lib/$TW_TRIPLET"
        TW_LDFLAGS+=" -Wl,-rpath-link,$TW_SYSROOT/lib/$TW_TRIPLET"
        export PKG_CONFIG_LIBDIR=$TW_SYSROOT/usr/lib/$TW_TRIPLET/pkgconfig:$TW_SYSROOT/usr/share/pkgconfig
        export PKG_CONFIG_SYSROOT_DIR=$TW_SYSROOT
    fi
    export CPPFLAGS="$TW_CPPFLAGS" LDFLAGS="$TW_LDFLAGS"
    export MAKEFLAGS="-j$TW_JOBS"
    export TW_TARGET TW_TRIPLET TW_CROSS TW_SYSROOT TW_JOBS TW_RDKAFKA_ARCH TW_CMAKE_PROCESSOR TW_TOOLCHAIN_FILE
}

# tw_build_identity - set TW_BUILD_HASH (this file) and TW_TOOLCHAIN_ID for tw_recipe_ensure.
tw_build_identity() {
    TW_BUILD_HASH=$(tw_sha256 "$TW_TP_DIR/lib/common.sh")
    TW_TOOLCHAIN_ID=$(tw_toolchain_id)
}

# tw_recipe_ensure NAME - make sure the cache holds the recipe's build for this target; prints its folder.
# The folder's name carries a hash of the recipe file, this file, the toolchain identity (compiler,
# target's library packages or sysroot manifest) and the recipe's own extra inputs. It is built in
# a temp folder and renamed into place, so an interrupted build never leaves a half entry.
# Needs TW_BUILD_HASH and TW_TOOLCHAIN_ID (tw_build_identity).
tw_recipe_ensure() (
    local name=$1 rfile hash dir tmp log t0 t1
    rfile=$TW_TP_DIR/$name/recipe.sh
    [ -f "$rfile" ] || tw_die "missing recipe $rfile"
    recipe_hash_extra() { :; }
    # shellcheck source=/dev/null
    . "$rfile"
    hash=$({
        printf 'recipe %s\n' "$(tw_sha256 "$rfile")"
        printf 'common %s\n' "$TW_BUILD_HASH"
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
    # shellcheck disable=SC2016
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
