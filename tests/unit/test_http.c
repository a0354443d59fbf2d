/* SPDX-License-Identifier: MIT */
/* test_http.c - HTTP/1.1 client over plain scripted peers: framing, splits, bounds, time-outs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "fake_hal.h"
#include "log.h"
#include "loop.h"
#include "quotes/http.h"
#include "tls/stream.h"

static struct tw_arena arena;
static struct tw_loop loop;
static struct tw_http_client cl;
static struct tw_stream stream;
static unsigned char body[256];
static unsigned char rbuf[64];

static struct {
	int calls, rc, status;
	char body[512];
	size_t len;
	char err[256];
} got;

static void done(void *arg, int rc, int status, const char *b, size_t len, const char *err)
{
	(void)arg;
	got.calls++;
	got.rc = rc;
	got.status = status;
	got.len = len;
	snprintf(got.body, sizeof got.body, "%s", b ? b : "");
	snprintf(got.err, sizeof got.err, "%s", err);
}

static int setup(void **state)
{
	char err[128];

	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	memset(&got, 0, sizeof got);
	if (tw_arena_init(&arena, 65536) != TW_OK || tw_loop_init(&loop, &arena, 8, 8) != TW_OK)
		return -1;
	tw_stream_init(&stream, NULL, NULL);
	return tw_http_client_init(&cl, &loop, "http://quotes.example:8080/api/", &stream, body,
				   sizeof body, rbuf, sizeof rbuf, 10000, err, sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	tw_http_client_close(&cl);
	tw_arena_free(&arena);
	return 0;
}

/* Turn the loop until the request is done (bounded). */
static void run(void)
{
	for (int i = 0; i < 2000 && got.calls == 0; i++)
		tw_loop_run_once(&loop, 60000);
	assert_int_equal(got.calls, 1);
}

static int connect_peer(void)
{
	int fd = fake_peer_new();

	fake_connect_next(TW_ERR_WOULD_BLOCK, fd, TW_OK);
	return fd;
}

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

static void content_length_split_in_single_bytes(void **state)
{
	static const char resp[] = OK_HEAD "Content-Length: 11\r\n\r\n{\"a\":12345}";
	int fd = connect_peer();
	size_t sent;
	const char *req;

	(void)state;
	fake_peer_would_block(fd);
	fake_peer_data(fd, resp, 20, 1, 0);
	fake_peer_would_block(fd);
	fake_peer_data(fd, resp + 20, strlen(resp) - 20, 1, 0);
	fake_peer_send_max(fd, 7); /* the request goes out in short writes */
	assert_int_equal(tw_http_get(&cl, "/v8/finance/chart/AAPL", done, NULL), 0);
	assert_int_equal(got.calls, 0); /* never called from inside the get */
	run();
	assert_int_equal(got.rc, 0);
	assert_int_equal(got.status, 200);
	assert_string_equal(got.body, "{\"a\":12345}");
	req = fake_peer_sent(fd, &sent);
	assert_non_null(strstr(req, "GET /api/v8/finance/chart/AAPL HTTP/1.1\r\n"));
	assert_non_null(strstr(req, "\r\nHost: quotes.example:8080\r\n"));
	assert_non_null(strstr(req, "\r\nConnection: keep-alive\r\n\r\n"));
	assert_true(fake_peer_recv_calls(fd) > 40);
}

static void chunked_split_and_keep_alive(void **state)
{
	static const char r1[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "4\r\n{\"a\"\r\nA;ext=1\r\n:123456789\r\n1\r\n}\r\n0\r\n"
				 "X-Trailer: y\r\n\r\n";
	static const char r2[] = OK_HEAD "Content-Length: 2\r\n\r\n[]";
	int fd = connect_peer();

	(void)state;
	fake_peer_data(fd, r1, strlen(r1), 3, 0);
	assert_int_equal(tw_http_get(&cl, "/one", done, NULL), 0);
	run();
	assert_int_equal(got.rc, 0);
	assert_string_equal(got.body, "{\"a\":123456789}");
	assert_int_equal(got.len, 15);
	assert_int_equal(fake_peer_closed(fd), 0); /* kept alive */
	/* the second request reuses the connection: no connect is scripted */
	memset(&got, 0, sizeof got);
	fake_peer_data(fd, r2, strlen(r2), 5, 0);
	assert_int_equal(tw_http_get(&cl, "/two", done, NULL), 0);
	run();
	assert_int_equal(got.rc, 0);
	assert_string_equal(got.body, "[]");
	assert_int_equal(cl.connects, 1);
	assert_int_equal(cl.reuses, 1);
}

static void stale_kept_connection_is_replaced_once(void **state)
{
	static const char r[] = OK_HEAD "Content-Length: 2\r\n\r\nok";
	int fd = connect_peer(), fd2;

	(void)state;
	fake_peer_data(fd, r, strlen(r), 0, 0);
	assert_int_equal(tw_http_get(&cl, "/a", done, NULL), 0);
	run();
	memset(&got, 0, sizeof got);
	fake_peer_close(fd); /* the server dropped the idle connection */
	fd2 = connect_peer();
	fake_peer_data(fd2, r, strlen(r), 0, 0);
	assert_int_equal(tw_http_get(&cl, "/b", done, NULL), 0);
	run();
	assert_int_equal(got.rc, 0);
	assert_string_equal(got.body, "ok");
	assert_int_equal(cl.connects, 2);
	assert_int_equal(fake_peer_closed(fd), 1);
}

static void connection_close_and_body_until_eof(void **state)
{
	static const char r[] = "HTTP/1.0 404 Not Found\r\n\r\n{\"chart\":null}";
	int fd = connect_peer();

	(void)state;
	fake_peer_data(fd, r, strlen(r), 4, 0);
	fake_peer_close(fd);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, 0);
	assert_int_equal(got.status, 404);
	assert_string_equal(got.body, "{\"chart\":null}");
	assert_int_equal(fake_peer_closed(fd), 1);
}

static void oversized_bodies_are_refused(void **state)
{
	static const char big_len[] = OK_HEAD "Content-Length: 100000\r\n\r\n{";
	static const char big_chunk[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
					"ffff\r\n{";
	char many[600];
	int fd = connect_peer();

	(void)state;
	fake_peer_data(fd, big_len, strlen(big_len), 0, 0);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_HTTP_TOO_BIG);
	assert_non_null(strstr(got.err, "quote_response_kb"));
	assert_int_equal(fake_peer_closed(fd), 1);

	memset(&got, 0, sizeof got);
	fd = connect_peer();
	fake_peer_data(fd, big_chunk, strlen(big_chunk), 0, 0);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_HTTP_TOO_BIG);

	/* no length given: the body grows until the bound */
	memset(&got, 0, sizeof got);
	fd = connect_peer();
	memset(many, 'x', sizeof many);
	fake_peer_data(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 38, 0, 0);
	fake_peer_data(fd, many, sizeof many, 100, 0);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_HTTP_TOO_BIG);
}

static void truncated_responses(void **state)
{
	static const char r[] = OK_HEAD "Content-Length: 50\r\n\r\n{\"short";
	int fd = connect_peer();

	(void)state;
	fake_peer_data(fd, r, strlen(r), 0, 0);
	fake_peer_close(fd);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_HTTP_TRUNCATED);
	assert_non_null(strstr(got.err, "in the body"));

	memset(&got, 0, sizeof got);
	fd = connect_peer();
	fake_peer_data(fd, "HTTP/1.1 200 OK\r\nContent-Le", 27, 0, 0);
	fake_peer_close(fd);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_HTTP_TRUNCATED);
	assert_non_null(strstr(got.err, "in the headers"));

	memset(&got, 0, sizeof got);
	fd = connect_peer();
	fake_peer_data(fd, "HTTP/1.1 200 OK\r\n\r\n", 19, 0, 0);
	fake_peer_reset(fd);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_RESET);
	assert_non_null(strstr(got.err, "connection reset"));
}

static void garbage_is_a_protocol_error(void **state)
{
	static const char *const bad[] = {
		"SSH-2.0-OpenSSH_9.2\r\n",
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int fd = connect_peer();

		memset(&got, 0, sizeof got);
		fake_peer_data(fd, bad[i], strlen(bad[i]), 2, 0);
		fake_peer_close(fd);
		assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
		run();
		if (got.rc != TW_ERR_HTTP_PROTO)
			fail_msg("case %zu: rc %d (%s)", i, got.rc, got.err);
	}
}

static void long_header_line_is_refused(void **state)
{
	char line[1500];
	int fd = connect_peer();

	(void)state;
	memcpy(line, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(line + 20, 'a', sizeof line - 20);
	fake_peer_data(fd, line, sizeof line, 0, 0);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_HTTP_PROTO);
	assert_non_null(strstr(got.err, "longer than 1 KiB"));
}

static void connect_timeout_on_the_fake_clock(void **state)
{
	int fd = connect_peer();
	tw_mono_t t0 = tw_hal_now();

	(void)state;
	fake_peer_send_block(fd, 1000000); /* never writable: the connect hangs */
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_TIMEOUT);
	assert_non_null(strstr(got.err, "no connection within 10000 ms"));
	assert_true(tw_hal_now() - t0 >= 10000 * TW_MONO_PER_MS);
	assert_int_equal(fake_peer_closed(fd), 1);
}

static void read_timeout_on_the_fake_clock(void **state)
{
	static const char r[] = OK_HEAD "Content-Length: 2\r\n\r\nok";
	int fd = connect_peer();

	(void)state;
	/* the head arrives at once, the rest 30 s later: past the 10 s bound */
	fake_peer_data(fd, r, 20, 0, 0);
	fake_peer_data(fd, r + 20, strlen(r) - 20, 0, 31000);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, TW_ERR_TIMEOUT);
	assert_non_null(strstr(got.err, "no complete response within 10000 ms"));
	/* a late answer within the bound is fine */
	memset(&got, 0, sizeof got);
	fd = connect_peer();
	fake_peer_data(fd, r, strlen(r), 0, (tw_hal_now() / TW_MONO_PER_MS) + 9000);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, 0);
}

static void refused_connect_fails_in_the_first_turns(void **state)
{
	(void)state;
	fake_connect_next(TW_ERR_REFUSED, -1, TW_OK);
	/* The name is resolved off the loop first (core/resolve.h): the refusal comes
	 * through done, in the first turns, not from inside the call. */
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	assert_int_equal(got.calls, 0);
	run();
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.rc, TW_ERR_REFUSED);
	assert_non_null(strstr(got.err, "quotes.example:8080"));
	assert_int_equal(tw_http_get(&cl, "no-slash", done, NULL), TW_ERR_ARG);
	assert_int_equal(tw_http_get(&cl, "/a b", done, NULL), TW_ERR_ARG);
}

static void interim_100_and_204(void **state)
{
	static const char r[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
	int fd = connect_peer();

	(void)state;
	fake_peer_data(fd, r, strlen(r), 0, 0);
	assert_int_equal(tw_http_get(&cl, "/x", done, NULL), 0);
	run();
	assert_int_equal(got.rc, 0);
	assert_int_equal(got.status, 204);
	assert_int_equal(got.len, 0);
}

static void url_parsing(void **state)
{
	char host[64], path[64];
	uint16_t port;
	int tls;

	(void)state;
	assert_int_equal(tw_http_parse_url("https://query1.finance.yahoo.com", &tls, host,
					   sizeof host, &port, path, sizeof path),
			 0);
	assert_int_equal(tls, 1);
	assert_int_equal(port, 443);
	assert_string_equal(host, "query1.finance.yahoo.com");
	assert_string_equal(path, "");
	assert_int_equal(tw_http_parse_url("http://127.0.0.1:18443/base/", &tls, host, sizeof host,
					   &port, path, sizeof path),
			 0);
	assert_int_equal(port, 18443);
	assert_string_equal(path, "/base");
	assert_int_equal(tw_http_parse_url("ftp://x", &tls, host, sizeof host, &port, path,
					   sizeof path),
			 TW_ERR_HTTP_URL);
	assert_int_equal(tw_http_parse_url("http://:80", &tls, host, sizeof host, &port, path,
					   sizeof path),
			 TW_ERR_HTTP_URL);
	assert_int_equal(tw_http_parse_url("http://h:99999", &tls, host, sizeof host, &port, path,
					   sizeof path),
			 TW_ERR_HTTP_URL);
	assert_int_equal(tw_http_parse_url("http://a@b", &tls, host, sizeof host, &port, path,
					   sizeof path),
			 TW_ERR_HTTP_URL);
}

/* The parser alone, fed every possible two-piece split of a chunked response. */
static void parser_every_split(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	unsigned char b[64];
	char err[128];

	(void)state;
	for (size_t cut = 0; cut <= strlen(r); cut++) {
		struct tw_http_parser p;
		size_t used = 0;
		int rc;

		tw_http_parser_init(&p, b, sizeof b);
		rc = tw_http_parse(&p, (const unsigned char *)r, cut, &used, err, sizeof err);
		if (rc == 0)
			rc = tw_http_parse(&p, (const unsigned char *)r + cut, strlen(r) - cut, &used,
					   err, sizeof err);
		assert_int_equal(rc, 1);
		assert_string_equal((char *)b, "abcde");
	}
}

/* HTTP dates: the digit fields of the three formats RFC 9110 5.6.7 names, read by RFC 6265 5.1.1
 * (oracle: RFC 9110's example, Sun, 06 Nov 1994 08:49:37 GMT = 784111777 Unix seconds). */
static void http_date_fields(void **state)
{
	static const char *const good[] = {
		"Sun, 06 Nov 1994 08:49:37 GMT",  /* IMF-fixdate */
		"Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850, a two-digit year */
		"Sun Nov  6 08:49:37 1994",       /* asctime */
		"Sun, 6 Nov 1994 8:49:37 GMT",    /* one-digit day and hour */
	};
	static const char *const bad[] = {
		"Sun, 006 Nov 1994 08:49:37 GMT", /* a day of three digits */
		"Sun, 06 Nov 19945 08:49:37 GMT", /* a year of five digits */
		"Sun, 06 Nov 1994 08:4x:37 GMT",  /* a minute that is no number */
		"Sun, 06 Nov 1994 08:49:370 GMT", /* a second of three digits */
		"Sun, 06 Nov 1994 GMT",           /* no time */
	};
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		t = 0;
		assert_int_equal(tw_http_date_parse(good[i], &t), 0);
		assert_int_equal(t, 784111777);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(tw_http_date_parse(bad[i], &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(content_length_split_in_single_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(chunked_split_and_keep_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_kept_connection_is_replaced_once, setup, teardown),
		cmocka_unit_test_setup_teardown(connection_close_and_body_until_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_bodies_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_responses, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_is_a_protocol_error, setup, teardown),
		cmocka_unit_test_setup_teardown(long_header_line_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_timeout_on_the_fake_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(read_timeout_on_the_fake_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_connect_fails_in_the_first_turns, setup, teardown),
		cmocka_unit_test_setup_teardown(interim_100_and_204, setup, teardown),
		cmocka_unit_test_setup_teardown(url_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(parser_every_split, setup, teardown),
		cmocka_unit_test(http_date_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
