/* SPDX-License-Identifier: MIT */
/* email.c - the one rule for an e-mail address, shared by the database layer (what may be stored)
 * and the SMTP client (what may be sent): a dot-atom local part and an LDH domain (RFC 5321/5322). */
#include "email.h"

#include <stdio.h>
#include <string.h>

#include "hal.h"

static int fail(char *msg, size_t len, const char *text)
{
	if (msg && len)
		snprintf(msg, len, "%s", text);
	return TW_ERR_ARG;
}

static int is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static int is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

int tw_email_check(const char *email, char *msg, size_t len)
{
	const char *at, *p, *label;
	size_t n, local;

	if (email == NULL || *email == '\0')
		return fail(msg, len, "is missing: give an address like name@example.com");
	n = strlen(email);
	if (n > TW_EMAIL_MAX)
		return fail(msg, len, "is longer than 254 characters (RFC 5321)");
	at = strrchr(email, '@');
	if (at == NULL)
		return fail(msg, len, "has no '@': give an address like name@example.com");
	local = (size_t)(at - email);
	if (local == 0)
		return fail(msg, len, "has an empty local part before '@'");
	if (local > TW_EMAIL_LOCAL_MAX)
		return fail(msg, len, "has a local part longer than 64 characters (RFC 5321)");
	if (email[0] == '.' || at[-1] == '.')
		return fail(msg, len, "local part starts or ends with '.'");
	for (p = email; p < at; p++) {
		if (*p == '.' && p[1] == '.')
			return fail(msg, len, "local part has '..'");
		if (*p != '.' && !is_atext((unsigned char)*p))
			return fail(msg, len, "local part has a character outside the RFC 5322 "
					      "dot-atom set (quoted local parts are not accepted)");
	}
	if (at[1] == '\0')
		return fail(msg, len, "has an empty domain after '@'");
	if (strlen(at + 1) > TW_EMAIL_DOMAIN_MAX)
		return fail(msg, len, "has a domain longer than 253 characters");
	for (label = p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t l = (size_t)(p - label);

			if (l == 0)
				return fail(msg, len, "domain has an empty label");
			if (l > 63)
				return fail(msg, len, "domain has a label longer than 63 characters");
			if (label[0] == '-' || p[-1] == '-')
				return fail(msg, len, "domain label starts or ends with '-'");
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!is_ldh((unsigned char)*p)) {
			return fail(msg, len, "domain has a character other than letters, digits, "
					      "'-' and '.'");
		}
	}
	return TW_OK;
}

