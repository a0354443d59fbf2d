/* SPDX-License-Identifier: MIT */
/* email.h - the one rule for an e-mail address (what is stored is what can be sent). */
#ifndef TW_EMAIL_H
#define TW_EMAIL_H

#include <stddef.h>

#define TW_EMAIL_MAX 254       /* RFC 5321 path limit minus the angle brackets */
#define TW_EMAIL_LOCAL_MAX 64  /* RFC 5321 local-part */
#define TW_EMAIL_DOMAIN_MAX 253

/**
 * Check @p email: at most TW_EMAIL_MAX bytes, a dot-atom local part (no quoted
 * form, no leading, trailing or doubled '.'), an LDH domain of labels of 1..63.
 * @return 0, or TW_ERR_ARG with the reason (a phrase that follows "e-mail ...")
 *         in @p msg when @p msg is not NULL.
 */
int tw_email_check(const char *email, char *msg, size_t len);

#endif
