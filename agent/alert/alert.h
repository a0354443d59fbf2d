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

#endif
