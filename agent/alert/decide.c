/* SPDX-License-Identifier: MIT */
/* decide.c - the alert decision: crossing condition, row checks, the duplicate-suppression rule. */
#include "alert.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
