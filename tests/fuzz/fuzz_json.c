/* SPDX-License-Identifier: MIT */
/* fuzz_json.c - agent/json: strict and lenient tokenizers, the readers (member, string decode,
 * number) and the writer, on any bytes.
 *
 * Properties: tokens lie inside the text and nest; what the strict parser accepts the lenient
 * one accepts with the same tokens; a decoded string fits its buffer, holds no NUL and does
 * not depend on the buffer's size once it fits; a number read is never NaN; and the reader
 * and writer round-trip: the canonical text written from what was read (strings decoded and
 * re-escaped by tw_jw_str, primitives as read) parses again to a value whose canonical text is
 * the same bytes. */
#include <math.h>

#include "fuzz_common.h"
#include "json/json.h"

#define NTOK 512
#define OUT_MAX 65536

static tw_jtok toks[NTOK], toks2[NTOK];
static char canon1[OUT_MAX], canon2[OUT_MAX], sbuf[OUT_MAX];

/* Token bounds and nesting, for any successful parse (strict or lenient). */
static void check_tokens(const struct tw_json *j, size_t len)
{
	for (int i = 0; i < j->n; i++) {
		const tw_jtok *t = &j->t[i];
		int end = tw_json_skip(j, i);

		FZ_CHECK(t->start >= 0 && t->start <= t->end && (size_t)t->end <= len,
			 "token %d [%d,%d) outside %zu bytes", i, t->start, t->end, len);
		FZ_CHECK(t->type >= TW_J_OBJECT && t->type <= TW_J_PRIMITIVE, "token %d type %d", i,
			 t->type);
		FZ_CHECK(end > i && end <= j->n, "skip(%d) = %d of %d", i, end, j->n);
		for (int k = i + 1; k < end; k++)
			FZ_CHECK(j->t[k].start >= t->start && j->t[k].end <= t->end,
				 "token %d not inside its parent %d", k, i);
	}
}

/* The readers on every token: must not read outside the text, and keep their promises. */
static void check_readers(const struct tw_json *j)
{
	for (int i = 0; i < j->n; i++) {
		const tw_jtok *t = &j->t[i];
		double v;
		char small[8];

		if (t->type == TW_J_STRING) {
			int rc = tw_json_string(j, i, sbuf, sizeof sbuf);
			int rs = tw_json_string(j, i, small, sizeof small);

			FZ_CHECK(rc == 0 || rc == TW_ERR_JSON_TYPE || rc == TW_ERR_JSON_TOOLONG,
				 "string rc %d", rc);
			if (rc == 0) {
				size_t n = strlen(sbuf);

				/* decoding never grows: \uXXXX (6 bytes) is at most 3 bytes of UTF-8 */
				FZ_CHECK(n <= (size_t)(t->end - t->start), "decoded %zu > raw %d", n,
					 t->end - t->start);
				FZ_CHECK(rs == (n < sizeof small ? 0 : TW_ERR_JSON_TOOLONG),
					 "small buffer rc %d for %zu bytes", rs, n);
				if (rs == 0)
					FZ_CHECK(strcmp(small, sbuf) == 0, "decode depends on buffer");
			} else if (rc == TW_ERR_JSON_TYPE) {
				FZ_CHECK(rs != 0, "small buffer decodes what the large one refuses");
			}
		}
		if (tw_json_number(j, i, &v) == 0)
			FZ_CHECK(!isnan(v), "number token %d read as NaN", i);
		if (tw_json_is_null(j, i))
			FZ_CHECK(t->type == TW_J_PRIMITIVE, "null of type %d", t->type);
		if (t->type == TW_J_OBJECT) {
			int m = tw_json_member(j, i, "a");

			FZ_CHECK(m == -1 || (m > i && m < tw_json_skip(j, i)),
				 "member %d outside object %d", m, i);
		}
	}
}

/* The canonical text of value @p i into @p w. @return the index past it, or -1 when a string
 * does not decode (no canonical form: \u0000, a lone surrogate). */
static int emit(const struct tw_json *j, int i, struct tw_jw *w)
{
	const tw_jtok *t = &j->t[i];
	int k = i + 1;

	switch (t->type) {
	case TW_J_STRING:
		if (tw_json_string(j, i, sbuf, sizeof sbuf) != 0)
			return -1;
		tw_jw_str(w, sbuf);
		return k;
	case TW_J_PRIMITIVE:
		tw_jw_raw(w, j->js + t->start, (size_t)(t->end - t->start));
		return k;
	default:
		tw_jw_lit(w, t->type == TW_J_OBJECT ? "{" : "[");
		for (int c = 0; c < t->size; c++) {
			if (c)
				tw_jw_lit(w, ",");
			if (t->type == TW_J_OBJECT) {
				if ((k = emit(j, k, w)) < 0)
					return -1;
				tw_jw_lit(w, ":");
			}
			if ((k = emit(j, k, w)) < 0)
				return -1;
		}
		tw_jw_lit(w, t->type == TW_J_OBJECT ? "}" : "]");
		return k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fz_exact(data, size);
	struct tw_json j, l, r;
	struct tw_jw w1, w2;
	int n = tw_json_parse(&j, in, size, toks, NTOK);
	int ln = tw_json_parse_lenient(&l, in, size, toks2, NTOK);

	FZ_CHECK(n > 0 || n == TW_ERR_JSON_PARSE || n == TW_ERR_JSON_TOKENS, "strict rc %d", n);
	FZ_CHECK(ln > 0 || ln == TW_ERR_JSON_PARSE || ln == TW_ERR_JSON_TOKENS, "lenient rc %d", ln);
	if (ln > 0) {
		check_tokens(&l, size);
		check_readers(&l);
	}
	if (n > 0) {
		check_tokens(&j, size);
		check_readers(&j);
		FZ_CHECK(tw_json_skip(&j, 0) == n, "strict: more than one value");
		FZ_CHECK(ln == n && memcmp(toks, toks2, sizeof toks[0] * (size_t)n) == 0,
			 "lenient differs from strict on strict JSON (%d vs %d tokens)", ln, n);
		/* round trip */
		tw_jw_init(&w1, canon1, sizeof canon1);
		if (emit(&j, 0, &w1) == n && !w1.overflow) {
			int n2 = tw_json_parse(&r, canon1, w1.len, toks2, NTOK);

			FZ_CHECK(n2 == n, "canonical text does not parse back (%d, %d tokens): %.200s",
				 n2, n, canon1);
			tw_jw_init(&w2, canon2, sizeof canon2);
			FZ_CHECK(emit(&r, 0, &w2) == n && !w2.overflow, "canonical text re-emits");
			FZ_CHECK(w1.len == w2.len && memcmp(canon1, canon2, w1.len) == 0,
				 "round trip differs: %.200s / %.200s", canon1, canon2);
		}
	}
	free(in);
	return 0;
}
