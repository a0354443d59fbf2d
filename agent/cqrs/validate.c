/* SPDX-License-Identifier: MIT */
/* validate.c - input rules of the commands and queries: e-mail (domain folded to lower case),
 * ticker, thresholds, ids, N. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/email.h"
#include "cqrs.h"

#define VALUE_MAX 1e9 /* no stock trades above this; larger numbers are typing mistakes */

static int fail(char *msg, size_t len, const char *text)
{
	if (msg && len)
		snprintf(msg, len, "%s", text);
	return TW_ERR_CQRS_INVALID;
}

int tw_cqrs_check_email(const char *email, char *msg, size_t len)
{
	return tw_email_check(email, msg, len) == TW_OK ? TW_OK : TW_ERR_CQRS_INVALID;
}

void tw_cqrs_fold_email(char *email)
{
	char *at = strrchr(email, '@');

	/* RFC 5321 2.4: the domain is case-insensitive, the local part may not be */
	for (char *p = at ? at + 1 : email + strlen(email); *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
}

int tw_cqrs_check_ticker(const char *in, char *out, char *msg, size_t len)
{
	size_t n, i;
	char buf[TW_CQRS_TICKER_MAX + 1];

	n = in ? strlen(in) : 0;
	if (n == 0)
		return fail(msg, len, "is missing: give a symbol like AAPL, BRK-B, ^GSPC or ENI.MI");
	if (n > TW_CQRS_TICKER_MAX)
		return fail(msg, len, "is longer than 15 characters");
	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		buf[i] = c;
		if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (c == '^' && i == 0)
			continue;
		if ((c == '.' || c == '-' || c == '=') && i > 0 && buf[i - 1] != '^')
			continue;
		return fail(msg, len, "may hold letters, digits and '.', '-', '=' inside, and '^' "
				      "first (e.g. AAPL, BRK-B, ^GSPC, ENI.MI)");
	}
	memset(buf + n, 0, sizeof buf - n);
	if (buf[0] == '^' && n == 1)
		return fail(msg, len, "'^' alone is not a symbol");
	if (strchr(".-=", buf[n - 1]) != NULL) /* n is 1..15 here */
		return fail(msg, len, "must end with a letter or digit");
	if (out)
		memcpy(out, buf, n + 1);
	return TW_OK;
}

int tw_cqrs_check_threshold(const char *field, double v, char *msg, size_t len)
{
	(void)field;
	if (v == TW_CQRS_UNSET)
		return TW_OK;
	if (!isfinite(v))
		return fail(msg, len, "must be a finite number");
	if (v <= 0)
		return fail(msg, len, "must be greater than 0 (or -1 to unset it)");
	if (v > VALUE_MAX)
		return fail(msg, len, "must be at most 1e9");
	return TW_OK;
}

int tw_cqrs_check_thresholds(double high, double low, const char **field, char *msg, size_t len)
{
	if (tw_cqrs_check_threshold("high", high, msg, len) != TW_OK) {
		*field = "high";
		return TW_ERR_CQRS_INVALID;
	}
	if (tw_cqrs_check_threshold("low", low, msg, len) != TW_OK) {
		*field = "low";
		return TW_ERR_CQRS_INVALID;
	}
	if (high != TW_CQRS_UNSET && low != TW_CQRS_UNSET && !(high > low)) {
		*field = "high";
		return fail(msg, len, "must be greater than low when both are set");
	}
	return TW_OK;
}

int tw_cqrs_check_request_id(const char *id, char *msg, size_t len)
{
	size_t n;

	if (id == NULL || *id == '\0')
		return fail(msg, len, "is missing: every mutating call needs a client-chosen "
				      "request_id (e.g. a UUID)");
	n = strlen(id);
	if (n > TW_CQRS_REQID_MAX)
		return fail(msg, len, "is longer than 64 characters");
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return fail(msg, len, "may hold only letters, digits and . _ : -");
	}
	return TW_OK;
}

int tw_cqrs_check_n(long long n, char *msg, size_t len)
{
	if (n < 1 || n > TW_CQRS_AVG_MAX)
		return fail(msg, len, "must be a whole number from 1 to 1000");
	return TW_OK;
}

int tw_cqrs_check_value(double v, char *msg, size_t len)
{
	if (!isfinite(v))
		return fail(msg, len, "must be a finite number");
	if (v <= 0)
		return fail(msg, len, "must be greater than 0");
	if (v > VALUE_MAX)
		return fail(msg, len, "must be at most 1e9");
	return TW_OK;
}

const char *tw_cqrs_condition_name(int condition)
{
	return condition == TW_COND_HIGHER ? "higher" : condition == TW_COND_LOWER ? "lower" : "none";
}

const char *tw_cqrs_text_ascii(const char *in, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return buf;
	for (; in && in[o] && o + 1 < len; o++) {
		unsigned char c = (unsigned char)in[o];

		buf[o] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	buf[o] = '\0';
	return buf;
}
