/* SPDX-License-Identifier: MIT */
/* test_breaker.c - circuit breaker transitions on the fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "breaker.h"
#include "fake_hal.h"
#include "log.h"

static int setup(void **state)
{
	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	return 0;
}

static void closed_until_threshold_then_open(void **state)
{
	struct tw_breaker b;

	(void)state;
	tw_breaker_init(&b, "quotes", 3, 30000);
	assert_int_equal(b.state, TW_BREAKER_CLOSED);
	assert_true(tw_breaker_allow(&b));
	tw_breaker_failure(&b);
	tw_breaker_failure(&b);
	assert_int_equal(b.state, TW_BREAKER_CLOSED);
	assert_true(tw_breaker_allow(&b));
	tw_breaker_failure(&b);
	assert_int_equal(b.state, TW_BREAKER_OPEN);
	assert_int_equal(b.trips, 1);
	assert_false(tw_breaker_allow(&b));
	assert_int_equal(b.rejected, 1);
	assert_int_equal(tw_breaker_retry_in_ms(&b), 30000);
}

static void success_resets_the_count(void **state)
{
	struct tw_breaker b;

	(void)state;
	tw_breaker_init(&b, "quotes", 3, 30000);
	tw_breaker_failure(&b);
	tw_breaker_failure(&b);
	tw_breaker_success(&b);
	tw_breaker_failure(&b);
	tw_breaker_failure(&b);
	assert_int_equal(b.state, TW_BREAKER_CLOSED); /* not consecutive: still closed */
	tw_breaker_failure(&b);
	assert_int_equal(b.state, TW_BREAKER_OPEN);
}

static void half_open_after_recovery_on_the_clock(void **state)
{
	struct tw_breaker b;

	(void)state;
	tw_breaker_init(&b, "quotes", 1, 30000);
	tw_breaker_failure(&b);
	assert_int_equal(b.state, TW_BREAKER_OPEN);
	fake_clock_advance_ms(29999);
	assert_false(tw_breaker_allow(&b));
	assert_int_equal(tw_breaker_retry_in_ms(&b), 1);
	fake_clock_advance_ms(1);
	assert_true(tw_breaker_allow(&b)); /* the one trial */
	assert_int_equal(b.state, TW_BREAKER_HALF_OPEN);
	assert_false(tw_breaker_allow(&b)); /* a second caller waits for the trial */
	tw_breaker_success(&b);
	assert_int_equal(b.state, TW_BREAKER_CLOSED);
	assert_int_equal(b.failures, 0);
	assert_true(tw_breaker_allow(&b));
}

static void failed_trial_reopens_and_restarts_the_wait(void **state)
{
	struct tw_breaker b;
	char line[160];

	(void)state;
	tw_breaker_init(&b, "quotes", 2, 1000);
	tw_breaker_failure(&b);
	tw_breaker_failure(&b);
	fake_clock_advance_ms(1500);
	assert_true(tw_breaker_allow(&b));
	tw_breaker_failure(&b);
	assert_int_equal(b.state, TW_BREAKER_OPEN);
	assert_int_equal(b.trips, 2);
	assert_int_equal(tw_breaker_retry_in_ms(&b), 1000);
	fake_clock_advance_ms(999);
	assert_false(tw_breaker_allow(&b));
	tw_breaker_status(&b, line, sizeof line);
	assert_non_null(strstr(line, "open"));
	assert_non_null(strstr(line, "2 trips"));
	fake_clock_advance_ms(1);
	assert_true(tw_breaker_allow(&b));
	tw_breaker_success(&b);
	tw_breaker_status(&b, line, sizeof line);
	assert_non_null(strstr(line, "closed"));
}

static void late_failure_while_open_changes_nothing(void **state)
{
	struct tw_breaker b;

	(void)state;
	tw_breaker_init(&b, "x", 0, 1000); /* threshold 0 is taken as 1 */
	assert_int_equal(b.threshold, 1);
	tw_breaker_failure(&b);
	fake_clock_advance_ms(500);
	tw_breaker_failure(&b);
	assert_int_equal(b.trips, 1);
	assert_int_equal(tw_breaker_retry_in_ms(&b), 500);
	assert_string_equal(tw_breaker_state_name(TW_BREAKER_HALF_OPEN), "half-open");
}


/* Issue 11, item 4: a trial cut short by the caller (its database failed) is no verdict on
 * the service: the breaker must not refuse forever, the next call is the trial. */
static void trial_without_verdict_is_released(void **state)
{
	struct tw_breaker b;

	(void)state;
	tw_breaker_init(&b, "smtp", 1, 1000);
	tw_breaker_failure(&b);
	assert_int_equal(b.state, TW_BREAKER_OPEN);
	fake_clock_advance_ms(1000);
	assert_true(tw_breaker_allow(&b));
	assert_int_equal(b.state, TW_BREAKER_HALF_OPEN);
	assert_false(tw_breaker_allow(&b)); /* the trial runs */
	tw_breaker_release(&b);             /* ...and ends unrecorded */
	assert_int_equal(b.state, TW_BREAKER_HALF_OPEN);
	assert_true(tw_breaker_allow(&b)); /* the next one is the trial */
	assert_false(tw_breaker_allow(&b));
	tw_breaker_success(&b);
	assert_int_equal(b.state, TW_BREAKER_CLOSED);
	/* closed or open: nothing changes */
	tw_breaker_release(&b);
	assert_int_equal(b.state, TW_BREAKER_CLOSED);
	tw_breaker_failure(&b);
	tw_breaker_release(&b);
	assert_int_equal(b.state, TW_BREAKER_OPEN);
	assert_false(tw_breaker_allow(&b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(closed_until_threshold_then_open, setup),
		cmocka_unit_test_setup(success_resets_the_count, setup),
		cmocka_unit_test_setup(half_open_after_recovery_on_the_clock, setup),
		cmocka_unit_test_setup(failed_trial_reopens_and_restarts_the_wait, setup),
		cmocka_unit_test_setup(late_failure_while_open_changes_nothing, setup),
		cmocka_unit_test_setup(trial_without_verdict_is_released, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
