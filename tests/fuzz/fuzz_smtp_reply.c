/* SPDX-License-Identifier: MIT */
/* fuzz_smtp_reply.c - the SMTP reply parser (agent/smtp/reply.c: multi-line replies, EHLO
 * keywords), fed a server's bytes whole and in pieces.
 *
 * Input: byte 0 is the piece size (0: all at once); the rest, replies one after the other.
 * Both feedings must give the same replies and the same error. A complete reply has a code
 * 200..599, one line at least, its text NUL-terminated within the buffer and free of NUL (a
 * bare CR inside a line is kept: the log turns control characters into '?'); its EHLO
 * reading always has TW_SMTP_CAP_EHLO, a SIZE limit only with TW_SMTP_CAP_SIZE, and every
 * capability it names appears as a keyword of a line after the first. */
#include <strings.h>

#include "fuzz_common.h"
#include "smtp/smtp.h"

#define MAXR 64

struct seen {
	int n, err;
	int code[MAXR];
	unsigned caps[MAXR];
	uint64_t size[MAXR];
	size_t len[MAXR];
	char text[MAXR][64];
};

static struct tw_smtp_reply rp;
static struct seen whole, split;

/* A line of @p r after the first starts with keyword @p kw (case-insensitive). */
static int has_kw(const struct tw_smtp_reply *r, const char *kw)
{
	size_t k = strlen(kw);

	for (const char *p = strchr(r->buf, '\n'); p; p = strchr(p + 1, '\n'))
		if (strncasecmp(p + 1, kw, k) == 0)
			return 1;
	return 0;
}

static void check_reply(const struct tw_smtp_reply *r)
{
	uint64_t size = 0;
	unsigned caps;

	FZ_CHECK(r->code >= 200 && r->code <= 599, "code %d", r->code);
	FZ_CHECK(r->nlines >= 1, "no lines");
	FZ_CHECK(r->len < sizeof r->buf && r->buf[r->len] == '\0' && strlen(r->buf) == r->len,
		 "text of %zu bytes", r->len);
	caps = tw_smtp_parse_ehlo(r, &size);
	FZ_CHECK(caps & TW_SMTP_CAP_EHLO, "EHLO bit");
	FZ_CHECK(size == 0 || (caps & TW_SMTP_CAP_SIZE), "a SIZE limit without SIZE");
	FZ_CHECK(!(caps & TW_SMTP_CAP_PIPELINING) || has_kw(r, "PIPELINING"), "PIPELINING");
	FZ_CHECK(!(caps & TW_SMTP_CAP_STARTTLS) || has_kw(r, "STARTTLS"), "STARTTLS");
	FZ_CHECK(!(caps & TW_SMTP_CAP_8BITMIME) || has_kw(r, "8BITMIME"), "8BITMIME");
	FZ_CHECK(!(caps & TW_SMTP_CAP_SIZE) || has_kw(r, "SIZE"), "SIZE");
	FZ_CHECK(!(caps & (TW_SMTP_CAP_AUTH_PLAIN | TW_SMTP_CAP_AUTH_LOGIN)) || has_kw(r, "AUTH"),
		 "AUTH");
}

static void feed(struct seen *s, const char *data, size_t len, size_t piece)
{
	size_t off = 0;

	memset(s, 0, sizeof *s);
	tw_smtp_reply_reset(&rp);
	while (off < len && s->n < MAXR) {
		size_t n = piece && len - off > piece ? piece : len - off;
		long used = tw_smtp_reply_feed(&rp, data + off, n);

		if (used < 0) {
			FZ_CHECK(used == TW_ERR_SMTP_PROTO || used == TW_ERR_SMTP_TOOLONG, "rc %ld",
				 used);
			s->err = (int)used;
			return;
		}
		FZ_CHECK((size_t)used <= n && (rp.complete || (size_t)used == n), "used %ld of %zu",
			 used, n);
		off += (size_t)used;
		if (rp.complete) {
			uint64_t size = 0;

			check_reply(&rp);
			s->code[s->n] = rp.code;
			s->caps[s->n] = tw_smtp_parse_ehlo(&rp, &size);
			s->size[s->n] = size;
			s->len[s->n] = rp.len;
			snprintf(s->text[s->n], sizeof s->text[0], "%s", rp.buf);
			s->n++;
			tw_smtp_reply_reset(&rp);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in;

	if (size < 1)
		return 0;
	in = fz_exact(data + 1, size - 1);
	feed(&whole, in, size - 1, 0);
	feed(&split, in, size - 1, data[0]);
	FZ_CHECK(whole.n == split.n && whole.err == split.err, "whole %d replies (rc %d), split %d "
		 "(rc %d)", whole.n, whole.err, split.n, split.err);
	for (int i = 0; i < whole.n; i++)
		FZ_CHECK(whole.code[i] == split.code[i] && whole.caps[i] == split.caps[i] &&
				 whole.size[i] == split.size[i] && whole.len[i] == split.len[i] &&
				 strcmp(whole.text[i], split.text[i]) == 0,
			 "reply %d differs whole / split", i);
	free(in);
	return 0;
}
