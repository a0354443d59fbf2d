/* SPDX-License-Identifier: MIT */
/* notif.c - the to-notifier message: id, numbers, signed writer, builder from a crossing,
 * verifying reader. */
#include "notif/notif.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include "hal.h"
#include "json/json.h"
#include "core/email.h"

/* Strings as the first writer escaped them: a line feed as \n and DEL as \u007f as well, so
 * the bytes on the wire stay those of every earlier build. */
#define MSG_ESC (TW_JW_ESC_NL | TW_JW_ESC_DEL)

/* The condition's name on the wire and in the id. */
static const char *cond_name(int condition)
{
	if (condition == TW_COND_HIGHER)
		return "higher";
	return condition == TW_COND_LOWER ? "lower" : "none";
}

static const char hexd[] = "0123456789abcdef";

int tw_notif_key_set(struct tw_notif_key *k, const char *hex)
{
	memset(k, 0, sizeof *k);
	if (hex == NULL || strlen(hex) != TW_CQRS_SIGN_KEY_LEN ||
	    strspn(hex, hexd) != TW_CQRS_SIGN_KEY_LEN)
		return TW_ERR_NOTIF_KEY;
	memcpy(k->k, hex, TW_CQRS_SIGN_KEY_LEN);
	k->set = 1;
	return TW_OK;
}

/* HMAC-SHA256 of @p in under @p k into @p mac (32 bytes). @return 0 or TW_ERR_NOTIF_KEY. */
static int hmac(const struct tw_notif_key *k, const char *in, size_t n, unsigned char mac[32])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (k == NULL || !k->set || md == NULL ||
	    mbedtls_md_hmac(md, k->k, sizeof k->k, (const unsigned char *)in, n, mac) != 0)
		return TW_ERR_NOTIF_KEY;
	return TW_OK;
}

int tw_notif_id(const char *email, const char *ticker, int condition, int64_t int_part,
		int64_t episode, int64_t generation, int64_t alert_id, char out[TW_NOTIF_ID_LEN + 1])
{
	const char *hex = hexd;
	char in[TW_CQRS_EMAIL_MAX + TW_CQRS_TICKER_MAX + 120];
	unsigned char d[32];
	int n;

	if (generation > 0)
		n = snprintf(in, sizeof in, "%s|%s|%s|%lld|%lld|g%lld", email, ticker,
			     cond_name(condition), (long long)int_part, (long long)episode,
			     (long long)generation);
	else
		n = snprintf(in, sizeof in, "%s|%s|%s|%lld|%lld", email, ticker,
			     cond_name(condition), (long long)int_part, (long long)episode);
	/* an alert of the alerts table (id >= 1): its own ids; alert 0 keeps the bytes above */
	if (n >= 0 && (size_t)n < sizeof in && alert_id > 0)
		n += snprintf(in + n, sizeof in - (size_t)n, "|a%lld", (long long)alert_id);
	if (n < 0 || (size_t)n >= sizeof in)
		return TW_ERR_NOTIF_SIZE;
	if (mbedtls_sha256((const unsigned char *)in, (size_t)n, d, 0) != 0)
		return TW_ERR_NOTIF_SIZE;
	for (size_t i = 0; i < TW_NOTIF_ID_LEN / 2; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[TW_NOTIF_ID_LEN] = '\0';
	return TW_OK;
}

char *tw_notif_number(double v, char *out, size_t len)
{
	/* The fewest decimals that read back as the same double: 191.23, not 191.22999999999999;
	 * plain decimals (no exponent) for every price; %.17g only for what that cannot hold. */
	for (int prec = 0; prec <= 17; prec++) {
		snprintf(out, len, "%.*f", prec, v);
		if (strtod(out, NULL) == v)
			return out;
	}
	snprintf(out, len, "%.17g", v);
	return out;
}

long tw_notif_write(const struct tw_notif_fields *f, const struct tw_notif_key *k, char *out,
		    size_t len)
{
	struct tw_jw w;
	char vnum[40], tnum[40], sig[TW_NOTIF_SIG_LEN + 1];
	unsigned char mac[32];

	if (k == NULL || !k->set)
		return TW_ERR_NOTIF_KEY;
	if (len == 0)
		return TW_ERR_NOTIF_SIZE;
	tw_notif_number(f->value, vnum, sizeof vnum);
	tw_notif_number(f->threshold, tnum, sizeof tnum);
	tw_jw_init(&w, out, len);
	tw_jw_printf(&w, "{\"v\":%d,\"id\":", TW_NOTIF_VERSION);
	tw_jw_strx(&w, f->id, MSG_ESC);
	tw_jw_lit(&w, ",\"email\":");
	tw_jw_strx(&w, f->email, MSG_ESC);
	tw_jw_lit(&w, ",\"ticker\":");
	tw_jw_strx(&w, f->ticker, MSG_ESC);
	tw_jw_printf(&w, ",\"value\":%s,\"threshold\":%s,\"condition\":\"%s\",\"quote_time\":%lld,",
		     vnum, tnum, cond_name(f->condition), (long long)f->quote_time);
	/* only for an alert of the alerts table: alert 0's messages keep their bytes */
	if (f->alert_id > 0)
		tw_jw_printf(&w, "\"alert\":%lld,", (long long)f->alert_id);
	tw_jw_lit(&w, "\"subject\":");
	tw_jw_strx(&w, f->subject, MSG_ESC);
	tw_jw_lit(&w, ",\"body\":");
	tw_jw_strx(&w, f->body, MSG_ESC);
	tw_jw_lit(&w, ",");
	if (w.overflow || w.len + TW_NOTIF_SIG_TAIL >= len)
		return TW_ERR_NOTIF_SIZE;
	/* "sig" last, over every byte before it (the comma included) */
	if (hmac(k, out, w.len, mac) != TW_OK)
		return TW_ERR_NOTIF_KEY;
	for (size_t i = 0; i < sizeof mac; i++) {
		sig[2 * i] = hexd[mac[i] >> 4];
		sig[2 * i + 1] = hexd[mac[i] & 15];
	}
	sig[TW_NOTIF_SIG_LEN] = '\0';
	tw_jw_printf(&w, "\"sig\":\"%s\"}", sig);
	if (w.overflow)
		return TW_ERR_NOTIF_SIZE;
	return (long)w.len;
}

/* Two decimals, as people read prices; more when two would show the crossing as no change. */
static int decimals(double a, double b)
{
	char x[48], y[48];
	int d;

	for (d = 2; d < 9; d++) {
		snprintf(x, sizeof x, "%.*f", d, a);
		snprintf(y, sizeof y, "%.*f", d, b);
		if (strcmp(x, y) != 0)
			break;
	}
	return d;
}

long tw_notif_build(const struct tw_crossing *c, int64_t int_part, const struct tw_notif_key *k,
		    char *out, size_t len)
{
	char id[TW_NOTIF_ID_LEN + 1], vtxt[40], ttxt[40], when[40], subj[128], body[256];
	int higher = c->condition == TW_COND_HIGHER;
	int64_t secs = c->quote_ms / 1000;
	time_t t = (time_t)secs;
	struct tm tm;
	int d = decimals(c->value, c->threshold);
	struct tw_notif_fields f = {
		.id = id, .email = c->email, .ticker = c->ticker, .value = c->value,
		.threshold = c->threshold, .condition = c->condition, .quote_time = secs,
		.alert_id = c->alert_id, .subject = subj, .body = body,
	};
	int bn;

	if (len == 0)
		return TW_ERR_NOTIF_SIZE;
	if (tw_notif_id(c->email, c->ticker, c->condition, int_part, c->episode, c->generation,
			c->alert_id, id) != TW_OK)
		return TW_ERR_NOTIF_SIZE;
	if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(when, sizeof when, "%lld", (long long)secs);
	/* Values are at most 1e9 (tw_alert_check_row(); cqrs refuses larger thresholds): the
	 * texts fit. Should one not, the message is refused rather than cut. */
	if (snprintf(vtxt, sizeof vtxt, "%.*f", d, c->value) >= (int)sizeof vtxt ||
	    snprintf(ttxt, sizeof ttxt, "%.*f", d, c->threshold) >= (int)sizeof ttxt ||
	    snprintf(subj, sizeof subj, "%s is %s %s: %s", c->ticker, higher ? "above" : "below",
		     ttxt, vtxt) >= (int)sizeof subj)
		return TW_ERR_NOTIF_SIZE;
	if (c->alert_id > 0) /* a further alert: its number, so the user knows which one */
		bn = snprintf(body, sizeof body, "%s traded at %s at %s UTC, %s the level of %s "
			      "of your alert %lld.\n", c->ticker, vtxt, when,
			      higher ? "above" : "below", ttxt, (long long)c->alert_id);
	else
		bn = snprintf(body, sizeof body, "%s traded at %s at %s UTC, %s your %s threshold "
			      "of %s.\n", c->ticker, vtxt, when, higher ? "above" : "below",
			      higher ? "high" : "low", ttxt);
	if (bn < 0 || bn >= (int)sizeof body)
		return TW_ERR_NOTIF_SIZE;
	return tw_notif_write(&f, k, out, len);
}

/* ---- the reader ---- */

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
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

/* The version first: a message of another version is refused before its fields are read. */
static int version_ok(const struct tw_json *j, char *err, size_t errlen)
{
	double v = 0; /* (set by num_field; the analyzer cannot see through variadic bad()) */

	if (tw_json_member(j, 0, "v") < 0)
		return bad(err, errlen, "field 'v' (the format version) is missing: this build "
			   "reads version %d only", TW_NOTIF_VERSION);
	if (num_field(j, "v", &v, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (v != TW_NOTIF_VERSION)
		return bad(err, errlen, "field 'v' is %g: this build reads format version %d only",
			   v, TW_NOTIF_VERSION);
	return TW_OK;
}

/* The signed tail ,"sig":"<64 hex>"} and the HMAC of the bytes before it. */
static int signature_ok(const char *value, size_t len, const struct tw_notif_key *sk, char *err,
			size_t errlen)
{
	const char *tail;
	unsigned char mac[32], got[32];

	if (sk == NULL || !sk->set)
		return bad(err, errlen, "no signing key loaded: cannot verify the message");
	if (len < TW_NOTIF_SIG_TAIL + 2)
		return bad(err, errlen, "unsigned or cut: too short to end with the \"sig\" member");
	tail = value + len - TW_NOTIF_SIG_TAIL;
	if (tail[-1] != ',' || memcmp(tail, "\"sig\":\"", 7) != 0 ||
	    memcmp(tail + 7 + TW_NOTIF_SIG_LEN, "\"}", 2) != 0)
		return bad(err, errlen, "unsigned or cut: the message does not end with "
			   "\"sig\":\"<%d hex digits>\"}", TW_NOTIF_SIG_LEN);
	for (size_t i = 0; i < sizeof got; i++) {
		const char *hi = strchr(hexd, tail[7 + 2 * i]), *lo = strchr(hexd, tail[8 + 2 * i]);

		if (tail[7 + 2 * i] == '\0' || tail[8 + 2 * i] == '\0' || hi == NULL || lo == NULL)
			return bad(err, errlen, "field 'sig' must be %d lower-case hex digits",
				   TW_NOTIF_SIG_LEN);
		got[i] = (unsigned char)(((hi - hexd) << 4) | (lo - hexd));
	}
	if (hmac(sk, value, (size_t)(tail - value), mac) != TW_OK)
		return bad(err, errlen, "cannot compute the signature");
	if (mbedtls_ct_memcmp(mac, got, sizeof mac) != 0)
		return bad(err, errlen, "bad signature: not written by an alert role holding this "
			   "database's notif_key (forged or altered)");
	return TW_OK;
}

/* Only the fields the writer writes, each once: what it cannot produce is refused (a second
 * "email" would be ignored by the reads below, which take the first). */
static int fields_ok(const struct tw_json *j, char *err, size_t errlen)
{
	static const char *const names[] = {"v", "id", "email", "ticker", "value", "threshold",
					    "condition", "quote_time", "subject", "body", "sig", "alert"};
	unsigned seen = 0;

	for (int i = 1; i < j->n; i = tw_json_skip(j, i + 1)) {
		size_t k;

		for (k = 0; k < sizeof names / sizeof names[0]; k++) {
			if (tw_json_eq(j, i, names[k]))
				break;
		}
		if (k == sizeof names / sizeof names[0])
			return bad(err, errlen, "unknown field '%.*s' (version %d has v, id, email, "
				   "ticker, value, threshold, condition, quote_time, [alert,] subject, body, sig)",
				   j->t[i].end - j->t[i].start > 40 ? 40 : j->t[i].end - j->t[i].start,
				   j->js + j->t[i].start, TW_NOTIF_VERSION);
		if (seen & (1u << k))
			return bad(err, errlen, "field '%s' appears twice", names[k]);
		seen |= 1u << k;
	}
	return TW_OK;
}

int tw_notif_parse(struct tw_notif *n, const char *value, size_t len, const char *key,
		   size_t keylen, const struct tw_notif_key *sk, char *err, size_t errlen)
{
	tw_jtok toks[TW_NOTIF_TOKENS];
	struct tw_json j;
	char cond[16];
	double qt = 0; /* (as v in version_ok()) */
	int rc;

	memset(n, 0, sizeof *n);
	if (value == NULL || len == 0)
		return bad(err, errlen, "empty message");
	if (len > TW_NOTIF_MAX_BYTES)
		return bad(err, errlen, "message larger than %d KiB", TW_NOTIF_MAX_BYTES / 1024);
	if (!tw_json_utf8_ok(value, len))
		return bad(err, errlen, "not UTF-8 (or holds a NUL byte)");
	rc = tw_json_parse(&j, value, len, toks, TW_NOTIF_TOKENS);
	if (rc < 0 || j.n < 1 || toks[0].type != TW_J_OBJECT)
		return bad(err, errlen, "%s", rc == TW_ERR_JSON_TOKENS ? "too many JSON tokens"
								 : "not a JSON object");
	if (version_ok(&j, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (signature_ok(value, len, sk, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (fields_ok(&j, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (str_field(&j, "id", n->id, sizeof n->id, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (strlen(n->id) != TW_NOTIF_ID_LEN || strspn(n->id, "0123456789abcdef") != TW_NOTIF_ID_LEN)
		return bad(err, errlen, "field 'id' must be %d lower-case hex digits", TW_NOTIF_ID_LEN);
	if (str_field(&j, "email", n->email, sizeof n->email, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (tw_email_check(n->email, NULL, 0) != 0)
		return bad(err, errlen, "field 'email' is not an ASCII local@domain address");
	if (key && (keylen != strlen(n->email) || memcmp(key, n->email, keylen) != 0))
		return bad(err, errlen, "the message key differs from field 'email'");
	if (str_field(&j, "ticker", n->ticker, sizeof n->ticker, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (strspn(n->ticker, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-^=") != strlen(n->ticker))
		return bad(err, errlen, "field 'ticker' must be upper-case A-Z 0-9 . - ^ =");
	if (num_field(&j, "value", &n->value, err, errlen) != TW_OK ||
	    num_field(&j, "threshold", &n->threshold, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (n->value <= 0 || n->threshold <= 0)
		return bad(err, errlen, "fields 'value' and 'threshold' must be > 0");
	if (str_field(&j, "condition", cond, sizeof cond, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (strcmp(cond, cond_name(TW_COND_HIGHER)) == 0)
		n->condition = TW_COND_HIGHER;
	else if (strcmp(cond, cond_name(TW_COND_LOWER)) == 0)
		n->condition = TW_COND_LOWER;
	else
		return bad(err, errlen, "field 'condition' must be \"higher\" or \"lower\"");
	if ((n->condition == TW_COND_HIGHER && !(n->value > n->threshold)) ||
	    (n->condition == TW_COND_LOWER && !(n->value < n->threshold)))
		return bad(err, errlen, "field 'condition' contradicts 'value' and 'threshold'");
	if (num_field(&j, "quote_time", &qt, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	if (qt < 0 || qt > 253402300799.0 || qt != floor(qt))
		return bad(err, errlen, "field 'quote_time' must be whole Unix seconds");
	n->quote_time = (int64_t)qt;
	if (tw_json_member(&j, 0, "alert") >= 0) { /* optional: absent is the user's first alert */
		double a = 0;

		if (num_field(&j, "alert", &a, err, errlen) != TW_OK)
			return TW_ERR_ARG;
		if (!(a >= 1 && a <= 9007199254740991.0) || a != floor(a))
			return bad(err, errlen, "field 'alert' must be a whole number from 1 to 2^53 - 1");
		n->alert_id = (int64_t)a;
	}
	if (str_field(&j, "subject", n->subject, sizeof n->subject, err, errlen) != TW_OK ||
	    str_field(&j, "body", n->body, sizeof n->body, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	return TW_OK;
}

/* ---- one-click unsubscribe tokens ---- */

#define UNSUB_PREFIX "tickwatch-unsubscribe|"

static int unsub_mac(const char *email, const struct tw_notif_key *k,
		     unsigned char mac[32])
{
	char in[sizeof UNSUB_PREFIX + TW_CQRS_EMAIL_MAX];
	int n = snprintf(in, sizeof in, "%s%s", UNSUB_PREFIX, email);

	if (n < 0 || (size_t)n >= sizeof in)
		return TW_ERR_NOTIF_SIZE;
	return hmac(k, in, (size_t)n, mac);
}

long tw_notif_unsub_token(const char *email, const struct tw_notif_key *k, char *out, size_t len)
{
	size_t n = strlen(email), o = 0;
	unsigned char mac[32];
	int rc;

	if (n == 0 || n > TW_CQRS_EMAIL_MAX || len < 2 * n + 1 + 2 * (size_t)TW_NOTIF_UNSUB_MAC + 1)
		return TW_ERR_NOTIF_SIZE;
	if ((rc = unsub_mac(email, k, mac)) != TW_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		out[o++] = hexd[(unsigned char)email[i] >> 4];
		out[o++] = hexd[(unsigned char)email[i] & 15];
	}
	out[o++] = '.';
	for (size_t i = 0; i < TW_NOTIF_UNSUB_MAC; i++) {
		out[o++] = hexd[mac[i] >> 4];
		out[o++] = hexd[mac[i] & 15];
	}
	out[o] = '\0';
	return (long)o;
}

static int unhex(char c)
{
	const char *p = c ? strchr(hexd, c) : NULL;

	return p ? (int)(p - hexd) : -1;
}

int tw_notif_unsub_check(const char *token, const struct tw_notif_key *k,
			 char email[TW_CQRS_EMAIL_MAX + 1])
{
	const char *dot = strchr(token, '.');
	size_t n = dot ? (size_t)(dot - token) : 0;
	unsigned char mac[32], diff = 0;

	if (k == NULL || !k->set)
		return TW_ERR_NOTIF_KEY;
	if (dot == NULL || n == 0 || n % 2 || n / 2 > TW_CQRS_EMAIL_MAX ||
	    strlen(dot + 1) != 2 * (size_t)TW_NOTIF_UNSUB_MAC)
		return TW_ERR_ARG;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = unhex(token[2 * i]), lo = unhex(token[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return TW_ERR_ARG;
		email[i] = (char)(hi * 16 + lo);
	}
	email[n / 2] = '\0';
	if (unsub_mac(email, k, mac) != TW_OK)
		return TW_ERR_ARG;
	for (size_t i = 0; i < TW_NOTIF_UNSUB_MAC; i++) {
		int hi = unhex(dot[1 + 2 * i]), lo = unhex(dot[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return TW_ERR_ARG;
		diff |= (unsigned char)(mac[i] ^ (unsigned char)(hi * 16 + lo));
	}
	return diff == 0 ? TW_OK : TW_ERR_ARG;
}
