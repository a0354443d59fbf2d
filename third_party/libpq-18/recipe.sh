# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# recipe.sh - libpq from PostgreSQL 18.6 as static libraries (sourced by third_party/build.sh).
TW_RECIPE_NAME=libpq
TW_RECIPE_VERSION=18.6
TW_RECIPE_VERSION_VAR=TW_LIBPQ_VERSION
TW_RECIPE_TARBALL=postgresql-18_18.6.orig.tar.bz2
TW_RECIPE_SHA256=555610c24d53e4316da5b7d3fc25c279d96856d5e0e23ee308c328c5fa881d9f
TW_RECIPE_UPSTREAM_URL=https://ftp.postgresql.org/pub/source/v18.6/postgresql-18.6.tar.bz2
TW_RECIPE_DEB_PKG=postgresql-18
TW_RECIPE_DEB_VERSION=18.6-3
TW_RECIPE_DEB_SUITE=sid
TW_RECIPE_OUTPUTS="lib/libpq.a lib/libpgcommon_shlib.a lib/libpgport_shlib.a include/libpq-fe.h include/pg_config_ext.h"

# The pinned sha256 is that of the upstream release tarball (as shipped by Debian as .orig).
#
# libpq with OpenSSL, without readline, ICU, GSSAPI, LDAP and zlib. Only src/include, src/common,
# src/port and src/interfaces/libpq are built and installed. Link: -lpq -lpgcommon_shlib
# -lpgport_shlib. include/pg_config_ext.h is a stand-in (see below). Configure needs bison and flex (scripts/packages/deps.txt).
recipe_build() {
    local src=$1 stage=$2 log=$3 cross=() d
    if [ "$TW_CROSS" = 1 ]; then
        cross=(--host="$TW_TRIPLET")
    fi
    tw_run "$log" ./configure --prefix="$stage" "${cross[@]}" \
        --without-readline --without-icu --without-gssapi --without-ldap \
        --with-ssl=openssl --without-zlib || return 1
    for d in src/include src/common src/port src/interfaces/libpq; do
        tw_run "$log" make -C "$d" -j"$TW_JOBS" || return 1
    done
    for d in src/include src/common src/port src/interfaces/libpq; do
        tw_run "$log" make -C "$d" install || return 1
    done
    # Clients need neither the server headers nor the shared library.
    rm -rf "$stage"/lib/*.so* "$stage/include/postgresql/server"
    # PostgreSQL 18 dropped pg_config_ext.h (postgres_ext.h now uses <stdint.h>); a one-line
    # stand-in keeps build scripts that look for it (as for PostgreSQL <= 17) working.
    printf '%s\n' '/* Stand-in written by third_party/libpq-18: PostgreSQL 18 has no pg_config_ext.h. */' \
        '#include "postgres_ext.h"' >"$stage/include/pg_config_ext.h"
}
