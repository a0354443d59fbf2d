/* SPDX-License-Identifier: MIT */
/* test_notif.c - the to-notifier message: what the reader accepts and refuses (each malformation,
 * the version, the signature: forged, cut, unsigned, wrong key, version 1), and writer-to-reader
 * round trips of every field, hostile text included; inputs the fuzz target found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>

#include "hal.h"
#include "notif/notif.h"

static struct tw_notif n;
static char err[256];

/* The key of the tests, and another one (HMAC keys: their 64 ASCII hex digits). */
#define TEST_KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OTHER_KEY "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
static struct tw_notif_key key;

/* An unsigned message of this version; parse() signs it as an alert role would. */
#define GOOD                                                                                   \
	"{\"v\":2,\"id\":\"5f0c6b1e9a3d4c2b8e7f6a5d4c3b2a19\",\"email\":\"alice@example.com\","  \
	"\"ticker\":\"AAPL\",\"value\":191.23,\"threshold\":190.0,\"condition\":\"higher\","     \
	"\"quote_time\":1767225600,\"subject\":\"AAPL is above 190.00: 191.23\","               \
	"\"body\":\"AAPL traded at 191.23 \\u20ac.\\n\"}"

/* @p js (a JSON object) signed with @p hexkey the way the writer signs: its closing brace
 * replaced by ,"sig":"<HMAC-SHA256 of every byte before "sig">"}. Computed here with Mbed TLS
 * directly, not through the module's writer. */
static const char *sign_with(const char *js, const char *hexkey)
{
	static char out[TW_NOTIF_MAX_BYTES + 256];
	unsigned char mac[32];
	size_t len = strlen(js);

	assert_true(len > 1 && js[len - 1] == '}' && len + 80 < sizeof out);
	memcpy(out, js, len - 1);
	out[len - 1] = ',';
	assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
					 (const unsigned char *)hexkey, strlen(hexkey),
					 (const unsigned char *)out, len, mac), 0);
	len += (size_t)snprintf(out + len, sizeof out - len, "\"sig\":\"");
	for (size_t i = 0; i < sizeof mac; i++)
		len += (size_t)snprintf(out + len, sizeof out - len, "%02x", mac[i]);
	snprintf(out + len, sizeof out - len, "\"}");
	return out;
}

/* Parse @p js as is (signed or not). */
static int parse_raw(const char *js, const char *mkey)
{
	err[0] = '\0';
	return tw_notif_parse(&n, js, strlen(js), mkey, mkey ? strlen(mkey) : 0, &key, err,
			      sizeof err);
}

/* Parse @p js signed with the test key: what a malformed field gets past the signature. */
static int parse(const char *js, const char *mkey)
{
	return parse_raw(sign_with(js, TEST_KEY), mkey);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(tw_notif_key_set(&key, TEST_KEY), TW_OK);
	return 0;
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
	assert_int_equal(parse_raw("not json", NULL), TW_ERR_ARG);
	assert_int_equal(parse_raw("[1,2]", NULL), TW_ERR_ARG);
	assert_int_equal(parse_raw("{\"v\":2", NULL), TW_ERR_ARG);
	assert_int_equal(parse("{\"v\":2,\"id\":\"\xff\"}", NULL), TW_ERR_ARG);
	replace_and_expect("\"v\":2", "\"v\":3", "'v'");
	replace_and_expect("\"v\":2,", "", "'v'");
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
	memcpy(js, sign_with(GOOD, TEST_KEY), strlen(sign_with(GOOD, TEST_KEY)));
	js[sizeof js - 1] = '\0';
	assert_int_equal(parse_raw(js, NULL), TW_ERR_ARG);
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
	assert_int_equal(parse(replaced(GOOD, "\"v\":2", "\"v\":3"), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' is 3"));
	assert_non_null(strstr(err, "version 2"));
	/* no version at all: refused as such */
	assert_int_equal(parse(replaced(GOOD, "\"v\":2,", ""), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' (the format version) is missing"));
	/* not a number, or not a whole one */
	assert_int_equal(parse(replaced(GOOD, "\"v\":2", "\"v\":\"2\""), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "'v'"));
	assert_int_equal(parse(replaced(GOOD, "\"v\":2", "\"v\":2.5"), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "'v'"));
	/* the version is checked before any other field */
	assert_int_equal(parse("{\"v\":3,\"id\":\"x\"}", NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' is 3"));
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
	assert_true(tw_notif_write(&f, &key, js, sizeof js) > 0);
	/* the fields byte for byte, then the signature of exactly those bytes */
	assert_string_equal(js, sign_with("{\"v\":2,\"id\":\"a2b0ae4793baa64383def2dc8dc853a2\","
				"\"email\":\"alice@example.com\",\"ticker\":\"AAPL\",\"value\":191.23,"
				"\"threshold\":190,\"condition\":\"higher\",\"quote_time\":1767225600,"
				"\"subject\":\"q\\\"b\\\\n\\nc\\u0001\\u001f\\u007f\xc3\xa9\","
				"\"body\":\"line\\u000d\\n\\u0009end\\n\"}", TEST_KEY));
	/* no key: nothing written */
	assert_int_equal(tw_notif_write(&f, NULL, js, sizeof js), TW_ERR_NOTIF_KEY);
}

/* A message the previous build wrote (version 1, unsigned: the alert role's old golden file) is
 * refused, saying why; this build's golden file (signed, by Python's hmac with the test key) is
 * read. */
static char golden[1024];

static size_t read_golden(const char *name)
{
	char path[512];
	FILE *f;
	size_t len;

	snprintf(path, sizeof path, "%s/alert/%s", TW_TEST_DATA, name);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(golden, 1, sizeof golden - 1, f);
	fclose(f);
	while (len && golden[len - 1] == '\n')
		len--;
	golden[len] = '\0';
	return len;
}

static void reads_this_version_refuses_the_previous(void **state)
{
	size_t len;

	(void)state;
	len = read_golden("higher.json");
	assert_int_equal(tw_notif_parse(&n, golden, len, "alice@example.com", 17, &key, err,
					sizeof err), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' is 1: this build reads format version 2 only"));
	len = read_golden("higher-v2.json");
	assert_int_equal(tw_notif_parse(&n, golden, len, "alice@example.com", 17, &key, err,
					sizeof err), TW_OK);
	assert_string_equal(n.id, "a2b0ae4793baa64383def2dc8dc853a2");
	assert_string_equal(n.ticker, "AAPL");
	assert_true(n.value == 191.23 && n.threshold == 190);
	assert_int_equal(n.condition, TW_COND_HIGHER);
	assert_int_equal(n.quote_time, 1767225600);
	assert_string_equal(n.subject, "AAPL is above 190.00: 191.23");
	assert_string_equal(n.body, "AAPL traded at 191.23 at 2026-01-01 00:00 UTC, above your high "
				    "threshold of 190.00.\n");
}

/* The signature: only the exact bytes an alert role with this database's key wrote pass. */
static void signatures_are_checked(void **state)
{
	static char js[TW_NOTIF_MAX_BYTES + 256];
	struct tw_notif_key none, other;
	size_t len;
	char *p;

	(void)state;
	snprintf(js, sizeof js, "%s", sign_with(GOOD, TEST_KEY));
	len = strlen(js);
	assert_int_equal(parse_raw(js, "alice@example.com"), TW_OK);
	/* unsigned: this version's fields, no "sig" */
	assert_int_equal(parse_raw(GOOD, "alice@example.com"), TW_ERR_ARG);
	assert_non_null(strstr(err, "unsigned"));
	/* version 1 (what earlier builds wrote, unsigned), even with a good signature */
	assert_int_equal(parse_raw(replaced(GOOD, "\"v\":2", "\"v\":1"), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' is 1"));
	assert_int_equal(parse(replaced(GOOD, "\"v\":2", "\"v\":1"), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'v' is 1"));
	/* forged: one byte of a field changed after signing (another recipient) */
	assert_int_equal(parse_raw(replaced(js, "alice@example.com", "mallo@example.com"),
				   "mallo@example.com"), TW_ERR_ARG);
	assert_non_null(strstr(err, "bad signature"));
	/* forged: the body changed */
	assert_int_equal(parse_raw(replaced(js, "191.23 \\u20ac", "999.99 \\u20ac"), NULL),
			 TW_ERR_ARG);
	assert_non_null(strstr(err, "bad signature"));
	/* forged: a signature digit changed */
	p = strstr(js, "\"sig\":\"") + 7;
	*p = *p == '0' ? '1' : '0';
	assert_int_equal(parse_raw(js, NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "bad signature"));
	snprintf(js, sizeof js, "%s", sign_with(GOOD, TEST_KEY));
	/* a signature of upper-case or non-hex digits */
	p = strstr(js, "\"sig\":\"") + 7;
	*p = 'X';
	assert_int_equal(parse_raw(js, NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "'sig'"));
	snprintf(js, sizeof js, "%s", sign_with(GOOD, TEST_KEY));
	/* truncated: the tail cut, anywhere */
	for (size_t cut = 1; cut < 80; cut++) {
		char c = js[len - cut];

		js[len - cut] = '\0';
		assert_int_equal(parse_raw(js, NULL), TW_ERR_ARG);
		js[len - cut] = c;
	}
	js[len - 2] = '\0';
	assert_int_equal(parse_raw(js, NULL), TW_ERR_ARG);
	js[len - 2] = '"';
	/* "sig" not last: a member appended after it is refused (the tail is fixed) */
	assert_int_equal(parse_raw(replaced(js, "\"}", "\",\"x\":1}"), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "unsigned or cut"));
	/* the wrong key: signed by someone else, or verified with another database's key */
	assert_int_equal(parse_raw(sign_with(GOOD, OTHER_KEY), NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "bad signature"));
	assert_int_equal(tw_notif_key_set(&other, OTHER_KEY), TW_OK);
	assert_int_equal(tw_notif_parse(&n, js, len, NULL, 0, &other, err, sizeof err), TW_ERR_ARG);
	assert_non_null(strstr(err, "bad signature"));
	/* no key loaded: nothing is accepted */
	memset(&none, 0, sizeof none);
	assert_int_equal(tw_notif_parse(&n, js, len, NULL, 0, &none, err, sizeof err), TW_ERR_ARG);
	assert_non_null(strstr(err, "no signing key"));
	assert_int_equal(tw_notif_parse(&n, js, len, NULL, 0, NULL, err, sizeof err), TW_ERR_ARG);
	/* keys: 64 lower-case hex digits only */
	assert_int_equal(tw_notif_key_set(&other, "0123"), TW_ERR_NOTIF_KEY);
	assert_int_equal(tw_notif_key_set(&other, NULL), TW_ERR_NOTIF_KEY);
	assert_int_equal(tw_notif_key_set(&other, "0123456789ABCDEF0123456789abcdef0123456789abcdef"
					  "0123456789abcdef"), TW_ERR_NOTIF_KEY);
	assert_int_equal(other.set, 0);
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
				     INT64_MAX, 0, id), TW_OK);
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
	base = tw_notif_write(&f, &key, js, sizeof js);
	assert_true(base > 0);
	k = strlen(hostile);
	memcpy(body, hostile, k);
	memset(body + k, 'b', (size_t)(TW_NOTIF_MAX_BYTES - base));
	body[k + (size_t)(TW_NOTIF_MAX_BYTES - base)] = '\0';
	f.body = body;
	len = tw_notif_write(&f, &key, js, sizeof js);
	assert_int_equal(len, TW_NOTIF_MAX_BYTES);
	assert_int_equal((size_t)len, strlen(js));
	/* one byte less room: refused, never cut */
	assert_int_equal(tw_notif_write(&f, &key, js, TW_NOTIF_MAX_BYTES), TW_ERR_NOTIF_SIZE);
	len = tw_notif_write(&f, &key, js, sizeof js);

	assert_int_equal(tw_notif_parse(&n, js, (size_t)len, email, strlen(email), &key, err,
					sizeof err),
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
	c.generation = INT64_MAX;
	len = tw_notif_build(&c, 0, &key, js, sizeof js);
	assert_true(len > 0);
	assert_int_equal(tw_notif_parse(&n, js, (size_t)len, email, strlen(email), &key, err,
					sizeof err),
			 TW_OK);
	assert_int_equal(tw_notif_id(email, c.ticker, TW_COND_LOWER, 0, INT64_MAX, INT64_MAX, 0, id), TW_OK);
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
	len = tw_notif_build(&c, 0, &key, js, sizeof js);
	assert_true(len > 0);
	assert_int_equal(parse_raw(js, NULL), TW_ERR_ARG);
	assert_non_null(strstr(err, "field 'email' is not an ASCII local@domain address"));
}

/* A further alert's message (docs/notifications.md, "alert"): its id ends |a<id>, "alert"
 * follows quote_time, the body names the alert; the reader takes it back, refuses what the
 * writer cannot produce, and alert 0's bytes carry no "alert" at all. */
static void alert_member(void **state)
{
	char id[TW_NOTIF_ID_LEN + 1], js[TW_NOTIF_MAX_BYTES];
	struct tw_crossing c;
	long len;

	(void)state;
	memset(&c, 0, sizeof c);
	c.email = "bob@example.com";
	c.ticker = "MSFT";
	c.value = 421.3;
	c.quote_ms = 1767225600000;
	c.condition = TW_COND_HIGHER;
	c.threshold = 420;
	c.last_ticker = "";
	c.episode = 4;
	c.alert_id = 17;
	len = tw_notif_build(&c, 421, &key, js, sizeof js);
	assert_true(len > 0);
	assert_non_null(strstr(js, "\"quote_time\":1767225600,\"alert\":17,\"subject\":"));
	assert_int_equal(tw_notif_parse(&n, js, (size_t)len, NULL, 0, &key, err, sizeof err), TW_OK);
	assert_int_equal(n.alert_id, 17);
	assert_int_equal(tw_notif_id("bob@example.com", "MSFT", TW_COND_HIGHER, 421, 4, 0, 17, id),
			 TW_OK);
	assert_string_equal(n.id, id);
	assert_string_equal(n.subject, "MSFT is above 420.00: 421.30");
	assert_string_equal(n.body, "MSFT traded at 421.30 at 2026-01-01 00:00 UTC, above the level "
				    "of 420.00 of your alert 17.\n");
	/* alert 0: no member, and the reader says 0 */
	c.alert_id = 0;
	len = tw_notif_build(&c, 421, &key, js, sizeof js);
	assert_true(len > 0);
	assert_null(strstr(js, "\"alert\""));
	assert_int_equal(tw_notif_parse(&n, js, (size_t)len, NULL, 0, &key, err, sizeof err), TW_OK);
	assert_int_equal(n.alert_id, 0);
	/* what the writer never writes */
	replace_and_expect("\"quote_time\":1767225600,", "\"quote_time\":1767225600,\"alert\":0,",
			   "'alert'");
	replace_and_expect("\"quote_time\":1767225600,", "\"quote_time\":1767225600,\"alert\":-3,",
			   "'alert'");
	replace_and_expect("\"quote_time\":1767225600,", "\"quote_time\":1767225600,\"alert\":2.5,",
			   "'alert'");
	replace_and_expect("\"quote_time\":1767225600,",
			   "\"quote_time\":1767225600,\"alert\":\"7\",", "'alert'");
	replace_and_expect("\"quote_time\":1767225600,",
			   "\"quote_time\":1767225600,\"alert\":1e300,", "'alert'");
	replace_and_expect("\"quote_time\":1767225600,",
			   "\"quote_time\":1767225600,\"alert\":3,\"alert\":3,", "twice");
}

/* Inputs tests/fuzz/fuzz_notif.c found: the reader took what the writer cannot produce. */
/* One-click unsubscribe tokens: the documented form, checked, refused when changed. */
static void unsubscribe_tokens(void **state)
{
	char tok[TW_NOTIF_UNSUB_TOKEN_MAX + 1], email[TW_CQRS_EMAIL_MAX + 1], bad[sizeof tok];
	struct tw_notif_key other, none = {0};
	long tn;

	(void)state;
	tn = tw_notif_unsub_token("a.b@example.com", &key, tok, sizeof tok);
	assert_int_equal(tn, 2 * 15 + 1 + 32);
	assert_memory_equal(tok, "612e62406578616d706c652e636f6d.", 31); /* the address in hex */
	assert_int_equal(tw_notif_unsub_check(tok, &key, email), TW_OK);
	assert_string_equal(email, "a.b@example.com");
	/* another key, a changed MAC, a changed address, cut, no dot, upper case, a NUL */
	assert_int_equal(tw_notif_key_set(&other, OTHER_KEY), TW_OK);
	assert_int_equal(tw_notif_unsub_check(tok, &other, email), TW_ERR_ARG);
	assert_int_equal(tw_notif_unsub_check(tok, &none, email), TW_ERR_NOTIF_KEY);
	for (size_t i = 0; i < (size_t)tn; i++) {
		if (tok[i] == '.')
			continue;
		memcpy(bad, tok, (size_t)tn + 1);
		bad[i] = bad[i] == '0' ? '1' : '0';
		assert_int_equal(tw_notif_unsub_check(bad, &key, email), TW_ERR_ARG);
	}
	memcpy(bad, tok, (size_t)tn + 1);
	bad[tn - 1] = '\0';
	assert_int_equal(tw_notif_unsub_check(bad, &key, email), TW_ERR_ARG);
	assert_int_equal(tw_notif_unsub_check("612e62", &key, email), TW_ERR_ARG);
	assert_int_equal(tw_notif_unsub_check("00.00000000000000000000000000000000", &key, email),
			 TW_ERR_ARG);
	/* too small a buffer: never a cut token */
	assert_int_equal(tw_notif_unsub_token("a.b@example.com", &key, tok, 40), TW_ERR_NOTIF_SIZE);
}

static void fuzz_found(void **state)
{
	(void)state;
	/* not UTF-8: a lone continuation byte, an overlong NUL, in the body's raw text */
	replace_and_expect("AAPL traded at", "AAPL \x80traded at", "UTF-8");
	replace_and_expect("AAPL traded at", "AAPL \xc0\x80 traded at", "UTF-8");
	/* a field the writer never writes, and one it writes once */
	replace_and_expect("\"v\":2,", "\"v\":2,\"x\":0,", "unknown field 'x'");
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
		cmocka_unit_test(reads_this_version_refuses_the_previous),
		cmocka_unit_test(signatures_are_checked),
		cmocka_unit_test(round_trip_of_every_field_and_hostile_text),
		cmocka_unit_test(round_trip_of_a_row),
		cmocka_unit_test(alert_member),
		cmocka_unit_test(fuzz_found),
		cmocka_unit_test(unsubscribe_tokens),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
