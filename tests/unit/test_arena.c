/* SPDX-License-Identifier: MIT */
/* test_arena.c - the arena: budget, alignment, exhaustion naming the [limits] key, sealing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdalign.h>
#include <string.h>

#include "arena.h"
#include "hal.h"
#include "loop.h"

static void carves_aligned_zeroed_and_counted(void **state)
{
	struct tw_arena a;
	unsigned char *p, *q;

	(void)state;
	assert_int_equal(tw_arena_init(&a, 4096), TW_OK);
	p = tw_arena_carve(&a, 3, "small", "log_lines");
	q = tw_arena_carve(&a, 100, "big", "max_fds");
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)q % alignof(max_align_t), 0);
	assert_true(q >= p + 3);
	for (int i = 0; i < 100; i++)
		assert_int_equal(q[i], 0);
	assert_int_equal(a.ncarves, 2);
	assert_true(a.used >= 103 && a.used <= 4096);
	tw_arena_free(&a);
	tw_arena_free(&a); /* twice is safe */
}

static void exhaustion_names_the_key(void **state)
{
	struct tw_arena a;

	(void)state;
	assert_int_equal(tw_arena_init(&a, 1024), TW_OK);
	assert_non_null(tw_arena_carve(&a, 1000, "log ring", "log_lines"));
	assert_null(tw_arena_carve(&a, 100, "rpc slots", "rpc_slots"));
	assert_non_null(strstr(a.err, "rpc slots"));
	assert_non_null(strstr(a.err, "[limits] rpc_slots"));
	assert_non_null(strstr(a.err, "arena_kb"));
	tw_arena_free(&a);
}

static void sealed_arena_refuses(void **state)
{
	struct tw_arena a;

	(void)state;
	assert_int_equal(tw_arena_init(&a, 1024), TW_OK);
	tw_arena_seal(&a);
	assert_null(tw_arena_carve(&a, 8, "late", NULL));
	assert_non_null(strstr(a.err, "after start-up"));
	tw_arena_free(&a);
}

static void forced_failure_hits_loop_init(void **state)
{
	struct tw_arena a;
	struct tw_loop l;

	(void)state;
	assert_int_equal(tw_arena_init(&a, 65536), TW_OK);
	a.fail_after = 3; /* the loop's third table */
	assert_int_equal(tw_loop_init(&l, &a, 16, 16), TW_ERR_NOMEM);
	assert_non_null(strstr(a.err, "[limits] max_fds"));
	tw_arena_free(&a);
}

static void report_lists_every_carve(void **state)
{
	struct tw_arena a;
	char buf[1024];
	size_t n;

	(void)state;
	assert_int_equal(tw_arena_init(&a, 8192), TW_OK);
	tw_arena_carve(&a, 2048, "log ring", "log_lines");
	tw_arena_carve(&a, 512, "console line", "console_line");
	n = tw_arena_report(&a, buf, sizeof buf);
	assert_true(n > 0 && n < sizeof buf);
	assert_non_null(strstr(buf, "memory budget: 8 KiB arena"));
	assert_non_null(strstr(buf, "log ring"));
	assert_non_null(strstr(buf, "2048 bytes"));
	assert_non_null(strstr(buf, "console_line"));
	/* A short buffer is cut, never overrun. */
	n = tw_arena_report(&a, buf, 20);
	assert_true(n < 20);
	assert_int_equal(strlen(buf), n);
	tw_arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(carves_aligned_zeroed_and_counted),
		cmocka_unit_test(exhaustion_names_the_key),
		cmocka_unit_test(sealed_arena_refuses),
		cmocka_unit_test(forced_failure_hits_loop_init),
		cmocka_unit_test(report_lists_every_carve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
