/* SPDX-License-Identifier: MIT */
/* test_tls.c - TLS client over scripted HAL peers against an in-process Mbed TLS server:
 * tiny reads, blocked writes, verification failures, resets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/pk.h>

#include "fake_hal.h"
#include "tls.h"

/* The in-process server reads what the client sent (the fake peer's capture)
 * and its answers are scripted as data the client's recv() will see. */
struct server {
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	int fd;          /* the client's fake socket */
	size_t consumed; /* bytes of the client's output already read */
	size_t chunk;    /* how the client's reads are cut */
};

static struct tw_tls_config cfg;
static struct server srv;
static char err[256];

static int srv_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct server *s = ctx;

	fake_peer_data(s->fd, buf, len, s->chunk, 0);
	return (int)len;
}

static int srv_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct server *s = ctx;
	size_t have;
	const char *sent = fake_peer_sent(s->fd, &have);
	size_t n = have - s->consumed;

	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n > len)
		n = len;
	memcpy(buf, sent + s->consumed, n);
	s->consumed += n;
	return (int)n;
}

static int srv_rng(void *ctx, unsigned char *out, size_t len)
{
	return mbedtls_ctr_drbg_random(ctx, out, len);
}

static void server_start(int fd, size_t chunk)
{
	memset(&srv, 0, sizeof srv);
	srv.fd = fd;
	srv.chunk = chunk;
	mbedtls_ssl_init(&srv.ssl);
	mbedtls_ssl_config_init(&srv.conf);
	mbedtls_x509_crt_init(&srv.crt);
	mbedtls_pk_init(&srv.key);
	assert_int_equal(mbedtls_x509_crt_parse_file(&srv.crt, TW_TLS_CERTS "/server.pem"), 0);
	assert_int_equal(mbedtls_pk_parse_keyfile(&srv.key, TW_TLS_CERTS "/server.key", NULL,
						  srv_rng, &cfg.drbg),
			 0);
	assert_int_equal(mbedtls_ssl_config_defaults(&srv.conf, MBEDTLS_SSL_IS_SERVER,
						     MBEDTLS_SSL_TRANSPORT_STREAM,
						     MBEDTLS_SSL_PRESET_DEFAULT),
			 0);
	mbedtls_ssl_conf_rng(&srv.conf, srv_rng, &cfg.drbg);
	assert_int_equal(mbedtls_ssl_conf_own_cert(&srv.conf, &srv.crt, &srv.key), 0);
	assert_int_equal(mbedtls_ssl_setup(&srv.ssl, &srv.conf), 0);
	mbedtls_ssl_set_bio(&srv.ssl, &srv, srv_send, srv_recv, NULL);
}

static void server_free(void)
{
	mbedtls_ssl_free(&srv.ssl);
	mbedtls_ssl_config_free(&srv.conf);
	mbedtls_x509_crt_free(&srv.crt);
	mbedtls_pk_free(&srv.key);
}

static int setup(void **state)
{
	(void)state;
	fake_reset();
	return tw_tls_config_init(&cfg, TW_TLS_CERTS "/ca.pem", 1, err, sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	tw_tls_config_free(&cfg);
	tw_tls_config_free(&cfg); /* twice is safe */
	return 0;
}

/* Alternate client and server steps until the client's handshake ends. */
static int pump_handshake(struct tw_tls *t)
{
	unsigned want;
	int rc = TW_ERR_WOULD_BLOCK;

	for (int i = 0; i < 2000 && rc == TW_ERR_WOULD_BLOCK; i++) {
		rc = tw_tls_handshake(t, &want, err, sizeof err);
		if (rc == TW_ERR_WOULD_BLOCK)
			assert_true(want == TW_HAL_READ || want == TW_HAL_WRITE);
		int s = mbedtls_ssl_handshake(&srv.ssl);

		(void)s;
	}
	return rc;
}

static void handshake_and_echo_over_tiny_reads(void **state)
{
	struct tw_tls t;
	unsigned want;
	char buf[64];
	long n;
	int fd = fake_peer_new();

	(void)state;
	server_start(fd, 7); /* the client's reads come 7 bytes at a time */
	fake_peer_send_max(fd, 100); /* and its writes go out 100 bytes at a time */
	assert_int_equal(tw_tls_init(&t, &cfg, fd, "localhost", err, sizeof err), TW_OK);
	assert_int_equal(pump_handshake(&t), TW_OK);
	/* A blocked write is retried with the same data. */
	fake_peer_send_block(fd, 1);
	assert_int_equal(tw_tls_write(&t, "ping", 4, &want), TW_ERR_WOULD_BLOCK);
	assert_int_equal(want, TW_HAL_WRITE);
	assert_int_equal(tw_tls_write(&t, "ping", 4, &want), 4);
	for (int i = 0; i < 100; i++) {
		n = mbedtls_ssl_read(&srv.ssl, (unsigned char *)buf, sizeof buf);
		if (n != MBEDTLS_ERR_SSL_WANT_READ && n != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			break;
	}
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(mbedtls_ssl_write(&srv.ssl, (const unsigned char *)"pong!", 5), 5);
	n = TW_ERR_WOULD_BLOCK;
	for (int i = 0; i < 100 && n == TW_ERR_WOULD_BLOCK; i++)
		n = tw_tls_read(&t, buf, sizeof buf, &want);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "pong!", 5);
	/* Nothing more: would-block asking for readability. */
	assert_int_equal(tw_tls_read(&t, buf, sizeof buf, &want), TW_ERR_WOULD_BLOCK);
	assert_int_equal(want, TW_HAL_READ);
	/* The server's close_notify is an orderly end. */
	mbedtls_ssl_close_notify(&srv.ssl);
	assert_int_equal(tw_tls_read(&t, buf, sizeof buf, &want), TW_ERR_CLOSED);
	tw_tls_free(&t);
	tw_tls_free(&t); /* twice is safe */
	server_free();
}

static void wrong_host_name_is_refused(void **state)
{
	struct tw_tls t;
	int fd = fake_peer_new();

	(void)state;
	server_start(fd, 0);
	assert_int_equal(tw_tls_init(&t, &cfg, fd, "quotes.example", err, sizeof err), TW_OK);
	assert_int_equal(pump_handshake(&t), TW_ERR_TLS_VERIFY);
	assert_non_null(strstr(err, "not trusted"));
	tw_tls_free(&t);
	server_free();
}

static void unknown_ca_is_refused(void **state)
{
	struct tw_tls_config other;
	struct tw_tls t;
	int fd = fake_peer_new();

	(void)state;
	assert_int_equal(tw_tls_config_init(&other, TW_TLS_CERTS "/other-ca.pem", 1, err, sizeof err),
			 TW_OK);
	server_start(fd, 0);
	assert_int_equal(tw_tls_init(&t, &other, fd, "localhost", err, sizeof err), TW_OK);
	assert_int_equal(pump_handshake(&t), TW_ERR_TLS_VERIFY);
	tw_tls_free(&t);
	server_free();
	tw_tls_config_free(&other);
}

static void no_verify_accepts_any_name(void **state)
{
	struct tw_tls_config loose;
	struct tw_tls t;
	int fd = fake_peer_new();

	(void)state;
	assert_int_equal(tw_tls_config_init(&loose, NULL, 0, err, sizeof err), TW_OK);
	server_start(fd, 0);
	assert_int_equal(tw_tls_init(&t, &loose, fd, "quotes.example", err, sizeof err), TW_OK);
	assert_int_equal(pump_handshake(&t), TW_OK);
	tw_tls_free(&t);
	server_free();
	tw_tls_config_free(&loose);
}

static void reset_during_handshake(void **state)
{
	struct tw_tls t;
	unsigned want;
	int fd = fake_peer_new();

	(void)state;
	assert_int_equal(tw_tls_init(&t, &cfg, fd, "localhost", err, sizeof err), TW_OK);
	assert_int_equal(tw_tls_handshake(&t, &want, err, sizeof err), TW_ERR_WOULD_BLOCK);
	fake_peer_reset(fd);
	assert_int_equal(tw_tls_handshake(&t, &want, err, sizeof err), TW_ERR_RESET);
	assert_non_null(strstr(err, "reset"));
	tw_tls_free(&t);
}

static void config_errors(void **state)
{
	struct tw_tls_config c;

	(void)state;
	assert_int_equal(tw_tls_config_init(&c, "/nonexistent/ca.pem", 1, err, sizeof err),
			 TW_ERR_TLS_CONFIG);
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	tw_tls_config_free(&c);
	assert_int_equal(tw_tls_config_init(&c, "", 1, err, sizeof err), TW_ERR_TLS_CONFIG);
	assert_non_null(strstr(err, "no CA file"));
	tw_tls_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(handshake_and_echo_over_tiny_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_host_name_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_ca_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(no_verify_accepts_any_name, setup, teardown),
		cmocka_unit_test_setup_teardown(reset_during_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(config_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
