/* SPDX-License-Identifier: MIT */
/* test_log.c - log levels, role tags, the ring of recent lines, redaction of secrets, folding of
 * repeats on the fake clock, and stderr output through a ring that never blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "arena.h"
#include "fake_hal.h"
#include "log.h"
#include "loop.h"

static char ring[4 * 64];
static int formatted;

static const char *count_format(void)
{
	formatted++;
	return "x";
}

static int setup(void **state)
{
	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	tw_log_ring_init(ring, 4, 64);
	tw_log_threshold = TW_LOG_INFO;
	formatted = 0;
	return 0;
}

static void level_checked_before_formatting(void **state)
{
	(void)state;
	tw_log(TW_LOG_DEBUG, "rpc", "%s", count_format());
	assert_int_equal(formatted, 0);
	assert_int_equal(tw_log_ring_count(), 0);
	tw_log(TW_LOG_WARN, "rpc", "%s", count_format());
	assert_int_equal(formatted, 1);
	assert_int_equal(tw_log_ring_count(), 1);
}

static void line_has_time_level_and_role(void **state)
{
	(void)state;
	tw_log(TW_LOG_INFO, "collector", "cycle %d done", 7);
	assert_string_equal(tw_log_ring_line(0),
			    "2026-01-01T00:00:00.000Z info  [collector] cycle 7 done");
}

static void ring_keeps_last_lines_and_cuts_long_ones(void **state)
{
	char big[200];

	(void)state;
	for (int i = 0; i < 6; i++)
		tw_log(TW_LOG_ERROR, "a", "line %d", i);
	assert_int_equal(tw_log_ring_count(), 4);
	assert_non_null(strstr(tw_log_ring_line(0), "line 2"));
	assert_non_null(strstr(tw_log_ring_line(3), "line 5"));
	assert_null(tw_log_ring_line(4));
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	tw_log(TW_LOG_ERROR, "a", "%s", big);
	assert_int_equal(strlen(tw_log_ring_line(3)), 63);
}

static void control_characters_cannot_forge_lines(void **state)
{
	(void)state;
	tw_log(TW_LOG_INFO, "rpc", "peer said %s", "hi\nERROR [agent] fake");
	assert_int_equal(tw_log_ring_count(), 1);
	assert_null(strchr(tw_log_ring_line(0), '\n'));
	assert_non_null(strstr(tw_log_ring_line(0), "hi?ERROR"));
}

static void redaction(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(tw_log_redact("postgresql://tw:s3cret@db:5432/x", out, sizeof out),
			    "postgresql://tw:***@db:5432/x");
	assert_string_equal(tw_log_redact("postgresql://tw@db/x", out, sizeof out),
			    "postgresql://tw@db/x");
	assert_string_equal(tw_log_redact("host=db password=s3cret user=tw", out, sizeof out),
			    "host=db password=*** user=tw");
	assert_string_equal(tw_log_redact("postgresql://db/x?user=a&password=s3cret", out, sizeof out),
			    "postgresql://db/x?user=a&password=***");
	assert_string_equal(tw_log_redact("postgresql://tw:s3cret@db/x", out, 12), "postgresql:");
}

static void repeats_fold_into_one_line(void **state)
{
	static char wide[8 * 256];

	(void)state;
	tw_log_ring_init(wide, 8, 256);
	/* A broker-down flood: 60 a second for 10 s, others lines in between. */
	for (int i = 0; i < 600; i++) {
		tw_log(TW_LOG_WARN, "kafka", "kafka error: _ALL_BROKERS_DOWN: 3/3 brokers are down");
		if (i == 300)
			tw_log(TW_LOG_INFO, "agent", "something else");
		if (i < 599)
			fake_clock_advance_ms(16);
	}
	/* the first two copies (two alike lines are no flood) and the other line */
	assert_int_equal(tw_log_ring_count(), 3);
	fake_clock_advance_ms(10000 - 599 * 16);
	tw_log_tick();
	assert_int_equal(tw_log_ring_count(), 4);
	assert_non_null(strstr(tw_log_ring_line(0), "warn  [kafka] kafka error: _ALL_BROKERS_DOWN"));
	assert_non_null(strstr(tw_log_ring_line(1), "warn  [kafka] kafka error: _ALL_BROKERS_DOWN"));
	assert_non_null(strstr(tw_log_ring_line(2), "something else"));
	assert_non_null(strstr(tw_log_ring_line(3),
			       "warn  [kafka] kafka error: _ALL_BROKERS_DOWN: 3/3 brokers are down ... "
			       "repeated 598 times in 10 s"));
	/* after the window the line prints again and a new window starts */
	tw_log(TW_LOG_WARN, "kafka", "kafka error: _ALL_BROKERS_DOWN: 3/3 brokers are down");
	assert_int_equal(tw_log_ring_count(), 5);
	assert_null(strstr(tw_log_ring_line(4), "repeated"));
	/* a line without copies beyond the first two leaves no summary */
	tw_log(TW_LOG_WARN, "kafka", "kafka error: _ALL_BROKERS_DOWN: 3/3 brokers are down");
	fake_clock_advance_ms(10000);
	tw_log_tick();
	assert_int_equal(tw_log_ring_count(), 6);
}

static void same_text_other_level_is_not_a_repeat(void **state)
{
	(void)state;
	tw_log(TW_LOG_WARN, "db", "x");
	tw_log(TW_LOG_ERROR, "db", "x");
	tw_log(TW_LOG_WARN, "smtp", "x");
	assert_int_equal(tw_log_ring_count(), 3);
}

static void stderr_never_blocks_drops_are_counted(void **state)
{
	static struct tw_arena a;
	static struct tw_loop l;
	static char out[300];
	unsigned long long before = tw_log_dropped();
	size_t len;
	const char *text;

	(void)state;
	assert_int_equal(tw_arena_init(&a, 65536), TW_OK);
	assert_int_equal(tw_loop_init(&l, &a, 8, 8), TW_OK);
	tw_log_set_stderr(1);
	assert_int_equal(tw_log_attach(&l, out, sizeof out), TW_OK);
	fake_stderr_block(1); /* a terminal that stopped reading (^S), a full pipe */
	for (int i = 0; i < 10; i++)
		tw_log(TW_LOG_WARN, "t", "line number %d of ten, long enough to fill", i);
	/* every call returned; nothing reached stderr; the ring took what fit */
	text = fake_stderr_text(&len);
	assert_int_equal(len, 0);
	assert_true(tw_log_pending() > 0);
	assert_true(tw_log_dropped() > before);
	assert_int_equal(tw_log_ring_count(), 4); /* the console's `log` ring is unaffected */
	fake_stderr_block(0);
	tw_loop_run_once(&l, 10); /* stderr writable: the loop drains */
	assert_int_equal(tw_log_pending(), 0);
	text = fake_stderr_text(&len);
	assert_non_null(strstr(text, "line number 0 of ten"));
	assert_null(strstr(text, "line number 9 of ten"));
	tw_log(TW_LOG_WARN, "t", "after the stall");
	text = fake_stderr_text(&len);
	assert_non_null(strstr(text, "lines dropped: stderr was not writable)\n"));
	assert_non_null(strstr(text, "after the stall"));
	tw_log_detach(100);
	tw_log_set_stderr(0);
	tw_arena_free(&a);
}

static void level_names(void **state)
{
	(void)state;
	assert_int_equal(tw_log_level_parse("debug"), TW_LOG_DEBUG);
	assert_int_equal(tw_log_level_parse("loud"), -1);
	assert_string_equal(tw_log_level_name(TW_LOG_WARN), "warn");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(level_checked_before_formatting, setup),
		cmocka_unit_test_setup(line_has_time_level_and_role, setup),
		cmocka_unit_test_setup(ring_keeps_last_lines_and_cuts_long_ones, setup),
		cmocka_unit_test_setup(control_characters_cannot_forge_lines, setup),
		cmocka_unit_test_setup(redaction, setup),
		cmocka_unit_test_setup(level_names, setup),
		cmocka_unit_test_setup(repeats_fold_into_one_line, setup),
		cmocka_unit_test_setup(same_text_other_level_is_not_a_repeat, setup),
		cmocka_unit_test_setup(stderr_never_blocks_drops_are_counted, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
