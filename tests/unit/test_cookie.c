/* SPDX-License-Identifier: MIT */
/* test_cookie.c - Set-Cookie parsing and the bounded cookie jar; HTTP dates and Retry-After
 * (oracles from RFC 6265 5.1.1/5.2 and RFC 9110 10.2.3, dates worked out by hand). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "quotes/cookie.h"
#include "quotes/http.h"

#define NOW 1767258000 /* 2026-01-01T09:00:00Z */

static void http_dates_in_all_three_forms(void **state)
{
	int64_t t;

	(void)state;
	/* RFC 9110's own example: 784111777 */
	assert_int_equal(tw_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(tw_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(tw_http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
	assert_int_equal(t, 784111777);
	/* the cookie form with dashes and a four-digit year */
	assert_int_equal(tw_http_date_parse("Thu, 01-Jan-2026 09:00:00 GMT", &t), 0);
	assert_int_equal(t, NOW);
	/* leap day 2028-02-29 00:00:00 = 1835395200 */
	assert_int_equal(tw_http_date_parse("Tue, 29 Feb 2028 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 1835395200);
	assert_int_equal(tw_http_date_parse("Thu, 29 Feb 2027 00:00:00 GMT", &t), -1);
	assert_int_equal(tw_http_date_parse("Sun, 06 Nov 1994 24:00:00 GMT", &t), -1);
	assert_int_equal(tw_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &t), -1);
	assert_int_equal(tw_http_date_parse("Sun, 06 Nov 1994", &t), -1);
	assert_int_equal(tw_http_date_parse("", &t), -1);
	assert_int_equal(tw_http_date_parse("soon", &t), -1);
}

static void retry_after_seconds_and_dates(void **state)
{
	int64_t d = -1;

	(void)state;
	assert_int_equal(tw_http_retry_after("120", NOW, &d), 0);
	assert_int_equal(d, 120);
	assert_int_equal(tw_http_retry_after("0", NOW, &d), 0);
	assert_int_equal(d, 0);
	/* an HTTP-date: the wait from now */
	assert_int_equal(tw_http_retry_after("Thu, 01 Jan 2026 09:00:30 GMT", NOW, &d), 0);
	assert_int_equal(d, 30);
	/* a date in the past: no wait */
	assert_int_equal(tw_http_retry_after("Thu, 01 Jan 2026 08:00:00 GMT", NOW, &d), 0);
	assert_int_equal(d, 0);
	/* longer than a day is capped at a day (a soft ban is retried daily) */
	assert_int_equal(tw_http_retry_after("99999999999999999999", NOW, &d), 0);
	assert_int_equal(d, 86400);
	assert_int_equal(tw_http_retry_after("Fri, 01 Jan 2027 09:00:00 GMT", NOW, &d), 0);
	assert_int_equal(d, 86400);
	/* neither form */
	assert_int_equal(tw_http_retry_after("-5", NOW, &d), -1);
	assert_int_equal(tw_http_retry_after("1.5", NOW, &d), -1);
	assert_int_equal(tw_http_retry_after("10 s", NOW, &d), -1);
	assert_int_equal(tw_http_retry_after("", NOW, &d), -1);
	assert_int_equal(tw_http_retry_after("tomorrow", NOW, &d), -1);
}

static void set_cookie_attributes(void **state)
{
	struct tw_cookie c;
	char err[128];

	(void)state;
	assert_int_equal(tw_cookie_parse("A3=d=AQABBK&S=AQA; Expires=Fri, 01 Jan 2027 09:00:00 GMT; "
					 "Max-Age=3600; Domain=.yahoo.com; Path=/; SameSite=None; "
					 "Secure; HttpOnly",
					 NOW, &c, err, sizeof err),
			 0);
	assert_string_equal(c.name, "A3");
	assert_string_equal(c.value, "d=AQABBK&S=AQA"); /* the first '=' splits */
	assert_int_equal(c.expires_s, NOW + 3600);      /* Max-Age wins over Expires */
	assert_int_equal(tw_cookie_parse(" B = x ; expires=Thu, 01 Jan 2026 10:00:00 GMT", NOW, &c,
					 err, sizeof err),
			 0);
	assert_string_equal(c.name, "B");
	assert_string_equal(c.value, "x");
	assert_int_equal(c.expires_s, NOW + 3600);
	assert_int_equal(tw_cookie_parse("S=1", NOW, &c, err, sizeof err), 0);
	assert_int_equal(c.expires_s, 0); /* a session cookie */
	/* an unreadable Expires is ignored, as RFC 6265 says */
	assert_int_equal(tw_cookie_parse("S=1; Expires=whenever", NOW, &c, err, sizeof err), 0);
	assert_int_equal(c.expires_s, 0);
	/* deletions */
	assert_int_equal(tw_cookie_parse("A3=; Max-Age=0", NOW, &c, err, sizeof err), 1);
	assert_int_equal(tw_cookie_parse("A3=x; Max-Age=-1", NOW, &c, err, sizeof err), 1);
	assert_int_equal(tw_cookie_parse("A3=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", NOW, &c,
					 err, sizeof err),
			 1);
	/* not cookies */
	assert_int_equal(tw_cookie_parse("novalue", NOW, &c, err, sizeof err), -1);
	assert_int_equal(tw_cookie_parse("=x", NOW, &c, err, sizeof err), -1);
	assert_int_equal(tw_cookie_parse("a b=x", NOW, &c, err, sizeof err), -1);
	assert_int_equal(tw_cookie_parse("a=x\r\nInjected: 1", NOW, &c, err, sizeof err), -1);
}

static void bounded_values(void **state)
{
	static char big[TW_COOKIE_VALUE_MAX + 16];
	struct tw_cookie c;
	char err[128];

	(void)state;
	memset(big, 'v', sizeof big - 1);
	memcpy(big, "n=", 2);
	big[2 + TW_COOKIE_VALUE_MAX] = '\0'; /* exactly the largest value */
	assert_int_equal(tw_cookie_parse(big, NOW, &c, err, sizeof err), 0);
	assert_int_equal(strlen(c.value), TW_COOKIE_VALUE_MAX);
	big[2 + TW_COOKIE_VALUE_MAX] = 'v';
	big[3 + TW_COOKIE_VALUE_MAX] = '\0'; /* one more */
	assert_int_equal(tw_cookie_parse(big, NOW, &c, err, sizeof err), -1);
}

static void jar_replaces_deletes_and_stays_bounded(void **state)
{
	struct tw_cookie slots[3];
	struct tw_cookie_jar j;
	char err[128], hdr[256], name[16];

	(void)state;
	tw_cookie_jar_init(&j, slots, 3);
	assert_int_equal(tw_cookie_jar_header(&j, NOW, hdr, sizeof hdr), 0);
	assert_string_equal(hdr, "");
	assert_int_equal(tw_cookie_jar_set(&j, "A3=one; Path=/", NOW, err, sizeof err), 0);
	assert_int_equal(tw_cookie_jar_set(&j, "B=2; Max-Age=10", NOW, err, sizeof err), 0);
	assert_int_equal(tw_cookie_jar_set(&j, "A3=two", NOW, err, sizeof err), 0); /* replaced */
	assert_int_equal(j.n, 2);
	assert_string_equal(tw_cookie_jar_get(&j, "A3"), "two");
	assert_int_equal(tw_cookie_jar_header(&j, NOW, hdr, sizeof hdr), 21);
	assert_string_equal(hdr, "Cookie: A3=two; B=2\r\n");
	/* B has expired 10 s later: not sent */
	assert_int_equal(tw_cookie_jar_header(&j, NOW + 10, hdr, sizeof hdr), 16);
	assert_string_equal(hdr, "Cookie: A3=two\r\n");
	/* full: a third fits, a fourth is refused and counted; an expired slot is reused */
	assert_int_equal(tw_cookie_jar_set(&j, "C=3", NOW, err, sizeof err), 0);
	assert_int_equal(tw_cookie_jar_set(&j, "D=4", NOW, err, sizeof err), -1);
	assert_non_null(strstr(err, "full"));
	assert_int_equal(j.refused, 1);
	assert_int_equal(tw_cookie_jar_set(&j, "D=4", NOW + 10, err, sizeof err), 0);
	assert_null(tw_cookie_jar_get(&j, "B"));
	assert_string_equal(tw_cookie_jar_get(&j, "D"), "4");
	/* a deletion */
	assert_int_equal(tw_cookie_jar_set(&j, "A3=; Max-Age=0", NOW, err, sizeof err), 0);
	assert_null(tw_cookie_jar_get(&j, "A3"));
	assert_int_equal(j.n, 2);
	/* a header that does not fit the buffer is not written at all */
	assert_int_equal(tw_cookie_jar_header(&j, NOW, hdr, 12), -1);
	assert_string_equal(hdr, "");
	tw_cookie_jar_clear(&j);
	assert_int_equal(j.n, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "n%d=1", i);
		(void)tw_cookie_jar_set(&j, name, NOW, err, sizeof err);
	}
	assert_int_equal(j.n, 3); /* never more than its slots */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http_dates_in_all_three_forms),
		cmocka_unit_test(retry_after_seconds_and_dates),
		cmocka_unit_test(set_cookie_attributes),
		cmocka_unit_test(bounded_values),
		cmocka_unit_test(jar_replaces_deletes_and_stays_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
