/* SPDX-License-Identifier: MIT */
/* test_yahoo.c - Yahoo chart JSON extraction from recorded responses (tests/unit/data/quotes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "fake_hal.h"
#include "log.h"
#include "quotes/quotes.h"

#define NTOK 2048
static unsigned char toks[NTOK * 16 + 64];
static char json[65536];
static char err[256];

static size_t load(const char *name)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/quotes/%s", TW_TEST_DATA, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(json, 1, sizeof json - 1, f);
	fclose(f);
	json[n] = '\0';
	return n;
}

static int extract(const char *file, const char *ticker, int64_t now, int64_t max_age,
		   struct tw_quotes_item *q)
{
	size_t n = load(file);

	assert_true(tw_yahoo_token_size() * NTOK <= sizeof toks);
	memset(q, 0, sizeof *q);
	err[0] = '\0';
	return tw_yahoo_extract(json, n, toks, NTOK, ticker, now, max_age, q, err, sizeof err);
}

static void real_yahoo_response(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(extract("yahoo-msft.json", "MSFT", 1764363600 + 3600, 7 * 86400, &q), 0);
	assert_string_equal(q.ticker, "MSFT");
	assert_true(q.price > 492.009 && q.price < 492.011);
	assert_int_equal(q.time_s, 1764363600);
	/* the symbol check ignores case */
	assert_int_equal(extract("yahoo-msft.json", "msft", 1764363600, 86400, &q), 0);
}

static void stack_quote_server_response(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(extract("stack-aapl.json", "AAPL", 1767258000, 86400, &q), 0);
	assert_true(q.price > 189.999 && q.price < 190.001);
	assert_int_equal(q.time_s, 1767258000);
}

static void chart_error_is_rejected_with_its_text(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(extract("yahoo-notfound.json", "NOSUCH", 1764363600, 86400, &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "chart.error Not Found"));
	assert_non_null(strstr(err, "symbol may be delisted"));
	assert_int_equal(extract("stack-notfound.json", "NOSUCH", 1764363600, 86400, &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_false(tw_quotes_is_failure(TW_ERR_QUOTES_REJECTED));
}

static void stale_and_future_times_are_rejected(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(extract("yahoo-msft.json", "MSFT", 1764363600 + 8 * 86400, 7 * 86400, &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "stale"));
	assert_int_equal(extract("yahoo-msft.json", "MSFT", 1764363600 - 2 * 86400, 7 * 86400, &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "future"));
	assert_int_equal(extract("bad-no-time.json", "MSFT", 1764363600, 86400, &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "regularMarketTime"));
}

static void bad_prices_are_rejected(void **state)
{
	static const char *const files[] = {"bad-nan.json", "bad-zero.json", "bad-negative.json",
					    "bad-null-price.json"};
	struct tw_quotes_item q;

	(void)state;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		assert_int_equal(extract(files[i], "MSFT", 1764363600, 86400, &q),
				 TW_ERR_QUOTES_REJECTED);
		assert_non_null(strstr(err, "regularMarketPrice"));
		assert_true(q.price == 0);
	}
}

static void other_symbol_and_empty_result_are_rejected(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(extract("bad-other-symbol.json", "MSFT", 1764363600, 86400, &q),
			 TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "symbol AAPL"));
	assert_int_equal(extract("bad-empty-result.json", "MSFT", 1764363600, 86400, &q),
			 TW_ERR_QUOTES_REJECTED);
}

static void garbage_is_a_source_failure(void **state)
{
	struct tw_quotes_item q;
	size_t n;

	(void)state;
	assert_int_equal(extract("bad-garbage.txt", "MSFT", 1764363600, 86400, &q),
			 TW_ERR_QUOTES_BAD_JSON);
	assert_int_equal(extract("bad-no-chart.json", "MSFT", 1764363600, 86400, &q),
			 TW_ERR_QUOTES_BAD_JSON);
	assert_true(tw_quotes_is_failure(TW_ERR_QUOTES_BAD_JSON));
	/* too many tokens for the scratch: refused, not overrun */
	n = load("yahoo-msft.json");
	assert_int_equal(tw_yahoo_extract(json, n, toks, 16, "MSFT", 1764363600, 86400, &q, err,
					  sizeof err),
			 TW_ERR_QUOTES_BAD_JSON);
	assert_non_null(strstr(err, "JSON tokens"));
	/* cut in the middle */
	assert_int_equal(tw_yahoo_extract(json, n / 2, toks, NTOK, "MSFT", 1764363600, 86400, &q,
					  err, sizeof err),
			 TW_ERR_QUOTES_BAD_JSON);
}

/* The regular period of currentTradingPeriod, as docs/quotes.md states it: both ends whole
 * Unix times with start < end, else no period; outside means before start or after end. */
static void regular_period_is_read(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	/* Yahoo's capture: regular 1764340200-1764363600, market time 1764363600 (the close) */
	assert_int_equal(extract("yahoo-msft.json", "MSFT", 1764363600, 86400, &q), 0);
	assert_int_equal(q.reg_start, 1764340200);
	assert_int_equal(q.reg_end, 1764363600);
	assert_false(tw_quotes_off_hours(&q)); /* the end itself is inside */
	q.time_s = 1764363601;
	assert_true(tw_quotes_off_hours(&q));
	q.time_s = 1764340199;
	assert_true(tw_quotes_off_hours(&q));
	q.time_s = 1764340200;
	assert_false(tw_quotes_off_hours(&q));
	/* the stack's quote server with a session that ended 60 s before the quote */
	assert_int_equal(extract("stack-aapl-ended.json", "AAPL", 1767258000, 86400, &q), 0);
	assert_int_equal(q.reg_start, 1767258000 - 7200);
	assert_int_equal(q.reg_end, 1767258000 - 60);
	assert_true(tw_quotes_off_hours(&q));
	/* no period at all: every quote counts */
	assert_int_equal(extract("stack-aapl.json", "AAPL", 1767258000, 86400, &q), 0);
	assert_int_equal(q.reg_start, 0);
	assert_int_equal(q.reg_end, 0);
	assert_false(tw_quotes_off_hours(&q));
	/* start after end: no period, and the quote is still taken */
	assert_int_equal(extract("bad-period.json", "AAPL", 1767258000, 86400, &q), 0);
	assert_int_equal(q.reg_start, 0);
	assert_false(tw_quotes_off_hours(&q));
}

static size_t with_period(const char *regular)
{
	return (size_t)snprintf(json, sizeof json,
				"{\"chart\":{\"result\":[{\"meta\":{\"symbol\":\"AAPL\","
				"\"regularMarketPrice\":190.5,\"regularMarketTime\":1767258000,"
				"\"currentTradingPeriod\":%s}}],\"error\":null}}",
				regular);
}

static void malformed_periods_are_no_period(void **state)
{
	static const char *const bad[] = {
		"{\"regular\":{\"start\":\"1767250000\",\"end\":1767259000}}", /* a string */
		"{\"regular\":{\"start\":-5,\"end\":1767259000}}",
		"{\"regular\":{\"start\":1767250000.5,\"end\":1767259000}}",
		"{\"regular\":{\"start\":1767250000}}",
		"{\"regular\":{\"start\":1767250000,\"end\":1767250000}}",
		"{\"regular\":{\"start\":1767250000,\"end\":1e13}}",
		"{\"regular\":[1767250000,1767259000]}",
		"{\"pre\":{\"start\":1767250000,\"end\":1767259000}}",
		"null",
		"[]",
	};
	struct tw_quotes_item q;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = with_period(bad[i]);

		memset(&q, 0, sizeof q);
		assert_int_equal(tw_yahoo_extract(json, n, toks, NTOK, "AAPL", 1767258000, 86400, &q,
						  err, sizeof err),
				 0);
		assert_int_equal(q.reg_start, 0);
		assert_int_equal(q.reg_end, 0);
		assert_false(tw_quotes_off_hours(&q));
	}
	memset(&q, 0, sizeof q);
	assert_int_equal(tw_yahoo_extract(json, with_period("{\"regular\":{\"start\":1767250000,"
							      "\"end\":1767257999}}"),
					  toks, NTOK, "AAPL", 1767258000, 86400, &q, err, sizeof err),
			 0);
	assert_true(tw_quotes_off_hours(&q));
}

/* meta.chartPreviousClose, currency and exchangeName: read when valid (a real capture and the
 * stack's server), absent when missing or invalid, and a bad one never rejects the quote. */
static size_t with_meta(const char *members)
{
	return (size_t)snprintf(json, sizeof json,
				"{\"chart\":{\"result\":[{\"meta\":{\"symbol\":\"AAPL\","
				"\"regularMarketPrice\":190.5,\"regularMarketTime\":1767258000%s}}],"
				"\"error\":null}}",
				members);
}

static void previous_close_currency_exchange(void **state)
{
	static const char *const bad[] = {
		"", /* none given */
		",\"chartPreviousClose\":0,\"currency\":\"usd\",\"exchangeName\":\"\"",
		",\"chartPreviousClose\":-1,\"currency\":\"US\",\"exchangeName\":\" NMS\"",
		",\"chartPreviousClose\":1e10,\"currency\":\"USDX\",\"exchangeName\":\"NMS \"",
		",\"chartPreviousClose\":NaN,\"currency\":\"U5D\","
		"\"exchangeName\":\"a-very-long-exchange-name-of-33-b\"",
		",\"chartPreviousClose\":\"185.5\",\"currency\":840,\"exchangeName\":\"N\\u00e9S\"",
		",\"chartPreviousClose\":null,\"currency\":null,\"exchangeName\":\"N\\tS\"",
		",\"chartPreviousClose\":Infinity,\"currency\":[\"USD\"],\"exchangeName\":{}",
	};
	struct tw_quotes_item q;
	size_t n;

	(void)state;
	assert_int_equal(extract("yahoo-msft.json", "MSFT", 1764363600, 86400, &q), 0);
	assert_true(q.prev_close == 485.5);
	assert_string_equal(q.currency, "USD");
	assert_string_equal(q.exchange, "NMS");
	assert_int_equal(extract("stack-aapl.json", "AAPL", 1767258000, 86400, &q), 0);
	assert_true(q.prev_close == 190.0);
	assert_string_equal(q.currency, "USD");
	assert_string_equal(q.exchange, "NMS");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = with_meta(bad[i]);
		memset(&q, 0x55, sizeof q);
		assert_int_equal(tw_yahoo_extract(json, n, toks, NTOK, "AAPL", 1767258000, 86400, &q,
						  err, sizeof err),
				 0);
		assert_true(q.price == 190.5);
		if (q.prev_close != 0 || q.currency[0] || q.exchange[0])
			fail_msg("case %zu: prev %g currency '%s' exchange '%s' taken", i,
				 q.prev_close, q.currency, q.exchange);
	}
	/* the bounds themselves are taken: 1e9, 32 bytes, blanks inside */
	n = with_meta(",\"chartPreviousClose\":1e9,\"currency\":\"EUR\","
		      "\"exchangeName\":\"a very long exchange name 32 byt\"");
	assert_int_equal(tw_yahoo_extract(json, n, toks, NTOK, "AAPL", 1767258000, 86400, &q, err,
					  sizeof err),
			 0);
	assert_true(q.prev_close == 1e9);
	assert_string_equal(q.currency, "EUR");
	assert_string_equal(q.exchange, "a very long exchange name 32 byt");
	assert_true(tw_quotes_exchange_ok("~!\"#"));
	assert_false(tw_quotes_exchange_ok(NULL));
	assert_false(tw_quotes_currency_ok(NULL));
	assert_false(tw_quotes_prev_ok(1e9 + 1));
}

/* Whether the source knows the ticker (the rpc role's ticker check): chart.error Not Found
 * and an empty chart.result say it does not; other rejections say nothing about it. */
static void unknown_ticker_is_flagged(void **state)
{
	static const struct {
		const char *file, *ticker;
		int64_t now;
		int unknown;
	} cases[] = {
		{"yahoo-notfound.json", "NOSUCH", 1764363600, 1},
		{"stack-notfound.json", "NOSUCH", 1764363600, 1},
		{"bad-empty-result.json", "MSFT", 1764363600, 1},
		{"bad-other-symbol.json", "MSFT", 1764363600, 0},
		{"bad-nan.json", "MSFT", 1764363600, 0},
		{"yahoo-msft.json", "MSFT", 1764363600 + 8 * 86400, 0}, /* stale: the ticker exists */
	};
	struct tw_quotes_item q;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(extract(cases[i].file, cases[i].ticker, cases[i].now, 86400, &q),
				 TW_ERR_QUOTES_REJECTED);
		assert_int_equal(q.unknown, cases[i].unknown);
	}
}

static void ticker_syntax(void **state)
{
	(void)state;
	assert_int_equal(tw_quotes_check_ticker("SAP.DE"), 0);
	assert_int_equal(tw_quotes_check_ticker("^GSPC"), 0);
	assert_int_equal(tw_quotes_check_ticker("EURUSD=X"), 0);
	assert_int_equal(tw_quotes_check_ticker("BRK-B"), 0);
	assert_int_not_equal(tw_quotes_check_ticker(""), 0);
	assert_int_not_equal(tw_quotes_check_ticker("A/B"), 0);
	assert_int_not_equal(tw_quotes_check_ticker("A B"), 0);
	assert_int_not_equal(tw_quotes_check_ticker("ABCDEFGHIJKLMNOP"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_yahoo_response),
		cmocka_unit_test(stack_quote_server_response),
		cmocka_unit_test(chart_error_is_rejected_with_its_text),
		cmocka_unit_test(stale_and_future_times_are_rejected),
		cmocka_unit_test(bad_prices_are_rejected),
		cmocka_unit_test(other_symbol_and_empty_result_are_rejected),
		cmocka_unit_test(garbage_is_a_source_failure),
		cmocka_unit_test(ticker_syntax),
		cmocka_unit_test(regular_period_is_read),
		cmocka_unit_test(malformed_periods_are_no_period),
		cmocka_unit_test(unknown_ticker_is_flagged),
		cmocka_unit_test(previous_close_currency_exchange),
	};
	fake_reset();
	tw_log_set_stderr(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
