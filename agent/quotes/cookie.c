/* SPDX-License-Identifier: MIT */
/* cookie.c - Set-Cookie parsing and the bounded one-site cookie jar (cookie.h). */
#include "quotes/cookie.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "quotes/http.h"

/* RFC 6265 token characters of a cookie name (RFC 2616 token: no separators, no CTL). */
static int name_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* A value byte we send back: printable ASCII without ';' (the pair separator). RFC 6265's
 * cookie-octet also excludes space, comma, DQUOTE and backslash; servers send them, browsers
 * keep them, so do we, except the space at either end (trimmed). */
static int value_char(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != ';';
}

static const char *trim(const char *b, const char *e, size_t *len)
{
	while (b < e && (*b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*len = (size_t)(e - b);
	return b;
}

int tw_cookie_parse(const char *sc, int64_t now_s, struct tw_cookie *out, char *err,
		    size_t errlen)
{
	const char *semi = strchr(sc, ';'), *end = semi ? semi : sc + strlen(sc), *eq, *nm, *vl;
	size_t nl, vlen;
	int have_max_age = 0, expired = 0;
	int64_t expires = 0;

	memset(out, 0, sizeof *out);
	eq = memchr(sc, '=', (size_t)(end - sc));
	if (eq == NULL) {
		snprintf(err, errlen, "Set-Cookie without name=value");
		return -1;
	}
	nm = trim(sc, eq, &nl);
	vl = trim(eq + 1, end, &vlen);
	if (nl == 0 || nl > TW_COOKIE_NAME_MAX) {
		snprintf(err, errlen, "Set-Cookie name empty or longer than %d", TW_COOKIE_NAME_MAX);
		return -1;
	}
	if (vlen > TW_COOKIE_VALUE_MAX) {
		snprintf(err, errlen, "Set-Cookie value longer than %d bytes", TW_COOKIE_VALUE_MAX);
		return -1;
	}
	for (size_t i = 0; i < nl; i++) {
		if (!name_char((unsigned char)nm[i])) {
			snprintf(err, errlen, "Set-Cookie name has a byte 0x%02x not allowed",
				 (unsigned char)nm[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < vlen; i++) {
		if (!value_char((unsigned char)vl[i])) {
			snprintf(err, errlen, "Set-Cookie value has a control or non-ASCII byte");
			return -1;
		}
	}
	memcpy(out->name, nm, nl);
	memcpy(out->value, vl, vlen);
	/* Attributes: ";" separated, name[=value], unknown ones ignored (RFC 6265 5.2). */
	while (semi) {
		const char *a = semi + 1, *ae, *an, *av;
		size_t al, avl;
		char buf[128];

		semi = strchr(a, ';');
		ae = semi ? semi : a + strlen(a);
		eq = memchr(a, '=', (size_t)(ae - a));
		an = trim(a, eq ? eq : ae, &al);
		av = eq ? trim(eq + 1, ae, &avl) : ae;
		if (!eq)
			avl = 0;
		if (avl >= sizeof buf)
			continue;
		memcpy(buf, av, avl);
		buf[avl] = '\0';
		if (al == 7 && strncasecmp(an, "max-age", 7) == 0) {
			/* "-"? DIGIT+; anything else ignores the attribute */
			size_t i = buf[0] == '-' ? 1 : 0, k;
			int64_t v = 0;

			for (k = i; buf[k] && isdigit((unsigned char)buf[k]); k++) {
				if (v < 400LL * 86400 * 365)
					v = v * 10 + (buf[k] - '0');
			}
			if (k == i || buf[k] != '\0')
				continue;
			have_max_age = 1;
			if (i == 1 || v == 0) {
				expired = 1;
			} else {
				expired = 0;
				expires = now_s + v;
			}
		} else if (al == 7 && strncasecmp(an, "expires", 7) == 0 && !have_max_age) {
			int64_t t;

			if (tw_http_date_parse(buf, &t) != 0)
				continue;
			if (t <= now_s) {
				expired = 1;
			} else {
				expired = 0;
				expires = t;
			}
		}
	}
	out->expires_s = expires;
	return expired ? 1 : 0;
}

void tw_cookie_jar_init(struct tw_cookie_jar *j, struct tw_cookie *slots, size_t cap)
{
	memset(j, 0, sizeof *j);
	j->slot = slots;
	j->cap = cap;
}

static void drop(struct tw_cookie_jar *j, size_t i)
{
	j->slot[i] = j->slot[j->n - 1];
	j->n--;
}

int tw_cookie_jar_set(struct tw_cookie_jar *j, const char *sc, int64_t now_s, char *err,
		      size_t errlen)
{
	struct tw_cookie c;
	int rc = tw_cookie_parse(sc, now_s, &c, err, errlen);
	size_t i;

	if (rc < 0) {
		j->refused++;
		return -1;
	}
	for (i = 0; i < j->n; i++) {
		if (strcmp(j->slot[i].name, c.name) == 0)
			break;
	}
	if (rc == 1) {
		if (i < j->n)
			drop(j, i);
		return 0;
	}
	if (i == j->n) {
		/* a slot held by an expired cookie is free */
		for (size_t k = 0; k < j->n && i == j->n; k++) {
			if (j->slot[k].expires_s && j->slot[k].expires_s <= now_s)
				i = k;
		}
	}
	if (i == j->n) {
		if (j->n == j->cap) {
			j->refused++;
			snprintf(err, errlen, "cookie jar full (%zu cookies): %.64s not kept", j->cap,
				 c.name);
			return -1;
		}
		j->n++;
	}
	j->slot[i] = c;
	return 0;
}

long tw_cookie_jar_header(const struct tw_cookie_jar *j, int64_t now_s, char *buf, size_t len)
{
	size_t o = 0;
	int any = 0;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (size_t i = 0; i < j->n; i++) {
		const struct tw_cookie *c = &j->slot[i];
		int n;

		if (c->expires_s && c->expires_s <= now_s)
			continue;
		n = snprintf(buf + o, len - o, "%s%s=%s", any ? "; " : "Cookie: ", c->name, c->value);
		if (n < 0 || (size_t)n >= len - o) {
			buf[0] = '\0';
			return -1;
		}
		o += (size_t)n;
		any = 1;
	}
	if (!any)
		return 0;
	if (len - o < 3) {
		buf[0] = '\0';
		return -1;
	}
	memcpy(buf + o, "\r\n", 3);
	return (long)(o + 2);
}

const char *tw_cookie_jar_get(const struct tw_cookie_jar *j, const char *name)
{
	for (size_t i = 0; i < j->n; i++) {
		if (strcmp(j->slot[i].name, name) == 0)
			return j->slot[i].value;
	}
	return NULL;
}

void tw_cookie_jar_clear(struct tw_cookie_jar *j)
{
	j->n = 0;
}
