/* SPDX-License-Identifier: MIT */
/* tls.c - Mbed TLS client and server sessions whose I/O goes through the HAL's non-blocking sockets. */
#include "tls.h"

#include <errno.h>
#include <psa/crypto.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/version.h>

#include "core/arena.h"
#include "hal.h"

/* The server side is a build option of Mbed TLS (each board's mbedtls_config.h). */
#if defined(MBEDTLS_SSL_SRV_C)
#define SERVER_BUILT 1
#else
#define SERVER_BUILT 0
#endif

/* HAL entropy as the DRBG's seed source. */
static int seed(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	return tw_hal_entropy(buf, len) == TW_OK ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

static void mbed_text(int rc, const char *what, char *err, size_t errlen)
{
	char buf[128];

	mbedtls_strerror(rc, buf, sizeof buf);
	snprintf(err, errlen, "%s: %s (-0x%04x)", what, buf, (unsigned)-rc);
}

int tw_tls_heap_init(struct tw_arena *a, size_t bytes, char *err, size_t errlen)
{
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
	static int done;
	unsigned char *heap;

	if (done)
		return TW_OK;
	heap = tw_arena_carve(a, bytes, "TLS heap", "tls_heap_kb");
	if (heap == NULL) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	mbedtls_memory_buffer_alloc_init(heap, bytes);
	done = 1;
#else
	/* This Mbed TLS build allocates from the C heap; its sessions are bounded
	 * by the number of connections the roles open (one per peer). */
	(void)a;
	(void)bytes;
	(void)err;
	(void)errlen;
#endif
	return TW_OK;
}

/* What every configuration needs: the contexts set up, PSA crypto, the DRBG seeded. */
static int config_begin(struct tw_tls_config *c, char *err, size_t errlen)
{
	static const unsigned char pers[] = "tickwatch-tls";
	static int psa_ready;
	int rc;

	memset(c, 0, sizeof *c);
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crt_init(&c->own);
	mbedtls_pk_init(&c->key);
	mbedtls_ctr_drbg_init(&c->drbg);
	c->ready = 1;
	if (!psa_ready) {
		/* TLS 1.3 runs on PSA crypto; it must be up before any session. */
		if (psa_crypto_init() != PSA_SUCCESS) {
			snprintf(err, errlen, "TLS: PSA crypto failed to start");
			return TW_ERR_TLS_CONFIG;
		}
		psa_ready = 1;
	}
	rc = mbedtls_ctr_drbg_seed(&c->drbg, seed, NULL, pers, sizeof pers - 1);
	if (rc != 0) {
		mbed_text(rc, "TLS: seeding the RNG", err, errlen);
		return TW_ERR_TLS_CONFIG;
	}
	return TW_OK;
}

/* Load the PEM bundle @p file into @p crt; @p what names it in the error. */
static int load_certs(mbedtls_x509_crt *crt, const char *file, const char *what, char *err,
		      size_t errlen)
{
	int rc = mbedtls_x509_crt_parse_file(crt, file);

	if (rc < 0) {
		char text[320];

		snprintf(text, sizeof text, "TLS: cannot load %s %s", what, file);
		mbed_text(rc, text, err, errlen);
		return TW_ERR_TLS_CONFIG;
	}
	/* rc > 0: some certificates in a system bundle did not parse; the rest are
	 * usable, as with OpenSSL. */
	return TW_OK;
}

int tw_tls_config_own_cert(struct tw_tls_config *c, const char *cert_file, const char *key_file,
			   char *err, size_t errlen)
{
	char text[320];
	int rc;

	if (load_certs(&c->own, cert_file, "certificate file", err, errlen) != TW_OK)
		return TW_ERR_TLS_CONFIG;
	rc = mbedtls_pk_parse_keyfile(&c->key, key_file, NULL, mbedtls_ctr_drbg_random, &c->drbg);
	if (rc != 0) {
		snprintf(text, sizeof text, "TLS: cannot load private key %s", key_file);
		mbed_text(rc, text, err, errlen);
		return TW_ERR_TLS_CONFIG;
	}
	rc = mbedtls_pk_check_pair(&c->own.pk, &c->key, mbedtls_ctr_drbg_random, &c->drbg);
	if (rc != 0) {
		snprintf(err, errlen, "TLS: private key %s does not belong to certificate %s",
			 key_file, cert_file);
		return TW_ERR_TLS_CONFIG;
	}
	rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->own, &c->key);
	if (rc != 0) {
		mbed_text(rc, "TLS: own certificate", err, errlen);
		return TW_ERR_TLS_CONFIG;
	}
	return TW_OK;
}

int tw_tls_server_built(void) { return SERVER_BUILT; }

int tw_tls_config_init_server(struct tw_tls_config *c, const char *cert_file, const char *key_file,
			      const char *client_ca, char *err, size_t errlen)
{
	int rc = config_begin(c, err, errlen);

	c->server = 1;
	c->verify = client_ca && client_ca[0];
	if (rc != TW_OK)
		return rc;
	if (!SERVER_BUILT) {
		snprintf(err, errlen, "TLS: this build's Mbed TLS has no server side "
				      "(MBEDTLS_SSL_SRV_C is not in the board's mbedtls_config.h)");
		return TW_ERR_TLS_CONFIG;
	}
	rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_SERVER,
					 MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0) {
		mbed_text(rc, "TLS: server config defaults", err, errlen);
		return TW_ERR_TLS_CONFIG;
	}
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	if (tw_tls_config_own_cert(c, cert_file, key_file, err, errlen) != TW_OK)
		return TW_ERR_TLS_CONFIG;
	if (c->verify) {
		if (load_certs(&c->ca, client_ca, "client CA file", err, errlen) != TW_OK)
			return TW_ERR_TLS_CONFIG;
		mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	}
	mbedtls_ssl_conf_authmode(&c->conf, c->verify ? MBEDTLS_SSL_VERIFY_REQUIRED
						      : MBEDTLS_SSL_VERIFY_NONE);
	return TW_OK;
}

int tw_tls_config_init(struct tw_tls_config *c, const char *ca_file, int verify, char *err,
		       size_t errlen)
{
	int rc = config_begin(c, err, errlen);

	c->verify = verify;
	if (rc != TW_OK)
		return rc;
	if (ca_file && ca_file[0]) {
		if (load_certs(&c->ca, ca_file, "CA file", err, errlen) != TW_OK)
			return TW_ERR_TLS_CONFIG;
	} else if (verify) {
		snprintf(err, errlen, "TLS: verification is on but no CA file is configured");
		return TW_ERR_TLS_CONFIG;
	}
	rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
					 MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0) {
		mbed_text(rc, "TLS: config defaults", err, errlen);
		return TW_ERR_TLS_CONFIG;
	}
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	mbedtls_ssl_conf_authmode(&c->conf, verify ? MBEDTLS_SSL_VERIFY_REQUIRED
						   : MBEDTLS_SSL_VERIFY_NONE);
	/* TLS 1.2 is the floor: relays and APIs still offering 1.0/1.1 are refused. */
	mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	return TW_OK;
}

void tw_tls_config_free(struct tw_tls_config *c)
{
	if (!c->ready)
		return;
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crt_free(&c->own);
	mbedtls_pk_free(&c->key);
	mbedtls_ctr_drbg_free(&c->drbg);
	c->ready = 0;
}

/* The BIO callbacks: HAL results mapped onto what Mbed TLS expects. The
 * HAL code is kept so the caller sees RESET/CLOSED rather than a TLS error. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tw_tls *t = ctx;
	long n = tw_hal_send(t->fd, buf, len);

	if (n >= 0)
		return (int)n;
	t->io_rc = (int)n;
	return n == TW_ERR_WOULD_BLOCK ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tw_tls *t = ctx;
	long n = tw_hal_recv(t->fd, buf, len);

	if (n > 0)
		return (int)n;
	t->io_rc = (int)n;
	if (n == TW_ERR_WOULD_BLOCK)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n == TW_ERR_CLOSED)
		return 0; /* end of stream */
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

int tw_tls_init(struct tw_tls *t, struct tw_tls_config *c, int fd, const char *host, char *err,
		size_t errlen)
{
	int rc;

	memset(t, 0, sizeof *t);
	mbedtls_ssl_init(&t->ssl);
	t->ready = 1;
	t->fd = fd;
	rc = mbedtls_ssl_setup(&t->ssl, &c->conf);
	if (rc == 0 && !c->server)
		rc = mbedtls_ssl_set_hostname(&t->ssl, host);
	if (rc != 0) {
		mbed_text(rc, "TLS: session setup", err, errlen);
		return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? TW_ERR_NOMEM : TW_ERR_TLS_CONFIG;
	}
	mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
	return TW_OK;
}

/* Map a failing Mbed TLS return onto our codes; sets *want for WANT_*. */
static int map_rc(struct tw_tls *t, int rc, unsigned *want)
{
	if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
		*want = TW_HAL_READ;
		return TW_ERR_WOULD_BLOCK;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		*want = TW_HAL_WRITE;
		return TW_ERR_WOULD_BLOCK;
	}
	if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF)
		return TW_ERR_CLOSED;
	if ((rc == MBEDTLS_ERR_NET_SEND_FAILED || rc == MBEDTLS_ERR_NET_RECV_FAILED) && t->io_rc < 0)
		return t->io_rc;
	return TW_ERR_TLS_IO;
}

int tw_tls_handshake(struct tw_tls *t, unsigned *want, char *err, size_t errlen)
{
	int rc;

	*want = 0;
	if (t->handshake_done)
		return TW_OK;
	rc = mbedtls_ssl_handshake(&t->ssl);
	if (rc == 0) {
		t->handshake_done = 1;
		return TW_OK;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return map_rc(t, rc, want);
	if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		char info[256];
		uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);

		mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
		info[strcspn(info, "\n")] = '\0';
		snprintf(err, errlen, "TLS: peer certificate not trusted: %s", info);
		return TW_ERR_TLS_VERIFY;
	}
	if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
		snprintf(err, errlen, "TLS: the client presented no certificate (one is required)");
		return TW_ERR_TLS_VERIFY;
	}
	if ((rc == MBEDTLS_ERR_NET_SEND_FAILED || rc == MBEDTLS_ERR_NET_RECV_FAILED) &&
	    t->io_rc < 0) {
		snprintf(err, errlen, "TLS: connection %s during the handshake",
			 t->io_rc == TW_ERR_CLOSED ? "closed" : "reset");
		return t->io_rc;
	}
	if (rc == MBEDTLS_ERR_SSL_CONN_EOF) {
		snprintf(err, errlen, "TLS: peer closed the connection during the handshake");
		return TW_ERR_CLOSED;
	}
	mbed_text(rc, "TLS: handshake failed", err, errlen);
	return TW_ERR_TLS_HANDSHAKE;
}

long tw_tls_read(struct tw_tls *t, void *buf, size_t len, unsigned *want)
{
	*want = 0;
	for (int tries = 0; tries < 4; tries++) {
		int rc = mbedtls_ssl_read(&t->ssl, buf, len);

		if (rc > 0)
			return rc;
		if (rc == 0)
			return TW_ERR_CLOSED;
		/* A TLS 1.3 session ticket is not data: read on. */
		if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
		return map_rc(t, rc, want);
	}
	*want = TW_HAL_READ;
	return TW_ERR_WOULD_BLOCK;
}

long tw_tls_write(struct tw_tls *t, const void *buf, size_t len, unsigned *want)
{
	int rc;

	*want = 0;
	if (t->wpend && len > t->wpend)
		len = t->wpend;
	rc = mbedtls_ssl_write(&t->ssl, buf, len);
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		t->wpend = len;
		return map_rc(t, rc, want);
	}
	t->wpend = 0;
	if (rc > 0)
		return rc;
	return map_rc(t, rc, want);
}

size_t tw_tls_pending(const struct tw_tls *t)
{
	return mbedtls_ssl_get_bytes_avail(&t->ssl);
}

void tw_tls_free(struct tw_tls *t)
{
	if (!t->ready)
		return;
	if (t->handshake_done)
		(void)mbedtls_ssl_close_notify(&t->ssl); /* best effort, never waits */
	mbedtls_ssl_free(&t->ssl);
	t->ready = 0;
}
