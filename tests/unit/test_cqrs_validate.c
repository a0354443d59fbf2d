/* SPDX-License-Identifier: MIT */
/* test_cqrs_validate.c - every validation rule of the commands and queries, and that a call
 * failing validation names the field, says why, and never reaches the database. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cqrs/cqrs.h"

static char msg[TW_CQRS_MSG_MAX];

static void emails(void **state)
{
	static const char *const good[] = {
		"a@b",          "alice@example.com", "o'brien+tag@example.co.uk", "x.y.z@sub-1.example",
		"!#$%&'*+/=?^_`{|}~-@example.com", "UPPER@EXAMPLE.COM",
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{"", "missing"},
		{"no-at-sign.example.com", "no '@'"},
		{"@example.com", "empty local part"},
		{"alice@", "empty domain"},
		{".alice@example.com", "starts or ends with '.'"},
		{"alice.@example.com", "starts or ends with '.'"},
		{"al..ice@example.com", "'..'"},
		{"\"quoted\"@example.com", "dot-atom"},
		{"al ice@example.com", "dot-atom"},
		{"x'); DROP TABLE users;--@example.com", "dot-atom"},
		{"alice@exa mple.com", "domain has a character"},
		{"alice@exa_mple.com", "domain has a character"},
		{"alice@example..com", "empty label"},
		{"alice@-example.com", "starts or ends with '-'"},
		{"alice@example-.com", "starts or ends with '-'"},
		{"caf\xc3\xa9@example.com", "dot-atom"},
	};
	char big[400];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (tw_cqrs_check_email(good[i], msg, sizeof msg) != TW_OK)
			fail_msg("%s rejected: %s", good[i], msg);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(tw_cqrs_check_email(bad[i].in, msg, sizeof msg), TW_ERR_CQRS_INVALID);
		if (strstr(msg, bad[i].why) == NULL)
			fail_msg("%s: '%s' lacks '%s'", bad[i].in, msg, bad[i].why);
	}
	assert_int_equal(tw_cqrs_check_email(NULL, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	/* RFC 5321 limits: local part 64, label 63, domain 253, path 254 */
	memset(big, 'a', 64);
	snprintf(big + 64, sizeof big - 64, "@example.com");
	assert_int_equal(tw_cqrs_check_email(big, msg, sizeof msg), TW_OK);
	memset(big, 'a', 65);
	snprintf(big + 65, sizeof big - 65, "@example.com");
	assert_int_equal(tw_cqrs_check_email(big, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_non_null(strstr(msg, "64"));
	snprintf(big, sizeof big, "a@");
	memset(big + 2, 'b', 64);
	snprintf(big + 66, sizeof big - 66, ".com");
	assert_int_equal(tw_cqrs_check_email(big, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_non_null(strstr(msg, "63"));
	/* 254 in all is fine, 255 is not */
	snprintf(big, sizeof big, "a@");
	for (size_t n = 2; n < 254; n += 2)
		memcpy(big + n, n + 2 < 254 ? "b." : "bb", 2);
	big[253] = 'c';
	big[254] = '\0';
	assert_int_equal(strlen(big), 254);
	assert_int_equal(tw_cqrs_check_email(big, msg, sizeof msg), TW_OK); /* exactly 254 */
	memset(big, 'a', 60);
	big[60] = '@';
	for (size_t n = 61; n < 255; n++)
		big[n] = (n - 61) % 10 == 9 ? '.' : 'd';
	big[254] = 'e';
	big[255] = '\0';
	assert_int_equal(tw_cqrs_check_email(big, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_non_null(strstr(msg, "254"));
	big[254] = '\0';
	big[253] = 'e';
	assert_int_equal(tw_cqrs_check_email(big, msg, sizeof msg), TW_OK);
}

static void tickers(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{"AAPL", "AAPL"}, {"aapl", "AAPL"}, {"BRK-B", "BRK-B"}, {"^GSPC", "^GSPC"},
		{"ENI.MI", "ENI.MI"}, {"eurusd=x", "EURUSD=X"}, {"7203.T", "7203.T"}, {"A", "A"},
		{"ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO"},
	};
	static const char *const bad[] = {
		"", "ABCDEFGHIJKLMNOP", "AA PL", "AAPL'", "AAPL;", "A^B", "^", "^.X", ".AAPL",
		"AAPL.", "BRK-", "-X", "AA\xc3\x84", "AAPL\n",
	};
	char out[TW_CQRS_TICKER_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (tw_cqrs_check_ticker(good[i].in, out, msg, sizeof msg) != TW_OK)
			fail_msg("%s rejected: %s", good[i].in, msg);
		assert_string_equal(out, good[i].out);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (tw_cqrs_check_ticker(bad[i], out, msg, sizeof msg) != TW_ERR_CQRS_INVALID)
			fail_msg("ticker '%s' accepted", bad[i]);
		assert_true(strlen(msg) > 10);
	}
	assert_int_equal(tw_cqrs_check_ticker(NULL, out, msg, sizeof msg), TW_ERR_CQRS_INVALID);
}

static void thresholds(void **state)
{
	const char *field = NULL;

	(void)state;
	assert_int_equal(tw_cqrs_check_threshold("high", TW_CQRS_UNSET, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_threshold("high", 0.01, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_threshold("high", 1e9, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_threshold("high", 0, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_non_null(strstr(msg, "greater than 0"));
	assert_int_equal(tw_cqrs_check_threshold("high", -2, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_threshold("high", 1e9 + 1, msg, sizeof msg),
			 TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_threshold("high", NAN, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_non_null(strstr(msg, "finite"));
	assert_int_equal(tw_cqrs_check_threshold("high", INFINITY, msg, sizeof msg),
			 TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_threshold("high", -INFINITY, msg, sizeof msg),
			 TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_thresholds(200, 100, &field, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_thresholds(200, TW_CQRS_UNSET, &field, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_thresholds(TW_CQRS_UNSET, 5, &field, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_thresholds(TW_CQRS_UNSET, TW_CQRS_UNSET, &field, msg,
						  sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_thresholds(100, 100, &field, msg, sizeof msg),
			 TW_ERR_CQRS_INVALID);
	assert_string_equal(field, "high");
	assert_non_null(strstr(msg, "greater than low"));
	assert_int_equal(tw_cqrs_check_thresholds(100, 200, &field, msg, sizeof msg),
			 TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_thresholds(100, NAN, &field, msg, sizeof msg),
			 TW_ERR_CQRS_INVALID);
	assert_string_equal(field, "low");
	assert_int_equal(tw_cqrs_check_value(12.5, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_value(0, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_value(NAN, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_value(-1, msg, sizeof msg), TW_ERR_CQRS_INVALID);
}

static void request_ids_and_bounds(void **state)
{
	char id[80];

	(void)state;
	assert_int_equal(tw_cqrs_check_request_id("ctl-0123abcd", msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_request_id("a.b_c:d-e", msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_request_id("", msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_non_null(strstr(msg, "missing"));
	assert_int_equal(tw_cqrs_check_request_id(NULL, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_request_id("a b", msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_request_id("a'b", msg, sizeof msg), TW_ERR_CQRS_INVALID);
	memset(id, 'x', 64);
	id[64] = '\0';
	assert_int_equal(tw_cqrs_check_request_id(id, msg, sizeof msg), TW_OK);
	id[64] = 'x';
	id[65] = '\0';
	assert_int_equal(tw_cqrs_check_request_id(id, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_non_null(strstr(msg, "64"));
	assert_int_equal(tw_cqrs_check_n(1, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_n(1000, msg, sizeof msg), TW_OK);
	assert_int_equal(tw_cqrs_check_n(0, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_n(1001, msg, sizeof msg), TW_ERR_CQRS_INVALID);
	assert_int_equal(tw_cqrs_check_n(-5, msg, sizeof msg), TW_ERR_CQRS_INVALID);
}

static int never_called;

static void done(void *arg, const struct tw_cqrs_result *r)
{
	(void)arg;
	(void)r;
	never_called++;
}

/* Commands and queries that fail validation return at once, name the field, write nothing
 * (the service pointer is a dummy: touching the database would crash). */
static void calls_validate_before_the_database(void **state)
{
	static struct tw_cqrs_op op;
	struct tw_cqrs *q = (struct tw_cqrs *)(uintptr_t)0x1; /* never dereferenced */
	const struct tw_cqrs_result *r = tw_cqrs_op_result(&op);
	char big[TW_CQRS_NOTIF_ID_MAX + 2];
	struct tw_cqrs_idem idem = {.request_id = "bad id!", .method = "user.register",
				    .ttl_ms = 1000};
	struct tw_cqrs_advance adv = {"a@b.c", "AAPL", 7, 100, 0, 0};
	static char advbuf[1024];

	(void)state;
#define EXPECT(call, fld)                                                                      \
	do {                                                                                   \
		assert_int_equal((call), TW_ERR_CQRS_INVALID);                                 \
		assert_int_equal(r->rc, TW_ERR_CQRS_INVALID);                                  \
		assert_string_equal(r->field, fld);                                            \
		assert_true(strlen(r->msg) > 5);                                               \
	} while (0)
	EXPECT(tw_cqrs_register_user(q, &op, "bad", "AAPL", -1, -1, NULL, done, NULL), "email");
	EXPECT(tw_cqrs_register_user(q, &op, "a@b.c", "A A", -1, -1, NULL, done, NULL), "ticker");
	EXPECT(tw_cqrs_register_user(q, &op, "a@b.c", "AAPL", 0, -1, NULL, done, NULL), "high");
	EXPECT(tw_cqrs_register_user(q, &op, "a@b.c", "AAPL", -1, NAN, NULL, done, NULL), "low");
	EXPECT(tw_cqrs_register_user(q, &op, "a@b.c", "AAPL", 5, 6, NULL, done, NULL), "high");
	EXPECT(tw_cqrs_register_user(q, &op, "a@b.c", "AAPL", 6, 5, &idem, done, NULL),
	       "request_id");
	assert_null(r->user);
	EXPECT(tw_cqrs_register_user_verified(q, &op, "a@b.c", "AAPL", -1, -1, 2, NULL, done, NULL),
	       "verified");
	EXPECT(tw_cqrs_register_user_verified(q, &op, "bad", "AAPL", -1, -1, 1, NULL, done, NULL),
	       "email");
	assert_null(r->user);
	EXPECT(tw_cqrs_update_ticker(q, &op, "a@b.c", "", NULL, done, NULL), "ticker");
	EXPECT(tw_cqrs_update_thresholds(q, &op, "a@b.c", INFINITY, -1, NULL, done, NULL), "high");
	EXPECT(tw_cqrs_delete_user(q, &op, "a@@b.c", NULL, done, NULL), "email");
	EXPECT(tw_cqrs_save_quote(q, &op, "AAPL", -3, 1000, done, NULL), "value");
	EXPECT(tw_cqrs_save_quote(q, &op, "AAPL", 3, 0, done, NULL), "time");
	EXPECT(tw_cqrs_save_quote(q, &op, "A;", 3, 1000, done, NULL), "ticker");
	EXPECT(tw_cqrs_advance_alerts(q, &op, &adv, 1, advbuf, sizeof advbuf, done, NULL),
	       "condition");
	EXPECT(tw_cqrs_rearm_page(q, &op, "", "", 10, done, NULL), "ticker");
	EXPECT(tw_cqrs_record_sent(q, &op, "", "a@b.c", done, NULL), "notification_id");
	EXPECT(tw_cqrs_record_sent(q, &op, "n1", "not an address", done, NULL), "email");
	EXPECT(tw_cqrs_mark_sending(q, &op, "", "a@b.c", "o1", 1000, done, NULL), "notification_id");
	EXPECT(tw_cqrs_mark_sending(q, &op, NULL, "a@b.c", "o1", 1000, done, NULL), "notification_id");
	memset(big, 'x', TW_CQRS_NOTIF_ID_MAX + 1);
	big[TW_CQRS_NOTIF_ID_MAX + 1] = '\0';
	EXPECT(tw_cqrs_mark_sending(q, &op, big, "a@b.c", "o1", 1000, done, NULL), "notification_id");
	EXPECT(tw_cqrs_mark_sending(q, &op, "n1", "a@@b.c", "o1", 1000, done, NULL), "email");
	EXPECT(tw_cqrs_mark_sending(q, &op, "n1", NULL, "o1", 1000, done, NULL), "email");
	EXPECT(tw_cqrs_forget_sending(q, &op, "", done, NULL), "notification_id");
	EXPECT(tw_cqrs_forget_sending(q, &op, big, done, NULL), "notification_id");
	EXPECT(tw_cqrs_record_dead_letter(q, &op, "n1", "a@b.c", "p", "r", -1, done, NULL),
	       "attempts");
	EXPECT(tw_cqrs_get_user(q, &op, "nope", done, NULL), "email");
	EXPECT(tw_cqrs_last_value(q, &op, NULL, NULL, done, NULL), "email");
	EXPECT(tw_cqrs_average(q, &op, NULL, "AAPL", 0, done, NULL), "n");
	EXPECT(tw_cqrs_average(q, &op, NULL, "AAPL", 1001, done, NULL), "n");
	EXPECT(tw_cqrs_list_users(q, &op, "", 0, NULL, done, NULL), "limit");
	EXPECT(tw_cqrs_list_users(q, &op, "", TW_CQRS_LIST_MAX + 1, NULL, done, NULL), "limit");
	EXPECT(tw_cqrs_users_crossing_page(q, &op, "bad ticker", "", 10, NULL, done, NULL), "ticker");
	EXPECT(tw_cqrs_is_sent(q, &op, "", done, NULL), "notification_id");
	EXPECT(tw_cqrs_expire_requests(q, &op, 10, done, NULL), "ttl");
#undef EXPECT
	assert_int_equal(never_called, 0);
	assert_string_equal(tw_cqrs_condition_name(TW_COND_HIGHER), "higher");
	assert_string_equal(tw_cqrs_condition_name(TW_COND_LOWER), "lower");
}

/* A relay's reply stored as a reason: ASCII only, whatever bytes came (the database refuses
 * invalid UTF-8, which would hold the e-mail forever), never past its bound. */
static void reasons_are_ascii(void **state)
{
	char b[16];

	(void)state;
	assert_string_equal(tw_cqrs_text_ascii("451 caf\xc3\xa9", b, sizeof b), "451 caf??");
	assert_string_equal(tw_cqrs_text_ascii("450 \xe2\x82", b, sizeof b), "450 ??");
	assert_string_equal(tw_cqrs_text_ascii("tab\there\x7f", b, sizeof b), "tab?here?");
	assert_string_equal(tw_cqrs_text_ascii("0123456789abcdefXYZ", b, sizeof b),
			    "0123456789abcde");
	assert_string_equal(tw_cqrs_text_ascii(NULL, b, sizeof b), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(emails),
		cmocka_unit_test(tickers),
		cmocka_unit_test(thresholds),
		cmocka_unit_test(request_ids_and_bounds),
		cmocka_unit_test(calls_validate_before_the_database),
		cmocka_unit_test(reasons_are_ascii),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
