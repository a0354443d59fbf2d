/* SPDX-License-Identifier: MIT */
/* test_tls.c - TLS client and the plain/TLS stream over scripted HAL peers against an in-process
 * Mbed TLS server: tiny reads, blocked writes, verification failures, resets, a STARTTLS upgrade. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/pk.h>

#include "fake_hal.h"
#include "stream.h"
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

/* Alternate client and server steps until the client's handshake ends: through stream @p st
 * when given, else on session @p t. */
static int pump_handshake_of(struct tw_tls *t, struct tw_stream *st)
{
	unsigned want;
	int rc = TW_ERR_WOULD_BLOCK;

	for (int i = 0; i < 2000 && rc == TW_ERR_WOULD_BLOCK; i++) {
		rc = st ? tw_stream_handshake(st, &want, err, sizeof err)
			: tw_tls_handshake(t, &want, err, sizeof err);
		if (rc == TW_ERR_WOULD_BLOCK)
			assert_true(want == TW_HAL_READ || want == TW_HAL_WRITE);
		int s = mbedtls_ssl_handshake(&srv.ssl);

		(void)s;
	}
	return rc;
}

static int pump_handshake(struct tw_tls *t) { return pump_handshake_of(t, NULL); }

static int pump_stream_handshake(struct tw_stream *st) { return pump_handshake_of(NULL, st); }

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

/* What the server has decrypted so far, up to @p want bytes, into @p buf. */
static size_t server_read(char *buf, size_t cap, size_t want)
{
	size_t got = 0;

	for (int i = 0; i < 200 && got < want; i++) {
		int n = mbedtls_ssl_read(&srv.ssl, (unsigned char *)buf + got, cap - got);

		if (n > 0)
			got += (size_t)n;
		else if (n != MBEDTLS_ERR_SSL_WANT_READ &&
			 n != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			break;
	}
	return got;
}

static void stream_upgrades_from_clear_to_tls(void **state)
{
	struct tw_stream st;
	struct tw_tls t;
	unsigned want;
	char buf[64];
	size_t sent_len;
	long n;
	int fd = fake_peer_new();

	(void)state;
	tw_stream_init(&st, &cfg, &t);
	tw_stream_open(&st, fd);
	assert_false(tw_stream_is_tls(&st));
	assert_int_equal(tw_stream_handshake(&st, &want, err, sizeof err), TW_OK);
	/* In clear: the bytes are the socket's. */
	assert_int_equal(tw_stream_write(&st, "STARTTLS\r\n", 10, &want), 10);
	fake_peer_data(fd, "220 go\r\n", 8, 0, 0);
	assert_int_equal(tw_stream_read(&st, buf, sizeof buf, &want), 8);
	assert_memory_equal(buf, "220 go\r\n", 8);
	assert_int_equal(tw_stream_read(&st, buf, sizeof buf, &want), TW_ERR_WOULD_BLOCK);
	assert_int_equal(want, TW_HAL_READ);
	/* Then TLS on the same socket: the server reads from after the clear bytes. */
	server_start(fd, 0);
	assert_memory_equal(fake_peer_sent(fd, &sent_len), "STARTTLS\r\n", 10);
	srv.consumed = sent_len;
	assert_int_equal(tw_stream_start_tls(&st, "localhost", err, sizeof err), TW_OK);
	assert_true(tw_stream_is_tls(&st));
	assert_int_equal(pump_stream_handshake(&st), TW_OK);
	assert_int_equal(tw_stream_write(&st, "EHLO x\r\n", 8, &want), 8);
	assert_int_equal(server_read(buf, sizeof buf, 8), 8);
	assert_memory_equal(buf, "EHLO x\r\n", 8);
	assert_int_equal(mbedtls_ssl_write(&srv.ssl, (const unsigned char *)"250 ok\r\n", 8), 8);
	n = TW_ERR_WOULD_BLOCK;
	for (int i = 0; i < 100 && n == TW_ERR_WOULD_BLOCK; i++)
		n = tw_stream_read(&st, buf, sizeof buf, &want);
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "250 ok\r\n", 8);
	/* Closing ends TLS (close_notify) and leaves the socket open and the stream in clear. */
	tw_stream_close(&st);
	assert_false(tw_stream_is_tls(&st));
	assert_false(fake_peer_closed(fd));
	n = MBEDTLS_ERR_SSL_WANT_READ;
	for (int i = 0; i < 100 && (n == MBEDTLS_ERR_SSL_WANT_READ ||
				    n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET); i++)
		n = mbedtls_ssl_read(&srv.ssl, (unsigned char *)buf, sizeof buf);
	assert_int_equal(n, MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
	tw_stream_close(&st); /* twice is safe */
	server_free();
}

/* Mbed TLS builds the record from the first call: a retry after would-block that passes more
 * bytes (the caller appended meanwhile) is held to the blocked length, and the rest follows. */
static void blocked_write_retry_is_held_to_its_length(void **state)
{
	struct tw_stream st;
	struct tw_tls t;
	unsigned want;
	char buf[64];
	const char msg[] = "body line\r\n.\r\n";
	long n;
	int fd = fake_peer_new();

	(void)state;
	server_start(fd, 0);
	tw_stream_init(&st, &cfg, &t);
	tw_stream_open(&st, fd);
	assert_int_equal(tw_stream_start_tls(&st, "localhost", err, sizeof err), TW_OK);
	assert_int_equal(pump_stream_handshake(&st), TW_OK);
	fake_peer_send_block(fd, 1);
	assert_int_equal(tw_stream_write(&st, msg, 11, &want), TW_ERR_WOULD_BLOCK);
	assert_int_equal(want, TW_HAL_WRITE);
	n = tw_stream_write(&st, msg, sizeof msg - 1, &want);
	assert_int_equal(n, 11);
	assert_int_equal(tw_stream_write(&st, msg + n, sizeof msg - 1 - (size_t)n, &want),
			 (long)(sizeof msg - 1 - (size_t)n));
	assert_int_equal(server_read(buf, sizeof buf, sizeof msg - 1), sizeof msg - 1);
	assert_memory_equal(buf, msg, sizeof msg - 1);
	tw_stream_close(&st);
	server_free();
}

static void stream_without_tls_config_stays_in_clear(void **state)
{
	struct tw_stream st;
	unsigned want;
	int fd = fake_peer_new();

	(void)state;
	tw_stream_init(&st, NULL, NULL);
	assert_false(tw_stream_can_tls(&st));
	tw_stream_close(&st); /* before any open: safe */
	tw_stream_open(&st, fd);
	assert_int_equal(tw_stream_start_tls(&st, "localhost", err, sizeof err), TW_ERR_ARG);
	assert_non_null(strstr(err, "TLS"));
	assert_false(tw_stream_is_tls(&st));
	assert_int_equal(tw_stream_write(&st, "x", 1, &want), 1);
	tw_stream_close(&st);
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
		cmocka_unit_test_setup_teardown(stream_upgrades_from_clear_to_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(blocked_write_retry_is_held_to_its_length, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stream_without_tls_config_stays_in_clear, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
