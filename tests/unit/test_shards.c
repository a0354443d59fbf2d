/* SPDX-License-Identifier: MIT */
/* test_shards.c - the partition -> users.shard slot ranges (agent/cqrs/shards.c) and the
 * sharded pages' bounds, against the rule of cqrs/shards.h written out here again: slot s
 * belongs to partition floor(s * P / 4096). For every P from 1 to 1000 the ranges are
 * contiguous, non-empty, in order and cover every slot exactly once, so raising or lowering
 * P moves users between partitions but never loses or doubles one; the wake-up header value
 * is read strictly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cqrs/shards.h"
#include "kafka/wakeup.h"

static int oracle(int s, int parts)
{
	return (int)((long)s * parts / 4096);
}

static void every_p_covers_every_slot_once(void **state)
{
	static unsigned char seen[4096];

	(void)state;
	assert_int_equal(TW_SHARD_SLOTS, 4096);
	for (int parts = 1; parts <= 1000; parts++) {
		int next = 0;

		memset(seen, 0, sizeof seen);
		for (int p = 0; p < parts; p++) {
			struct tw_shard_range r;

			assert_int_equal(tw_shard_range(p, parts, &r), 0);
			assert_int_equal(r.lo, next); /* contiguous, in order */
			assert_true(r.hi > r.lo);     /* never empty */
			for (int s = r.lo; s < r.hi; s++) {
				assert_int_equal(oracle(s, parts), p);
				assert_int_equal(tw_shard_partition(s, parts), p);
				seen[s]++;
			}
			next = r.hi;
		}
		assert_int_equal(next, 4096);
		for (int s = 0; s < 4096; s++)
			assert_int_equal(seen[s], 1);
	}
}

/* P = 3 -> 6 (the admin grew the topics): each slot is in exactly one range under either P,
 * and a user moves only between the partitions the rule says. */
static void p_change_keeps_each_user_once(void **state)
{
	(void)state;
	for (int s = 0; s < 4096; s++) {
		struct tw_shard_range a, b;
		int p3 = tw_shard_partition(s, 3), p6 = tw_shard_partition(s, 6);

		assert_int_equal(tw_shard_range(p3, 3, &a), 0);
		assert_int_equal(tw_shard_range(p6, 6, &b), 0);
		assert_true(s >= a.lo && s < a.hi && s >= b.lo && s < b.hi);
		assert_int_equal(p6 / 2, p3); /* doubling P splits each range in two */
	}
}

static void out_of_range(void **state)
{
	struct tw_shard_range r = {7, 9};

	(void)state;
	assert_int_equal(tw_shard_range(0, 0, &r), -1);
	assert_int_equal(r.lo, 0);
	assert_int_equal(r.hi, 0);
	assert_int_equal(tw_shard_range(3, 3, &r), -1);
	assert_int_equal(tw_shard_range(-1, 3, &r), -1);
	assert_int_equal(tw_shard_range(0, 4097, &r), -1);
	assert_int_equal(tw_shard_range(4095, 4096, &r), 0);
	assert_int_equal(r.lo, 4095);
	assert_int_equal(r.hi, 4096);
	assert_int_equal(tw_shard_partition(4096, 3), -1);
	assert_int_equal(tw_shard_partition(-1, 3), -1);
	assert_int_equal(tw_shard_partition(0, 0), -1);
}

static void merge(void **state)
{
	struct tw_shard_range r[] = {{2048, 2731}, {0, 683}, {683, 1366}, {3000, 3000},
				     {600, 700}, {3413, 4096}};

	(void)state;
	assert_int_equal(tw_shard_merge(r, 6), 3);
	assert_int_equal(r[0].lo, 0);
	assert_int_equal(r[0].hi, 1366);
	assert_int_equal(r[1].lo, 2048);
	assert_int_equal(r[1].hi, 2731);
	assert_int_equal(r[2].lo, 3413);
	assert_int_equal(r[2].hi, 4096);
	assert_int_equal(tw_shard_merge(r, 0), 0);
	{ /* every partition of 6 held: one range, [0, 4096), the unsharded pass */
		struct tw_shard_range all[6];

		for (int p = 5; p >= 0; p--)
			assert_int_equal(tw_shard_range(p, 6, &all[5 - p]), 0);
		assert_int_equal(tw_shard_merge(all, 6), 1);
		assert_int_equal(all[0].lo, 0);
		assert_int_equal(all[0].hi, 4096);
	}
}

static void header_value(void **state)
{
	(void)state;
	assert_int_equal(tw_wakeup_parse_parts("6", 1), 6);
	assert_int_equal(tw_wakeup_parse_parts("1000", 4), 1000);
	assert_int_equal(tw_wakeup_parse_parts("1", 1), 1);
	assert_int_equal(tw_wakeup_parse_parts("1001", 4), -1);
	assert_int_equal(tw_wakeup_parse_parts("0", 1), -1);
	assert_int_equal(tw_wakeup_parse_parts("06", 2), -1);
	assert_int_equal(tw_wakeup_parse_parts("-6", 2), -1);
	assert_int_equal(tw_wakeup_parse_parts(" 6", 2), -1);
	assert_int_equal(tw_wakeup_parse_parts("6\0", 2), -1);
	assert_int_equal(tw_wakeup_parse_parts("", 0), -1);
	assert_int_equal(tw_wakeup_parse_parts(NULL, 1), -1);
	assert_int_equal(tw_wakeup_parse_parts("10000", 5), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_p_covers_every_slot_once),
		cmocka_unit_test(p_change_keeps_each_user_once),
		cmocka_unit_test(out_of_range),
		cmocka_unit_test(merge),
		cmocka_unit_test(header_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
