/* SPDX-License-Identifier: MIT */
/* test_json.c - the jsmn wrapper: one value per line, strict primitives, string escapes,
 * numbers, UTF-8 checks, the lenient tokenizer, and the bounded writer's escaping, overflow
 * and measuring (as a C string and as bytes); inputs the fuzz targets found. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "json/json.h"

static tw_jtok toks[64];

static int parse(struct tw_json *j, const char *s)
{
	return tw_json_parse(j, s, strlen(s), toks, 64);
}

static void one_value_per_line(void **state)
{
	struct tw_json j;
	static const char *const bad[] = {
		"",          "{",         "{\"a\":1",   "{\"a\":1}}", "{\"a\":1} {\"b\":2}",
		"{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":nul}", "{\"a\":tru}", "{'a':1}",
		"{\"a\":1,}", "{\"a\" 1}", "// c\n{}", "{\"a\":01x}", "{\"a\":nulll}",
		"{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":+1}",
		"{\"a\":0x10}", "{\"a\":truex}", "[1,]", "[,1]", "[1,,2]", "[1 2]", "{\"a\":1 \"b\":2}",
		"{\"a\"::1}", "{1:2}", "{\"a\"}", "{\"a\":1,,\"b\":2}",
	};

	(void)state;
	assert_true(parse(&j, "{\"a\":1}") > 0);
	assert_true(parse(&j, "  {\"a\":[1,2,{\"b\":null}]}  \r\n") > 0);
	assert_true(parse(&j, "[0,-0,1.5,-2e10,3E+2,4e-3,true,false,null]") > 0);
	assert_true(parse(&j, "\"str\"") > 0);
	assert_true(parse(&j, " { \"a\" : [ ] , \"b\" : { } , \"c\" : \"\" } ") > 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (parse(&j, bad[i]) >= 0)
			fail_msg("'%s' accepted", bad[i]);
	}
	{
		char many[512];
		size_t n = 0;

		n += (size_t)snprintf(many, sizeof many, "[");
		for (int i = 0; i < 100; i++)
			n += (size_t)snprintf(many + n, sizeof many - n, "%s1", i ? "," : "");
		snprintf(many + n, sizeof many - n, "]");
		assert_int_equal(parse(&j, many), TW_ERR_JSON_TOKENS);
	}
}

static void members_and_types(void **state)
{
	struct tw_json j;
	int o, v;
	char s[16];
	double d;

	(void)state;
	assert_true(parse(&j, "{\"x\":{\"email\":\"in\"},\"email\":\"out\",\"n\":-2.5e1,\"z\":null}") > 0);
	o = 0;
	v = tw_json_member(&j, o, "email");
	assert_int_equal(tw_json_string(&j, v, s, sizeof s), 0);
	assert_string_equal(s, "out"); /* not the nested one */
	assert_int_equal(tw_json_number(&j, tw_json_member(&j, o, "n"), &d), 0);
	assert_true(d == -25.0);
	assert_true(tw_json_is_null(&j, tw_json_member(&j, o, "z")));
	assert_int_equal(tw_json_member(&j, o, "missing"), -1);
	assert_int_equal(tw_json_number(&j, v, &d), TW_ERR_JSON_TYPE);            /* a string */
	assert_int_equal(tw_json_string(&j, tw_json_member(&j, o, "n"), s, sizeof s), TW_ERR_JSON_TYPE);
	assert_int_equal(tw_json_number(&j, tw_json_member(&j, o, "z"), &d), TW_ERR_JSON_TYPE);
	assert_true(parse(&j, "{\"h\":1e999,\"t\":true,\"big\":"
			      "99999999999999999999999999999999999999999999999999999999999999999999999}") > 0);
	assert_int_equal(tw_json_number(&j, tw_json_member(&j, 0, "h"), &d), 0);
	assert_true(isinf(d));
	assert_int_equal(tw_json_number(&j, tw_json_member(&j, 0, "big"), &d), 0);
	assert_true(d > 1e60);
	assert_int_equal(tw_json_number(&j, tw_json_member(&j, 0, "t"), &d), TW_ERR_JSON_TYPE);
}

static void string_escapes(void **state)
{
	struct tw_json j;
	char s[32];

	(void)state;
	assert_true(parse(&j, "[\"a\\\"b\\\\c\\/d\\n\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\", "
			      "\"\\u0000\", \"\\ud800\", \"\\udc00x\", \"-\", \"0123456789012345678901234567890123\"]") > 0);
	assert_int_equal(tw_json_string(&j, 1, s, sizeof s), 0);
	assert_string_equal(s, "a\"b\\c/d\n");
	assert_int_equal(tw_json_string(&j, 2, s, sizeof s), 0);
	assert_string_equal(s, "\xc3\xa9\xe2\x82\xac");
	assert_int_equal(tw_json_string(&j, 3, s, sizeof s), 0);
	assert_string_equal(s, "\xf0\x9f\x98\x80");
	assert_int_equal(tw_json_string(&j, 4, s, sizeof s), TW_ERR_JSON_TYPE);  /* \u0000 */
	assert_int_equal(tw_json_string(&j, 5, s, sizeof s), TW_ERR_JSON_TYPE);  /* lone high */
	assert_int_equal(tw_json_string(&j, 6, s, sizeof s), TW_ERR_JSON_TYPE);  /* lone low */
	assert_int_equal(tw_json_string(&j, 8, s, sizeof s), TW_ERR_JSON_TOOLONG);
	assert_true(parse(&j, "[\"\\x\"]") < 0); /* an unknown escape is not JSON */
}

static void utf8(void **state)
{
	static const char *const good[] = {"plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
					   "\xf4\x8f\xbf\xbf"};
	static const char *const bad[] = {
		"\xc3",         "\xc3\x28",      "\xc0\xaf",     "\xe0\x80\xaf", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "\x80", "\xe2\x82",
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_true(tw_json_utf8_ok(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (tw_json_utf8_ok(bad[i], strlen(bad[i])))
			fail_msg("bad UTF-8 %zu accepted", i);
	}
	assert_false(tw_json_utf8_ok("a\0b", 3));
}

static void writer(void **state)
{
	char buf[64];
	struct tw_jw w;

	(void)state;
	tw_jw_init(&w, buf, sizeof buf);
	tw_jw_str(&w, "q\"b\\\n\x01");
	tw_jw_lit(&w, ",");
	tw_jw_num(&w, 150.3);
	tw_jw_lit(&w, ",");
	tw_jw_num(&w, NAN);
	tw_jw_lit(&w, ",");
	tw_jw_str(&w, NULL);
	assert_false(w.overflow);
	assert_string_equal(buf, "\"q\\\"b\\\\\\u000a\\u0001\",150.3,null,null");
	tw_jw_init(&w, buf, 8);
	tw_jw_lit(&w, "0123456789");
	assert_true(w.overflow);
	assert_int_equal(w.len, 0);
	tw_jw_printf(&w, "%d", 1);
	assert_true(w.overflow);
}

static void writer_escapes_on_request(void **state)
{
	char buf[64];
	struct tw_jw w;

	(void)state;
	tw_jw_init(&w, buf, sizeof buf);
	tw_jw_strx(&w, "a\nb\x7f", 0);
	tw_jw_strx(&w, "a\nb\x7f", TW_JW_ESC_NL);
	tw_jw_strx(&w, "a\nb\x7f", TW_JW_ESC_NL | TW_JW_ESC_DEL);
	assert_false(w.overflow);
	assert_string_equal(buf, "\"a\\u000ab\x7f\"\"a\\nb\x7f\"\"a\\nb\\u007f\"");
}

static void writer_measures_and_fills_bytes(void **state)
{
	char buf[8];
	struct tw_jw w;

	(void)state;
	/* a C string: holds cap - 1 bytes, counts what it could not hold */
	tw_jw_init(&w, buf, sizeof buf);
	tw_jw_lit(&w, "0123456");
	assert_false(w.overflow);
	assert_string_equal(buf, "0123456");
	tw_jw_lit(&w, "7");
	assert_true(w.overflow);
	assert_int_equal(w.len, 7);
	assert_int_equal(w.need, 8);
	assert_string_equal(buf, "0123456");
	/* bytes: every byte of the buffer, no NUL, nothing past it */
	memset(buf, 'Z', sizeof buf);
	tw_jw_init_bytes(&w, buf, 6);
	tw_jw_raw(&w, "abc", 3);
	tw_jw_raw(&w, "def", 3);
	assert_false(w.overflow);
	assert_int_equal(w.len, 6);
	assert_memory_equal(buf, "abcdefZZ", 8);
	tw_jw_raw(&w, "g", 1);
	tw_jw_printf(&w, "%d", 42);
	assert_true(w.overflow);
	assert_int_equal(w.len, 6);
	assert_int_equal(w.need, 9);
	assert_memory_equal(buf, "abcdefZZ", 8);
	/* printf needs room for vsnprintf's NUL, also in bytes */
	tw_jw_init_bytes(&w, buf, 4);
	tw_jw_printf(&w, "%s", "ab");
	assert_false(w.overflow);
	tw_jw_printf(&w, "%s", "cd");
	assert_true(w.overflow);
	assert_int_equal(w.len, 2);
	assert_int_equal(w.need, 4);
	/* measuring only */
	tw_jw_init_bytes(&w, NULL, 0);
	tw_jw_lit(&w, "hello");
	tw_jw_str(&w, "a\"b");
	tw_jw_printf(&w, "%05d", 7);
	assert_true(w.overflow);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.need, 5 + 6 + 5);
}

static void lenient_tokens(void **state)
{
	static const char js[] = "{\"a\":NaN,\"b\":[1,Infinity],\"c\":\"x\"}";
	struct tw_json j;
	double v;
	int a, b;

	(void)state;
	/* strict refuses what a foreign server may write; lenient tokenizes it */
	assert_true(parse(&j, js) < 0);
	assert_true(tw_json_parse_lenient(&j, js, strlen(js), toks, 64) > 0);
	a = tw_json_member(&j, 0, "a");
	assert_true(a > 0);
	assert_int_equal(j.t[a].type, TW_J_PRIMITIVE);
	assert_int_equal(tw_json_number(&j, a, &v), TW_ERR_JSON_TYPE);
	b = tw_json_member(&j, 0, "b");
	assert_int_equal(j.t[b].size, 2);
	assert_int_equal(tw_json_number(&j, b + 1, &v), 0);
	assert_true(v == 1);
	assert_true(tw_json_eq(&j, tw_json_member(&j, 0, "c"), "x"));
	assert_int_equal(tw_json_member(&j, 0, "d"), -1);
	/* its errors */
	assert_int_equal(tw_json_parse_lenient(&j, "", 0, toks, 64), TW_ERR_JSON_PARSE);
	assert_int_equal(tw_json_parse_lenient(&j, "{\"a\":[1,2", 9, toks, 64), TW_ERR_JSON_PARSE);
	assert_int_equal(tw_json_parse_lenient(&j, js, strlen(js), toks, 3), TW_ERR_JSON_TOKENS);
}

/* Inputs the fuzz targets found (tests/fuzz/README.md), kept as regression cases. */
static void fuzz_found(void **state)
{
	struct tw_json j;

	(void)state;
	/* lenient tokens of a key without its value: the token after the key lies outside the
	 * object, and is no member of it (tw_json_member returned it, 2) */
	assert_true(tw_json_parse_lenient(&j, "{\"a\"}@", 6, toks, 64) > 0);
	assert_int_equal(tw_json_member(&j, 0, "a"), -1);
	assert_true(tw_json_parse_lenient(&j, "{\"chart\"} {\"chart\":1}", 21, toks, 64) > 0);
	assert_int_equal(tw_json_member(&j, 0, "chart"), -1);
	/* one bare number or literal is one JSON value, with or without blanks after it (jsmn's
	 * strict mode refused "2" as cut short and took "2\n") */
	assert_int_equal(parse(&j, "2"), 1);
	assert_int_equal(parse(&j, "\n\n2\n"), 1);
	assert_int_equal(parse(&j, "true"), 1);
	assert_int_equal(parse(&j, " -1.5e3"), 1);
	assert_true(parse(&j, "2x") < 0);
	assert_true(parse(&j, "-") < 0);
	assert_true(parse(&j, "nul") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_value_per_line), cmocka_unit_test(members_and_types),
		cmocka_unit_test(string_escapes),     cmocka_unit_test(utf8),
		cmocka_unit_test(writer),             cmocka_unit_test(writer_escapes_on_request),
		cmocka_unit_test(writer_measures_and_fills_bytes), cmocka_unit_test(lenient_tokens),
		cmocka_unit_test(fuzz_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
