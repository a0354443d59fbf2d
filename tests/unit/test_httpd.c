/* SPDX-License-Identifier: MIT */
/* test_httpd.c - the HTTP endpoint: request parser (RFC 9112 cases), form decoding, the
 * Prometheus writer, and the server over scripted peers (routes, 404/405, HEAD, busy, time-out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "fake_hal.h"
#include "httpd/httpd.h"

static int parse(const char *s, struct tw_httpd_req *r)
{
	return tw_httpd_parse(s, strlen(s), r);
}

static void test_parse_get(void **st)
{
	struct tw_httpd_req r;
	const char *q = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";

	(void)st;
	assert_int_equal(parse(q, &r), (int)strlen(q));
	assert_int_equal(r.method, TW_HTTPD_GET);
	assert_string_equal(r.path, "/metrics");
	assert_string_equal(r.query, "x=1");
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.content_length, 0);
	/* every prefix of a whole head needs more */
	for (size_t n = 0; n < strlen(q); n++)
		assert_int_equal(tw_httpd_parse(q, n, &r), 0);
}

static void test_parse_post(void **st)
{
	struct tw_httpd_req r;
	const char *q = "POST /unsubscribe?t=abc HTTP/1.1\r\nHost: a\r\nContent-Type: "
			"application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\n"
			"List-Unsubscribe=One-Click";

	(void)st;
	assert_true(parse(q, &r) > 0);
	assert_int_equal(r.method, TW_HTTPD_POST);
	assert_int_equal(r.content_length, 26);
	assert_string_equal(r.content_type, "application/x-www-form-urlencoded");
	assert_string_equal(q + r.head_len, "List-Unsubscribe=One-Click");
}

static void test_parse_refusals(void **st)
{
	struct tw_httpd_req r;
	char big[TW_HTTPD_HEAD_MAX + 16];

	(void)st;
	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", &r), -400);          /* no Host */
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r), 18);            /* 1.0 needs none */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r), -400);
	assert_int_equal(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &r), -505);
	assert_int_equal(parse("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", &r), -400);
	assert_int_equal(parse("BREW / HTTP/1.1\r\nHost: a\r\n\r\n", &r), -501);
	assert_int_equal(parse("PUT / HTTP/1.1\r\nHost: a\r\n\r\n", &r), 27);
	assert_int_equal(r.method, TW_HTTPD_OTHER);
	assert_int_equal(parse("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	assert_int_equal(parse("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &r), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &r), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", &r), -400);
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
			       &r),
			 -501);
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
			       "Content-Length: 3\r\n\r\n",
			       &r),
			 -400);
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
			       "Content-Length: 2\r\n\r\n",
			       &r),
			 (int)strlen("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
				     "Content-Length: 2\r\n\r\n"));
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &r),
			 -400);
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
			       "99999999999999999999999999\r\n\r\n",
			       &r),
			 -413);
	/* a request line longer than the bound, before or after its end arrived */
	memset(big, 'a', sizeof big);
	memcpy(big, "GET /", 5);
	assert_int_equal(tw_httpd_parse(big, TW_HTTPD_LINE_MAX + 10, &r), -414);
	/* a head that never ends within the bound */
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(tw_httpd_parse(big, TW_HTTPD_HEAD_MAX, &r), -431);
}

static void test_param(void **st)
{
	char out[32];
	const char *f = "a=1&t=x%2By+z&empty=&bad=%zz&nul=%00";

	(void)st;
	assert_int_equal(tw_httpd_param(f, strlen(f), "t", out, sizeof out), 5);
	assert_string_equal(out, "x+y z");
	assert_int_equal(tw_httpd_param(f, strlen(f), "empty", out, sizeof out), 0);
	assert_int_equal(tw_httpd_param(f, strlen(f), "missing", out, sizeof out), -1);
	assert_int_equal(tw_httpd_param(f, strlen(f), "bad", out, sizeof out), -2);
	assert_int_equal(tw_httpd_param(f, strlen(f), "nul", out, sizeof out), -2);
	assert_int_equal(tw_httpd_param("t=%4", 4, "t", out, sizeof out), -2);
	assert_int_equal(tw_httpd_param("t=abcdef", 8, "t", out, 4), -2);
}

static void test_metrics_format(void **st)
{
	char buf[1024];
	struct tw_metrics m;
	const double b[] = {0.5, 1};
	const uint64_t c[] = {1, 3};

	(void)st;
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_family(&m, "tw_x_total", "counter", "a \\ help\nline");
	tw_metrics_int(&m, "tw_x_total",
		       (const struct tw_metric_label[]){{"k", "a\"b\\c\nd"}, {NULL, NULL}}, 7);
	tw_metrics_family(&m, "tw_h", "histogram", "h");
	tw_metrics_histogram(&m, "tw_h", NULL, b, c, 2, 4, 2.5);
	assert_int_equal(m.cut, 0);
	assert_int_equal(m.errors, 0);
	assert_string_equal(buf, "# HELP tw_x_total a \\\\ help\\nline\n"
				 "# TYPE tw_x_total counter\n"
				 "tw_x_total{k=\"a\\\"b\\\\c\\nd\"} 7\n"
				 "# HELP tw_h h\n# TYPE tw_h histogram\n"
				 "tw_h_bucket{le=\"0.5\"} 1\ntw_h_bucket{le=\"1\"} 3\n"
				 "tw_h_bucket{le=\"+Inf\"} 4\ntw_h_sum 2.5\ntw_h_count 4\n");
	/* bad names are refused and counted */
	tw_metrics_int(&m, "9bad", NULL, 1);
	tw_metrics_int(&m, "ok", (const struct tw_metric_label[]){{"__r", "v"}, {NULL, NULL}}, 1);
	assert_int_equal(m.errors, 2);
	/* a full buffer stops at the last whole line */
	tw_metrics_init(&m, buf, 40);
	tw_metrics_family(&m, "tw_a", "gauge", "first");
	tw_metrics_int(&m, "tw_a", NULL, 123456789);
	assert_int_equal(m.cut, 1);
	assert_string_equal(buf, "# HELP tw_a first\n# TYPE tw_a gauge\n");
}

/* ---- the server over scripted peers ---- */

static struct tw_arena arena;
static struct tw_loop loop;
static struct tw_httpd *srv;
static int calls;

static void hello(void *arg, const struct tw_httpd_req *req, const char *body, size_t bodylen,
		  struct tw_httpd_resp *r)
{
	(void)arg;
	calls++;
	r->len = (size_t)snprintf(r->body, r->cap, "hello %s %.*s\n", req->method_text,
				  (int)bodylen, body);
}

static const struct tw_httpd_route routes[] = {
	{"/hello", TW_HTTPD_GET | TW_HTTPD_POST, hello, NULL},
	{"/get", TW_HTTPD_GET, hello, NULL},
};

static int setup(void **st)
{
	char err[256];
	struct tw_httpd_opts o = {.listen = "127.0.0.1:0", .slots = 2, .timeout_ms = 1000,
				  .out_cap = 2048, .routes = routes, .nroutes = 2};

	(void)st;
	fake_reset();
	calls = 0;
	assert_int_equal(tw_arena_init(&arena, 1 << 20), TW_OK);
	assert_int_equal(tw_loop_init(&loop, &arena, 16, 16), TW_OK);
	assert_int_equal(tw_httpd_start(&srv, &arena, &loop, &o, err, sizeof err), TW_OK);
	fake_peer_data(FAKE_FD_BASE, "!", 1, 0, 0); /* the listener (first fake fd) stays readable */
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	tw_httpd_stop(srv);
	tw_arena_free(&arena);
	return 0;
}

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		tw_loop_run_once(&loop, 10);
}

static const char *ask(const char *req, size_t chunk, int *fd_out)
{
	int fd = fake_peer_new();
	size_t len;

	fake_accept_push(fd);
	turns(1);
	fake_peer_data(fd, req, strlen(req), chunk, 0);
	turns(strlen(req) + 5);
	if (fd_out)
		*fd_out = fd;
	fake_peer_close(fd); /* the client closes once it has the answer */
	turns(2);
	return fake_peer_sent(fd, &len);
}

static void test_server_routes(void **st)
{
	const char *a;
	int fd;

	(void)st;
	a = ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0, &fd);
	assert_non_null(strstr(a, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(a, "Content-Length: 11\r\n"));
	assert_non_null(strstr(a, "Connection: close\r\n\r\nhello GET \n"));
	assert_true(fake_peer_closed(fd));
	/* a body that arrives a byte at a time */
	a = ask("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 1, NULL);
	assert_non_null(strstr(a, "\r\n\r\nhello POST abc\n"));
	a = ask("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL);
	assert_non_null(strstr(a, "Content-Length: 12\r\n"));
	assert_null(strstr(a, "hello")); /* HEAD: the headers only */
	a = ask("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 0, &fd);
	assert_non_null(strstr(a, "HTTP/1.1 404 Not Found\r\n"));
	assert_true(fake_peer_closed(fd));
	/* a refusal waits for the client's end before closing (no reset over the answer) */
	{
		int g = fake_peer_new();
		size_t len;
		const char *q = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nextra bytes";

		fake_accept_push(g);
		turns(1);
		fake_peer_data(g, q, strlen(q), 0, 0);
		turns(5);
		assert_non_null(strstr(fake_peer_sent(g, &len), " 404 "));
		assert_false(fake_peer_closed(g));
		fake_peer_close(g);
		turns(2);
		assert_true(fake_peer_closed(g));
	}
	a = ask("POST /get HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0, NULL);
	assert_non_null(strstr(a, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(a, "Allow: GET, HEAD\r\n"));
	a = ask("GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 0, NULL);
	assert_non_null(strstr(a, "HTTP/1.1 501 Not Implemented\r\n"));
	assert_int_equal(calls, 3);
}

static void test_server_busy_and_timeout(void **st)
{
	int a = fake_peer_new(), b = fake_peer_new(), c = fake_peer_new();
	size_t len;
	struct tw_httpd_counts n;

	(void)st;
	fake_accept_push(a);
	fake_accept_push(b);
	fake_accept_push(c);
	turns(2);
	/* two slots: the third is refused at once */
	assert_non_null(strstr(fake_peer_sent(c, &len), "503 Service Unavailable"));
	assert_true(fake_peer_closed(c));
	assert_false(fake_peer_closed(a));
	fake_clock_advance_ms(1001);
	tw_httpd_sweep(srv);
	assert_true(fake_peer_closed(a));
	assert_true(fake_peer_closed(b));
	tw_httpd_counts(srv, &n);
	assert_int_equal(n.busy, 1);
	assert_int_equal(n.timeouts, 2);
	assert_int_equal(n.open, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_get),
		cmocka_unit_test(test_parse_post),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_metrics_format),
		cmocka_unit_test_setup_teardown(test_server_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_busy_and_timeout, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
