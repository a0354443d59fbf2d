/* SPDX-License-Identifier: MIT */
/* decide.c - crossing checks, the duplicate-suppression rule, notification ids and messages. */
#include "alert.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>

int64_t tw_alert_int_part(double value)
{
	return (int64_t)floor(value);
}

int tw_alert_condition(double value, int has_high, double high, int has_low, double low)
{
	if (has_high && value > high)
		return TW_COND_HIGHER;
	if (has_low && value < low)
		return TW_COND_LOWER;
	return TW_COND_NONE;
}

static int why_fail(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return TW_ERR_ALERT_ROW;
}

int tw_alert_check_row(const struct tw_crossing *c, char *why, size_t whylen)
{
	size_t el = c->email ? strlen(c->email) : 0, tl = c->ticker ? strlen(c->ticker) : 0;

	if (el < 3 || el > TW_CQRS_EMAIL_MAX)
		return why_fail(why, whylen, "e-mail length %zu is outside 3..%d", el,
				TW_CQRS_EMAIL_MAX);
	if (tl < 1 || tl > TW_CQRS_TICKER_MAX)
		return why_fail(why, whylen, "ticker length %zu is outside 1..%d for %s", tl,
				TW_CQRS_TICKER_MAX, c->email);
	if (!isfinite(c->value) || c->value <= 0 || c->value > TW_ALERT_VALUE_MAX)
		return why_fail(why, whylen, "value %g of %s is not in (0, 1e9]", c->value,
				c->ticker);
	if (!isfinite(c->threshold) || c->threshold <= 0)
		return why_fail(why, whylen, "threshold %g of %s is not a positive number",
				c->threshold, c->email);
	if (c->quote_ms < 0)
		return why_fail(why, whylen, "quote time %lld of %s is before 1970",
				(long long)c->quote_ms, c->ticker);
	if (c->episode < 0)
		return why_fail(why, whylen, "episode %lld of %s is negative", (long long)c->episode,
				c->email);
	if (c->condition == TW_COND_HIGHER && !(c->value > c->threshold))
		return why_fail(why, whylen, "%s %g is not above the high threshold %g of %s",
				c->ticker, c->value, c->threshold, c->email);
	if (c->condition == TW_COND_LOWER && !(c->value < c->threshold))
		return why_fail(why, whylen, "%s %g is not below the low threshold %g of %s",
				c->ticker, c->value, c->threshold, c->email);
	if (c->condition != TW_COND_HIGHER && c->condition != TW_COND_LOWER)
		return why_fail(why, whylen, "condition %d of %s is neither higher nor lower",
				c->condition, c->email);
	return TW_OK;
}

enum tw_alert_verdict tw_alert_decide(const struct tw_crossing *c)
{
	if (!c->has_last || c->last_ticker == NULL)
		return TW_ALERT_SEND;
	if (strcmp(c->last_ticker, c->ticker) != 0)
		return TW_ALERT_SEND;
	if (c->last_condition != c->condition)
		return TW_ALERT_SEND;
	if (c->last_int != tw_alert_int_part(c->value))
		return TW_ALERT_SEND;
	return TW_ALERT_SUPPRESS;
}

int tw_alert_id(const char *email, const char *ticker, int condition, int64_t int_part,
		int64_t episode, char out[TW_ALERT_ID_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	char in[TW_CQRS_EMAIL_MAX + TW_CQRS_TICKER_MAX + 64];
	unsigned char d[32];
	int n;

	n = snprintf(in, sizeof in, "%s|%s|%s|%lld|%lld", email, ticker,
		     tw_cqrs_condition_name(condition), (long long)int_part, (long long)episode);
	if (n < 0 || (size_t)n >= sizeof in)
		return TW_ERR_ALERT_SIZE;
	if (mbedtls_sha256((const unsigned char *)in, (size_t)n, d, 0) != 0)
		return TW_ERR_ALERT_SIZE;
	for (size_t i = 0; i < TW_ALERT_ID_HEX / 2; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[TW_ALERT_ID_HEX] = '\0';
	return TW_OK;
}

char *tw_alert_number(double v, char *out, size_t len)
{
	/* The fewest decimals that read back as the same double: 191.23, not 191.22999999999999;
	 * plain decimals (no exponent) for every price; %.17g only for what that cannot hold. */
	for (int prec = 0; prec <= 17; prec++) {
		snprintf(out, len, "%.*f", prec, v);
		if (strtod(out, NULL) == v)
			return out;
	}
	snprintf(out, len, "%.17g", v);
	return out;
}

/* A bounded appender: once full, it stays full and says so. */
struct sink {
	char *p;
	size_t len, used;
	int full;
};

static void put(struct sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct sink *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->p + s->used, s->len - s->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= s->len - s->used) {
		s->full = 1;
		return;
	}
	s->used += (size_t)n;
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 passes through. */
static void put_str(struct sink *s, const char *str)
{
	put(s, "\"");
	for (const unsigned char *c = (const unsigned char *)str; *c && !s->full; c++) {
		if (*c == '"' || *c == '\\')
			put(s, "\\%c", *c);
		else if (*c == '\n')
			put(s, "\\n");
		else if (*c < 0x20 || *c == 0x7f)
			put(s, "\\u%04x", *c);
		else
			put(s, "%c", *c);
	}
	put(s, "\"");
}

/* Two decimals, as people read prices; more when two would show the crossing as no change. */
static int decimals(double a, double b)
{
	char x[48], y[48];
	int d;

	for (d = 2; d < 9; d++) {
		snprintf(x, sizeof x, "%.*f", d, a);
		snprintf(y, sizeof y, "%.*f", d, b);
		if (strcmp(x, y) != 0)
			break;
	}
	return d;
}

long tw_alert_message(const struct tw_crossing *c, char *out, size_t len)
{
	struct sink s = {out, len, 0, 0};
	char id[TW_ALERT_ID_HEX + 1], vnum[40], tnum[40], vtxt[40], ttxt[40], when[40];
	int higher = c->condition == TW_COND_HIGHER;
	int64_t secs = c->quote_ms / 1000;
	time_t t = (time_t)secs;
	struct tm tm;

	if (len == 0)
		return TW_ERR_ALERT_SIZE;
	if (tw_alert_id(c->email, c->ticker, c->condition, tw_alert_int_part(c->value), c->episode,
			id) != TW_OK)
		return TW_ERR_ALERT_SIZE;
	if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(when, sizeof when, "%lld", (long long)secs);
	tw_alert_number(c->value, vnum, sizeof vnum);
	tw_alert_number(c->threshold, tnum, sizeof tnum);
	snprintf(vtxt, sizeof vtxt, "%.*f", decimals(c->value, c->threshold), c->value);
	snprintf(ttxt, sizeof ttxt, "%.*f", decimals(c->value, c->threshold), c->threshold);

	put(&s, "{\"v\":1,\"id\":\"%s\",\"email\":", id);
	put_str(&s, c->email);
	put(&s, ",\"ticker\":");
	put_str(&s, c->ticker);
	put(&s, ",\"value\":%s,\"threshold\":%s,\"condition\":\"%s\",\"quote_time\":%lld,", vnum,
	    tnum, tw_cqrs_condition_name(c->condition), (long long)secs);
	put(&s, "\"subject\":");
	{
		char subj[128];

		snprintf(subj, sizeof subj, "%s is %s %s: %s", c->ticker, higher ? "above" : "below",
			 ttxt, vtxt);
		put_str(&s, subj);
	}
	put(&s, ",\"body\":");
	{
		char body[256];

		snprintf(body, sizeof body,
			 "%s traded at %s at %s UTC, %s your %s threshold of %s.\n", c->ticker, vtxt,
			 when, higher ? "above" : "below", higher ? "high" : "low", ttxt);
		put_str(&s, body);
	}
	put(&s, "}");
	if (s.full)
		return TW_ERR_ALERT_SIZE;
	return (long)s.used;
}
