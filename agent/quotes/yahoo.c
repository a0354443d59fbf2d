/* SPDX-License-Identifier: MIT */
/* yahoo.c - the Yahoo chart API source: GET over the HTTP client, the meta read with agent/json
 * (price, market time, and when given the regular trading period of currentTradingPeriod, the
 * previous close, the currency and the exchange's name). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "json/json.h"
#include "quotes/quotes.h"

size_t tw_yahoo_token_size(void)
{
	return sizeof(tw_jtok);
}

/* Token @p i as text for a message or a comparison: a string decoded (its raw text when it
 * does not decode or fit), anything else as written; cut to @p len, non-printables as '?'. */
static void tok_text(const struct tw_json *j, int i, char *out, size_t len)
{
	const tw_jtok *t = &j->t[i];
	size_t l = (size_t)(t->end - t->start);

	if (t->type != TW_J_STRING || tw_json_string(j, i, out, len) != 0) {
		if (l >= len)
			l = len - 1;
		memcpy(out, j->js + t->start, l);
		out[l] = '\0';
	}
	for (char *p = out; *p; p++) {
		if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f)
			*p = '?';
	}
}

/* A whole Unix time (seconds, 1..1e12) at token @p v. @return 0 and *out, or -1. */
static int unix_time(const struct tw_json *j, int v, int64_t *out)
{
	double d;

	if (v < 0 || j->t[v].type != TW_J_PRIMITIVE || tw_json_number(j, v, &d) != 0 ||
	    !isfinite(d) || d <= 0 || d > 1e12 || d != floor(d))
		return -1;
	*out = (int64_t)d;
	return 0;
}

/* meta.currentTradingPeriod.regular.{start,end}: both Unix times with start < end, else 0, 0
 * (a period that is missing or malformed is no period: the quote is not judged by it). */
static void regular_period(const struct tw_json *j, int meta, int64_t *start, int64_t *end)
{
	int ctp = tw_json_member(j, meta, "currentTradingPeriod"), reg = -1;
	int64_t s = 0, e = 0;

	*start = *end = 0;
	if (ctp >= 0 && j->t[ctp].type == TW_J_OBJECT)
		reg = tw_json_member(j, ctp, "regular");
	if (reg < 0 || j->t[reg].type != TW_J_OBJECT)
		return;
	if (unix_time(j, tw_json_member(j, reg, "start"), &s) != 0 ||
	    unix_time(j, tw_json_member(j, reg, "end"), &e) != 0 || s >= e)
		return;
	*start = s;
	*end = e;
}

/* The string member @p key of @p meta into @p out when it decodes, fits and passes @p ok;
 * else "" (a value Yahoo gives wrong is no value: the quote still counts). */
static void meta_string(const struct tw_json *j, int meta, const char *key, int (*ok)(const char *),
			char *out, size_t len)
{
	int v = tw_json_member(j, meta, key);

	out[0] = '\0';
	if (v < 0 || j->t[v].type != TW_J_STRING || tw_json_string(j, v, out, len) != 0 ||
	    !ok(out))
		out[0] = '\0';
}

/* meta.chartPreviousClose when it is a number we take, else 0 (not known). */
static double prev_close(const struct tw_json *j, int meta)
{
	int v = tw_json_member(j, meta, "chartPreviousClose");
	double d;

	if (v < 0 || j->t[v].type != TW_J_PRIMITIVE || tw_json_number(j, v, &d) != 0 ||
	    !tw_quotes_prev_ok(d))
		return 0;
	return d;
}

int tw_yahoo_extract(const char *json, size_t len, void *toks, unsigned ntoks,
		     const char *ticker, int64_t now_s, int64_t max_age_s,
		     struct tw_quotes_item *out, char *err, size_t errlen)
{
	struct tw_json j;
	const tw_jtok *t = toks;
	int n, chart, e, res, meta, v;
	char num[64], txt[160];
	double price, when;

	/* Lenient: a price written as NaN is refused below by name, not as unreadable JSON. */
	n = tw_json_parse_lenient(&j, json, len, toks, (int)ntoks);
	if (n == TW_ERR_JSON_TOKENS) {
		snprintf(err, errlen, "%s: response has more than %u JSON tokens", ticker, ntoks);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	if (n < 1 || t[0].type != TW_J_OBJECT) {
		snprintf(err, errlen, "%s: response is not a JSON object", ticker);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	chart = tw_json_member(&j, 0, "chart");
	if (chart < 0 || t[chart].type != TW_J_OBJECT) {
		snprintf(err, errlen, "%s: response has no chart object", ticker);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	e = tw_json_member(&j, chart, "error");
	if (e >= 0 && !tw_json_is_null(&j, e)) {
		int code = tw_json_member(&j, e, "code"), desc = tw_json_member(&j, e, "description");
		char c[64] = "?";

		txt[0] = '\0';
		if (code >= 0)
			tok_text(&j, code, c, sizeof c);
		if (desc >= 0)
			tok_text(&j, desc, txt, sizeof txt);
		snprintf(err, errlen, "%s: rejected: chart.error %s: %s", ticker, c, txt);
		if (strcmp(c, "Not Found") == 0)
			out->unknown = 1; /* Yahoo does not know the ticker */
		return TW_ERR_QUOTES_REJECTED;
	}
	res = tw_json_member(&j, chart, "result");
	if (res < 0 || t[res].type != TW_J_ARRAY || t[res].size < 1) {
		snprintf(err, errlen, "%s: rejected: chart.result is empty or missing", ticker);
		if (res >= 0 && (tw_json_is_null(&j, res) || t[res].type == TW_J_ARRAY))
			out->unknown = 1;
		return res >= 0 && (tw_json_is_null(&j, res) || t[res].type == TW_J_ARRAY)
			       ? TW_ERR_QUOTES_REJECTED
			       : TW_ERR_QUOTES_BAD_JSON;
	}
	meta = tw_json_member(&j, res + 1, "meta");
	if (meta < 0) {
		snprintf(err, errlen, "%s: chart.result[0] has no meta object", ticker);
		return TW_ERR_QUOTES_BAD_JSON;
	}
	v = tw_json_member(&j, meta, "symbol");
	if (v >= 0 && t[v].type == TW_J_STRING) {
		tok_text(&j, v, num, sizeof num);
		if (strcasecmp(num, ticker) != 0) {
			snprintf(err, errlen, "%s: rejected: the answer is for symbol %s", ticker, num);
			return TW_ERR_QUOTES_REJECTED;
		}
	}
	v = tw_json_member(&j, meta, "regularMarketPrice");
	if (v < 0 || t[v].type != TW_J_PRIMITIVE) {
		snprintf(err, errlen, "%s: rejected: no regularMarketPrice", ticker);
		return TW_ERR_QUOTES_REJECTED;
	}
	tok_text(&j, v, num, sizeof num);
	if (tw_json_number(&j, v, &price) != 0 || !isfinite(price) || price <= 0) {
		snprintf(err, errlen, "%s: rejected: regularMarketPrice %s is not a positive number",
			 ticker, num);
		return TW_ERR_QUOTES_REJECTED;
	}
	v = tw_json_member(&j, meta, "regularMarketTime");
	if (v < 0 || t[v].type != TW_J_PRIMITIVE) {
		snprintf(err, errlen, "%s: rejected: no regularMarketTime", ticker);
		return TW_ERR_QUOTES_REJECTED;
	}
	tok_text(&j, v, num, sizeof num);
	if (tw_json_number(&j, v, &when) != 0 || !isfinite(when) || when <= 0 || when > 1e12 ||
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
	regular_period(&j, meta, &out->reg_start, &out->reg_end);
	out->prev_close = prev_close(&j, meta);
	meta_string(&j, meta, "currency", tw_quotes_currency_ok, out->currency,
		    sizeof out->currency);
	meta_string(&j, meta, "exchangeName", tw_quotes_exchange_ok, out->exchange,
		    sizeof out->exchange);
	return TW_OK;
}

int tw_quotes_off_hours(const struct tw_quotes_item *q)
{
	if (q->reg_start <= 0 || q->reg_end <= q->reg_start)
		return 0; /* no period given: every quote counts */
	return q->time_s < q->reg_start || q->time_s > q->reg_end;
}
