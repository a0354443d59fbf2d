/* SPDX-License-Identifier: MIT */
/* notif.h - the to-notifier message (docs/notifications.md): sizes, id, writer and reader.
 *
 * The one format two roles speak, in one place: the alert role builds a message from a
 * crossing it decided to e-mail (tw_notif_build()), the notifier role reads and validates it
 * (tw_notif_parse()). Both sides go through agent/json. The writer puts "v": 1 first and the
 * reader refuses any other version, or none: a change of the format raises
 * TW_NOTIF_VERSION, and readers learn the new version before any writer writes it.
 *
 * Conditions are cqrs' values (TW_COND_HIGHER, TW_COND_LOWER: the rows a message is built
 * from); their names on the wire ("higher", "lower") are this module's. Sizes of the e-mail
 * and the ticker are cqrs' too (TW_CQRS_EMAIL_MAX, TW_CQRS_TICKER_MAX). Only cqrs.h's
 * declarations are used: nothing here links the database, and nothing touches the network
 * or the clock.
 */
#ifndef TW_NOTIF_H
#define TW_NOTIF_H

#include <stddef.h>
#include <stdint.h>

#include "cqrs/cqrs.h"

/* Errors of the notif module (-710..-719: none of the other modules use them). A message that
 * does not validate is TW_ERR_ARG, with the field and the reason in the caller's text. */
enum {
	TW_ERR_NOTIF_SIZE = -710, /**< the message (or its id) does not fit in the buffer given */
};

#define TW_NOTIF_VERSION 1      /* field "v": the version this build writes and the one it reads */
#define TW_NOTIF_MAX_BYTES 8192 /* a message's value, at most */
#define TW_NOTIF_ID_LEN 32      /* the id: 16 bytes of SHA-256 as lower-case hex digits */
#define TW_NOTIF_SUBJECT_MAX 512 /* a subject read, with its NUL */
#define TW_NOTIF_TOKENS 64      /* JSON tokens a message may have when read */

/** One message as read by tw_notif_parse(). */
struct tw_notif {
	char id[TW_NOTIF_ID_LEN + 1];
	char email[TW_CQRS_EMAIL_MAX + 1];
	char ticker[TW_CQRS_TICKER_MAX + 1];
	double value, threshold;
	int condition; /* TW_COND_HIGHER or TW_COND_LOWER */
	int64_t quote_time; /* Unix seconds */
	char subject[TW_NOTIF_SUBJECT_MAX];
	char body[TW_NOTIF_MAX_BYTES];
};

/** One message to write with tw_notif_write(): strings non-NULL, written as given. */
struct tw_notif_fields {
	const char *id;
	const char *email;
	const char *ticker;
	double value, threshold;
	int condition; /* TW_COND_HIGHER or TW_COND_LOWER ("none" on the wire otherwise) */
	int64_t quote_time; /* Unix seconds */
	const char *subject;
	const char *body;
};

/**
 * The deterministic notification id: the first 16 bytes of SHA-256 over
 * "email|ticker|condition|int_part|episode" (condition by its wire name), as 32 lower-case
 * hex digits and a NUL in @p out. @return 0 or TW_ERR_NOTIF_SIZE (e-mail or ticker too long).
 */
int tw_notif_id(const char *email, const char *ticker, int condition, int64_t int_part,
		int64_t episode, char out[TW_NOTIF_ID_LEN + 1]);

/** Format @p v as the shortest plain decimal that reads back as the same double. @return @p out. */
char *tw_notif_number(double v, char *out, size_t len);

/**
 * Write @p f as a message value (JSON: "v" first, then the fields in the documented order;
 * numbers by tw_notif_number(), strings escaped, UTF-8 as is) into @p out, NUL-terminated.
 * @return its length (without the NUL), or TW_ERR_NOTIF_SIZE when @p len is too small:
 *         never a cut message.
 */
long tw_notif_write(const struct tw_notif_fields *f, char *out, size_t len);

/**
 * Build the message of a checked crossing row (tw_alert_check_row()): its id from @p int_part
 * (the integer part the alert role decided on, tw_alert_int_part()) and the episode, the
 * subject and the body from the values and the quote time, written by tw_notif_write().
 * @return its length, or TW_ERR_NOTIF_SIZE when @p len is too small.
 */
long tw_notif_build(const struct tw_crossing *c, int64_t int_part, char *out, size_t len);

/**
 * Parse and validate one message value (@p key: the Kafka key, NULL when absent; when
 * present it must equal the e-mail). The value must be UTF-8 without NUL and hold the
 * writer's fields only, each once (what the writer cannot produce is refused). Every field is
 * checked: v = TW_NOTIF_VERSION, id 32
 * lower-case hex, e-mail a plain ASCII address, ticker, finite positive value and threshold
 * consistent with the condition, quote_time whole seconds, subject and body non-empty JSON
 * strings that fit.
 * @return 0, or TW_ERR_ARG with the field and the reason in @p err.
 */
int tw_notif_parse(struct tw_notif *n, const char *value, size_t len, const char *key,
		   size_t keylen, char *err, size_t errlen);

#endif
