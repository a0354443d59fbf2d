/* SPDX-License-Identifier: MIT */
/* test_metrics.c - the histogram accumulator of core/metrics.h (struct tw_hist) and its
 * exposition: buckets are cumulative, "le" is an inclusive upper bound, +Inf counts every
 * observation, _sum and _count follow (the Prometheus text format 0.0.4); bad bounds are
 * refused; a page too small stops at a whole line. Expected pages are written by hand from
 * the format's rules. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "metrics.h"

static void buckets_cumulative_inclusive(void **st)
{
	static const double b[] = {0.5, 2, 10};
	struct tw_hist h;
	struct tw_metrics m;
	char buf[1024];

	(void)st;
	assert_int_equal(tw_hist_init(&h, b, 3), 0);
	/* on a bound counts in that bucket; below the first in the first; above the last only
	 * in +Inf; NaN nowhere */
	tw_hist_observe(&h, 0.25);
	tw_hist_observe(&h, 0.5);
	tw_hist_observe(&h, -1);
	tw_hist_observe(&h, 2);
	tw_hist_observe(&h, 10);
	tw_hist_observe(&h, 12);
	tw_hist_observe(&h, NAN);
	assert_int_equal(h.count, 6);
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_family(&m, "tw_pass_seconds", "histogram", "passes");
	tw_metrics_hist(&m, "tw_pass_seconds",
			(const struct tw_metric_label[]){{"kind", "full"}, {NULL, NULL}}, &h);
	assert_int_equal(m.cut, 0);
	assert_int_equal(m.errors, 0);
	assert_string_equal(buf, "# HELP tw_pass_seconds passes\n"
				 "# TYPE tw_pass_seconds histogram\n"
				 "tw_pass_seconds_bucket{kind=\"full\",le=\"0.5\"} 3\n"
				 "tw_pass_seconds_bucket{kind=\"full\",le=\"2\"} 4\n"
				 "tw_pass_seconds_bucket{kind=\"full\",le=\"10\"} 5\n"
				 "tw_pass_seconds_bucket{kind=\"full\",le=\"+Inf\"} 6\n"
				 "tw_pass_seconds_sum{kind=\"full\"} 23.75\n"
				 "tw_pass_seconds_count{kind=\"full\"} 6\n");
}

static void floats_shortest_exact(void **st)
{
	static const double b[] = {0.05, 0.1, 1e-3, 1.0 / 3};
	struct tw_hist h;
	struct tw_metrics m;
	char buf[512];

	(void)st;
	assert_int_equal(tw_hist_init(&h, b, 3), -1); /* 1e-3 < 0.1: not ascending */
	tw_hist_observe(&h, 0.1);
	tw_hist_observe(&h, 0.2); /* the sum 0.1 + 0.2 is not 0.3 in binary: 17 digits needed */
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_hist(&m, "tw_h", NULL, &h);
	assert_int_equal(m.errors, 0);
	assert_string_equal(buf, "tw_h_bucket{le=\"+Inf\"} 2\ntw_h_sum 0.30000000000000004\n"
				 "tw_h_count 2\n");
	assert_int_equal(tw_hist_init(&h, b, 2), 0);
	tw_hist_observe(&h, 0.05);
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_hist(&m, "tw_h", NULL, &h);
	assert_string_equal(buf, "tw_h_bucket{le=\"0.05\"} 1\ntw_h_bucket{le=\"0.1\"} 1\n"
				 "tw_h_bucket{le=\"+Inf\"} 1\ntw_h_sum 0.05\ntw_h_count 1\n");
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_float(&m, "tw_third", NULL, b[3]);
	assert_string_equal(buf, "tw_third 0.3333333333333333\n");
}

static void empty_histogram(void **st)
{
	static const double b[] = {1};
	struct tw_hist h;
	struct tw_metrics m;
	char buf[256];

	(void)st;
	assert_int_equal(tw_hist_init(&h, b, 1), 0);
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_hist(&m, "tw_h", NULL, &h);
	assert_string_equal(buf, "tw_h_bucket{le=\"1\"} 0\ntw_h_bucket{le=\"+Inf\"} 0\n"
				 "tw_h_sum 0\ntw_h_count 0\n");
}

static void bad_bounds_refused(void **st)
{
	static const double desc[] = {1, 0.5}, same[] = {1, 1}, nan_[] = {0.5, NAN},
			    inf_[] = {1, INFINITY};
	double ok[TW_HIST_BUCKETS];
	struct tw_hist h;
	struct tw_metrics m;
	char buf[256];

	(void)st;
	assert_int_equal(tw_hist_init(&h, desc, 2), -1);
	assert_int_equal(tw_hist_init(&h, same, 2), -1);
	assert_int_equal(tw_hist_init(&h, nan_, 2), -1);
	assert_int_equal(tw_hist_init(&h, inf_, 2), -1); /* +Inf is written by the writer */
	assert_int_equal(tw_hist_init(&h, NULL, 0), -1);
	for (int i = 0; i < TW_HIST_BUCKETS; i++)
		ok[i] = i + 1;
	assert_int_equal(tw_hist_init(&h, ok, TW_HIST_BUCKETS), 0);
	assert_int_equal(tw_hist_init(&h, ok, TW_HIST_BUCKETS + 1), -1);
	/* refused: no buckets, but count and sum still kept and written */
	tw_hist_observe(&h, 3);
	tw_hist_observe(&h, 4.5);
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_hist(&m, "tw_h", NULL, &h);
	assert_string_equal(buf, "tw_h_bucket{le=\"+Inf\"} 2\ntw_h_sum 7.5\ntw_h_count 2\n");
}

static void too_small_stops_at_a_whole_line(void **st)
{
	static const double b[] = {1, 2};
	struct tw_hist h;
	struct tw_metrics m;
	char buf[64];

	(void)st;
	tw_hist_init(&h, b, 2);
	tw_hist_observe(&h, 1.5);
	tw_metrics_init(&m, buf, sizeof buf);
	tw_metrics_hist(&m, "tw_h", NULL, &h);
	assert_int_equal(m.cut, 1);
	/* 22 + 22 bytes fit in 63; the +Inf line (25) does not, nor anything after it */
	assert_string_equal(buf, "tw_h_bucket{le=\"1\"} 0\ntw_h_bucket{le=\"2\"} 1\n");
	assert_int_equal(m.len, strlen(buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buckets_cumulative_inclusive),
		cmocka_unit_test(floats_shortest_exact),
		cmocka_unit_test(empty_histogram),
		cmocka_unit_test(bad_bounds_refused),
		cmocka_unit_test(too_small_stops_at_a_whole_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
