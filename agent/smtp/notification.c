/* SPDX-License-Identifier: MIT */
/* notification.c - parse and validate a to-notifier message against docs/notifications.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hal.h"
#include "json/json.h"
#include "smtp/notification.h"
#include "smtp/smtp.h"

static int bad(char *err, size_t errlen, const char *fmt, const char *field)
	__attribute__((format(printf, 3, 0)));
static int bad(char *err, size_t errlen, const char *fmt, const char *field)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(err, errlen, fmt, field); /* fmt: a literal of this file with one %s */
#pragma GCC diagnostic pop
	return TW_ERR_ARG;
}

static int str_field(const struct tw_json *j, const char *key, char *out, size_t cap, char *err,
		     size_t errlen)
{
	int t = tw_json_member(j, 0, key);
	int rc;

	if (t < 0)
		return bad(err, errlen, "field '%s' is missing", key);
	rc = tw_json_string(j, t, out, cap);
	if (rc == TW_ERR_JSON_TOOLONG)
		return bad(err, errlen, "field '%s' is too long", key);
	if (rc != TW_OK)
		return bad(err, errlen, "field '%s' must be a string", key);
	if (out[0] == '\0')
		return bad(err, errlen, "field '%s' is empty", key);
	return TW_OK;
}

static int num_field(const struct tw_json *j, const char *key, double *v, char *err,
		     size_t errlen)
{
	int t = tw_json_member(j, 0, key);

	if (t < 0)
		return bad(err, errlen, "field '%s' is missing", key);
	if (tw_json_number(j, t, v) != TW_OK || !isfinite(*v))
		return bad(err, errlen, "field '%s' must be a finite number", key);
	return TW_OK;
}

int tw_notif_parse(struct tw_notif *n, const char *value, size_t len, const char *key,
		   size_t keylen, char *err, size_t errlen)
{
	tw_jtok toks[TW_NOTIF_TOKENS];
	struct tw_json j;
	char cond[16];
	double v, qt;
	int rc;

	memset(n, 0, sizeof *n);
	if (value == NULL || len == 0)
		return bad(err, errlen, "%s", "empty message");
	if (len > TW_NOTIF_MAX_BYTES)
		return bad(err, errlen, "%s", "message larger than 8 KiB");
	rc = tw_json_parse(&j, value, len, toks, TW_NOTIF_TOKENS);
	if (rc < 0 || j.n < 1 || toks[0].type != TW_J_OBJECT)
		return bad(err, errlen, "%s", rc == TW_ERR_JSON_TOKENS ? "too many JSON tokens"
								 : "not a JSON object (or not UTF-8)");
	if (num_field(&j, "v", &v, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (v != 1.0)
		return bad(err, errlen, "%s", "field 'v' must be 1");
	if (str_field(&j, "id", n->id, sizeof n->id, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (strlen(n->id) != TW_NOTIF_ID_LEN || strspn(n->id, "0123456789abcdef") != TW_NOTIF_ID_LEN)
		return bad(err, errlen, "%s", "field 'id' must be 32 lower-case hex digits");
	if (str_field(&j, "email", n->email, sizeof n->email, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (!tw_smtp_addr_ok(n->email))
		return bad(err, errlen, "%s", "field 'email' is not an ASCII local@domain address");
	if (key && (keylen != strlen(n->email) || memcmp(key, n->email, keylen) != 0))
		return bad(err, errlen, "%s", "the message key differs from field 'email'");
	if (str_field(&j, "ticker", n->ticker, sizeof n->ticker, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (strspn(n->ticker, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-^=") != strlen(n->ticker))
		return bad(err, errlen, "%s", "field 'ticker' must be upper-case A-Z 0-9 . - ^ =");
	if (num_field(&j, "value", &n->value, err, errlen) != TW_OK ||
	    num_field(&j, "threshold", &n->threshold, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (n->value <= 0 || n->threshold <= 0)
		return bad(err, errlen, "%s", "fields 'value' and 'threshold' must be > 0");
	if (str_field(&j, "condition", cond, sizeof cond, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (strcmp(cond, "higher") == 0)
		n->condition = TW_NOTIF_HIGHER;
	else if (strcmp(cond, "lower") == 0)
		n->condition = TW_NOTIF_LOWER;
	else
		return bad(err, errlen, "%s", "field 'condition' must be \"higher\" or \"lower\"");
	if ((n->condition == TW_NOTIF_HIGHER && !(n->value > n->threshold)) ||
	    (n->condition == TW_NOTIF_LOWER && !(n->value < n->threshold)))
		return bad(err, errlen, "%s", "field 'condition' contradicts 'value' and 'threshold'");
	if (num_field(&j, "quote_time", &qt, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (qt < 0 || qt > 253402300799.0 || qt != floor(qt))
		return bad(err, errlen, "%s", "field 'quote_time' must be whole Unix seconds");
	n->quote_time = (int64_t)qt;
	if (str_field(&j, "subject", n->subject, sizeof n->subject, err, errlen) != TW_OK ||
	    str_field(&j, "body", n->body, sizeof n->body, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	return TW_OK;
}
