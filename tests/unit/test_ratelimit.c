/* SPDX-License-Identifier: MIT */
/* test_ratelimit.c - the [quotes] rate cap on the fake clock: a burst, then one request per
 * 1/rate; the waits it names are exact; over any span T at most burst + T * rate requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fake_hal.h"
#include "quotes/ratelimit.h"

static void burst_then_spaced(void **state)
{
	struct tw_rate r;
	tw_mono_t t0 = 5000 * TW_MONO_PER_MS;

	(void)state;
	tw_rate_init(&r, 4, 4); /* 4 a second: one every 250 ms, 4 back to back */
	for (int i = 0; i < 4; i++)
		assert_int_equal(tw_rate_take(&r, t0), 0);
	assert_int_equal(tw_rate_take(&r, t0), 250); /* the fifth waits 250 ms */
	assert_int_equal(tw_rate_take(&r, t0 + 249 * TW_MONO_PER_MS), 1);
	assert_int_equal(tw_rate_take(&r, t0 + 250 * TW_MONO_PER_MS), 0);
	assert_int_equal(tw_rate_take(&r, t0 + 250 * TW_MONO_PER_MS), 250);
	/* a quiet spell refills the burst, never more */
	for (int i = 0; i < 4; i++)
		assert_int_equal(tw_rate_take(&r, t0 + 60000 * TW_MONO_PER_MS), 0);
	assert_true(tw_rate_take(&r, t0 + 60000 * TW_MONO_PER_MS) > 0);
}

static void one_per_second_without_burst(void **state)
{
	struct tw_rate r;
	tw_mono_t t = 0;

	(void)state;
	tw_rate_init(&r, 1, 0); /* burst 0 is taken as 1 */
	assert_int_equal(tw_rate_take(&r, t), 0);
	assert_int_equal(tw_rate_take(&r, t), 1000);
	assert_int_equal(tw_rate_take(&r, t + 1000 * TW_MONO_PER_MS), 0);
}

/* Driven as the collector drives it: take, else wait what it says on the clock. */
static void never_more_than_the_cap(void **state)
{
	struct tw_rate r;
	int64_t sent_at[400];
	int n = 0;

	(void)state;
	fake_reset();
	tw_rate_init(&r, 3, 3);
	while (n < 400) {
		int64_t w = tw_rate_take(&r, tw_hal_now());

		if (w == 0)
			sent_at[n++] = tw_hal_now() / TW_MONO_PER_MS;
		else
			fake_clock_advance_ms(w);
	}
	/* any window [a, a + T): at most 3 + T * 3 / 1000 requests */
	for (int a = 0; a < n; a++) {
		for (int b = a; b < n; b++) {
			int64_t span = sent_at[b] - sent_at[a];

			assert_true(b - a + 1 <= 3 + span * 3 / 1000);
		}
	}
	/* and it waits no longer than needed: after the burst one request per 1/3 s, each wait
	 * rounded up to a whole ms at most */
	assert_true(sent_at[n - 1] - sent_at[0] <= (int64_t)(400 - 3) * 334);
	assert_int_equal(r.taken, 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_spaced),
		cmocka_unit_test(one_per_second_without_burst),
		cmocka_unit_test(never_more_than_the_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
