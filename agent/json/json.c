/* SPDX-License-Identifier: MIT */
/* json.c - jsmn in strict mode, token readers (strings with escapes, numbers), the bounded writer. */
#define JSMN_STATIC
#define JSMN_STRICT
#include "json.h"

#include <jsmn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal.h"
#include "json_int.h"

_Static_assert(sizeof(tw_jtok) == sizeof(jsmntok_t), "tw_jtok mirrors jsmntok_t");
_Static_assert(TW_J_OBJECT == (int)JSMN_OBJECT && TW_J_ARRAY == (int)JSMN_ARRAY &&
		       TW_J_STRING == (int)JSMN_STRING && TW_J_PRIMITIVE == (int)JSMN_PRIMITIVE,
	       "tw_jtok types are jsmn's");

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* jsmn's strict mode checks only a primitive's first byte: check all of it. */
static int primitive_ok(const char *p, size_t n)
{
	size_t i = 0;

	if ((n == 4 && memcmp(p, "true", 4) == 0) || (n == 5 && memcmp(p, "false", 5) == 0) ||
	    (n == 4 && memcmp(p, "null", 4) == 0))
		return 1;
	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && p[i] == '.') {
		size_t d = ++i;

		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t d;

		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		d = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i == n;
}


static int tok_begin(const tw_jtok *t)
{
	return t->type == TW_J_STRING ? t->start - 1 : t->start;
}

static int tok_end(const tw_jtok *t)
{
	return t->type == TW_J_STRING ? t->end + 1 : t->end;
}

/* Only blanks in [a, b), around exactly one @p sep when sep is not 0. */
static int gap_ok(const char *js, int a, int b, char sep)
{
	int seen = 0;

	for (int i = a; i < b; i++) {
		if (is_ws(js[i]))
			continue;
		if (sep && js[i] == sep && !seen) {
			seen = 1;
			continue;
		}
		return 0;
	}
	return sep ? seen : 1;
}

/* jsmn accepts some malformed containers ("[1,]", "[,1]", "{\"a\":1,}"): check the text
 * between the children of container @p c. */
static int container_ok(const struct tw_json *j, int c)
{
	const tw_jtok *t = j->t;
	int pos = t[c].start + 1, k = 0, obj = t[c].type == TW_J_OBJECT;

	for (int i = c + 1; i < j->n && t[i].start < t[c].end; i = tw_json_skip(j, i), k++) {
		char sep = k == 0 ? 0 : (obj && k % 2 ? ':' : ',');

		if (obj && k % 2 == 0 && t[i].type != TW_J_STRING)
			return 0; /* keys are strings */
		if (!gap_ok(j->js, pos, tok_begin(&t[i]), sep))
			return 0;
		pos = tok_end(&t[i]);
	}
	if (obj && k % 2)
		return 0;
	return gap_ok(j->js, pos, t[c].end - 1, 0);
}

static int jsmn_strict(const char *js, size_t len, tw_jtok *toks, int max)
{
	jsmn_parser p;

	jsmn_init(&p);
	return jsmn_parse(&p, js, len, (jsmntok_t *)toks, (unsigned)max);
}

/* One jsmn run, strict or permissive, into @p j: the token count or a TW_ERR_JSON_*. */
static int tokenize(struct tw_json *j, const char *js, size_t len, tw_jtok *toks, int max,
		    int (*run)(const char *, size_t, tw_jtok *, int))
{
	int n;

	j->js = js;
	j->len = len;
	j->t = toks;
	j->n = 0;
	n = run(js, len, toks, max);
	if (n == JSMN_ERROR_NOMEM)
		return TW_ERR_JSON_TOKENS;
	if (n <= 0)
		return TW_ERR_JSON_PARSE;
	j->n = n;
	return n;
}

int tw_json_parse_lenient(struct tw_json *j, const char *js, size_t len, tw_jtok *toks, int max)
{
	return tokenize(j, js, len, toks, max, tw_json_jsmn_permissive);
}

/* jsmn's strict mode wants a delimiter after a primitive, so a text that is one bare number or
 * literal ("2", "true") fails as cut short: take it as the one value it is. */
static int bare_primitive(struct tw_json *j, const char *js, size_t len, tw_jtok *toks, int max)
{
	size_t b = 0, e = len;

	while (b < e && is_ws(js[b]))
		b++;
	while (e > b && is_ws(js[e - 1]))
		e--;
	if (b == e || max < 1 || js[b] == '{' || js[b] == '[' || js[b] == '"' ||
	    !primitive_ok(js + b, e - b))
		return TW_ERR_JSON_PARSE;
	toks[0].type = TW_J_PRIMITIVE;
	toks[0].start = (int)b;
	toks[0].end = (int)e;
	toks[0].size = 0;
	j->n = 1;
	return 1;
}

int tw_json_parse(struct tw_json *j, const char *js, size_t len, tw_jtok *toks, int max)
{
	int n = tokenize(j, js, len, toks, max, jsmn_strict), end;

	if (n == TW_ERR_JSON_PARSE)
		n = bare_primitive(j, js, len, toks, max);
	if (n < 0)
		return n;
	/* exactly one value: its subtree covers every token, and only blanks follow it */
	end = tw_json_skip(j, 0);
	if (end != n)
		return TW_ERR_JSON_PARSE;
	if (!gap_ok(js, 0, tok_begin(&toks[0]), 0) || !gap_ok(js, tok_end(&toks[0]), (int)len, 0))
		return TW_ERR_JSON_PARSE;
	for (int i = 0; i < n; i++) {
		if (toks[i].type == TW_J_PRIMITIVE &&
		    !primitive_ok(js + toks[i].start, (size_t)(toks[i].end - toks[i].start)))
			return TW_ERR_JSON_PARSE;
		if ((toks[i].type == TW_J_OBJECT || toks[i].type == TW_J_ARRAY) &&
		    !container_ok(j, i))
			return TW_ERR_JSON_PARSE;
	}
	return n;
}

int tw_json_skip(const struct tw_json *j, int i)
{
	int end;

	if (i < 0 || i >= j->n)
		return j->n;
	end = j->t[i].end;
	for (i++; i < j->n && j->t[i].start < end; i++)
		;
	return i;
}

static int raw_eq(const struct tw_json *j, int i, const char *s)
{
	size_t n = (size_t)(j->t[i].end - j->t[i].start);

	return strlen(s) == n && memcmp(j->js + j->t[i].start, s, n) == 0;
}

int tw_json_member(const struct tw_json *j, int obj, const char *key)
{
	int i;

	if (obj < 0 || obj >= j->n || j->t[obj].type != TW_J_OBJECT)
		return -1;
	for (i = obj + 1; i < j->n && j->t[i].start < j->t[obj].end;) {
		int v = i + 1;

		/* a key without its value (lenient tokens: "{\"a\"}") has none: the token after
		 * it is outside the object */
		if (j->t[i].type == TW_J_STRING && raw_eq(j, i, key) && v < j->n &&
		    j->t[v].start < j->t[obj].end)
			return v;
		i = tw_json_skip(j, v);
	}
	return -1;
}

int tw_json_eq(const struct tw_json *j, int i, const char *s)
{
	return i >= 0 && i < j->n && j->t[i].type == TW_J_STRING && raw_eq(j, i, s);
}

int tw_json_is_null(const struct tw_json *j, int i)
{
	return i >= 0 && i < j->n && j->t[i].type == TW_J_PRIMITIVE && raw_eq(j, i, "null");
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

static int put_utf8(char *out, size_t outlen, size_t *o, unsigned cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xF0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		b[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	if (*o + n >= outlen)
		return TW_ERR_JSON_TOOLONG;
	memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

int tw_json_string(const struct tw_json *j, int i, char *out, size_t outlen)
{
	const char *p, *end;
	size_t o = 0;

	if (i < 0 || i >= j->n || j->t[i].type != TW_J_STRING || outlen == 0)
		return TW_ERR_JSON_TYPE;
	p = j->js + j->t[i].start;
	end = j->js + j->t[i].end;
	while (p < end) {
		unsigned cp;
		int rc;

		if (*p != '\\') {
			if (o + 1 >= outlen)
				return TW_ERR_JSON_TOOLONG;
			out[o++] = *p++;
			continue;
		}
		if (++p >= end)
			return TW_ERR_JSON_TYPE;
		switch (*p) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (end - p < 5 || hex4(p + 1, &cp) != 0)
				return TW_ERR_JSON_TYPE;
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;

				if (end - p < 7 || p[1] != '\\' || p[2] != 'u' || hex4(p + 3, &lo) != 0 ||
				    lo < 0xDC00 || lo > 0xDFFF)
					return TW_ERR_JSON_TYPE; /* lone high surrogate */
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return TW_ERR_JSON_TYPE;
			}
			if (cp == 0)
				return TW_ERR_JSON_TYPE; /* would cut a C string short */
			break;
		default:
			return TW_ERR_JSON_TYPE;
		}
		p++;
		rc = put_utf8(out, outlen, &o, cp);
		if (rc)
			return rc;
	}
	out[o] = '\0';
	return 0;
}

int tw_json_number(const struct tw_json *j, int i, double *v)
{
	char buf[64], *end;
	size_t n;
	char c;

	if (i < 0 || i >= j->n || j->t[i].type != TW_J_PRIMITIVE)
		return TW_ERR_JSON_TYPE;
	c = j->js[j->t[i].start];
	if (!(c == '-' || (c >= '0' && c <= '9')))
		return TW_ERR_JSON_TYPE;
	n = (size_t)(j->t[i].end - j->t[i].start);
	if (n >= sizeof buf) {
		/* a very long number: digits only matter for its size, so treat as huge */
		*v = c == '-' ? -HUGE_VAL : HUGE_VAL;
		for (size_t k = 0; k < n; k++) {
			char d = j->js[j->t[i].start + (int)k];

			if (!((d >= '0' && d <= '9') || d == '-' || d == '+' || d == '.' || d == 'e' ||
			      d == 'E'))
				return TW_ERR_JSON_TYPE;
		}
		return 0;
	}
	memcpy(buf, j->js + j->t[i].start, n);
	buf[n] = '\0';
	*v = strtod(buf, &end);
	if (*end != '\0' || isnan(*v))
		return TW_ERR_JSON_TYPE;
	return 0;
}

int tw_json_utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;

	while (p < e) {
		unsigned c = *p;
		size_t n;
		unsigned cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if ((size_t)(e - p) <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (p[k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0; /* overlong, out of range or a surrogate */
		p += n + 1;
	}
	return 1;
}

void tw_jw_init(struct tw_jw *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = 0;
	w->need = 0;
	w->bytes = 0;
	if (cap)
		buf[0] = '\0';
}

void tw_jw_init_bytes(struct tw_jw *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->overflow = 0;
	w->need = 0;
	w->bytes = 1;
}

/* Whether @p n more bytes fit: a C string keeps one byte for its NUL. */
static int fits(const struct tw_jw *w, size_t n)
{
	return !w->overflow && (w->bytes ? n <= w->cap - w->len : n < w->cap - w->len);
}

void tw_jw_raw(struct tw_jw *w, const char *s, size_t n)
{
	w->need += n;
	if (!fits(w, n)) {
		w->overflow = 1;
		return;
	}
	if (n == 0)
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	if (!w->bytes)
		w->buf[w->len] = '\0';
}

void tw_jw_lit(struct tw_jw *w, const char *s)
{
	tw_jw_raw(w, s, strlen(s));
}

void tw_jw_printf(struct tw_jw *w, const char *fmt, ...)
{
	va_list ap;
	size_t room = w->cap - w->len;
	int n;

	va_start(ap, fmt);
	if (w->overflow || room == 0)
		n = vsnprintf(NULL, 0, fmt, ap);
	else
		n = vsnprintf(w->buf + w->len, room, fmt, ap);
	va_end(ap);
	if (n >= 0)
		w->need += (size_t)n;
	if (w->overflow)
		return;
	if (n < 0 || (size_t)n >= room) { /* vsnprintf's NUL did not fit either */
		w->overflow = 1;
		if (!w->bytes && room)
			w->buf[w->len] = '\0';
		return;
	}
	w->len += (size_t)n;
}

void tw_jw_strx(struct tw_jw *w, const char *s, unsigned esc)
{
	if (s == NULL) {
		tw_jw_lit(w, "null");
		return;
	}
	tw_jw_raw(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e[8];

		if (*p == '"' || *p == '\\') {
			e[0] = '\\';
			e[1] = (char)*p;
			tw_jw_raw(w, e, 2);
		} else if (*p == '\n' && (esc & TW_JW_ESC_NL)) {
			tw_jw_raw(w, "\\n", 2);
		} else if (*p < 0x20 || (*p == 0x7f && (esc & TW_JW_ESC_DEL))) {
			snprintf(e, sizeof e, "\\u%04x", *p);
			tw_jw_raw(w, e, 6);
		} else {
			tw_jw_raw(w, (const char *)p, 1);
		}
	}
	tw_jw_raw(w, "\"", 1);
}

void tw_jw_str(struct tw_jw *w, const char *s)
{
	tw_jw_strx(w, s, 0);
}

void tw_jw_num(struct tw_jw *w, double v)
{
	char b[40];

	if (!isfinite(v)) {
		tw_jw_lit(w, "null");
		return;
	}
	snprintf(b, sizeof b, "%.15g", v);
	tw_jw_lit(w, b);
}

void tw_jw_int(struct tw_jw *w, long long v)
{
	char b[24];

	snprintf(b, sizeof b, "%lld", v);
	tw_jw_lit(w, b);
}
