/* SPDX-License-Identifier: MIT */
/* test_stooq.c - the Stooq CSV source's pure parts: symbols, the CSV answer, Warsaw time
 * (oracles: Stooq's documented answer shape; the EU summer-time rule worked out by hand). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "quotes/quotes.h"

#define HEAD "Symbol,Date,Time,Open,High,Low,Close,Volume\r\n"
#define NOW 1767258000 /* 2026-01-01T09:00:00Z */

static char err[256];

static int csv(const char *body, const char *ticker, const char *symbol, struct tw_quotes_item *q)
{
	memset(q, 0, sizeof *q);
	err[0] = '\0';
	return tw_stooq_extract(body, strlen(body), ticker, symbol, NOW, 7 * 86400, q, err,
				sizeof err);
}

static void symbols(void **state)
{
	char s[32];

	(void)state;
	assert_int_equal(tw_stooq_symbol("AAPL", "", s, sizeof s), 0);
	assert_string_equal(s, "aapl.us");
	assert_int_equal(tw_stooq_symbol("BRK-B", NULL, s, sizeof s), 0);
	assert_string_equal(s, "brk-b.us");
	assert_int_equal(tw_stooq_symbol("SAP.DE", "", s, sizeof s), 0);
	assert_string_equal(s, "sap.de");
	assert_int_equal(tw_stooq_symbol("^GSPC", "SAP.DE=sap.de,^GSPC=^SPX", s, sizeof s), 0);
	assert_string_equal(s, "^spx");
	assert_int_equal(tw_stooq_symbol("gspc", "^GSPC=^spx", s, sizeof s), 0);
	assert_string_equal(s, "gspc.us"); /* the map matches the whole ticker only */
	assert_int_equal(tw_stooq_symbol("AAPL", "", s, 7), TW_ERR_ARG); /* does not fit */
	assert_int_equal(tw_stooq_check_map("SAP.DE=sap.de,^GSPC=^spx", err, sizeof err), 0);
	assert_int_equal(tw_stooq_check_map("", err, sizeof err), 0);
	assert_int_equal(tw_stooq_check_map("SAP.DE", err, sizeof err), TW_ERR_ARG);
	assert_int_equal(tw_stooq_check_map("A=b c", err, sizeof err), TW_ERR_ARG);
	assert_int_equal(tw_stooq_check_map("A/B=x", err, sizeof err), TW_ERR_ARG);
}

static void warsaw_time(void **state)
{
	(void)state;
	/* winter, CET = UTC+1: 2026-01-01 10:00:00 local = 09:00:00Z */
	assert_int_equal(tw_stooq_warsaw_to_utc(2026, 1, 1, 10, 0, 0), NOW);
	/* summer, CEST = UTC+2: 2026-07-01 22:00:09 local = 20:00:09Z = 1782936009 */
	assert_int_equal(tw_stooq_warsaw_to_utc(2026, 7, 1, 22, 0, 9), 1782936009);
	/* 2026 switches on 29 March 01:00Z (03:00 CEST) and on 25 October 01:00Z (02:00 CET) */
	assert_int_equal(tw_stooq_warsaw_to_utc(2026, 3, 29, 1, 59, 59), 1774745999);
	assert_int_equal(tw_stooq_warsaw_to_utc(2026, 3, 29, 3, 0, 0), 1774746000);
	assert_int_equal(tw_stooq_warsaw_to_utc(2026, 10, 25, 1, 59, 59), 1792886399);
	assert_int_equal(tw_stooq_warsaw_to_utc(2026, 10, 25, 3, 0, 0), 1792893600);
}

static void a_quote(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-01,10:00:00,189.9,191.2,189.5,190.5,51234567\r\n",
			     "AAPL", "aapl.us", &q),
			 0);
	assert_string_equal(q.ticker, "AAPL");
	assert_true(q.price > 190.499 && q.price < 190.501);
	assert_int_equal(q.time_s, NOW);
	/* LF line ends, the columns found by name in another order */
	assert_int_equal(csv("Close,Symbol,Time,Date\n242,SAP.DE,095959,2026-01-01\n", "SAP.DE",
			     "sap.de", &q),
			 0);
	assert_true(q.price > 241.999 && q.price < 242.001);
	assert_int_equal(q.time_s, NOW - 1);
	/* no header: the f=sd2t2ohlcv order */
	assert_int_equal(csv("AAPL.US,2026-01-01,10:00:00,1,2,0.5,1.5,10", "AAPL", "aapl.us", &q),
			 0);
	assert_true(q.price > 1.499 && q.price < 1.501);
}

static void rejections_and_garbage(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	/* an unknown symbol: N/D */
	assert_int_equal(csv(HEAD "ZZZZ.US,N/D,N/D,N/D,N/D,N/D,N/D,N/D\r\n", "ZZZZ", "zzzz.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "N/D"));
	assert_int_equal(csv(HEAD "MSFT.US,2026-01-01,10:00:00,1,1,1,1,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "MSFT.US"));
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-01,10:00:00,1,1,1,0,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-01,10:00:00,1,1,1,-3,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-01,10:00:00,1,1,1,nan,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-01,10:00:00,1,1,1,1e999,1\r\n", "AAPL", "aapl.us",
			     &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_int_equal(csv(HEAD "AAPL.US,2026-02-30,10:00:00,1,1,1,1,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-01,25:00:00,1,1,1,1,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	/* stale (older than max_age) and future */
	assert_int_equal(csv(HEAD "AAPL.US,2025-12-01,10:00:00,1,1,1,1,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "stale"));
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-03,10:00:00,1,1,1,1,1\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_REJECTED);
	/* not the CSV shape */
	assert_int_equal(csv("", "AAPL", "aapl.us", &q), TW_ERR_QUOTES_BAD_CSV);
	assert_int_equal(csv(HEAD, "AAPL", "aapl.us", &q), TW_ERR_QUOTES_BAD_CSV);
	assert_int_equal(csv("Symbol,Date\r\nAAPL.US,2026-01-01\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_BAD_CSV);
	assert_int_equal(csv(HEAD "AAPL.US,2026-01-01\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_BAD_CSV);
	assert_int_equal(csv(HEAD "\"AAPL.US\",2026-01-01,10:00:00,1,1,1,1,1\r\n", "AAPL", "aapl.us",
			     &q),
			 TW_ERR_QUOTES_BAD_CSV);
	assert_int_equal(csv("<html>Too many</html>", "AAPL", "aapl.us", &q), TW_ERR_QUOTES_BAD_CSV);
	assert_int_equal(csv(HEAD "A,B,C,D,E,F,G,H,I,J,K,L,M,N,O,P,Q\r\n", "AAPL", "aapl.us", &q),
			 TW_ERR_QUOTES_BAD_CSV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(symbols),
		cmocka_unit_test(warsaw_time),
		cmocka_unit_test(a_quote),
		cmocka_unit_test(rejections_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
