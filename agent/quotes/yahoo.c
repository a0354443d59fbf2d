/* SPDX-License-Identifier: MIT */
/* yahoo.c - the Yahoo chart API source: GET over the HTTP client, jsmn extraction of the meta. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSMN_STATIC
#include <jsmn.h>

#include "core/log.h"
#include "quotes/quotes.h"

size_t tw_yahoo_token_size(void)
{
	return sizeof(jsmntok_t);
}

/* Index of the token after the subtree of token @p i. */
static int skip(const jsmntok_t *t, int n, int i)
{
	int j = i + 1;

	while (j < n && t[j].start < t[i].end)
		j++;
	return j;
}

static int tok_is(const char *js, const jsmntok_t *t, const char *s)
{
	size_t l = strlen(s);

	return t->type == JSMN_STRING && (size_t)(t->end - t->start) == l &&
	       memcmp(js + t->start, s, l) == 0;
}

static int tok_null(const char *js, const jsmntok_t *t)
{
	return t->type == JSMN_PRIMITIVE && t->end - t->start == 4 &&
	       memcmp(js + t->start, "null", 4) == 0;
}

/* The value token of @p key in the object at @p obj, or -1. */
static int member(const char *js, const jsmntok_t *t, int n, int obj, const char *key)
{
	int k;

	if (obj < 0 || obj >= n || t[obj].type != JSMN_OBJECT)
		return -1;
	k = obj + 1;
	for (int c = 0; c < t[obj].size && k + 1 < n; c++) {
		if (tok_is(js, &t[k], key))
			return k + 1;
		k = skip(t, n, k + 1);
	}
	return -1;
}

static void tok_text(const char *js, const jsmntok_t *t, char *out, size_t len)
{
	size_t l = (size_t)(t->end - t->start);

	if (l >= len)
		l = len - 1;
	memcpy(out, js + t->start, l);
	out[l] = '\0';
	for (size_t i = 0; i < l; i++) {
		if ((unsigned char)out[i] < ' ' || (unsigned char)out[i] >= 0x7f)
			out[i] = '?';
	}
}

int tw_yahoo_extract(const char *json, size_t len, void *toks, unsigned ntoks,
		     const char *ticker, int64_t now_s, int64_t max_age_s,
		     struct tw_quotes_item *out, char *err, size_t errlen)
{
	jsmn_parser jp;
	jsmntok_t *t = toks;
	int n, chart, e, res, meta, v;
	char num[64], txt[160];
	double price, when;
	char *end;

	jsmn_init(&jp);
	n = jsmn_parse(&jp, json, len, t, ntoks);
	if (n == JSMN_ERROR_NOMEM) {
		snprintf(err, errlen, "%s: response has more than %u JSON tokens", ticker, ntoks);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	if (n < 1 || t[0].type != JSMN_OBJECT) {
		snprintf(err, errlen, "%s: response is not a JSON object", ticker);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	chart = member(json, t, n, 0, "chart");
	if (chart < 0 || t[chart].type != JSMN_OBJECT) {
		snprintf(err, errlen, "%s: response has no chart object", ticker);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	e = member(json, t, n, chart, "error");
	if (e >= 0 && !tok_null(json, &t[e])) {
		int code = member(json, t, n, e, "code"), desc = member(json, t, n, e, "description");
		char c[64] = "?";

		txt[0] = '\0';
		if (code >= 0)
			tok_text(json, &t[code], c, sizeof c);
		if (desc >= 0)
			tok_text(json, &t[desc], txt, sizeof txt);
		snprintf(err, errlen, "%s: rejected: chart.error %s: %s", ticker, c, txt);
		return TW_ERR_QUOTES_REJECTED;
	}
	res = member(json, t, n, chart, "result");
	if (res < 0 || t[res].type != JSMN_ARRAY || t[res].size < 1) {
		snprintf(err, errlen, "%s: rejected: chart.result is empty or missing", ticker);
		return res >= 0 && (tok_null(json, &t[res]) || t[res].type == JSMN_ARRAY)
			       ? TW_ERR_QUOTES_REJECTED
			       : TW_ERR_QUOTES_BAD_JSON;
	}
	meta = member(json, t, n, res + 1, "meta");
	if (meta < 0) {
		snprintf(err, errlen, "%s: chart.result[0] has no meta object", ticker);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	v = member(json, t, n, meta, "symbol");
	if (v >= 0 && t[v].type == JSMN_STRING) {
		tok_text(json, &t[v], num, sizeof num);
		if (strcasecmp(num, ticker) != 0) {
			snprintf(err, errlen, "%s: rejected: the answer is for symbol %s", ticker, num);
			return TW_ERR_QUOTES_REJECTED;
		}
	}
	v = member(json, t, n, meta, "regularMarketPrice");
	if (v < 0 || t[v].type != JSMN_PRIMITIVE) {
		snprintf(err, errlen, "%s: rejected: no regularMarketPrice", ticker);
		return TW_ERR_QUOTES_REJECTED;
	}
	tok_text(json, &t[v], num, sizeof num);
	price = strtod(num, &end);
	if (*end != '\0' || end == num || !isfinite(price) || price <= 0) {
		snprintf(err, errlen, "%s: rejected: regularMarketPrice %s is not a positive number",
			 ticker, num);
		return TW_ERR_QUOTES_REJECTED;
	}
	v = member(json, t, n, meta, "regularMarketTime");
	if (v < 0 || t[v].type != JSMN_PRIMITIVE) {
		snprintf(err, errlen, "%s: rejected: no regularMarketTime", ticker);
		return TW_ERR_QUOTES_REJECTED;
	}
	tok_text(json, &t[v], num, sizeof num);
	when = strtod(num, &end);
	if (*end != '\0' || end == num || !isfinite(when) || when <= 0 || when > 1e12 ||
	    when != floor(when)) {
		snprintf(err, errlen, "%s: rejected: regularMarketTime %s is not a Unix time", ticker,
			 num);
		return TW_ERR_QUOTES_REJECTED;
	}
	if ((int64_t)when < now_s - max_age_s) {
		snprintf(err, errlen,
			 "%s: rejected: stale quote, market time %.0f is %lld s old (more than "
			 "[quotes] max_age %lld s)",
			 ticker, when, (long long)(now_s - (int64_t)when), (long long)max_age_s);
		return TW_ERR_QUOTES_REJECTED;
	}
	if ((int64_t)when > now_s + 86400) {
		snprintf(err, errlen, "%s: rejected: market time %.0f is in the future", ticker,
			 when);
		return TW_ERR_QUOTES_REJECTED;
	}
	if (out->ticker != ticker) /* the caller may pass out->ticker as the ticker */
		snprintf(out->ticker, sizeof out->ticker, "%s", ticker);
	out->price = price;
	out->time_s = (int64_t)when;
	return TW_OK;
}
