/* SPDX-License-Identifier: MIT */
/* test_ring.c - ring buffer: empty, full, wrap-around, find, zero-copy reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "hal.h"
#include "ring.h"

static unsigned char store[8];

static void empty_ring(void **state)
{
	struct tw_ring r;
	char out[4];
	const unsigned char *p;

	(void)state;
	tw_ring_init(&r, store, sizeof store);
	assert_int_equal(tw_ring_len(&r), 0);
	assert_int_equal(tw_ring_space(&r), 8);
	assert_int_equal(tw_ring_pop(&r, out, sizeof out), 0);
	assert_int_equal(tw_ring_peek(&r, out, sizeof out), 0);
	assert_int_equal(tw_ring_readable(&r, &p), 0);
	assert_int_equal(tw_ring_find(&r, 'x'), -1);
}

static void full_ring_refuses_whole_push(void **state)
{
	struct tw_ring r;
	char out[9] = {0};

	(void)state;
	tw_ring_init(&r, store, sizeof store);
	assert_int_equal(tw_ring_push(&r, "abcdef", 6), TW_OK);
	assert_int_equal(tw_ring_push(&r, "xyz", 3), TW_ERR_NOMEM); /* all or nothing */
	assert_int_equal(tw_ring_len(&r), 6);
	assert_int_equal(tw_ring_push(&r, "gh", 2), TW_OK);
	assert_int_equal(tw_ring_space(&r), 0);
	assert_int_equal(tw_ring_push(&r, "i", 1), TW_ERR_NOMEM);
	assert_int_equal(tw_ring_pop(&r, out, 8), 8);
	assert_string_equal(out, "abcdefgh");
}

static void wraps_around(void **state)
{
	struct tw_ring r;
	char out[9] = {0};
	const unsigned char *p;

	(void)state;
	tw_ring_init(&r, store, sizeof store);
	assert_int_equal(tw_ring_push(&r, "123456", 6), TW_OK);
	assert_int_equal(tw_ring_pop(&r, out, 5), 5);
	assert_int_equal(tw_ring_push(&r, "7890abc", 7), TW_OK); /* crosses the end */
	assert_int_equal(tw_ring_len(&r), 8);
	assert_int_equal(tw_ring_find(&r, 'a'), 5);
	/* The first contiguous run stops at the end of storage. */
	assert_int_equal(tw_ring_readable(&r, &p), 3);
	assert_memory_equal(p, "678", 3);
	memset(out, 0, sizeof out);
	assert_int_equal(tw_ring_peek(&r, out, 8), 8);
	assert_string_equal(out, "67890abc");
	assert_int_equal(tw_ring_pop(&r, NULL, 3), 3);
	memset(out, 0, sizeof out);
	assert_int_equal(tw_ring_pop(&r, out, 100), 5);
	assert_string_equal(out, "90abc");
	assert_int_equal(tw_ring_len(&r), 0);
}

static void many_cycles_keep_order(void **state)
{
	struct tw_ring r;
	unsigned char next_in = 0, next_out = 0, buf[5];

	(void)state;
	tw_ring_init(&r, store, sizeof store);
	for (int round = 0; round < 1000; round++) {
		size_t n = (size_t)(round % 5) + 1;

		for (size_t i = 0; i < n; i++)
			buf[i] = next_in++;
		if (tw_ring_push(&r, buf, n) != TW_OK) {
			next_in = (unsigned char)(next_in - n);
		}
		size_t got = tw_ring_pop(&r, buf, (size_t)(round % 3) + 1);

		for (size_t i = 0; i < got; i++)
			assert_int_equal(buf[i], next_out++);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_ring),
		cmocka_unit_test(full_ring_refuses_whole_push),
		cmocka_unit_test(wraps_around),
		cmocka_unit_test(many_cycles_keep_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
