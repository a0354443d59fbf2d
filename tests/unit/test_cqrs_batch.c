/* SPDX-License-Identifier: MIT */
/* test_cqrs_batch.c - the batched AdvanceAlert's array encoding and size bound, and that the
 * paged and batched alert calls validate before they reach the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cqrs/cqrs.h"

/* Elements are quoted and comma-separated; '"' and '\' are escaped; the literal stays closed
 * enough to append to, and a full buffer leaves it untouched. */
static void array_literal(void **state)
{
	char buf[64] = "{";
	size_t used = 1;

	(void)state;
	assert_int_equal(tw_cqrs_array_add(buf, sizeof buf, &used, "a@b.c"), 0);
	assert_string_equal(buf, "{\"a@b.c\"");
	assert_int_equal(tw_cqrs_array_add(buf, sizeof buf, &used, "q\"b\\s"), 0);
	assert_string_equal(buf, "{\"a@b.c\",\"q\\\"b\\\\s\"");
	assert_int_equal(tw_cqrs_array_add(buf, sizeof buf, &used, ""), 0);
	assert_string_equal(buf, "{\"a@b.c\",\"q\\\"b\\\\s\",\"\"");
	assert_int_equal(used, strlen(buf));

	{
		char small[13] = "{";
		size_t u = 1;

		assert_int_equal(tw_cqrs_array_add(small, sizeof small, &u, "abcd"), 0);
		/* {"abcd" is 7 bytes; ,"xy" and the '}' and NUL still to come make 14 > 13 */
		assert_int_equal(tw_cqrs_array_add(small, sizeof small, &u, "xy"), TW_ERR_DB_PARAMS);
		assert_string_equal(small, "{\"abcd\"");
		assert_int_equal(u, 7);
		assert_int_equal(tw_cqrs_array_add(small, sizeof small, &u, "x"), 0);
		assert_string_equal(small, "{\"abcd\",\"x\"");
	}
}

/* The size bound covers the worst item (every character escaped, a 20-digit integer). */
static void item_size(void **state)
{
	char email[TW_CQRS_EMAIL_MAX + 1], ticker[TW_CQRS_TICKER_MAX + 1];
	struct tw_cqrs_advance it = {.email = "a@b.c", .ticker = "AAPL",
				     .condition = TW_COND_HIGHER, .int_part = 191};

	(void)state;
	/* "a@b.c", + "AAPL", + "higher", + 3 x "<20 digits>", (int part, episode, generation) */
	assert_int_equal(tw_cqrs_advance_size(&it), 8 + 7 + 9 + 3 * 23);
	memset(email, '"', sizeof email - 1);
	email[sizeof email - 1] = '\0';
	memset(ticker, '\\', sizeof ticker - 1);
	ticker[sizeof ticker - 1] = '\0';
	it.email = email;
	it.ticker = ticker;
	it.int_part = INT64_MIN;
	assert_int_equal(tw_cqrs_advance_size(&it), TW_CQRS_ADVANCE_ITEM_MAX);
}

static int never_called;

static void done(void *arg, const struct tw_cqrs_result *r)
{
	(void)arg;
	(void)r;
	never_called++;
}

/* Invalid items, empty or oversized batches, a too small buffer and bad page bounds fail at
 * once and name the field (the service pointer is a dummy: touching the database would crash). */
static void calls_validate_before_the_database(void **state)
{
	static struct tw_cqrs_op op;
	static char buf[4096];
	struct tw_cqrs *q = (struct tw_cqrs *)(uintptr_t)0x1; /* never dereferenced */
	const struct tw_cqrs_result *r = tw_cqrs_op_result(&op);
	struct tw_cqrs_advance ok = {"a@b.c", "AAPL", TW_COND_LOWER, 12, 0, 0};
	struct tw_cqrs_advance items[3];
	char after[TW_CQRS_EMAIL_MAX + 2];

	(void)state;
	memset(after, 'a', sizeof after - 1);
	after[sizeof after - 1] = '\0';
#define EXPECT(call, fld)                                                                      \
	do {                                                                                   \
		assert_int_equal((call), TW_ERR_CQRS_INVALID);                                 \
		assert_int_equal(r->rc, TW_ERR_CQRS_INVALID);                                  \
		assert_string_equal(r->field, fld);                                            \
		assert_true(strlen(r->msg) > 5);                                               \
	} while (0)
	EXPECT(tw_cqrs_advance_alerts(q, &op, items, 0, buf, sizeof buf, done, NULL), "items");
	EXPECT(tw_cqrs_advance_alerts(q, &op, NULL, 1, buf, sizeof buf, done, NULL), "items");
	EXPECT(tw_cqrs_advance_alerts(q, &op, items, TW_CQRS_PAGE_MAX + 1, buf, sizeof buf, done,
				      NULL),
	       "items");
	items[0] = ok;
	items[1] = ok;
	items[1].email = "not an e-mail";
	EXPECT(tw_cqrs_advance_alerts(q, &op, items, 2, buf, sizeof buf, done, NULL), "email");
	assert_non_null(strstr(r->msg, "item 1"));
	items[1] = ok;
	items[1].ticker = "a b";
	EXPECT(tw_cqrs_advance_alerts(q, &op, items, 2, buf, sizeof buf, done, NULL), "ticker");
	items[1] = ok;
	items[2] = ok;
	items[2].condition = TW_COND_NONE;
	EXPECT(tw_cqrs_advance_alerts(q, &op, items, 3, buf, sizeof buf, done, NULL), "condition");
	assert_non_null(strstr(r->msg, "item 2"));
	items[2] = ok;
	EXPECT(tw_cqrs_advance_alerts(q, &op, items, 3, buf, TW_CQRS_ADVANCE_FIXED + 40, done, NULL),
	       "items");
	EXPECT(tw_cqrs_advance_alerts(q, &op, items, 3, NULL, sizeof buf, done, NULL), "items");
	EXPECT(tw_cqrs_users_crossing_page(q, &op, NULL, "", 0, NULL, done, NULL), "limit");
	EXPECT(tw_cqrs_users_crossing_page(q, &op, NULL, "", TW_CQRS_PAGE_MAX + 1, NULL, done, NULL),
	       "limit");
	EXPECT(tw_cqrs_users_crossing_page(q, &op, NULL, after, 10, NULL, done, NULL), "after");
	EXPECT(tw_cqrs_users_crossing_page(q, &op, "a b", "", 10, NULL, done, NULL), "ticker");
	EXPECT(tw_cqrs_rearm_page(q, &op, NULL, "", 0, done, NULL), "limit");
	EXPECT(tw_cqrs_rearm_page(q, &op, NULL, after, 10, done, NULL), "after");
	EXPECT(tw_cqrs_rearm_page(q, &op, "", "", 10, done, NULL), "ticker");
#undef EXPECT
	assert_int_equal(never_called, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(array_literal),
		cmocka_unit_test(item_size),
		cmocka_unit_test(calls_validate_before_the_database),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
