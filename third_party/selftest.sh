#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# selftest.sh - build the deps for TARGET, link a tiny program against them fully statically, run it.
#
# Usage: third_party/selftest.sh [host|aarch64|armhf]
# Runs the program natively (host) or under qemu-user-static (cross), checks that it is statically
# linked for the right machine and that it names the pinned versions. Exit 0 when all holds.
# Prints a summary on stdout; the last line is "selftest TARGET: ok ..." or the failure.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
target=${1:-host}

prefix=$("$here/build.sh" "$target" | tail -n1)
# shellcheck source=/dev/null
. "$prefix/deps.env"

fail() { printf 'selftest %s: FAILED: %s\n' "$target" "$*"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tw-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# -isystem: rdkafka.h trips -Wignored-qualifiers under -Wextra; third-party headers are system headers.
inc=(-isystem "$prefix/include")
if [ -n "$TW_SYSROOT" ]; then
    inc+=(-isystem "$TW_SYSROOT/usr/include/$TW_TRIPLET" -isystem "$TW_SYSROOT/usr/include")
fi
# shellcheck disable=SC2086
if ! "$TW_CC" -std=c11 -O2 -Wall -Wextra -Werror "${inc[@]}" "$here/selftest/selftest.c" \
    -static -Wl,--gc-sections -L"$prefix/lib" -L"$TW_SYSTEM_LIBDIR" $TW_LINK_LIBS \
    -o "$tmp/tw-selftest" 2>"$tmp/link.log"; then
    cat "$tmp/link.log" >&2
    fail "compile/link with $TW_CC failed"
fi
# glibc warns that a few functions (dlopen, getaddrinfo, getpwuid_r) need its shared parts at
# run time in a static program; show the distinct warnings once.
grep -o "warning: Using '[a-z_]*'" "$tmp/link.log" | sort -u | sed 's/^/selftest: link /' >&2 || true

desc=$(file -b "$tmp/tw-selftest")
case "$desc" in *"statically linked"*) ;; *) fail "not statically linked: $desc" ;; esac
machine=$(readelf -h "$tmp/tw-selftest" | sed -n 's/^ *Machine: *//p')
case "$target:$machine" in
host:*X86-64* | aarch64:*AArch64* | armhf:ARM) ;;
*) fail "wrong machine for $target: $machine" ;;
esac

run=("$tmp/tw-selftest")
if [ -n "$TW_QEMU" ]; then
    command -v "$TW_QEMU" >/dev/null || fail "$TW_QEMU not found: run scripts/bootstrap.sh"
    run=("$TW_QEMU" "$tmp/tw-selftest")
fi
out=$("${run[@]}") || fail "the program failed under ${run[*]}: $out"
printf '%s\n' "$out"
grep -qx "librdkafka $TW_RDKAFKA_VERSION" <<<"$out" || fail "librdkafka is not $TW_RDKAFKA_VERSION"
grep -qx "mbedtls $TW_MBEDTLS_VERSION" <<<"$out" || fail "Mbed TLS is not $TW_MBEDTLS_VERSION"
# PQlibVersion() is major*10000 + minor: 18.6 -> 180006.
pqv=$((${TW_LIBPQ_VERSION%%.*} * 10000 + ${TW_LIBPQ_VERSION#*.}))
grep -q "^libpq $pqv " <<<"$out" || fail "libpq is not $TW_LIBPQ_VERSION ($pqv)"
for f in ssl sasl_plain sasl_scram zstd lz4 gzip; do
    grep -q "^librdkafka features.*\b$f\b" <<<"$out" || fail "librdkafka lacks $f"
done

"${TW_TRIPLET}-strip" -o "$tmp/tw-selftest.stripped" "$tmp/tw-selftest" 2>/dev/null ||
    strip -o "$tmp/tw-selftest.stripped" "$tmp/tw-selftest"
size=$(stat -c %s "$tmp/tw-selftest.stripped")
printf 'file: %s\n' "$desc"
printf 'selftest %s: ok (%s, stripped %s bytes, prefix %s)\n' "$target" "$machine" "$size" "$prefix"
