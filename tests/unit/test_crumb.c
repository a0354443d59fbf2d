/* SPDX-License-Identifier: MIT */
/* test_crumb.c - the yahoo source over scripted peers: cookie, then crumb, then the chart request
 * with both (yfinance's flow); one new crumb on 401/403, never two; 429 and a "Too Many
 * Requests" crumb are rate limits with the Retry-After's wait. Every answer closes its
 * connection, so each request is one scripted connect, in the order the flow makes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "fake_hal.h"
#include "log.h"
#include "loop.h"
#include "quotes/quotes.h"
#include "resolve.h"

#define NOW 1767258000
#define CHART_AAPL                                                                              \
	"{\"chart\":{\"result\":[{\"meta\":{\"symbol\":\"AAPL\",\"regularMarketPrice\":190.5,"    \
	"\"regularMarketTime\":1767258000}}],\"error\":null}}"

static struct tw_arena arena;
static struct tw_loop loop;
static struct tw_config cfg;
static struct tw_quotes src;
static struct tw_resolver res;

static struct {
	int calls, rc;
	double price;
	char err[256];
} got;

static void done(void *arg, int rc, const struct tw_quotes_item *q, const char *err)
{
	(void)arg;
	got.calls++;
	got.rc = rc;
	got.price = q ? q->price : 0;
	snprintf(got.err, sizeof got.err, "%s", err);
}

static int setup(void **state)
{
	(void)state;
	fake_reset();
	fake_wall_set_ms((int64_t)NOW * 1000);
	tw_log_set_stderr(0);
	memset(&got, 0, sizeof got);
	tw_config_defaults(&cfg, NULL);
	snprintf(cfg.quotes.base, sizeof cfg.quotes.base, "http://q.example");
	cfg.quotes.connections = 1;
	return 0;
}

static int open_src(void)
{
	char err[256];

	if (tw_arena_init(&arena, 4 << 20) != TW_OK || tw_loop_init(&loop, &arena, 8, 8) != TW_OK ||
	    tw_resolver_init(&res, &loop, &arena, NULL, 8, err, sizeof err) != TW_OK)
		return -1;
	tw_resolver_set_default(&res); /* each test its own: a fresh loop, a fresh cache */
	return tw_quotes_open(&src, &cfg, &loop, &arena, err, sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	tw_quotes_close(&src);
	tw_resolver_stop(&res);
	tw_resolver_set_default(NULL);
	tw_arena_free(&arena);
	return 0;
}

/* A peer for the next connect that answers @p resp and closes. */
static int peer(const char *resp)
{
	int fd = fake_peer_new();

	fake_connect_next(TW_ERR_WOULD_BLOCK, fd, TW_OK);
	fake_peer_data(fd, resp, strlen(resp), 0, 0);
	fake_peer_close(fd);
	return fd;
}

static const char *sent(int fd)
{
	size_t n;

	return fake_peer_sent(fd, &n);
}

static void fetch(const char *ticker)
{
	char err[256];

	memset(&got, 0, sizeof got);
	assert_int_equal(tw_quotes_fetch(&src, ticker, NULL, done, NULL, err, sizeof err),
			 TW_ERR_WOULD_BLOCK);
	for (int i = 0; i < 5000 && got.calls == 0; i++)
		tw_loop_run_once(&loop, 60000);
	assert_int_equal(got.calls, 1);
}

#define COOKIE_RESP                                                                             \
	"HTTP/1.1 404 Not Found\r\nSet-Cookie: A3=d=AQAB&S=x; Max-Age=31557600; Domain=.q.example;" \
	" Path=/; Secure; HttpOnly\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found"
#define CRUMB_RESP(c)                                                                           \
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" c
#define CHART_RESP "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" CHART_AAPL
#define DENIED_RESP(s)                                                                          \
	"HTTP/1.1 " s "\r\nConnection: close\r\n\r\n{\"finance\":{\"error\":{\"code\":"           \
	"\"Unauthorized\",\"description\":\"Invalid Crumb\"}}}"

static void cookie_then_crumb_then_quote(void **state)
{
	int a, b, c;

	(void)state;
	a = peer(COOKIE_RESP);
	b = peer(CRUMB_RESP("ab/cd.E"));
	c = peer(CHART_RESP);
	assert_int_equal(open_src(), 0);
	fetch("AAPL");
	assert_int_equal(got.rc, 0);
	assert_true(got.price > 190.49 && got.price < 190.51);
	assert_non_null(strstr(sent(a), "GET / HTTP/1.1\r\n"));
	assert_non_null(strstr(sent(b), "GET /v1/test/getcrumb HTTP/1.1\r\n"));
	assert_non_null(strstr(sent(b), "\r\nCookie: A3=d=AQAB&S=x\r\n"));
	assert_non_null(strstr(sent(c), "GET /v8/finance/chart/AAPL?range=1d&interval=1d&"
					"crumb=ab%2Fcd.E HTTP/1.1\r\n"));
	assert_non_null(strstr(sent(c), "\r\nCookie: A3=d=AQAB&S=x\r\n"));
	assert_int_equal(src.src[0].auth->crumbs, 1);
	/* the next quote reuses cookie and crumb: one connect, no auth request */
	c = peer(CHART_RESP);
	fetch("AAPL");
	assert_int_equal(got.rc, 0);
	assert_non_null(strstr(sent(c), "crumb=ab%2Fcd.E"));
	assert_int_equal(src.src[0].auth->crumbs, 1);
	assert_int_equal(src.src[0].requests, 4);
}

static void cookie_from_its_own_url(void **state)
{
	int a, b;

	(void)state;
	snprintf(cfg.quotes.cookie_url, sizeof cfg.quotes.cookie_url, "http://fc.example");
	a = peer(COOKIE_RESP);
	b = peer(CRUMB_RESP("k1"));
	(void)peer(CHART_RESP);
	assert_int_equal(open_src(), 0);
	fetch("AAPL");
	assert_int_equal(got.rc, 0);
	assert_non_null(strstr(sent(b), "GET /v1/test/getcrumb HTTP/1.1\r\nHost: q.example\r\n"));
	assert_non_null(strstr(sent(a), "\r\nHost: fc.example\r\n"));
	assert_non_null(strstr(sent(a), "GET / HTTP/1.1\r\n"));
}

static void expired_crumb_is_renewed_once(void **state)
{
	int g;

	(void)state;
	(void)peer(COOKIE_RESP);
	(void)peer(CRUMB_RESP("one"));
	(void)peer(CHART_RESP);
	assert_int_equal(open_src(), 0);
	fetch("AAPL");
	assert_int_equal(got.rc, 0);
	/* the crumb has expired: 401, a new cookie and crumb, the request again */
	(void)peer(DENIED_RESP("401 Unauthorized"));
	(void)peer(COOKIE_RESP);
	(void)peer(CRUMB_RESP("two"));
	g = peer(CHART_RESP);
	fetch("AAPL");
	assert_int_equal(got.rc, 0);
	assert_non_null(strstr(sent(g), "crumb=two "));
	assert_int_equal(src.src[0].auth->crumbs, 2);
	/* 403 twice: one new crumb, then the failure (no third crumb, no loop) */
	(void)peer(DENIED_RESP("403 Forbidden"));
	(void)peer(COOKIE_RESP);
	(void)peer(CRUMB_RESP("three"));
	(void)peer(DENIED_RESP("403 Forbidden"));
	fetch("AAPL");
	assert_int_equal(got.rc, TW_ERR_QUOTES_STATUS);
	assert_non_null(strstr(got.err, "HTTP 403"));
	assert_non_null(strstr(got.err, "after a new crumb"));
	assert_int_equal(src.src[0].auth->crumbs, 3);
	assert_int_equal(tw_quotes_is_failure(got.rc), 1);
}

static void no_cookie_or_crumb_fails_the_fetch(void **state)
{
	(void)state;
	(void)peer("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
	assert_int_equal(open_src(), 0);
	fetch("AAPL");
	assert_int_equal(got.rc, TW_ERR_QUOTES_AUTH);
	assert_non_null(strstr(got.err, "no cookie"));
	assert_int_equal(tw_quotes_is_failure(got.rc), 1);
	/* an HTML page instead of a crumb */
	(void)peer(COOKIE_RESP);
	(void)peer(CRUMB_RESP("<html>oops</html>"));
	fetch("AAPL");
	assert_int_equal(got.rc, TW_ERR_QUOTES_AUTH);
	assert_non_null(strstr(got.err, "not a crumb"));
}

static void rate_limits_name_their_wait(void **state)
{
	(void)state;
	/* a "Too Many Requests" crumb (Yahoo answers so, with 200 or 429) */
	(void)peer(COOKIE_RESP);
	(void)peer(CRUMB_RESP("Too Many Requests\r\n"));
	assert_int_equal(open_src(), 0);
	fetch("AAPL");
	assert_int_equal(got.rc, TW_ERR_QUOTES_LIMITED);
	assert_int_equal(tw_quotes_is_failure(got.rc), 1);
	/* 429 on the chart with delay-seconds */
	(void)peer(COOKIE_RESP);
	(void)peer(CRUMB_RESP("c"));
	(void)peer("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nConnection: close\r\n\r\n");
	fetch("AAPL");
	assert_int_equal(got.rc, TW_ERR_QUOTES_LIMITED);
	assert_int_equal(tw_quotes_hold_ms(&src, 0), 7000);
	/* with an HTTP-date 30 s ahead of the wall clock */
	(void)peer("HTTP/1.1 429 Too Many Requests\r\nRetry-After: Thu, 01 Jan 2026 09:00:30 GMT\r\n"
		   "Connection: close\r\n\r\n");
	fetch("AAPL");
	assert_int_equal(tw_quotes_hold_ms(&src, 0), 30000);
	/* without Retry-After: back-off from [quotes] breaker_recovery (30 s), doubling, the
	 * wait a random point of the upper half */
	(void)peer("HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n\r\n");
	fetch("AAPL");
	assert_in_range(tw_quotes_hold_ms(&src, 0), 15000, 30000);
	(void)peer("HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n\r\n");
	fetch("AAPL");
	assert_in_range(tw_quotes_hold_ms(&src, 0), 30000, 60000);
	assert_int_equal(src.src[0].limited, 5);
	/* a good answer ends the back-off series */
	(void)peer(CHART_RESP);
	fetch("AAPL");
	assert_int_equal(got.rc, 0);
	(void)peer("HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n\r\n");
	fetch("AAPL");
	assert_in_range(tw_quotes_hold_ms(&src, 0), 15000, 30000);
}

static struct {
	int calls[2], rc[2];
	char err[2][256];
} two;

static void done2(void *arg, int rc, const struct tw_quotes_item *q, const char *err)
{
	int i = arg != NULL;

	(void)q;
	two.calls[i]++;
	two.rc[i] = rc;
	snprintf(two.err[i], sizeof two.err[i], "%s", err);
}

/* Two connections wait for one session; it fails: each fetch ends once, with its ticker. */
static void waiters_share_one_session(void **state)
{
	char err[256];
	static int one = 1;

	(void)state;
	memset(&two, 0, sizeof two);
	cfg.quotes.connections = 2;
	(void)peer("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
	assert_int_equal(open_src(), 0);
	assert_int_equal(tw_quotes_fetch(&src, "AAPL", NULL, done2, NULL, err, sizeof err),
			 TW_ERR_WOULD_BLOCK);
	assert_int_equal(tw_quotes_fetch(&src, "MSFT", NULL, done2, &one, err, sizeof err),
			 TW_ERR_WOULD_BLOCK);
	assert_int_equal(tw_quotes_idle(&src, 0), 0);
	for (int i = 0; i < 5000 && (two.calls[0] == 0 || two.calls[1] == 0); i++)
		tw_loop_run_once(&loop, 60000);
	assert_int_equal(two.calls[0], 1);
	assert_int_equal(two.calls[1], 1);
	assert_int_equal(two.rc[0], TW_ERR_QUOTES_AUTH);
	assert_int_equal(two.rc[1], TW_ERR_QUOTES_AUTH);
	assert_non_null(strstr(two.err[0], "AAPL: "));
	assert_non_null(strstr(two.err[1], "MSFT: "));
	assert_int_equal(src.src[0].requests, 1); /* one cookie request for both */
}

static void crumb_off_sends_the_plain_request(void **state)
{
	int a;

	(void)state;
	cfg.quotes.crumb = 0;
	a = peer(CHART_RESP);
	assert_int_equal(open_src(), 0);
	fetch("AAPL");
	assert_int_equal(got.rc, 0);
	assert_non_null(strstr(sent(a), "GET /v8/finance/chart/AAPL?range=1d&interval=1d HTTP/1.1"));
	assert_null(strstr(sent(a), "Cookie"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cookie_then_crumb_then_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(cookie_from_its_own_url, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_crumb_is_renewed_once, setup, teardown),
		cmocka_unit_test_setup_teardown(no_cookie_or_crumb_fails_the_fetch, setup, teardown),
		cmocka_unit_test_setup_teardown(rate_limits_name_their_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(crumb_off_sends_the_plain_request, setup, teardown),
		cmocka_unit_test_setup_teardown(waiters_share_one_session, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
