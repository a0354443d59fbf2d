#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t_boards.sh - the board folders: each has tickwatch.conf and its own mbedtls_config.h (the set
# every board shares, board/common/mbedtls_common.h, plus its own lines); the ARM boards'
# effective Mbed TLS configs (as the preprocessor sees them) are TLS 1.2/1.3 client and server
# (the RPC port) with a static heap and the agreed cipher suites; the host's is the same set;
# each config passes Mbed TLS's check_config.h.
#
# usage: tests/cross/t_boards.sh
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/cross/lib.sh
. "$src/tests/cross/lib.sh"
work=$(mktemp -d /tmp/tw-cross-boards.XXXXXX)
trap 'rm -rf "$work"' EXIT
cache=${TICKWATCH_CACHE:-$HOME/.cache/tickwatch}

common=$src/board/common
# definitions FILE: the MBEDTLS_ macros a board's config defines, with their values, after its
# includes (as the library and the agent see it); defines FILE: their names only.
definitions() { gcc -E -dM -x c -I "$common" "$1" | grep -E '^#define MBEDTLS_' | sort; }
defines() { definitions "$1" | sed -nE 's/^#define (MBEDTLS_[A-Z0-9_]+).*/\1/p' | sort; }

check "board/common/mbedtls_common.h starts with an SPDX line" \
	bash -c "head -n1 '$common/mbedtls_common.h' | grep -q SPDX-License-Identifier"

for b in host rpi4-aarch64 armhf-generic; do
	d=$src/board/$b
	check "board/$b has tickwatch.conf and mbedtls_config.h" test -f "$d/tickwatch.conf" -a -f "$d/mbedtls_config.h"
	check "board/$b/mbedtls_config.h starts with an SPDX line" bash -c "head -n1 '$d/mbedtls_config.h' | grep -q SPDX-License-Identifier"
	# check_config.h (through build_info.h) with this file as the config, against the headers
	# of a cached deps prefix.
	inc=$cache/prefix/host/include
	printf '#include <mbedtls/build_info.h>\n#include <mbedtls/ssl.h>\n#include <psa/crypto.h>\nint x;\n' >"$work/c.c"
	check "board/$b/mbedtls_config.h passes Mbed TLS's check_config.h" \
		gcc -fsyntax-only -DMBEDTLS_CONFIG_FILE="\"$d/mbedtls_config.h\"" -I "$common" -isystem "$inc" "$work/c.c"
done

for b in rpi4-aarch64 armhf-generic; do
	f=$src/board/$b/mbedtls_config.h
	defs=$(defines "$f")
	suites=$(definitions "$f" | sed -n 's/^#define MBEDTLS_SSL_CIPHERSUITES //p')
	for want in MBEDTLS_SSL_CLI_C MBEDTLS_SSL_SRV_C MBEDTLS_SSL_PROTO_TLS1_2 MBEDTLS_SSL_PROTO_TLS1_3 \
		MBEDTLS_SSL_SERVER_NAME_INDICATION MBEDTLS_PLATFORM_MEMORY MBEDTLS_MEMORY_BUFFER_ALLOC_C \
		MBEDTLS_X509_CRT_PARSE_C MBEDTLS_PEM_PARSE_C MBEDTLS_RSA_C MBEDTLS_ECDSA_C \
		MBEDTLS_ECP_DP_SECP256R1_ENABLED MBEDTLS_ECP_DP_SECP384R1_ENABLED MBEDTLS_SHA256_C \
		MBEDTLS_SHA384_C MBEDTLS_PSA_CRYPTO_C MBEDTLS_GCM_C MBEDTLS_CHACHAPOLY_C; do
		check "$b: $want" grep -qx "$want" <<<"$defs"
	done
	for no in MBEDTLS_SSL_PROTO_DTLS MBEDTLS_SSL_RENEGOTIATION MBEDTLS_NET_C \
		MBEDTLS_SSL_DTLS_HELLO_VERIFY MBEDTLS_DEBUG_C MBEDTLS_SSL_CACHE_C MBEDTLS_SSL_TICKET_C; do
		check "$b: no $no" bash -c "! grep -qx '$no' <<<'$defs'"
	done
	for cs in TLS1_3_AES_128_GCM_SHA256 TLS1_3_AES_256_GCM_SHA384 TLS1_3_CHACHA20_POLY1305_SHA256 \
		TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 \
		TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 \
		TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256; do
		check "$b: offers $cs" grep -qE "(^|[[:space:],])MBEDTLS_$cs(,|[[:space:]]*\$)" <<<"$suites"
	done
done
check "rpi4-aarch64 and armhf-generic define the same set" \
	cmp -s <(defines "$src/board/rpi4-aarch64/mbedtls_config.h") <(defines "$src/board/armhf-generic/mbedtls_config.h")
check "host = the ARM set, nothing else" \
	cmp -s <(defines "$src/board/host/mbedtls_config.h") \
	<(defines "$src/board/rpi4-aarch64/mbedtls_config.h")
check "the configs' values (suite order included) agree" \
	cmp -s <(definitions "$src/board/rpi4-aarch64/mbedtls_config.h") \
	<(definitions "$src/board/host/mbedtls_config.h")
check "rpi4-aarch64 and armhf-generic agree on every value" \
	cmp -s <(definitions "$src/board/rpi4-aarch64/mbedtls_config.h") \
	<(definitions "$src/board/armhf-generic/mbedtls_config.h")

summary "board files"
