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

/* -1 below, 1 above @p level, 0 within the hysteresis band of @p pct percent around it. */
static int side_of(double value, double level, double pct)
{
	if (value > level * (1 + pct / 100))
		return 1;
	if (value < level * (1 - pct / 100))
		return -1;
	return 0;
}

/* The condition of @p e's kind, and its threshold (above, below, band; not cross). */
static int condition_of(const struct tw_alert_eval *e, double *threshold)
{
	switch (e->kind) {
	case TW_AK_ABOVE:
		*threshold = e->level;
		return e->value > e->level ? TW_COND_HIGHER : TW_COND_NONE;
	case TW_AK_BELOW:
		*threshold = e->level;
		return e->value < e->level ? TW_COND_LOWER : TW_COND_NONE;
	case TW_AK_BAND:
		*threshold = e->value > e->level2 ? e->level2 : e->level;
		return tw_alert_condition(e->value, 1, e->level2, 1, e->level);
	default:
		*threshold = 0;
		return TW_COND_NONE;
	}
}

/* Back inside far enough to re-arm: by rearm_pct of the threshold last crossed (0: any
 * price inside, the seed's rule). */
static int back_inside(const struct tw_alert_eval *e)
{
	double p = e->rearm_pct / 100;

	if (e->last_condition == TW_COND_HIGHER) {
		double t = e->kind == TW_AK_BAND ? e->level2 : e->level;

		return e->value <= t * (1 - p);
	}
	if (e->last_condition == TW_COND_LOWER)
		return e->value >= e->level * (1 + p);
	return 1;
}

static int64_t utc_day(int64_t ms)
{
	return ms >= 0 ? ms / 86400000 : -1 - (-ms - 1) / 86400000;
}

void tw_alert_evaluate(const struct tw_alert_eval *e, struct tw_alert_outcome *o)
{
	int cond;
	double threshold = 0;
	int fresh; /* a new crossing by the frequency's rule, before the cooldown */

	memset(o, 0, sizeof *o);
	o->condition = TW_COND_NONE;
	if (!e->enabled)
		return;
	if (e->expires_ms > 0 && e->now_ms >= e->expires_ms) {
		o->disable = TW_ALERT_DISABLE_EXPIRED;
		return;
	}
	if (e->kind == TW_AK_MOVE) {
		double move, up, down;

		if (!isfinite(e->prev_close) || e->prev_close <= 0)
			return; /* no previous close known: nothing to measure from */
		/* beyond a threshold, strictly (as every kind: a price on a threshold is inside, and
		 * the message's value is then always past its threshold) */
		up = e->prev_close * (1 + e->level / 100);
		down = e->prev_close * (1 - e->level / 100);
		if (!(e->value > up) && !(e->value < down)) {
			/* inside: re-armed once back within level - rearm_pct */
			move = fabs(e->value - e->prev_close) / e->prev_close * 100;
			o->rearm = e->has_last && move <= e->level - e->rearm_pct;
			return;
		}
		cond = e->value > up ? TW_COND_HIGHER : TW_COND_LOWER;
		threshold = cond == TW_COND_HIGHER ? up : down;
		fresh = !e->has_last || e->last_condition != cond ||
			e->last_int != tw_alert_int_part(e->value);
	} else if (e->kind == TW_AK_CROSS) {
		int side = side_of(e->value, e->level, e->rearm_pct);

		if (side == 0)
			return; /* on the level (or within the band): the side stays */
		o->side = side;
		if (e->last_side == 0 || side == e->last_side)
			return; /* the first look, or no move across */
		cond = side > 0 ? TW_COND_HIGHER : TW_COND_LOWER;
		threshold = e->level;
		fresh = 1;
	} else {
		cond = condition_of(e, &threshold);
		if (cond == TW_COND_NONE) {
			o->rearm = e->has_last && back_inside(e);
			return;
		}
		fresh = !e->has_last || e->last_condition != cond ||
			e->last_int != tw_alert_int_part(e->value);
	}
	if (e->frequency == TW_AF_DAILY)
		fresh = e->last_sent_ms == 0 || utc_day(e->quote_ms) != utc_day(e->last_sent_ms);
	else if (e->frequency == TW_AF_ONCE)
		fresh = 1; /* the alert is enabled: it never sent */
	if (!fresh)
		return;
	if (e->cooldown_s > 0 && e->last_sent_ms > 0 &&
	    e->quote_ms - e->last_sent_ms < e->cooldown_s * 1000)
		return;
	o->send = 1;
	o->condition = cond;
	o->threshold = threshold;
	if (e->frequency == TW_AF_ONCE)
		o->disable = TW_ALERT_DISABLE_ONCE;
}
