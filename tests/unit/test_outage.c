/* SPDX-License-Identifier: MIT */
/* test_outage.c - a dependency outage logs one warn line when it starts and one when it ends,
 * whatever the log level below warn, and `status` lists the current ones (fake clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fake_hal.h"
#include "log.h"
#include "outage.h"

static char ring[16 * 200];

static int setup(void **state)
{
	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	tw_log_ring_init(ring, 16, 200);
	tw_log_threshold = TW_LOG_WARN; /* as an operator who only wants warnings */
	tw_outage_reset();
	return 0;
}

static size_t count(const char *needle)
{
	size_t n = 0;

	for (size_t i = 0; i < tw_log_ring_count(); i++)
		n += strstr(tw_log_ring_line(i), needle) != NULL;
	return n;
}

static void begin_once_end_once(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(tw_outage_begin("database (write)", "connection refused"), 1);
	for (int i = 0; i < 50; i++) {
		fake_clock_advance_ms(250);
		assert_int_equal(tw_outage_begin("database (write)", "connection refused"), 0);
	}
	assert_int_equal(count("outage: database (write) unreachable: connection refused"), 1);
	assert_non_null(strstr(tw_log_ring_line(0), " warn  [outage] "));
	assert_true(tw_outage_active("database (write)"));
	tw_outage_report(buf, sizeof buf);
	assert_string_equal(buf, "outages: database (write) for 12 s (connection refused)\n");
	assert_int_equal(tw_outage_end("database (write)"), 1);
	assert_int_equal(tw_outage_end("database (write)"), 0);
	assert_int_equal(count("outage: database (write) reachable again after 12 s"), 1);
	assert_int_equal(tw_log_ring_count(), 2);
	tw_outage_report(buf, sizeof buf);
	assert_string_equal(buf, "outages: none\n");
}

static void several_outages_listed(void **state)
{
	char buf[256];

	(void)state;
	tw_outage_begin("kafka (collector)", "all brokers down");
	fake_clock_advance_ms(3000);
	tw_outage_begin("smtp relay", "connect to 10.0.0.1:465 failed: refused");
	tw_outage_report(buf, sizeof buf);
	assert_string_equal(buf, "outages: kafka (collector) for 3 s (all brokers down); smtp relay "
				 "for 0 s (connect to 10.0.0.1:465 failed: refused)\n");
}

static void report_never_cut_silently(void **state)
{
	char buf[48];
	size_t n;

	(void)state;
	tw_outage_begin("kafka (collector)", "all brokers down");
	tw_outage_begin("smtp relay", "refused");
	n = tw_outage_report(buf, sizeof buf);
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "...\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(begin_once_end_once, setup),
		cmocka_unit_test_setup(several_outages_listed, setup),
		cmocka_unit_test_setup(report_never_cut_silently, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
