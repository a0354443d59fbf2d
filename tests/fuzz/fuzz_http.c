/* SPDX-License-Identifier: MIT */
/* fuzz_http.c - the HTTP/1.1 response parser (agent/quotes/http_parse.c): status line, headers,
 * content-length, chunked and read-until-close bodies.
 *
 * Input: byte 0 picks the body bound (bits 0-3) and the split (bits 4-7: 0 = all at once,
 * else pieces of that many bytes); the rest is the response. The same bytes are fed whole
 * and in pieces: both must end alike (the parser is "fed any split of the bytes"). A complete
 * response has a final status (200..999), a body that fits its bound and is NUL-terminated,
 * exactly Content-Length bytes when that framed it, none for 204 / 304, and used no more bytes
 * than given. */
#include "fuzz_common.h"
#include "quotes/http.h"

struct run {
	int rc;
	size_t used;
	struct tw_http_parser p;
	unsigned char body[4097];
	char err[TW_HTTP_ERR_LEN];
};

static struct run whole, split;

/* Feed @p data in pieces of @p piece bytes (0: at once), then EOF if still incomplete. */
static void feed(struct run *r, const unsigned char *data, size_t len, size_t piece, size_t cap)
{
	size_t off = 0;

	tw_http_parser_init(&r->p, r->body, cap);
	r->rc = 0;
	r->used = 0;
	r->err[0] = '\0';
	while (off < len) {
		size_t n = piece && len - off > piece ? piece : len - off, used = 0;

		r->rc = tw_http_parse(&r->p, data + off, n, &used, r->err, sizeof r->err);
		if (r->rc < 0)
			return;
		FZ_CHECK(used <= n, "used %zu of %zu", used, n);
		FZ_CHECK(r->rc == 1 || used == n, "incomplete but took %zu of %zu", used, n);
		off += used;
		r->used = off;
		if (r->rc == 1)
			return;
	}
	r->rc = tw_http_parse_eof(&r->p, r->err, sizeof r->err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[16] = {1, 2, 3, 8, 16, 64, 100, 256, 512, 1000, 1024, 2048,
					3000, 4000, 4096, 4097};
	unsigned char *in;
	size_t len, cap;

	if (size < 1)
		return 0;
	cap = caps[data[0] & 15];
	len = size - 1;
	in = (unsigned char *)fz_exact(data + 1, len);
	feed(&whole, in, len, 0, cap);
	feed(&split, in, len, (size_t)(data[0] >> 4), cap);
	FZ_CHECK(whole.rc == split.rc, "whole %d (%s), split %d (%s)", whole.rc, whole.err, split.rc,
		 split.err);
	if (whole.rc == 1) {
		const struct tw_http_parser *p = &whole.p;

		FZ_CHECK(whole.used == split.used, "used %zu whole, %zu split", whole.used, split.used);
		FZ_CHECK(p->status == split.p.status && p->body_len == split.p.body_len &&
				 memcmp(whole.body, split.body, p->body_len) == 0,
			 "whole and split responses differ");
		FZ_CHECK(p->status >= 200 && p->status <= 999, "final status %d", p->status);
		FZ_CHECK(p->body_len < cap && whole.body[p->body_len] == '\0', "body %zu of cap %zu",
			 p->body_len, cap);
		FZ_CHECK(whole.used <= len, "used %zu of %zu", whole.used, len);
		if (p->status == 204 || p->status == 304)
			FZ_CHECK(p->body_len == 0, "%d with a body", p->status);
		else if (!p->chunked && p->content_length >= 0)
			FZ_CHECK((long long)p->body_len == p->content_length,
				 "body %zu, Content-Length %lld", p->body_len, p->content_length);
	} else {
		FZ_CHECK(whole.rc == TW_ERR_HTTP_PROTO || whole.rc == TW_ERR_HTTP_TOO_BIG ||
				 whole.rc == TW_ERR_HTTP_TRUNCATED,
			 "rc %d", whole.rc);
		FZ_CHECK(whole.err[0] != '\0', "error %d without text", whole.rc);
	}
	free(in);
	return 0;
}
