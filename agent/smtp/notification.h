/* SPDX-License-Identifier: MIT */
/* notification.h - the to-notifier message (docs/notifications.md): parsed and validated. */
#ifndef TW_SMTP_NOTIFICATION_H
#define TW_SMTP_NOTIFICATION_H

#include <stddef.h>
#include <stdint.h>

#define TW_NOTIF_MAX_BYTES 8192 /* a message's value, at most (the contract) */
#define TW_NOTIF_ID_LEN 32      /* 32 lower-case hex digits */
#define TW_NOTIF_SUBJECT_MAX 512
#define TW_NOTIF_TOKENS 64

enum { TW_NOTIF_HIGHER = 1, TW_NOTIF_LOWER = 2 };

struct tw_notif {
	char id[TW_NOTIF_ID_LEN + 1];
	char email[255];
	char ticker[16];
	double value, threshold;
	int condition; /* TW_NOTIF_HIGHER or TW_NOTIF_LOWER */
	int64_t quote_time;
	char subject[TW_NOTIF_SUBJECT_MAX];
	char body[TW_NOTIF_MAX_BYTES];
};

/**
 * Parse and validate one message value (@p key: the Kafka key, NULL when
 * absent; when present it must equal the e-mail). Every field of the
 * contract is checked: v = 1, id 32 lower-case hex, e-mail, ticker, finite
 * positive value and threshold consistent with the condition, quote_time,
 * subject and body non-empty UTF-8 (JSON strings).
 * @return 0, or TW_ERR_ARG with the field and the reason in @p err.
 */
int tw_notif_parse(struct tw_notif *n, const char *value, size_t len, const char *key,
		   size_t keylen, char *err, size_t errlen);

#endif
