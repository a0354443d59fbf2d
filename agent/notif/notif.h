/* SPDX-License-Identifier: MIT */
/* notif.h - the to-notifier message (docs/notifications.md): sizes, id, writer and reader.
 *
 * The one format two roles speak, in one place: the alert role builds a message from a
 * crossing it decided to e-mail (tw_notif_build()), the notifier role reads and validates it
 * (tw_notif_parse()). Both sides go through agent/json. The writer puts "v": 2 first and the
 * reader refuses any other version, or none: a change of the format raises
 * TW_NOTIF_VERSION, and readers learn the new version before any writer writes it.
 *
 * Signed (v 2): the writer ends every message with a "sig" member, the HMAC-SHA256 under the
 * key of notif_key (migration 4) of every byte before it; the reader checks those exact bytes
 * before it reads a field, and refuses an unsigned, forged, cut or version-1 message with the
 * reason. Only a holder of the key (an alert role) can write a message the notifier mails.
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
	TW_ERR_NOTIF_KEY = -711,  /**< the signing key is not 64 lower-case hex digits */
};

#define TW_NOTIF_VERSION 2      /* field "v": the version this build writes and the one it reads */
#define TW_NOTIF_SIG_LEN 64     /* "sig": HMAC-SHA256 as lower-case hex digits */
/* The signed tail: ,"sig":"<64 hex>"} — the signature covers every byte before '"sig"'. */
#define TW_NOTIF_SIG_TAIL (sizeof "\"sig\":\"\"}" - 1 + TW_NOTIF_SIG_LEN)
#define TW_NOTIF_MAX_BYTES 8192 /* a message's value, at most */
#define TW_NOTIF_ID_LEN 32      /* the id: 16 bytes of SHA-256 as lower-case hex digits */
#define TW_NOTIF_SUBJECT_MAX 512 /* a subject read, with its NUL */
#define TW_NOTIF_TOKENS 64      /* JSON tokens a message may have when read */

/** The signing key: the 64 hex digits of notif_key.key, whose ASCII bytes are the HMAC key. */
struct tw_notif_key {
	unsigned char k[TW_CQRS_SIGN_KEY_LEN];
	int set;
};

/** Set @p k from @p hex (64 lower-case hex digits). @return 0 or TW_ERR_NOTIF_KEY. */
int tw_notif_key_set(struct tw_notif_key *k, const char *hex);

/** One message as read by tw_notif_parse(). */
struct tw_notif {
	char id[TW_NOTIF_ID_LEN + 1];
	char email[TW_CQRS_EMAIL_MAX + 1];
	char ticker[TW_CQRS_TICKER_MAX + 1];
	double value, threshold;
	int condition; /* TW_COND_HIGHER or TW_COND_LOWER */
	int64_t quote_time; /* Unix seconds */
	int64_t alert_id;   /* "alert": an alert of the alerts table; 0 (absent): the first alert */
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
	int64_t alert_id;   /* > 0: written as "alert" (after quote_time); 0: not written */
	const char *subject;
	const char *body;
};

/**
 * The deterministic notification id: the first 16 bytes of SHA-256 over
 * "email|ticker|condition|int_part|episode" (condition by its wire name), followed by
 * "|g<generation>" when @p generation > 0 (a user registered after migration 4: each
 * registration has its own, so a user deleted and registered again never meets an id of
 * its earlier life in sent_notifications; 0 keeps the ids users had before), as 32
 * lower-case hex digits and a NUL in @p out; then "|a<alert_id>" when @p alert_id > 0 (an
 * alert of the alerts table, docs/alerts.md; 0, the user's first alert, keeps every earlier
 * id byte for byte).
 * @return 0 or TW_ERR_NOTIF_SIZE (e-mail or ticker too long).
 */
int tw_notif_id(const char *email, const char *ticker, int condition, int64_t int_part,
		int64_t episode, int64_t generation, int64_t alert_id,
		char out[TW_NOTIF_ID_LEN + 1]);

/** Format @p v as the shortest plain decimal that reads back as the same double. @return @p out. */
char *tw_notif_number(double v, char *out, size_t len);

/**
 * Write @p f as a message value (JSON: "v" first, then the fields in the documented order;
 * numbers by tw_notif_number(), strings escaped, UTF-8 as is; "sig" last, signed with @p k)
 * into @p out, NUL-terminated.
 * @return its length (without the NUL), TW_ERR_NOTIF_SIZE when @p len is too small (never a
 *         cut message), or TW_ERR_NOTIF_KEY when @p k is not set.
 */
long tw_notif_write(const struct tw_notif_fields *f, const struct tw_notif_key *k, char *out,
		    size_t len);

/**
 * Build the message of a checked crossing row (tw_alert_check_row()): its id from @p int_part
 * (the integer part the alert role decided on, tw_alert_int_part()), the episode and the
 * generation, the subject and the body from the values and the quote time, written and
 * signed by tw_notif_write().
 * @return its length, TW_ERR_NOTIF_SIZE when @p len is too small, or TW_ERR_NOTIF_KEY.
 */
long tw_notif_build(const struct tw_crossing *c, int64_t int_part, const struct tw_notif_key *k,
		    char *out, size_t len);

/**
 * Parse and validate one message value (@p key: the Kafka key, NULL when absent; when
 * present it must equal the e-mail). The signature first: the value must end with the
 * signed tail, and its HMAC under @p sk (a key that is not set refuses every message) must
 * match, compared in constant time. The value must be UTF-8 without NUL and hold the
 * writer's fields only, each once (what the writer cannot produce is refused). Every field is
 * checked: v = TW_NOTIF_VERSION, id 32
 * lower-case hex, e-mail a plain ASCII address, ticker, finite positive value and threshold
 * consistent with the condition, quote_time whole seconds, "alert" (optional) a whole
 * number from 1 to 2^53 - 1, subject and body non-empty JSON strings that fit.
 * @return 0, or TW_ERR_ARG with the field and the reason in @p err.
 */
int tw_notif_parse(struct tw_notif *n, const char *value, size_t len, const char *key,
		   size_t keylen, const struct tw_notif_key *sk, char *err, size_t errlen);

/*
 * The process's signing key, read once from PostgreSQL (tw_cqrs_notif_key()) and shared by
 * the roles of the process (agent/notif/keyload.c; links agent/cqrs).
 */

/**
 * From a role's step (never blocks): @return the loaded key; else NULL, and a load is
 * started when none runs and the last try is at least a second old (the database may not
 * be up yet: the role waits — it never sends or mails without the key).
 */
const struct tw_notif_key *tw_notif_key_poll(struct tw_cqrs *q);

/* ---- one-click unsubscribe (RFC 8058): a link per recipient, signed with the same key ---- */

#define TW_NOTIF_UNSUB_MAC 16 /* bytes of the HMAC kept in a token */
/* "<hex of the e-mail>.<hex of 16 bytes of HMAC>" and its NUL */
#define TW_NOTIF_UNSUB_TOKEN_MAX (2 * TW_CQRS_EMAIL_MAX + 1 + 2 * TW_NOTIF_UNSUB_MAC + 1)

/**
 * The unsubscribe token of @p email: its bytes in lower-case hex, a dot, and the first
 * 16 bytes of HMAC-SHA256 under @p k of "tickwatch-unsubscribe|" + email, in hex. Only a
 * holder of the key can make one; it names no secret and stays valid for that address.
 * @return its length, TW_ERR_NOTIF_SIZE (e-mail too long or @p len too small) or
 *         TW_ERR_NOTIF_KEY.
 */
long tw_notif_unsub_token(const char *email, const struct tw_notif_key *k, char *out, size_t len);

/**
 * Check @p token (as made by tw_notif_unsub_token(), compared in constant time) and put
 * the e-mail it names into @p email (TW_CQRS_EMAIL_MAX + 1 bytes).
 * @return 0, TW_ERR_ARG (malformed or forged) or TW_ERR_NOTIF_KEY (no key).
 */
int tw_notif_unsub_check(const char *token, const struct tw_notif_key *k,
			 char email[TW_CQRS_EMAIL_MAX + 1]);

#endif
