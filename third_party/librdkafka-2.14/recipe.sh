# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# recipe.sh - librdkafka 2.14.2 as a static C library (sourced by third_party/build.sh).
TW_RECIPE_NAME=librdkafka
TW_RECIPE_VERSION=2.14.2
TW_RECIPE_VERSION_VAR=TW_RDKAFKA_VERSION
TW_RECIPE_TARBALL=librdkafka_2.14.2.orig.tar.gz
TW_RECIPE_SHA256=4d53568c13717b167d12c7b2a0fe12aeb5d6bfe02de53df5b68f86d870a81b33
TW_RECIPE_UPSTREAM_URL=https://codeload.github.com/confluentinc/librdkafka/legacy.tar.gz/refs/tags/v2.14.2
TW_RECIPE_DEB_PKG=librdkafka
TW_RECIPE_DEB_VERSION=2.14.2-1
TW_RECIPE_DEB_SUITE=sid
TW_RECIPE_OUTPUTS="lib/librdkafka.a include/librdkafka/rdkafka.h"

# The pinned sha256 is that of Debian's .orig tarball, GitHub's "legacy" archive of tag v2.14.2
# (top folder confluentinc-librdkafka-<commit>); GitHub does not promise byte-identical archives,
# so the upstream URL is taken only when its sha256 matches, else Debian's copy is used.
#
# Flags: static; SSL (OpenSSL), zstd and zlib from the target's system libraries; LZ4 built in;
# no GSSAPI (and so no Cyrus libsasl2: SASL PLAIN and SCRAM are built in with OpenSSL), no curl;
# no mklove module downloads. Only src/ (the C library) is built: src-cpp would use the host's g++.
recipe_build() {
    local src=$1 stage=$2 log=$3 cross=()
    if [ "$TW_CROSS" = 1 ]; then
        cross=(--arch="$TW_RDKAFKA_ARCH")
    fi
    tw_run "$log" ./configure --prefix="$stage" "${cross[@]}" \
        --enable-static --disable-gssapi --disable-curl --enable-ssl --enable-zstd \
        --enable-zlib --disable-lz4-ext --no-download &&
        tw_run "$log" make -C src -j"$TW_JOBS" lib &&
        tw_run "$log" make -C src install &&
        rm -f "$stage"/lib/*.so* "$stage"/lib/librdkafka-static.a "$stage"/lib/pkgconfig/rdkafka-static.pc
}
