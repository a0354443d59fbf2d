/* SPDX-License-Identifier: MIT */
/* test_notifier_message.c - the to-notifier message contract: valid messages and each malformation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hal.h"
#include "smtp/notification.h"

static struct tw_notif n;
static char err[256];

#define GOOD                                                                                   \
	"{\"v\":1,\"id\":\"5f0c6b1e9a3d4c2b8e7f6a5d4c3b2a19\",\"email\":\"alice@example.com\","  \
	"\"ticker\":\"AAPL\",\"value\":191.23,\"threshold\":190.0,\"condition\":\"higher\","     \
	"\"quote_time\":1767225600,\"subject\":\"AAPL is above 190.00: 191.23\","               \
	"\"body\":\"AAPL traded at 191.23 \\u20ac.\\n\"}"

static int parse(const char *js, const char *key)
{
	err[0] = '\0';
	return tw_notif_parse(&n, js, strlen(js), key, key ? strlen(key) : 0, err, sizeof err);
}

static void valid_message(void **state)
{
	(void)state;
	assert_int_equal(parse(GOOD, "alice@example.com"), TW_OK);
	assert_string_equal(n.id, "5f0c6b1e9a3d4c2b8e7f6a5d4c3b2a19");
	assert_string_equal(n.email, "alice@example.com");
	assert_string_equal(n.ticker, "AAPL");
	assert_true(n.value > 191.22 && n.value < 191.24);
	assert_int_equal(n.condition, TW_NOTIF_HIGHER);
	assert_int_equal(n.quote_time, 1767225600);
	assert_string_equal(n.body, "AAPL traded at 191.23 \xe2\x82\xac.\n");
	/* no key is accepted too */
	assert_int_equal(parse(GOOD, NULL), TW_OK);
}

static void replace_and_expect(const char *from, const char *to, const char *why)
{
	char js[2048];
	const char *p = strstr(GOOD, from);

	assert_non_null(p);
	snprintf(js, sizeof js, "%.*s%s%s", (int)(p - GOOD), GOOD, to, p + strlen(from));
	assert_int_equal(parse(js, NULL), TW_ERR_ARG);
	if (strstr(err, why) == NULL)
		fail_msg("for %s -> %s: error '%s' lacks '%s'", from, to, err, why);
}

static void malformed_messages(void **state)
{
	(void)state;
	assert_int_equal(parse("not json", NULL), TW_ERR_ARG);
	assert_int_equal(parse("[1,2]", NULL), TW_ERR_ARG);
	assert_int_equal(parse("{\"v\":1", NULL), TW_ERR_ARG);
	assert_int_equal(parse("{\"v\":1,\"id\":\"\xff\"}", NULL), TW_ERR_ARG);
	replace_and_expect("\"v\":1", "\"v\":2", "'v'");
	replace_and_expect("\"v\":1,", "", "'v'");
	replace_and_expect("5f0c6b1e9a3d4c2b8e7f6a5d4c3b2a19", "5F0C6B1E9A3D4C2B8E7F6A5D4C3B2A19", "'id'");
	replace_and_expect("5f0c6b1e9a3d4c2b8e7f6a5d4c3b2a19", "../x", "'id'");
	replace_and_expect("alice@example.com", "alice", "'email'");
	replace_and_expect("alice@example.com", "a@b\\r\\nRCPT TO:<x@y>", "'email'");
	replace_and_expect("\"AAPL\"", "\"aapl\"", "'ticker'");
	replace_and_expect("191.23,", "\"191.23\",", "'value'");
	replace_and_expect("191.23,", "-1,", "'value'");
	replace_and_expect("\"higher\"", "\"sideways\"", "'condition'");
	replace_and_expect("\"higher\"", "\"lower\"", "contradicts");
	replace_and_expect("1767225600", "1.5", "'quote_time'");
	replace_and_expect("\"AAPL is above 190.00: 191.23\"", "\"\"", "'subject'");
	replace_and_expect("\"AAPL is above 190.00: 191.23\"", "7", "'subject'");
	/* the key must be the e-mail */
	assert_int_equal(parse(GOOD, "mallory@example.com"), TW_ERR_ARG);
	assert_non_null(strstr(err, "key"));
}

static void oversized_message(void **state)
{
	static char js[TW_NOTIF_MAX_BYTES + 64];

	(void)state;
	memset(js, ' ', sizeof js - 1);
	memcpy(js, GOOD, strlen(GOOD));
	js[sizeof js - 1] = '\0';
	assert_int_equal(parse(js, NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "8 KiB"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_message),
		cmocka_unit_test(malformed_messages),
		cmocka_unit_test(oversized_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
