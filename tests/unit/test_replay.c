/* SPDX-License-Identifier: MIT */
/* test_replay.c - replay:FILE parsing (errors with file:line), steps, lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "fake_hal.h"
#include "log.h"
#include "quotes/quotes.h"

static char path[64];
static struct tw_replay_row rows[16];
static size_t steps[17];
static struct tw_replay r;
static char err[256];

static int load_text(const char *text)
{
	FILE *f;

	snprintf(path, sizeof path, "/tmp/tw-replay-%d.txt", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return tw_replay_load(&r, path, rows, steps, 16, err, sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

/* err must be "PATH:LINE: ..." */
static void assert_line(int line, const char *what)
{
	char want[128];

	snprintf(want, sizeof want, "%s:%d: ", path, line);
	if (strncmp(err, want, strlen(want)) != 0 || strstr(err, what) == NULL)
		fail_msg("error '%s' should start with '%s' and say '%s'", err, want, what);
}

static void good_file_makes_steps(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(load_text("# tickwatch replay v1\n"
				   "\n"
				   "1767258000 MSFT 410.00\n"
				   "1767258000 aapl 190.00   # lower case is upper-cased\n"
				   "1767258060\tAAPL\t190.50\n"
				   "1767258060 MSFT 410.20\n"),
			 0);
	assert_int_equal(r.nrows, 4);
	assert_int_equal(r.nsteps, 2);
	assert_int_equal(tw_replay_get(&r, "AAPL", &q, err, sizeof err), 0);
	assert_true(q.price == 190.00);
	assert_int_equal(q.time_s, 1767258000);
	r.step = 1;
	assert_int_equal(tw_replay_get(&r, "aapl", &q, err, sizeof err), 0);
	assert_true(q.price == 190.50);
	assert_int_equal(q.time_s, 1767258060);
	assert_int_equal(tw_replay_get(&r, "NVDA", &q, err, sizeof err), TW_ERR_QUOTES_REJECTED);
	assert_non_null(strstr(err, "not in replay step 2"));
}

static void errors_name_the_line(void **state)
{
	(void)state;
	assert_int_equal(load_text("1767258000 AAPL 190\n1767258000 MSFT\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(2, "expected 'TIME TICKER PRICE [prev=P] [currency=C] [exchange=E]', got 2 "
		       "field(s)");
	assert_int_equal(load_text("# c\n\n1767258000 AAPL 190 extra\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(3, "field 'extra' is not prev=, currency= or exchange=");
	assert_int_equal(load_text("1767258000 AAPL 190 prev=1 currency=USD exchange=NMS prev=2\n"),
			 TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "more than 6");
	assert_int_equal(load_text("1767258000 AAPL 190 prev=1 prev=2\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "field 'prev' given twice");
	assert_int_equal(load_text("1767258000 AAPL 190 prev=0\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "prev '0' is not a number > 0 and <= 1e9");
	assert_int_equal(load_text("1767258000 AAPL 190 prev=2e9\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "prev '2e9'");
	assert_int_equal(load_text("1767258000 AAPL 190 prev=\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "prev ''");
	assert_int_equal(load_text("1767258000 AAPL 190 currency=usd\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "currency 'usd' is not three of A-Z");
	assert_int_equal(load_text("1767258000 AAPL 190 exchange=abcdefghijklmnopqrstuvwxyz0123456\n"),
			 TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "exchange 'abcdefghijklmnopqrstuvwxyz0123456' is not 1 to 32");
	assert_int_equal(load_text("1767258000 AAPL 190 exchange=\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "exchange ''");
	assert_int_equal(load_text("yesterday AAPL 190\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "time 'yesterday' is not Unix seconds");
	assert_int_equal(load_text("1767258000 AAPL 190\n1767258000 A/B 1\n"),
			 TW_ERR_REPLAY_SYNTAX);
	assert_line(2, "ticker 'A/B'");
	assert_int_equal(load_text("1767258000 AAPL 190\n\n1767258000 MSFT -4\n"),
			 TW_ERR_REPLAY_SYNTAX);
	assert_line(3, "price '-4' is not a positive number");
	assert_int_equal(load_text("1767258000 AAPL nan\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "price 'nan'");
	assert_int_equal(load_text("1767258000 AAPL 0\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(1, "price '0'");
	assert_int_equal(load_text("1767258060 AAPL 1\n1767258000 AAPL 2\n"),
			 TW_ERR_REPLAY_SYNTAX);
	assert_line(2, "goes back");
	assert_int_equal(load_text("1767258000 AAPL 1\n1767258000 aapl 2\n1767258060 AAPL 3\n"),
			 TW_ERR_REPLAY_SYNTAX);
	assert_line(2, "AAPL appears twice");
	assert_int_equal(load_text("# only comments\n\n"), TW_ERR_REPLAY_SYNTAX);
	assert_line(2, "no quotes");
}

/* The optional named fields: each read into the quote, in any order; absent ones are not known. */
static void previous_close_currency_exchange(void **state)
{
	struct tw_quotes_item q;

	(void)state;
	assert_int_equal(load_text("1767258000 AAPL 190.00 prev=188.5 currency=USD exchange=NMS\n"
				   "1767258000 SAP.DE 240 exchange=GER currency=EUR\n"
				   "1767258000 MSFT 410.00\n"
				   "1767258060 AAPL 190.50 prev=188.5\n"),
			 0);
	memset(&q, 0x55, sizeof q);
	assert_int_equal(tw_replay_get(&r, "AAPL", &q, err, sizeof err), 0);
	assert_true(q.prev_close == 188.5);
	assert_string_equal(q.currency, "USD");
	assert_string_equal(q.exchange, "NMS");
	memset(&q, 0x55, sizeof q);
	assert_int_equal(tw_replay_get(&r, "SAP.DE", &q, err, sizeof err), 0);
	assert_true(q.prev_close == 0);
	assert_string_equal(q.currency, "EUR");
	assert_string_equal(q.exchange, "GER");
	memset(&q, 0x55, sizeof q);
	assert_int_equal(tw_replay_get(&r, "MSFT", &q, err, sizeof err), 0);
	assert_true(q.prev_close == 0 && q.currency[0] == '\0' && q.exchange[0] == '\0');
	r.step = 1;
	memset(&q, 0x55, sizeof q);
	assert_int_equal(tw_replay_get(&r, "AAPL", &q, err, sizeof err), 0);
	assert_true(q.price == 190.50 && q.prev_close == 188.5);
	assert_true(q.currency[0] == '\0' && q.exchange[0] == '\0');
}

static void too_many_rows_and_missing_file(void **state)
{
	char text[2048] = "";

	(void)state;
	for (int i = 0; i < 17; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "%d T%d 1.5\n",
			 1767258000 + i, i);
	assert_int_equal(load_text(text), TW_ERR_REPLAY_SYNTAX);
	assert_line(17, "replay_rows");
	assert_int_equal(tw_replay_load(&r, "/nonexistent/replay.txt", rows, steps, 16, err,
					sizeof err),
			 TW_ERR_REPLAY_IO);
	assert_non_null(strstr(err, "/nonexistent/replay.txt: cannot open"));
	assert_int_equal(tw_replay_count("/nonexistent/replay.txt", err, sizeof err),
			 TW_ERR_REPLAY_IO);
}

/* The source interface over a replay file: one step per cycle, the last one repeating. */
static void source_steps_through_cycles(void **state)
{
	static struct tw_quotes src;
	static unsigned char mem[65536];
	struct tw_arena a = {0};
	struct tw_config cfg;
	struct tw_quotes_item q;
	static const double want[] = {1.5, 2.5, 3.5, 3.5};

	(void)state;
	assert_int_equal(load_text("100 AAA 1.5\n200 AAA 2.5\n200 BBB 9\n300 AAA 3.5\n"), 0);
	tw_config_defaults(&cfg, NULL);
	snprintf(cfg.quotes.source, sizeof cfg.quotes.source, "replay:%s", path);
	a.base = mem;
	a.size = sizeof mem;
	assert_true(tw_quotes_budget(&cfg) > 0);
	assert_int_equal(tw_quotes_open(&src, &cfg, NULL, &a, err, sizeof err), 0);
	assert_string_equal(src.name, "replay");
	for (int cycle = 0; cycle < 4; cycle++) {
		tw_quotes_cycle(&src);
		assert_int_equal(tw_quotes_fetch(&src, "aaa", &q, NULL, NULL, err, sizeof err), 0);
		assert_true(q.price == want[cycle]);
	}
	assert_int_equal(tw_quotes_fetch(&src, "BBB", &q, NULL, NULL, err, sizeof err),
			 TW_ERR_QUOTES_REJECTED);
	assert_int_equal(tw_quotes_fetch(&src, "no/ticker", &q, NULL, NULL, err, sizeof err),
			 TW_ERR_QUOTES_REJECTED);
	assert_int_equal(src.fetched, 4);
	assert_int_equal(src.rejected, 2);
	tw_quotes_close(&src);
	/* a bad file stops the open with file:line */
	assert_int_equal(load_text("100 AAA 1.5\n100 AAA x\n"), TW_ERR_REPLAY_SYNTAX);
	snprintf(cfg.quotes.source, sizeof cfg.quotes.source, "replay:%s", path);
	a.used = 0;
	assert_int_equal(tw_quotes_open(&src, &cfg, NULL, &a, err, sizeof err),
			 TW_ERR_REPLAY_SYNTAX);
	assert_line(2, "price 'x'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(good_file_makes_steps, teardown),
		cmocka_unit_test_teardown(errors_name_the_line, teardown),
		cmocka_unit_test_teardown(previous_close_currency_exchange, teardown),
		cmocka_unit_test_teardown(too_many_rows_and_missing_file, teardown),
		cmocka_unit_test_teardown(source_steps_through_cycles, teardown),
	};
	fake_reset();
	tw_log_set_stderr(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
