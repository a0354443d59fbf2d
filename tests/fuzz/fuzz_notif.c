/* SPDX-License-Identifier: MIT */
/* fuzz_notif.c - the to-notifier message (agent/notif/notif.c): the reader on any value, and
 * writer / builder -> reader round trips.
 *
 * Input byte 0, bit 0 clear: the rest is a message value. A message read has every field in
 * its documented bounds; it is UTF-8 (docs/notifications.md) and has only the fields the
 * writer writes, each once (the reader refuses what the writer cannot produce); and writing
 * its fields again reads back to the same fields.
 * Bit 0 set: the rest makes a crossing (e-mail NUL ticker NUL, then value, threshold, quote
 * time, integer part and episode as raw bytes; bit 1 the condition; the episode's top 7 bits
 * the alert id). Whenever the builder
 * writes a message for a crossing that is valid (the rows the alert role decides on), the
 * reader takes it, with the key, and gives back the same fields. */
#include <math.h>

#include "fuzz_common.h"
#include "json/json.h"
#include "notif/notif.h"
#include "core/email.h"
#include <mbedtls/md.h>

/* The fixed key of this target (any 64 hex digits: the reader only needs the same one). */
static const struct tw_notif_key *key(void)
{
	static struct tw_notif_key k;

	if (!k.set && tw_notif_key_set(&k, "00112233445566778899aabbccddeeff"
					   "00112233445566778899aabbccddeeff") != 0)
		abort();
	return &k;
}

static struct tw_notif a, b;
static char out[TW_NOTIF_MAX_BYTES * 2];

static void check_bounds(const struct tw_notif *n)
{
	FZ_CHECK(strlen(n->id) == TW_NOTIF_ID_LEN &&
			 strspn(n->id, "0123456789abcdef") == TW_NOTIF_ID_LEN,
		 "id %s", n->id);
	FZ_CHECK(tw_email_check(n->email, NULL, 0) == 0, "email %s", n->email);
	FZ_CHECK(n->ticker[0] && strlen(n->ticker) <= TW_CQRS_TICKER_MAX &&
			 strspn(n->ticker, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-^=") ==
				 strlen(n->ticker),
		 "ticker %s", n->ticker);
	FZ_CHECK(isfinite(n->value) && n->value > 0 && isfinite(n->threshold) && n->threshold > 0,
		 "value %g threshold %g", n->value, n->threshold);
	FZ_CHECK((n->condition == TW_COND_HIGHER && n->value > n->threshold) ||
			 (n->condition == TW_COND_LOWER && n->value < n->threshold),
		 "condition %d for %g / %g", n->condition, n->value, n->threshold);
	FZ_CHECK(n->quote_time >= 0 && n->quote_time <= 253402300799LL, "quote_time %lld",
		 (long long)n->quote_time);
	FZ_CHECK(n->alert_id >= 0 && n->alert_id <= 9007199254740991LL, "alert %lld",
		 (long long)n->alert_id);
	FZ_CHECK(n->subject[0] && n->body[0], "empty subject or body");
	FZ_CHECK(tw_json_utf8_ok(n->subject, strlen(n->subject)) &&
			 tw_json_utf8_ok(n->body, strlen(n->body)),
		 "subject or body not UTF-8");
}

static int same(const struct tw_notif *x, const struct tw_notif *y)
{
	return strcmp(x->id, y->id) == 0 && strcmp(x->email, y->email) == 0 &&
	       strcmp(x->ticker, y->ticker) == 0 && x->value == y->value &&
	       x->threshold == y->threshold && x->condition == y->condition &&
	       x->quote_time == y->quote_time && x->alert_id == y->alert_id &&
	       strcmp(x->subject, y->subject) == 0 &&
	       strcmp(x->body, y->body) == 0;
}

/* Only the writer's fields, each once. */
static void check_fields(const char *v, size_t len)
{
	static const char *const names[] = {"v", "id", "email", "ticker", "value", "threshold",
					    "condition", "quote_time", "subject", "body", "sig", "alert"};
	tw_jtok t[TW_NOTIF_TOKENS];
	struct tw_json j;
	unsigned seen = 0;

	FZ_CHECK(tw_json_parse(&j, v, len, t, TW_NOTIF_TOKENS) > 0, "read but not strict JSON");
	for (int i = 1; i < j.n; i = tw_json_skip(&j, i + 1)) {
		size_t k;

		for (k = 0; k < sizeof names / sizeof names[0]; k++)
			if (tw_json_eq(&j, i, names[k]))
				break;
		FZ_CHECK(k < sizeof names / sizeof names[0], "field %.*s is not the writer's",
			 t[i].end - t[i].start, v + t[i].start);
		FZ_CHECK(!(seen & (1u << k)), "field %s twice", names[k]);
		seen |= 1u << k;
	}
}

static void rewrite_and_read(const struct tw_notif *n)
{
	struct tw_notif_fields f = {
		.id = n->id, .email = n->email, .ticker = n->ticker, .value = n->value,
		.threshold = n->threshold, .condition = n->condition, .quote_time = n->quote_time,
		.alert_id = n->alert_id, .subject = n->subject, .body = n->body,
	};
	char err[256];
	long len = tw_notif_write(&f, key(), out, sizeof out);
	int rc;

	FZ_CHECK(len > 0, "the writer refuses what was read");
	if (len > TW_NOTIF_MAX_BYTES)
		return; /* escapes (DEL as \u007f) can make it longer than the reader's bound */
	rc = tw_notif_parse(&b, out, (size_t)len, n->email, strlen(n->email), key(), err,
			    sizeof err);
	FZ_CHECK(rc == TW_OK, "the reader refuses what the writer wrote: %s: %s", err, out);
	FZ_CHECK(same(n, &b), "written and read again, fields differ: %s", out);
}

static double dbl(const uint8_t *p)
{
	double d;

	memcpy(&d, p, sizeof d);
	return d;
}

static void build(const uint8_t *data, size_t size, int higher)
{
	char *email = fz_cstr(data, size), *ticker, err[256];
	size_t el = strlen(email), tl;
	const uint8_t *p;
	struct tw_crossing c;
	int64_t q_ms, ip, ep;
	long len;

	ticker = el + 1 <= size ? fz_cstr(data + el + 1, size - el - 1) : fz_cstr(data, 0);
	tl = strlen(ticker);
	p = data + el + tl + 2;
	if (el + tl + 2 + 40 > size)
		goto out;
	memset(&c, 0, sizeof c);
	c.email = email;
	c.ticker = ticker;
	c.value = dbl(p);
	c.threshold = dbl(p + 8);
	memcpy(&q_ms, p + 16, 8);
	memcpy(&ip, p + 24, 8);
	memcpy(&ep, p + 32, 8);
	c.quote_ms = q_ms;
	c.episode = ep;
	c.alert_id = (int64_t)((uint64_t)ep >> 57); /* 0 (the first alert) or a further one */
	c.condition = higher ? TW_COND_HIGHER : TW_COND_LOWER;
	len = tw_notif_build(&c, ip, key(), out, sizeof out);
	/* a crossing the alert role decides on: the reader's rules, values at most 1e9 */
	if (len <= 0 || tw_email_check(email, NULL, 0) != 0 || tl == 0 || tl > TW_CQRS_TICKER_MAX ||
	    strspn(ticker, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-^=") != tl || !(c.value > 0) ||
	    !(c.threshold > 0) || c.value > 1e9 || c.threshold > 1e9 ||
	    (higher ? !(c.value > c.threshold) : !(c.value < c.threshold)) || q_ms < 0 ||
	    q_ms / 1000 > 253402300799LL)
		goto out;
	FZ_CHECK(tw_notif_parse(&a, out, (size_t)len, email, el, key(), err, sizeof err) == TW_OK,
		 "the reader refuses a built message: %s: %s", err, out);
	FZ_CHECK(strcmp(a.email, email) == 0 && strcmp(a.ticker, ticker) == 0 &&
			 a.value == c.value && a.threshold == c.threshold &&
			 a.condition == c.condition && a.quote_time == q_ms / 1000 &&
			 a.alert_id == c.alert_id,
		 "built and read, fields differ: %s", out);
	{
		char id[TW_NOTIF_ID_LEN + 1];

		FZ_CHECK(tw_notif_id(email, ticker, c.condition, ip, ep, c.generation, c.alert_id,
				     id) == TW_OK &&
				 strcmp(id, a.id) == 0,
			 "id %s", a.id);
	}
	check_bounds(&a);
out:
	free(email);
	free(ticker);
}

static char signed_buf[TW_NOTIF_MAX_BYTES + 128];

/* @p in without its last byte (a '}'), then ,"sig":"<HMAC of all before it>"}: the signed
 * tail the writer appends. @return the length, or 0 when @p in does not end with '}'. */
static size_t sign(const uint8_t *in, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char mac[32];
	const struct tw_notif_key *k = key();
	size_t o;

	if (n < 2 || in[n - 1] != '}')
		return 0;
	memcpy(signed_buf, in, n - 1);
	o = n - 1;
	signed_buf[o++] = ',';
	if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), k->k, sizeof k->k,
			    (const unsigned char *)signed_buf, o, mac) != 0)
		abort();
	memcpy(signed_buf + o, "\"sig\":\"", 7);
	o += 7;
	for (int i = 0; i < 32; i++) {
		signed_buf[o++] = hexd[mac[i] >> 4];
		signed_buf[o++] = hexd[mac[i] & 15];
	}
	memcpy(signed_buf + o, "\"}", 2);
	return o + 2;
}

static void read_one(const char *v, size_t n)
{
	char err[256];

	if (tw_notif_parse(&a, v, n, NULL, 0, key(), err, sizeof err) == TW_OK) {
		check_bounds(&a);
		FZ_CHECK(tw_json_utf8_ok(v, n), "a message read is not UTF-8");
		check_fields(v, n);
		rewrite_and_read(&a);
	} else {
		FZ_CHECK(err[0] != '\0', "refused without a reason");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		build(data + 1, size - 1, data[0] & 2);
		return 0;
	}
	/* The input as it is (unsigned or forged: refused with a reason, or a real signature),
	 * then signed with the key as the alert role would, so the field reader is reached. */
	v = fz_exact(data + 1, size - 1);
	read_one(v, size - 1);
	free(v);
	if (size - 1 <= TW_NOTIF_MAX_BYTES) {
		size_t n = sign(data + 1, size - 1);

		if (n)
			read_one(signed_buf, n);
	}
	return 0;
}
