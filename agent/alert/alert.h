/* SPDX-License-Identifier: MIT */
/* alert.h - the alert role's pure logic: crossing checks, duplicate suppression, id and message.
 *
 * Nothing here touches the network, the database or the clock: every function
 * works on its arguments only, so the unit tests pin the whole contract of
 * docs/notifications.md and docs/alerts.md.
 */
#ifndef TW_ALERT_H
#define TW_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "cqrs/cqrs.h"

/* Errors of the alert module (-700..-709: none of the other modules use them). */
enum {
	TW_ERR_ALERT_ROW = -700, /**< a crossing row is inconsistent (reason in the text) */
	TW_ERR_ALERT_SIZE = -701, /**< the message does not fit in the buffer given */
};

#define TW_ALERT_ID_HEX 32       /* notification id: 16 bytes of SHA-256 as lower-case hex */
#define TW_ALERT_MSG_MAX 8192    /* largest message value (docs/notifications.md) */
#define TW_ALERT_VALUE_MAX 1e9   /* quotes above this are refused by the cqrs layer too */

/** What to do with one crossing row. */
enum tw_alert_verdict {
	TW_ALERT_SEND = 1,     /* e-mail it */
	TW_ALERT_SUPPRESS = 0, /* same ticker, condition and integer part as the last e-mail */
};

/** @return the integer part of a positive quote (floor; values are > 0 and <= 1e9). */
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

/**
 * The deterministic notification id: the first 16 bytes of SHA-256 over
 * "email|ticker|condition|int_part|episode", as 32 lower-case hex digits and
 * a NUL in @p out (TW_ALERT_ID_HEX + 1 bytes). @return 0 or TW_ERR_ALERT_SIZE.
 */
int tw_alert_id(const char *email, const char *ticker, int condition, int64_t int_part,
		int64_t episode, char out[TW_ALERT_ID_HEX + 1]);

/**
 * Build the to-notifier message value (JSON of docs/notifications.md) for a
 * checked row into @p out. @return its length (without the NUL), or
 * TW_ERR_ALERT_SIZE when @p len is too small.
 */
long tw_alert_message(const struct tw_crossing *c, char *out, size_t len);

/** Format @p v as the shortest decimal that reads back as the same double. @return @p out. */
char *tw_alert_number(double v, char *out, size_t len);

#endif
