/* SPDX-License-Identifier: MIT */
/* alert.h - the alert role's decision: crossing condition, row checks, duplicate suppression.
 *
 * Nothing here touches the network, the database or the clock: every function
 * works on its arguments only, so the unit tests pin the rules of docs/alerts.md.
 * The message a decision to e-mail turns into (its id, its text, its format) is
 * agent/notif's (docs/notifications.md).
 */
#ifndef TW_ALERT_H
#define TW_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "cqrs/cqrs.h"

/* Errors of the alert module (-700..-709: none of the other modules use them). */
enum {
	TW_ERR_ALERT_ROW = -700, /**< a crossing row is inconsistent (reason in the text) */
};

#define TW_ALERT_VALUE_MAX 1e9   /* quotes above this are refused by the cqrs layer too */

/** What to do with one crossing row. */
enum tw_alert_verdict {
	TW_ALERT_SEND = 1,     /* e-mail it */
	TW_ALERT_SUPPRESS = 0, /* same ticker, condition and integer part as the last e-mail */
};

/**
 * @return the integer part of a positive quote (floor; values are > 0 and <= 1e9): what the
 * suppression rule compares, AdvanceAlert records and the notification id covers.
 */
int64_t tw_alert_int_part(double value);

/**
 * The condition of @p value against a band: TW_COND_HIGHER when @p has_high
 * and value > high, TW_COND_LOWER when @p has_low and value < low, else
 * TW_COND_NONE (inside the band, on a threshold, or no threshold set).
 */
int tw_alert_condition(double value, int has_high, double high, int has_low, double low);

/**
 * Check a row from UsersCrossingThresholds: e-mail and ticker present and
 * within bounds, value finite in (0, 1e9], condition higher or lower and
 * consistent with the threshold (value > threshold for higher, < for lower).
 * @return 0, or TW_ERR_ALERT_ROW with the reason in @p why.
 */
int tw_alert_check_row(const struct tw_crossing *c, char *why, size_t whylen);

/**
 * The duplicate-suppression rule on a checked row: send when the user was
 * never notified (or was re-armed since), or when the ticker, the condition
 * or the integer part of the value differs from the last e-mail.
 */
enum tw_alert_verdict tw_alert_decide(const struct tw_crossing *c);

/* ---- a further alert (the alerts table; docs/alerts.md, Alerts as objects) ---- */

/** One alert with its ticker's latest quote and its suppression state. */
struct tw_alert_eval {
	int kind;          /* TW_AK_ABOVE, TW_AK_BELOW, TW_AK_BAND, TW_AK_CROSS, TW_AK_MOVE */
	double level, level2; /* band: low, high; move: level is the percent (0, 100] */
	int frequency;     /* TW_AF_* */
	int64_t cooldown_s;
	double rearm_pct;
	int64_t expires_ms; /* 0: never */
	int enabled;
	double value;      /* the latest quote */
	int64_t quote_ms;  /* its time */
	double prev_close; /* move: the previous close told with the quote (quotes.prev_close);
			    * 0 (or anything not finite > 0): not known, no decision */
	int64_t now_ms;    /* the pass's clock, for the expiry only */
	int has_last;      /* last_condition / last_int set (not re-armed since) */
	int last_condition;
	int64_t last_int;
	int64_t last_sent_ms; /* the quote time of the last e-mail, 0: none */
	int last_side;     /* cross: -1 below, 1 above, 0 not known yet */
};

enum { TW_ALERT_KEEP = 0, TW_ALERT_DISABLE_ONCE = 1, TW_ALERT_DISABLE_EXPIRED = 2 };

/** What the pass does with one alert. */
struct tw_alert_outcome {
	int send;        /* 1: e-mail it (condition, threshold below) */
	int condition;   /* TW_COND_HIGHER / TW_COND_LOWER of the e-mail, or TW_COND_NONE */
	double threshold;
	int rearm;       /* forget last_condition / last_int (back inside by rearm_pct) */
	int disable;     /* TW_ALERT_KEEP, or disable it for that reason (in the advance) */
	int side;        /* cross: the side to store (0: leave it) */
};

/**
 * The rules of docs/alerts.md for one further alert, on its arguments only: expiry (now_ms at
 * or past expires_ms: disabled, nothing sent), the condition of its kind, the re-arm band,
 * the frequency (change: the seed's rule; once; daily: one per UTC date of the quote time)
 * and the cooldown (quote times). A disabled alert does nothing. A move alert crosses when
 * the value is beyond a threshold: higher (up) above prev_close * (1 + level / 100), lower
 * (down) below prev_close * (1 - level / 100), the threshold crossed; without a
 * previous close it decides nothing (no e-mail, no re-arm: the state stays). Its re-arm:
 * back within level - rearm_pct percent of the previous close.
 */
void tw_alert_evaluate(const struct tw_alert_eval *e, struct tw_alert_outcome *o);

#endif
