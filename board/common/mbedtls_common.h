/* SPDX-License-Identifier: MIT */
/* mbedtls_common.h - the Mbed TLS 3.6 configuration every board shares: only what tickwatch uses.
 *
 * Not a config file on its own: each board's board/<board>/mbedtls_config.h includes it first,
 * then adds (or #undefs) what that board alone needs. third_party/build.sh (the Mbed TLS
 * recipe) installs the board's file as <mbedtls/mbedtls_config.h> and this one beside it as
 * <mbedtls/mbedtls_common.h>, so the library and the agent agree without -DMBEDTLS_CONFIG_FILE;
 * both files' contents are part of the recipe's cache hash. Mbed TLS's check_config.h rejects an
 * inconsistent set at build time. To see a board's effective set:
 *   gcc -E -dM -x c -I board/common board/<board>/mbedtls_config.h | grep MBEDTLS_
 * After editing this file, configure again (cmake --preset <preset>): the configure step is what
 * rebuilds Mbed TLS, and CMake re-runs it by itself only when the board's own file changes.
 *
 * What tickwatch needs (agent/tls, agent/alert, agent/version.c):
 *   - TLS 1.2 and TLS 1.3 CLIENT over stream sockets: SMTP (STARTTLS, implicit TLS) and HTTPS
 *     to the quote API, `tickwatch ctl` to the RPC port.
 *   - TLS 1.2 and TLS 1.3 SERVER: the RPC port ([rpc] tls_cert), which must speak TLS whenever
 *     it listens beyond loopback, so every board that may sit on a LAN needs it.
 *     No DTLS, no renegotiation, no PSK, no session resumption or tickets (TLS 1.3
 *     NewSessionTickets are ignored by our clients and never sent by our server), no ALPN.
 *   - Cipher suites real SMTP relays and Yahoo offer: TLS 1.3 AES-128-GCM, AES-256-GCM,
 *     ChaCha20-Poly1305; TLS 1.2 ECDHE-ECDSA / ECDHE-RSA with AES-GCM and ChaCha20-Poly1305.
 *     Key exchange on X25519, P-256 or P-384.
 *   - X.509 certificates in PEM files (the system CA bundle): RSA (PKCS#1 v1.5, PSS) and
 *     ECDSA on P-256 / P-384, SHA-256 / SHA-384 / SHA-512, host name check, SNI.
 *   - The DRBG of every TLS configuration is seeded from tw_hal_entropy() (agent/tls/tls.c).
 *     PSA crypto (TLS 1.3 runs on it) keeps its own DRBG seeded by the kernel (getrandom).
 *   - A static heap: MBEDTLS_PLATFORM_MEMORY + MBEDTLS_MEMORY_BUFFER_ALLOC_C. The agent carves
 *     [limits] tls_heap_kb from its arena at boot (tw_tls_heap_init) and Mbed TLS never calls
 *     malloc after start.
 *   - mbedtls_sha256() for the alert ids, mbedtls_strerror(), mbedtls_version_get_string().
 */
#ifndef TW_MBEDTLS_COMMON_H
#define TW_MBEDTLS_COMMON_H

/* ---- platform ---- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* certificate validity dates */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY         /* calloc/free through the platform layer ... */
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C   /* ... served from the arena-carved static heap */
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 8 /* 64-bit fields in Mbed TLS structures */
#define MBEDTLS_FS_IO                   /* CA bundle files */
#define MBEDTLS_ERROR_C                 /* mbedtls_strerror() in error texts */
#define MBEDTLS_VERSION_C               /* tickwatch version */

/* ---- randomness ---- */
#define MBEDTLS_ENTROPY_C               /* PSA's own DRBG (kernel getrandom) */
#define MBEDTLS_CTR_DRBG_C              /* per-config DRBG seeded from tw_hal_entropy() */

/* ---- symmetric crypto, hashes ---- */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES          /* tables in flash/rodata, not in RAM */
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA224_C                /* Mbed TLS builds SHA-224 with SHA-256 */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C                  /* TLS 1.3 key schedule (PSA HKDF) */

/* ---- public keys ---- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21               /* RSA-PSS: mandatory in TLS 1.3 with RSA certificates */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED /* X25519 key exchange, servers' first choice */
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C

/* ---- X.509 ---- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* ---- PSA crypto (TLS 1.3) ---- */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_KEY_SLOT_COUNT 16   /* a few sessions' ephemeral keys at a time */

/* ---- TLS: 1.2 + 1.3, client and server ---- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C               /* the RPC port's TLS (agent/rpc/server.c) */
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE /* middleboxes on real networks */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE /* required by TLS 1.3 */
/* Records: a peer may send the full 16 KiB; what we send (SMTP lines, HTTP requests) is small,
 * and tw_tls_write() accepts partial writes. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* Offered in this order (preferred first). */
#define MBEDTLS_SSL_CIPHERSUITES \
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256, \
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384, \
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, \
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, \
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, \
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, \
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, \
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256

#endif /* TW_MBEDTLS_COMMON_H */
