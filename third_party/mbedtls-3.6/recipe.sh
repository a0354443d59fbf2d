# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# recipe.sh - Mbed TLS 3.6.7 (LTS) as static libraries (sourced by third_party/build.sh).
TW_RECIPE_NAME=mbedtls
TW_RECIPE_VERSION=3.6.7
TW_RECIPE_VERSION_VAR=TW_MBEDTLS_VERSION
TW_RECIPE_TARBALL=mbedtls_3.6.7.orig.tar.bz2
TW_RECIPE_SHA256=a7e8bcbec0e6f761b4af24f25677626b35f762f68eef79c08677a363212d11f6
TW_RECIPE_UPSTREAM_URL=https://github.com/Mbed-TLS/mbedtls/releases/download/mbedtls-3.6.7/mbedtls-3.6.7.tar.bz2
TW_RECIPE_DEB_PKG=mbedtls
TW_RECIPE_DEB_VERSION=3.6.7-3
TW_RECIPE_DEB_SUITE=sid
TW_RECIPE_OUTPUTS="lib/libmbedtls.a lib/libmbedx509.a lib/libmbedcrypto.a include/mbedtls/version.h include/psa/crypto.h"

# The pinned sha256 is that of the upstream release tarball (as shipped by Debian as .orig).
#
# CMake, static libraries only, no programs or tests, position-independent code.
# TW_MBEDTLS_CONFIG=FILE (e.g. a board's config header) replaces include/mbedtls/mbedtls_config.h
# before the build, so the library and every program including the installed headers agree
# without defining MBEDTLS_CONFIG_FILE. A board's file includes "mbedtls_common.h", the set every
# board shares (board/common/mbedtls_common.h): with a config, that file is copied beside it as
# include/mbedtls/mbedtls_common.h (and so installed too). Both contents are part of the cache hash.
TW_MBEDTLS_COMMON=$TW_TP_DIR/../board/common/mbedtls_common.h

recipe_hash_extra() {
    if [ -n "${TW_MBEDTLS_CONFIG:-}" ]; then
        [ -f "$TW_MBEDTLS_CONFIG" ] || tw_die "TW_MBEDTLS_CONFIG=$TW_MBEDTLS_CONFIG: no such file"
        [ -f "$TW_MBEDTLS_COMMON" ] || tw_die "$TW_MBEDTLS_COMMON: no such file"
        printf 'mbedtls_config %s\n' "$(tw_sha256 "$TW_MBEDTLS_CONFIG")"
        printf 'mbedtls_common %s\n' "$(tw_sha256 "$TW_MBEDTLS_COMMON")"
    fi
    # Cross builds use the repository's toolchain file (and the part it includes).
    if [ -n "$TW_TOOLCHAIN_FILE" ]; then
        cat "$TW_TOOLCHAIN_FILE" "$(dirname "$TW_TOOLCHAIN_FILE")/linux-gnu-cross.cmake" |
            sha256sum | sed 's/^/toolchain /'
    fi
}

recipe_build() {
    local src=$1 stage=$2 log=$3 cross=()
    if [ -n "${TW_MBEDTLS_CONFIG:-}" ]; then
        tw_log "Mbed TLS with config $TW_MBEDTLS_CONFIG"
        [ ! -e include/mbedtls/mbedtls_common.h ] || { tw_log "Mbed TLS ships its own mbedtls_common.h"; return 1; }
        cp "$TW_MBEDTLS_CONFIG" include/mbedtls/mbedtls_config.h || return 1
        cp "$TW_MBEDTLS_COMMON" include/mbedtls/mbedtls_common.h || return 1
    fi
    if [ "$TW_CROSS" = 1 ]; then
        cross=(-DCMAKE_TOOLCHAIN_FILE="$TW_TOOLCHAIN_FILE" -DTW_SYSROOT="$TW_SYSROOT")
    fi
    tw_run "$log" cmake -S . -B build "${cross[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_FLAGS="$CFLAGS" \
        -DCMAKE_INSTALL_PREFIX="$stage" \
        -DCMAKE_INSTALL_LIBDIR=lib \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
        -DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF \
        -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
        -DMBEDTLS_FATAL_WARNINGS=OFF -DGEN_FILES=OFF &&
        tw_run "$log" cmake --build build -j "$TW_JOBS" &&
        tw_run "$log" cmake --install build
}
