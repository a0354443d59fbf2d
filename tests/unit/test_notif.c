/* SPDX-License-Identifier: MIT */
/* test_notif.c - the to-notifier message: what the reader accepts and refuses (each malformation,
 * the version), and writer-to-reader round trips of every field, hostile text included; inputs
 * the fuzz target found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hal.h"
#include "notif/notif.h"

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
	assert_int_equal(n.condition, TW_COND_HIGHER);
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

/* A copy of @p js with the first @p from replaced by @p to. */
static const char *replaced(const char *js, const char *from, const char *to)
{
	static char out[TW_NOTIF_MAX_BYTES + 64];
	const char *p = strstr(js, from);

	assert_non_null(p);
	snprintf(out, sizeof out, "%.*s%s%s", (int)(p - js), js, to, p + strlen(from));
	return out;
}

static void versions_are_checked(void **state)
{
	(void)state;
	/* another version: refused, and the error says which and what this build reads */
	assert_int_equal(parse(replaced(GOOD, "\"v\":1", "\"v\":2"), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' is 2"));
	assert_non_null(strstr(err, "version 1"));
	/* no version at all: refused as such */
	assert_int_equal(parse(replaced(GOOD, "\"v\":1,", ""), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' (the format version) is missing"));
	/* not a number, or not a whole one */
	assert_int_equal(parse(replaced(GOOD, "\"v\":1", "\"v\":\"1\""), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "'v'"));
	assert_int_equal(parse(replaced(GOOD, "\"v\":1", "\"v\":1.5"), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "'v'"));
	/* the version is checked before any other field */
	assert_int_equal(parse("{\"v\":2,\"id\":\"x\"}", NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' is 2"));
}

/* Strings are escaped as every earlier build escaped them, byte for byte: \" \\ and \n, any
 * other control character and DEL as \u00XX, UTF-8 as is. */
static void writes_the_bytes_earlier_builds_wrote(void **state)
{
	char js[1024];
	struct tw_notif_fields f = {
		.id = "a2b0ae4793baa64383def2dc8dc853a2", .email = "alice@example.com",
		.ticker = "AAPL", .value = 191.23, .threshold = 190, .condition = TW_COND_HIGHER,
		.quote_time = 1767225600, .subject = "q\"b\\n\nc\x01\x1f\x7f\xc3\xa9",
		.body = "line\r\n\tend\n",
	};

	(void)state;
	assert_true(tw_notif_write(&f, js, sizeof js) > 0);
	assert_string_equal(js, "{\"v\":1,\"id\":\"a2b0ae4793baa64383def2dc8dc853a2\","
				"\"email\":\"alice@example.com\",\"ticker\":\"AAPL\",\"value\":191.23,"
				"\"threshold\":190,\"condition\":\"higher\",\"quote_time\":1767225600,"
				"\"subject\":\"q\\\"b\\\\n\\nc\\u0001\\u001f\\u007f\xc3\xa9\","
				"\"body\":\"line\\u000d\\n\\u0009end\\n\"}");
}

/* A message the previous build wrote (the alert role's golden file) is read by this one. */
static void reads_what_the_previous_build_wrote(void **state)
{
	char path[512], js[1024];
	FILE *f;
	size_t len;

	(void)state;
	snprintf(path, sizeof path, "%s/alert/higher.json", TW_TEST_DATA);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(js, 1, sizeof js - 1, f);
	fclose(f);
	js[len] = '\0';
	assert_int_equal(tw_notif_parse(&n, js, len, "alice@example.com", 17, err, sizeof err),
			 TW_OK);
	assert_string_equal(n.id, "a2b0ae4793baa64383def2dc8dc853a2");
	assert_string_equal(n.ticker, "AAPL");
	assert_true(n.value == 191.23 && n.threshold == 190);
	assert_int_equal(n.condition, TW_COND_HIGHER);
	assert_int_equal(n.quote_time, 1767225600);
	assert_string_equal(n.subject, "AAPL is above 190.00: 191.23");
	assert_string_equal(n.body, "AAPL traded at 191.23 at 2026-01-01 00:00 UTC, above your high "
				    "threshold of 190.00.\n");
}

/* The longest e-mail the contract allows (254 bytes: a 64-byte local part), of every
 * character an address may hold. */
static void longest_email(char *out)
{
	static const char local[] = "a.b+c_d-e!#$%&'*/=?^`{|}~0123456789";
	static const char domain[] = ".example.com";
	size_t l = strlen(local), d;

	memcpy(out, local, l);
	memset(out + l, 'l', 64 - l);
	out[64] = '@';
	d = TW_CQRS_EMAIL_MAX - 65 - strlen(domain);
	memset(out + 65, 'd', d);
	/* labels of at most 63 (the one address rule, tw_cqrs_check_email) */
	for (size_t i = 63; i < d; i += 64)
		out[65 + i] = '.';
	memcpy(out + 65 + d, domain, strlen(domain) + 1);
	assert_int_equal(strlen(out), TW_CQRS_EMAIL_MAX);
}

static void round_trip_of_every_field_and_hostile_text(void **state)
{
	static char subject[TW_NOTIF_SUBJECT_MAX], body[TW_NOTIF_MAX_BYTES], js[TW_NOTIF_MAX_BYTES + 1];
	static const char hostile[] = "\"quoted\" \\back\\slash\\ \\u0000 \\n </script> "
				      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x88 \x7f";
	char email[TW_CQRS_EMAIL_MAX + 1], id[TW_NOTIF_ID_LEN + 1];
	struct tw_notif_fields f;
	size_t k = 0;
	long len, base;

	(void)state;
	longest_email(email);
	assert_int_equal(tw_notif_id(email, "A.B-C^D=E123456", TW_COND_HIGHER, 999999999, INT64_MAX,
				     id), TW_OK);
	/* the subject: every control character but NUL, the hostile text, then filled to the
	 * longest the reader holds */
	for (int c = 1; c < 0x20; c++)
		subject[k++] = (char)c;
	memcpy(subject + k, hostile, strlen(hostile));
	k += strlen(hostile);
	memset(subject + k, 's', sizeof subject - 1 - k);
	subject[sizeof subject - 1] = '\0';
	f = (struct tw_notif_fields){
		.id = id, .email = email, .ticker = "A.B-C^D=E123456",
		.value = 999999999.99999988, /* the double just below 1e9 */
		.threshold = 4.9406564584124654e-324, /* the smallest positive double */
		.condition = TW_COND_HIGHER, .quote_time = 253402300799, /* 9999-12-31 23:59:59 */
		.subject = subject, .body = hostile,
	};
	/* the body: the hostile text, then filled until the message is the largest allowed */
	base = tw_notif_write(&f, js, sizeof js);
	assert_true(base > 0);
	k = strlen(hostile);
	memcpy(body, hostile, k);
	memset(body + k, 'b', (size_t)(TW_NOTIF_MAX_BYTES - base));
	body[k + (size_t)(TW_NOTIF_MAX_BYTES - base)] = '\0';
	f.body = body;
	len = tw_notif_write(&f, js, sizeof js);
	assert_int_equal(len, TW_NOTIF_MAX_BYTES);
	assert_int_equal((size_t)len, strlen(js));
	/* one byte less room: refused, never cut */
	assert_int_equal(tw_notif_write(&f, js, TW_NOTIF_MAX_BYTES), TW_ERR_NOTIF_SIZE);
	len = tw_notif_write(&f, js, sizeof js);

	assert_int_equal(tw_notif_parse(&n, js, (size_t)len, email, strlen(email), err, sizeof err),
			 TW_OK);
	assert_string_equal(n.id, id);
	assert_string_equal(n.email, email);
	assert_string_equal(n.ticker, "A.B-C^D=E123456");
	assert_true(n.value == f.value);
	assert_true(n.threshold == f.threshold);
	assert_int_equal(n.condition, TW_COND_HIGHER);
	assert_int_equal(n.quote_time, 253402300799);
	assert_string_equal(n.subject, subject);
	assert_string_equal(n.body, body);
}

static void round_trip_of_a_row(void **state)
{
	char email[TW_CQRS_EMAIL_MAX + 1], id[TW_NOTIF_ID_LEN + 1], js[TW_NOTIF_MAX_BYTES];
	struct tw_crossing c;
	long len;

	(void)state;
	longest_email(email);
	memset(&c, 0, sizeof c);
	c.email = email;
	c.ticker = "A.B-C^D=E123456";
	c.value = 0.1 + 0.2; /* 0.30000000000000004 */
	c.quote_ms = 1767225600999;
	c.condition = TW_COND_LOWER;
	c.threshold = 0.31;
	c.has_last = 1;
	c.last_ticker = "MSFT";
	c.last_condition = TW_COND_HIGHER;
	c.last_int = 7;
	c.episode = INT64_MAX;
	len = tw_notif_build(&c, 0, js, sizeof js);
	assert_true(len > 0);
	assert_int_equal(tw_notif_parse(&n, js, (size_t)len, email, strlen(email), err, sizeof err),
			 TW_OK);
	assert_int_equal(tw_notif_id(email, c.ticker, TW_COND_LOWER, 0, INT64_MAX, id), TW_OK);
	assert_string_equal(n.id, id);
	assert_string_equal(n.email, email);
	assert_string_equal(n.ticker, c.ticker);
	assert_true(n.value == c.value);
	assert_true(n.threshold == c.threshold);
	assert_int_equal(n.condition, TW_COND_LOWER);
	assert_int_equal(n.quote_time, 1767225600);
	assert_string_equal(n.subject, "A.B-C^D=E123456 is below 0.31: 0.30");
	assert_string_equal(n.body, "A.B-C^D=E123456 traded at 0.30 at 2026-01-01 00:00 UTC, below "
				    "your low threshold of 0.31.\n");

	/* quotes and backslashes in a row's e-mail are escaped, not spliced: the reader sees the
	 * JSON whole and refuses the address itself */
	c.email = "o\"b\\rien\n@example.com";
	len = tw_notif_build(&c, 0, js, sizeof js);
	assert_true(len > 0);
	assert_int_equal(parse(js, NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'email' is not an ASCII local@domain address"));
}

/* Inputs tests/fuzz/fuzz_notif.c found: the reader took what the writer cannot produce. */
static void fuzz_found(void **state)
{
	(void)state;
	/* not UTF-8: a lone continuation byte, an overlong NUL, in the body's raw text */
	replace_and_expect("AAPL traded at", "AAPL \x80traded at", "UTF-8");
	replace_and_expect("AAPL traded at", "AAPL \xc0\x80 traded at", "UTF-8");
	/* a field the writer never writes, and one it writes once */
	replace_and_expect("\"v\":1,", "\"v\":1,\"x\":0,", "unknown field 'x'");
	replace_and_expect("\"ticker\":\"AAPL\",",
			   "\"ticker\":\"AAPL\",\"email\":\"mallory@example.com\",",
			   "field 'email' appears twice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_message),
		cmocka_unit_test(malformed_messages),
		cmocka_unit_test(oversized_message),
		cmocka_unit_test(versions_are_checked),
		cmocka_unit_test(writes_the_bytes_earlier_builds_wrote),
		cmocka_unit_test(reads_what_the_previous_build_wrote),
		cmocka_unit_test(round_trip_of_every_field_and_hostile_text),
		cmocka_unit_test(round_trip_of_a_row),
		cmocka_unit_test(fuzz_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
