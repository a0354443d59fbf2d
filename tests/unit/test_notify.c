/* SPDX-License-Identifier: MIT */
/* test_notify.c - the notifier's pure batch decisions: in-batch duplicates, bounded attempts of
 * every kind (relay, ledger refusal, database outage), the ambiguous end of data, its log line, and
 * the [smtp] max_rate token bucket, the freshness of a 'sending' record written ahead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "notify/batch.h"
#include "smtp/smtp.h"

/* Issue 17: a 'sending' record written ahead of its e-mail's 354 releases its end of data only
 * while at least the lease (4 x [smtp] timeout) less one timeout is left: submitted at most one
 * timeout before; older, or on a clock that went back, it is written again. */
static void premark_freshness(void **state)
{
	(void)state;
	assert_int_equal(tw_notify_premark_fresh(1000, 1000, 30000), 1);
	assert_int_equal(tw_notify_premark_fresh(1000, 31000, 30000), 1);  /* exactly one timeout */
	assert_int_equal(tw_notify_premark_fresh(1000, 31001, 30000), 0);  /* past it: stale */
	assert_int_equal(tw_notify_premark_fresh(1000, 999, 30000), 0);    /* clock went back */
	assert_int_equal(tw_notify_premark_fresh(1000, 1000, 0), 0);       /* no time-out: never */
	assert_int_equal(tw_notify_premark_fresh(0, 500, 1000), 1);
	assert_int_equal(tw_notify_premark_fresh(0, 1001, 1000), 0);
}

/* Issue 11, item 2: the same id twice in one batch is sent once. */
static void duplicates_in_a_batch(void **state)
{
	const char *ids[] = {"a", "b", "a", "c", "b", "a"};
	int dup[6];

	(void)state;
	assert_int_equal(tw_notify_dedupe(ids, 6, dup), 3);
	assert_int_equal(dup[0], -1);
	assert_int_equal(dup[1], -1);
	assert_int_equal(dup[2], 0);
	assert_int_equal(dup[3], -1);
	assert_int_equal(dup[4], 1);
	assert_int_equal(dup[5], 0);
	assert_int_equal(tw_notify_dedupe(ids, 0, dup), 0);
}

/* Issue 11, item 3: a message the ledger refuses is given up after bounded tries. */
static void ledger_refusal_is_bounded(void **state)
{
	struct tw_notify_tries t = {0};
	struct tw_notify_verdict v;
	int i;

	(void)state;
	for (i = 1; i < TW_NOTIFY_UNRECORDED_MAX; i++) {
		tw_notify_after(TW_SMTP_TRANSIENT, 1, TW_NOTIFY_REC_REFUSED, 0, "email: local part has '..'",
				&t, &v);
		assert_int_equal(v.next, TW_NOTIFY_RETRY);
		assert_true(v.retry_ms >= TW_NOTIFY_BACKOFF_FIRST_MS);
	}
	tw_notify_after(TW_SMTP_TRANSIENT, 1, TW_NOTIFY_REC_REFUSED, 0, "email: local part has '..'",
			&t, &v);
	assert_int_equal(v.next, TW_NOTIFY_DEAD);
	assert_non_null(strstr(v.reason, "ledger refused"));
	assert_non_null(strstr(v.reason, "'..'"));
	assert_int_equal(t.attempts, 0); /* not the relay's fault */
}

/* Issue 11, item 4: a database outage counts nothing against the e-mail and holds sessions. */
static void database_outage_waits(void **state)
{
	struct tw_notify_tries t = {0};
	struct tw_notify_verdict v;

	(void)state;
	for (int i = 0; i < 100; i++) {
		tw_notify_after(TW_SMTP_TRANSIENT, 1, TW_NOTIFY_REC_OUTAGE, 1, "db down", &t, &v);
		assert_int_equal(v.next, TW_NOTIFY_RETRY);
		assert_true(v.db_wait);
		assert_true(v.forget); /* a 'sending' row in flight must go before the retry */
	}
	assert_int_equal(t.attempts, 0);
	assert_int_equal(t.refused, 0);
	assert_int_equal(tw_notify_backoff_ms(1, 1000, 30000), 1000);
	assert_int_equal(tw_notify_backoff_ms(3, 1000, 30000), 4000);
	assert_int_equal(tw_notify_backoff_ms(40, 1000, 30000), 30000);
}

/* Issue 11, item 5: no answer after the end of data left is a crash's window: keep the row. */
static void ambiguous_keeps_the_row(void **state)
{
	struct tw_notify_tries t = {0};
	struct tw_notify_verdict v;
	char line[200];

	(void)state;
	tw_notify_after(TW_SMTP_AMBIGUOUS, 1, TW_NOTIFY_REC_OK, 1, "no answer", &t, &v);
	assert_int_equal(v.next, TW_NOTIFY_RETRY);
	assert_true(v.ambiguous);
	assert_false(v.forget);
	assert_int_equal(t.ambiguous, 1);
	assert_int_equal(t.attempts, 1);
	assert_string_equal(tw_notify_ambiguous_line(line, sizeof line, "0123abc", "a@b.example",
						     "end-of-data-no-answer"),
			    "ambiguous delivery id=0123abc to=a@b.example window=end-of-data-no-answer: "
			    "sent again "
			    "with the same Message-ID");
	for (int i = 1; i < TW_NOTIFY_ATTEMPTS_MAX; i++)
		tw_notify_after(TW_SMTP_AMBIGUOUS, 1, TW_NOTIFY_REC_OK, 1, "no answer", &t, &v);
	assert_int_equal(v.next, TW_NOTIFY_DEAD);
	assert_false(v.forget);
}

static void relay_outcomes(void **state)
{
	struct tw_notify_tries t = {0};
	struct tw_notify_verdict v;

	(void)state;
	tw_notify_after(TW_SMTP_SENT, 1, TW_NOTIFY_REC_OK, 1, "250 ok", &t, &v);
	assert_int_equal(v.next, TW_NOTIFY_RECORD);
	tw_notify_after(TW_SMTP_PERMANENT, 1, TW_NOTIFY_REC_OK, 1, "550 no such user", &t, &v);
	assert_int_equal(v.next, TW_NOTIFY_DEAD);
	assert_true(v.forget);
	assert_string_equal(v.reason, "permanent: 550 no such user");
	/* not attempted (the session failed before its turn): never counted */
	for (int i = 0; i < 50; i++) {
		tw_notify_after(TW_SMTP_TRANSIENT, 0, TW_NOTIFY_REC_OK, 0, "refused", &t, &v);
		assert_int_equal(v.next, TW_NOTIFY_RETRY);
	}
	assert_int_equal(t.attempts, 0);
	/* Issue 11, item 9: a 4xx is tried again once in the batch, then deferred into the
	 * retry schedule (never a dead letter after a few seconds, never holding the batch). */
	for (int i = 1; i < TW_NOTIFY_DEFER_AFTER; i++) {
		tw_notify_after(TW_SMTP_TRANSIENT, 1, TW_NOTIFY_REC_OK, 0, "451 later", &t, &v);
		assert_int_equal(v.next, TW_NOTIFY_RETRY);
	}
	tw_notify_after(TW_SMTP_TRANSIENT, 1, TW_NOTIFY_REC_OK, 1, "451 later", &t, &v);
	assert_int_equal(v.next, TW_NOTIFY_DEFER);
	assert_true(v.forget); /* its 'sending' row goes first: the server did not take it */
	assert_int_equal(t.attempts, TW_NOTIFY_DEFER_AFTER);
	assert_non_null(strstr(v.reason, "451 later"));
}

/* Issue 11, item 9: the retry schedule on a fake wall clock: waits of 1, 2, 4 ... minutes,
 * capped; never past first + max_age (a last try exactly then); dead once max_age passed. */
static void retry_schedule(void **state)
{
	const struct tw_notify_sched_cfg c = {.interval_ms = 60000, .max_interval_ms = 3600000,
					      .max_age_ms = 86400000};
	const int64_t first = 1767225600000; /* 2026-01-01T00:00:00Z */
	int64_t now = first;
	struct tw_notify_sched s;
	static const int64_t want[] = {60000, 120000, 240000, 480000, 960000, 1920000, 3600000,
				       3600000};
	int attempts = TW_NOTIFY_DEFER_AFTER;

	(void)state;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++, attempts++) {
		tw_notify_schedule(&c, attempts, first, now, &s);
		assert_false(s.dead);
		assert_int_equal(s.delay_ms, want[i]);
		now += s.delay_ms;
	}
	/* on, at the cap, until the last wait ends exactly at max_age */
	for (;;) {
		tw_notify_schedule(&c, attempts++, first, now, &s);
		if (s.dead)
			break;
		assert_true(s.delay_ms > 0 && s.delay_ms <= 3600000);
		assert_true(now + s.delay_ms <= first + c.max_age_ms);
		now += s.delay_ms;
	}
	assert_int_equal(now, first + c.max_age_ms);
	/* before the first deferral's count (attempts 1): the first interval */
	tw_notify_schedule(&c, 1, first, first, &s);
	assert_int_equal(s.delay_ms, 60000);
	/* an age past max_age at once: dead; a clock step back counts as age 0 */
	tw_notify_schedule(&c, 2, first, first + c.max_age_ms + 1, &s);
	assert_true(s.dead);
	tw_notify_schedule(&c, 2, first, first - 5000, &s);
	assert_false(s.dead);
	assert_int_equal(s.delay_ms, 60000);
	/* a max_age shorter than the first interval: the one retry comes at max_age */
	{
		const struct tw_notify_sched_cfg shortc = {.interval_ms = 60000,
							   .max_interval_ms = 3600000,
							   .max_age_ms = 10000};

		tw_notify_schedule(&shortc, 2, first, first + 4000, &s);
		assert_false(s.dead);
		assert_int_equal(s.delay_ms, 6000);
		tw_notify_schedule(&shortc, 3, first, first + 10000, &s);
		assert_true(s.dead);
	}
}

/* [smtp] max_rate (docs/smtp.md): a bucket of `rate` tokens a second holding at most the burst
 * (one second's tokens, 1 .. one batch), full at the start; one token per e-mail. */
static void rate_bucket_waits(void **state)
{
	struct tw_notify_bucket b;

	(void)state;
	assert_int_equal(tw_notify_bucket_burst(14, 10), 10);
	assert_int_equal(tw_notify_bucket_burst(2, 10), 2);
	assert_int_equal(tw_notify_bucket_burst(1, 10), 1);
	assert_int_equal(tw_notify_bucket_burst(0, 10), 1);
	tw_notify_bucket_init(&b, 2, 2, 1000);
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 2, 1000), 0); /* full: the burst at once */
	tw_notify_bucket_take(&b, 2, 1000);
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 1, 1000), 500); /* 2 a second */
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 2, 1000), 1000);
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 5, 1000), 1000); /* never more than the burst */
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 1, 1250), 250);
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 1, 1500), 0);
	tw_notify_bucket_take(&b, 1, 1500);
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 1, 1500), 500);
	/* a long idle time fills it to the burst, no more */
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 2, 10000000000LL), 0);
	tw_notify_bucket_take(&b, 2, 10000000000LL);
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 1, 10000000000LL), 500);
	/* a clock step back refills nothing */
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 1, 5000), 500);
	/* 0: unlimited */
	tw_notify_bucket_init(&b, 0, 1, 0);
	tw_notify_bucket_take(&b, 100, 0);
	assert_int_equal(tw_notify_bucket_wait_ms(&b, 100, 0), 0);
}

/* The bound the docs state: in any window of W seconds at most burst + rate * W e-mails,
 * for a sender that takes every token as soon as the bucket allows (1 ms steps, 60 s). */
static void rate_bucket_bound(void **state)
{
	static int64_t at[2000];
	const int64_t rates[] = {1, 3, 14};

	(void)state;
	for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
		struct tw_notify_bucket b;
		int64_t burst = tw_notify_bucket_burst(rates[r], 10);
		size_t n = 0;

		tw_notify_bucket_init(&b, rates[r], burst, 0);
		for (int64_t t = 0; t < 60000 && n < 2000; t++) {
			while (n < 2000 && tw_notify_bucket_wait_ms(&b, 1, t) == 0) {
				tw_notify_bucket_take(&b, 1, t);
				at[n++] = t;
			}
		}
		assert_true(n >= (size_t)(rates[r] * 59)); /* it does send at the rate */
		for (size_t i = 0; i < n; i++) {
			for (size_t j = i; j < n && at[j] - at[i] < 3000; j++) {
				/* e-mails i..j lie in a window of (at[j] - at[i]) ms */
				assert_true((int64_t)(j - i + 1) * 1000 <=
					    burst * 1000 + rates[r] * (at[j] - at[i]));
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duplicates_in_a_batch),
		cmocka_unit_test(ledger_refusal_is_bounded),
		cmocka_unit_test(database_outage_waits),
		cmocka_unit_test(ambiguous_keeps_the_row),
		cmocka_unit_test(relay_outcomes),
		cmocka_unit_test(retry_schedule),
		cmocka_unit_test(rate_bucket_waits),
		cmocka_unit_test(rate_bucket_bound),
		cmocka_unit_test(premark_freshness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
