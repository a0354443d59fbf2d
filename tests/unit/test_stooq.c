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

#include "quotes/datefield.h"
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

/* [quotes] stooq_map, as the config check and the collector's start read it (docs/quotes.md:
 * TICKER=symbol entries separated by commas). */
static void stooq_map_check(void **state)
{
	static const char *const good[] = {"^GSPC=^spx", "SAP.DE=sap.de,BRK-B=brk-b.us,X=a_b",
					   "A=b,"};
	static const struct {
		const char *map, *says;
	} bad[] = {
		{"SAP.DE", "'SAP.DE' is not TICKER=symbol"},
		{"=spx", "'=spx' is not TICKER=symbol"},
		{"A=", "'A=' is not TICKER=symbol"},
		{"A=b,,C=d", "'' is not TICKER=symbol"},
		{"A=0123456789012345678901234567890123", "is not TICKER=symbol"}, /* 32 characters */
		{"ABCDEFGHIJKLMNOP=x", "is not TICKER=symbol"},                 /* a 16-byte ticker */
		{"A B=x", "'A B' is not a ticker"},
		{"A=b c", "symbol of A has ' '"},
		{"A=b=c", "symbol of A has '='"},
		{"AAPL=x,MSFT=y,aapl=z", "aapl is mapped twice"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_int_equal(tw_stooq_check_map(good[i], err, sizeof err), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(tw_stooq_check_map(bad[i].map, err, sizeof err), TW_ERR_ARG);
		assert_non_null(strstr(err, "[quotes] stooq_map: "));
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("map '%s': got \"%s\", wanted \"%s\"", bad[i].map, err, bad[i].says);
	}
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
	/* this CSV has no previous close, currency or exchange: not known, whatever was there */
	memset(&q, 0x55, sizeof q);
	assert_int_equal(tw_stooq_extract(HEAD "AAPL.US,2026-01-01,10:00:00,189.9,191.2,189.5,"
					  "190.5,51234567\r\n",
					  strlen(HEAD) + 62, "AAPL", "aapl.us", NOW, 7 * 86400, &q,
					  err, sizeof err),
			 0);
	assert_true(q.prev_close == 0 && q.currency[0] == '\0' && q.exchange[0] == '\0');
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
	assert_true(q.unknown); /* the rpc role's ticker check: Stooq does not know it */
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

/* The shared digit field and civil-day count (datefield.c), and the CSV dates they read. */
static void digit_fields(void **state)
{
	struct tw_quotes_item q;
	static const char *const bad[][2] = {
		{"20x6-01-01", "10:00:00"}, {"2026-0x-01", "10:00:00"}, {"2026-01-0x", "10:00:00"},
		{"2026-+1-01", "10:00:00"}, {"2026- 1-01", "10:00:00"}, {"1969-12-31", "10:00:00"},
		{"2026-01-01", "1x:00:00"}, {"2026-01-01", "10:00:-1"}, {"2026-01-01", "10000x"},
		{"2026-01-01", "10:00"},    {"2026-1-001", "10:00:00"},
	};
	char line[160];

	(void)state;
	assert_int_equal(tw_quotes_digits("2026", 4), 2026);
	assert_int_equal(tw_quotes_digits("07", 2), 7);
	assert_int_equal(tw_quotes_digits("12x", 2), 12); /* reads n bytes, no more */
	assert_int_equal(tw_quotes_digits("123456789", 9), 123456789);
	assert_int_equal(tw_quotes_digits("1234567890", 10), -1);
	assert_int_equal(tw_quotes_digits("1", 0), -1);
	assert_int_equal(tw_quotes_digits("2a", 2), -1);
	assert_int_equal(tw_quotes_digits("+1", 2), -1);
	assert_int_equal(tw_quotes_digits(" 1", 2), -1);
	/* days since 1970-01-01: 2000-01-01 is day 10957 (30 years, 7 of them leap) */
	assert_int_equal(tw_quotes_civil_days(1970, 1, 1), 0);
	assert_int_equal(tw_quotes_civil_days(1969, 12, 31), -1);
	assert_int_equal(tw_quotes_civil_days(2000, 3, 1), 10957 + 31 + 29);
	assert_int_equal(tw_quotes_civil_days(2026, 1, 1) * 86400, NOW - 9 * 3600);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(line, sizeof line, HEAD "AAPL.US,%s,%s,1,1,1,1,1\r\n", bad[i][0], bad[i][1]);
		assert_int_equal(csv(line, "AAPL", "aapl.us", &q), TW_ERR_QUOTES_REJECTED);
		assert_non_null(strstr(err, "is not a time"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(symbols),
		cmocka_unit_test(stooq_map_check),
		cmocka_unit_test(warsaw_time),
		cmocka_unit_test(a_quote),
		cmocka_unit_test(rejections_and_garbage),
		cmocka_unit_test(digit_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
