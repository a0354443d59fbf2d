/* SPDX-License-Identifier: MIT */
/* test_log.c - log levels, role tags, the ring of recent lines, redaction of secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fake_hal.h"
#include "log.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
