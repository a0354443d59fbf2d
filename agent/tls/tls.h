/* SPDX-License-Identifier: MIT */
/* tls.h - TLS 1.2/1.3 client and server sessions over HAL sockets with Mbed TLS, never blocking.
 *
 * A tw_tls_config (CA chain, own certificate, RNG, policy) is made once at
 * start and shared by every session of a role: tw_tls_config_init() for a
 * client (the SMTP and quote clients, `tickwatch ctl`), tw_tls_config_init_server()
 * for a server (the rpc role's TLS port). A tw_tls session runs over an already
 * connected (or accepted), non-blocking HAL socket. Every call that cannot finish returns
 * TW_ERR_WOULD_BLOCK and sets *want to TW_HAL_READ or TW_HAL_WRITE: wait for
 * that readiness on the socket's fd (loop interest), then call again.
 */
#ifndef TW_TLS_H
#define TW_TLS_H

#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
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
	mbedtls_x509_crt own;   /* our certificate chain (a server's, or a client's) */
	mbedtls_pk_context key; /* its private key */
	mbedtls_ctr_drbg_context drbg;
	int verify;
	int server; /* made by tw_tls_config_init_server() */
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

/** @return 1 when this build's Mbed TLS has the server side (MBEDTLS_SSL_SRV_C), else 0. */
int tw_tls_server_built(void);

/**
 * A server configuration: @p cert_file (PEM chain, ours first) and @p key_file
 * (its private key, PEM or DER, unencrypted). @p client_ca NULL or "": any
 * client may connect; a PEM bundle: clients must present a certificate it
 * signs (the handshake fails with TW_ERR_TLS_VERIFY otherwise). TLS 1.2 is the
 * floor, as for clients. @return 0, or TW_ERR_TLS_CONFIG with text in @p err
 * (a file that does not load, a key that does not match the certificate, or
 * a build without the server side: see tw_tls_server_built()).
 */
int tw_tls_config_init_server(struct tw_tls_config *c, const char *cert_file, const char *key_file,
			      const char *client_ca, char *err, size_t errlen);

/**
 * Give a client configuration a certificate of its own (for a server that
 * asks for one). @return 0 or TW_ERR_TLS_CONFIG with text.
 */
int tw_tls_config_own_cert(struct tw_tls_config *c, const char *cert_file, const char *key_file,
			   char *err, size_t errlen);

/** Free what tw_tls_config_init() / tw_tls_config_init_server() made. Safe twice. */
void tw_tls_config_free(struct tw_tls_config *c);

/**
 * Start a session on connected socket @p fd for @p host (SNI and the name the
 * certificate must carry). With a server configuration (tw_tls_config_init_server())
 * @p host is ignored and the session answers the client's handshake on the
 * accepted socket @p fd. @return 0 or an error with text (TW_ERR_NOMEM: the
 * TLS heap, [limits] tls_heap_kb, has no room for another session).
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
