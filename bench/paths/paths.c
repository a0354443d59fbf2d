/* SPDX-License-Identifier: MIT */
/* paths.c - runs one hot pure path of the agent N times on fixed inputs, for bench/callgrind.
 *
 * usage: tw_bench_paths PATH N   (PATH: decide, notif-build, notif-parse, json, jsmn,
 *                                 http, smtp-reply; jsmn is the bare tokenizer, the reference
 *                                 for json). Exits 1 on a wrong result, so a bench never
 *                                 counts a path that stopped working.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#include <jsmn.h>

#include "alert/alert.h"
#include "json/json.h"
#include "notif/notif.h"
#include "quotes/http.h"
#include "smtp/smtp.h"

static const char chart[] =
	"{\"chart\":{\"result\":[{\"meta\":{\"currency\":\"USD\",\"symbol\":\"AAPL\","
	"\"exchangeName\":\"NMS\",\"instrumentType\":\"EQUITY\",\"regularMarketTime\":1733155200,"
	"\"gmtoffset\":-18000,\"timezone\":\"EST\",\"regularMarketPrice\":239.59,"
	"\"chartPreviousClose\":237.33,\"previousClose\":237.33,\"scale\":3,\"priceHint\":2,"
	"\"currentTradingPeriod\":{\"regular\":{\"timezone\":\"EST\",\"start\":1733149800,"
	"\"end\":1733173200,\"gmtoffset\":-18000}},\"dataGranularity\":\"1m\",\"range\":\"1d\"}}],"
	"\"error\":null}}";

static const char http_resp[] =
	"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\n"
	"Cache-Control: public, max-age=10\r\nVary: Origin,Accept-Encoding\r\n"
	"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
	"3e\r\n{\"chart\":{\"result\":[{\"meta\":{\"currency\":\"USD\",\"symbol\":\"AAPL\",\r\n"
	"1c\r\n\"regularMarketPrice\":239.59}\r\n0\r\n\r\n";

static const char ehlo[] = "250-smtp.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
			   "250-8BITMIME\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
			   "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";

static const struct tw_crossing row = {
	.email = "ada.lovelace@example.com",
	.ticker = "AAPL",
	.value = 239.59,
	.quote_ms = 1733155200000LL,
	.condition = TW_COND_HIGHER,
	.threshold = 230.0,
	.has_last = 1,
	.last_ticker = "AAPL",
	.last_condition = TW_COND_HIGHER,
	.last_int = 238,
	.episode = 3,
};

static int fail(const char *what)
{
	fprintf(stderr, "tw_bench_paths: %s gave a wrong result\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	static char msg[TW_NOTIF_MAX_BYTES];
	static struct tw_notif n;
	static struct tw_notif_key key;
	static unsigned char body[4096];
	tw_jtok toks[128];
	jsmntok_t jt[128];
	long len, iters;
	const char *path;
	volatile long sink = 0;

	if (argc != 3 || (iters = strtol(argv[2], NULL, 10)) < 0) {
		fprintf(stderr, "usage: tw_bench_paths PATH N\n");
		return 2;
	}
	path = argv[1];
	/* a fixed key: the build signs and the parse verifies, as the roles do */
	if (tw_notif_key_set(&key, "0123456789abcdef0123456789abcdef0123456789abcdef"
				   "0123456789abcdef") != 0)
		return fail("key");
	len = tw_notif_build(&row, tw_alert_int_part(row.value), &key, msg, sizeof msg);
	if (len <= 0)
		return fail("notif-build");
	for (long i = 0; i < iters; i++) {
		if (strcmp(path, "decide") == 0) {
			char why[128];

			if (tw_alert_check_row(&row, why, sizeof why) != 0 ||
			    tw_alert_decide(&row) != TW_ALERT_SEND)
				return fail(path);
		} else if (strcmp(path, "notif-build") == 0) {
			sink += tw_notif_build(&row, tw_alert_int_part(row.value), &key, msg,
					       sizeof msg);
		} else if (strcmp(path, "notif-parse") == 0) {
			char err[256];

			if (tw_notif_parse(&n, msg, (size_t)len, row.email, strlen(row.email), &key,
					   err, sizeof err) != 0)
				return fail(path);
		} else if (strcmp(path, "json") == 0) {
			struct tw_json j;
			int meta;

			if (tw_json_parse(&j, chart, sizeof chart - 1, toks, 128) <= 0)
				return fail(path);
			meta = tw_json_member(&j, 0, "chart");
			if (meta < 0 || tw_json_member(&j, meta, "result") < 0)
				return fail(path);
		} else if (strcmp(path, "jsmn") == 0) {
			jsmn_parser p;

			jsmn_init(&p);
			if (jsmn_parse(&p, chart, sizeof chart - 1, jt, 128) <= 0)
				return fail(path);
		} else if (strcmp(path, "http") == 0) {
			struct tw_http_parser p;
			char err[128];
			size_t used = 0;

			tw_http_parser_init(&p, body, sizeof body);
			if (tw_http_parse(&p, (const unsigned char *)http_resp, sizeof http_resp - 1,
					  &used, err, sizeof err) != 1)
				return fail(path);
		} else if (strcmp(path, "smtp-reply") == 0) {
			static struct tw_smtp_reply r;
			uint64_t size = 0;

			tw_smtp_reply_reset(&r);
			if (tw_smtp_reply_feed(&r, ehlo, sizeof ehlo - 1) != (long)(sizeof ehlo - 1) ||
			    !r.complete)
				return fail(path);
			sink += (long)tw_smtp_parse_ehlo(&r, &size);
		} else {
			fprintf(stderr, "tw_bench_paths: unknown path '%s'\n", path);
			return 2;
		}
	}
	return sink < 0;
}
