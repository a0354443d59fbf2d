/* SPDX-License-Identifier: MIT */
/* tls.h - TLS 1.2/1.3 client sessions over HAL sockets with Mbed TLS, never blocking.
 *
 * A tw_tls_config (CA chain, RNG, policy) is made once at start and shared by
 * every session of a role. A tw_tls session runs over an already connected,
 * non-blocking HAL socket. Every call that cannot finish returns
 * TW_ERR_WOULD_BLOCK and sets *want to TW_HAL_READ or TW_HAL_WRITE: wait for
 * that readiness on the socket's fd (loop interest), then call again.
 */
#ifndef TW_TLS_H
#define TW_TLS_H

#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

enum {
	TW_ERR_TLS_CONFIG = -600,    /**< CA file unreadable, bad policy */
	TW_ERR_TLS_HANDSHAKE = -601, /**< handshake failed (protocol, cipher, alert) */
	TW_ERR_TLS_VERIFY = -602,    /**< certificate or host name not trusted */
	TW_ERR_TLS_IO = -603,        /**< record layer error after the handshake */
};

struct tw_tls_config {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_ctr_drbg_context drbg;
	int verify;
	int ready;
};

struct tw_tls {
	mbedtls_ssl_context ssl;
	int fd;
	int io_rc; /* last HAL error seen by the BIO callbacks */
	size_t wpend; /* length of a write that returned WANT_*, until it completes */
	int handshake_done;
	int ready;
};

struct tw_arena;

/**
 * Give Mbed TLS a heap of @p bytes carved from the arena (once per process),
 * when the library is built with MBEDTLS_MEMORY_BUFFER_ALLOC_C; otherwise a
 * no-op. Call from a role's start before tw_tls_config_init().
 * @return 0 or TW_ERR_NOMEM naming [limits] tls_heap_kb.
 */
int tw_tls_heap_init(struct tw_arena *a, size_t bytes, char *err, size_t errlen);

/**
 * Load @p ca_file (PEM bundle) and seed the RNG from the HAL's entropy.
 * @p verify 1: peer certificate and host name must verify (the default
 * everywhere); 0: encrypt without authentication (logged as a warning by the
 * caller). @return 0 or TW_ERR_TLS_CONFIG with text in @p err.
 */
int tw_tls_config_init(struct tw_tls_config *c, const char *ca_file, int verify, char *err,
		       size_t errlen);

/** Free what tw_tls_config_init() made. Safe twice. */
void tw_tls_config_free(struct tw_tls_config *c);

/**
 * Start a session on connected socket @p fd for @p host (SNI and the name the
 * certificate must carry). @return 0 or an error with text.
 */
int tw_tls_init(struct tw_tls *t, struct tw_tls_config *c, int fd, const char *host, char *err,
		size_t errlen);

/**
 * Drive the handshake. @return 0 when done, TW_ERR_WOULD_BLOCK (see *want),
 * TW_ERR_TLS_VERIFY (untrusted peer: not worth retrying), TW_ERR_TLS_HANDSHAKE,
 * TW_ERR_CLOSED / TW_ERR_RESET from the socket; text in @p err.
 */
int tw_tls_handshake(struct tw_tls *t, unsigned *want, char *err, size_t errlen);

/**
 * Read decrypted bytes. @return count (> 0), TW_ERR_WOULD_BLOCK (see *want),
 * TW_ERR_CLOSED (close_notify or orderly end), TW_ERR_RESET or TW_ERR_TLS_IO.
 */
long tw_tls_read(struct tw_tls *t, void *buf, size_t len, unsigned *want);

/**
 * Write bytes. @return count accepted (> 0, maybe fewer than @p len), or an
 * error. After TW_ERR_WOULD_BLOCK call again with the same buffer and length
 * (Mbed TLS has built the record from them): a longer length is cut back to
 * the blocked one, so bytes the caller appended meanwhile are not reported as
 * sent before they are (Mbed TLS would report the new length).
 */
long tw_tls_write(struct tw_tls *t, const void *buf, size_t len, unsigned *want);

/** @return bytes already decrypted and waiting (read them before waiting on the fd). */
size_t tw_tls_pending(const struct tw_tls *t);

/** Send close_notify (best effort, never waits) and free the session. Safe twice. */
void tw_tls_free(struct tw_tls *t);

#endif
