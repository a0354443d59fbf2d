/* SPDX-License-Identifier: MIT */
/* request.c - the HTTP/1.1 request head parser and form decoder (RFC 9112, RFC 3986), pure.
 *
 * Strict by choice: lines end in CRLF, no obsolete line folding, no white
 * space before a field's colon, no control bytes, origin-form targets only,
 * one Host for HTTP/1.1, a Content-Length of digits (repeats must agree), no
 * Transfer-Encoding. Whatever it accepts fits the bounds in httpd.h.
 */
#include <string.h>

#include "httpd.h"

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* visible ASCII: what a request target may hold */
static int is_vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static const char *find_crlf(const char *p, const char *end)
{
	for (; p + 1 < end; p++) {
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	}
	return NULL;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int name_is(const char *p, size_t n, const char *want)
{
	size_t i = 0;

	for (; i < n && want[i]; i++) {
		if (lower((unsigned char)p[i]) != want[i])
			return 0;
	}
	return i == n && want[i] == '\0';
}

static unsigned method_bit(const char *m, size_t n)
{
	static const char *const other[] = {"PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
					    "CONNECT"};

	if (n == 3 && memcmp(m, "GET", 3) == 0)
		return TW_HTTPD_GET;
	if (n == 4 && memcmp(m, "HEAD", 4) == 0)
		return TW_HTTPD_HEAD;
	if (n == 4 && memcmp(m, "POST", 4) == 0)
		return TW_HTTPD_POST;
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		if (strlen(other[i]) == n && memcmp(m, other[i], n) == 0)
			return TW_HTTPD_OTHER;
	}
	return 0;
}

static int request_line(const char *p, const char *end, struct tw_httpd_req *r)
{
	const char *sp1, *sp2, *q, *t;
	size_t plen, qlen;

	if ((size_t)(end - p) > TW_HTTPD_LINE_MAX)
		return -414;
	sp1 = memchr(p, ' ', (size_t)(end - p));
	if (sp1 == NULL || sp1 == p || (size_t)(sp1 - p) >= sizeof r->method_text)
		return -400;
	for (t = p; t < sp1; t++) {
		if (!is_tchar((unsigned char)*t))
			return -400;
	}
	r->method = method_bit(p, (size_t)(sp1 - p));
	if (r->method == 0)
		return -501;
	memcpy(r->method_text, p, (size_t)(sp1 - p));
	r->method_text[sp1 - p] = '\0';

	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return -400;
	for (t = sp1 + 1; t < sp2; t++) {
		if (!is_vchar((unsigned char)*t))
			return -400;
	}
	if (sp1[1] != '/')
		return -400; /* origin-form only */
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	plen = (size_t)((q ? q : sp2) - (sp1 + 1));
	qlen = q ? (size_t)(sp2 - q - 1) : 0;
	if (plen >= sizeof r->path || qlen >= sizeof r->query)
		return -414;
	memcpy(r->path, sp1 + 1, plen);
	r->path[plen] = '\0';
	if (q)
		memcpy(r->query, q + 1, qlen);
	r->query[qlen] = '\0';

	/* HTTP-version = "HTTP/" DIGIT "." DIGIT */
	t = sp2 + 1;
	if (end - t != 8 || memcmp(t, "HTTP/", 5) != 0 || t[5] < '0' || t[5] > '9' ||
	    t[6] != '.' || t[7] < '0' || t[7] > '9')
		return -400;
	if (t[5] != '1')
		return -505;
	r->minor = t[7] - '0';
	return 0;
}

static int content_length(const char *v, size_t n, struct tw_httpd_req *r)
{
	size_t val = 0;

	if (n == 0)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -400;
		if (val > TW_HTTPD_BODY_MAX) /* already too big: keep reading digits, no overflow */
			continue;
		val = val * 10 + (size_t)(v[i] - '0');
	}
	if (r->has_length && r->content_length != val)
		return -400;
	r->has_length = 1;
	r->content_length = val;
	return val > TW_HTTPD_BODY_MAX ? -413 : 0;
}

static int field(const char *p, const char *end, struct tw_httpd_req *r, int *hosts)
{
	const char *colon = memchr(p, ':', (size_t)(end - p));
	const char *v, *ve;

	if (colon == NULL || colon == p)
		return -400;
	for (const char *t = p; t < colon; t++) {
		if (!is_tchar((unsigned char)*t))
			return -400; /* also white space before the colon */
	}
	v = colon + 1;
	ve = end;
	for (const char *t = v; t < ve; t++) {
		unsigned char c = (unsigned char)*t;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -400;
	}
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	if (name_is(p, (size_t)(colon - p), "content-length"))
		return content_length(v, (size_t)(ve - v), r);
	if (name_is(p, (size_t)(colon - p), "transfer-encoding"))
		return -501;
	if (name_is(p, (size_t)(colon - p), "host")) {
		(*hosts)++;
		return 0;
	}
	if (name_is(p, (size_t)(colon - p), "content-type")) {
		if ((size_t)(ve - v) >= sizeof r->content_type)
			return -400;
		memcpy(r->content_type, v, (size_t)(ve - v));
		r->content_type[ve - v] = '\0';
	}
	return 0;
}

int tw_httpd_parse(const char *buf, size_t len, struct tw_httpd_req *r)
{
	const char *end, *p, *eol;
	size_t scan = len < TW_HTTPD_HEAD_MAX ? len : TW_HTTPD_HEAD_MAX;
	int rc, nfields = 0, hosts = 0;

	memset(r, 0, sizeof *r);
	end = NULL;
	for (size_t i = 0; i + 3 < scan; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			end = buf + i + 4;
			break;
		}
	}
	if (end == NULL) {
		eol = find_crlf(buf, buf + scan);
		if ((eol == NULL && scan > TW_HTTPD_LINE_MAX + 1) ||
		    (eol != NULL && (size_t)(eol - buf) > TW_HTTPD_LINE_MAX))
			return -414;
		return len >= TW_HTTPD_HEAD_MAX ? -431 : 0;
	}
	eol = find_crlf(buf, end);
	rc = request_line(buf, eol, r);
	if (rc)
		return rc;
	for (p = eol + 2; p < end - 2; p = eol + 2) {
		eol = find_crlf(p, end);
		if (*p == ' ' || *p == '\t')
			return -400; /* obsolete line folding */
		if (++nfields > TW_HTTPD_HEADERS_MAX)
			return -431;
		rc = field(p, eol, r, &hosts);
		if (rc)
			return rc;
	}
	if (hosts > 1 || (r->minor >= 1 && hosts == 0))
		return -400;
	r->head_len = (size_t)(end - buf);
	return (int)r->head_len;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode s[0..n) into out; @return length, or -2 (malformed, a NUL, or too long) */
static int decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -2;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -2;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= outlen)
			return -2;
		out[o++] = (char)c;
	}
	if (outlen == 0)
		return -2;
	out[o] = '\0';
	return (int)o;
}

int tw_httpd_param(const char *form, size_t formlen, const char *name, char *out, size_t outlen)
{
	size_t i = 0;
	char key[64];

	while (i < formlen) {
		size_t j = i, eq;
		int klen;

		while (j < formlen && form[j] != '&')
			j++;
		eq = i;
		while (eq < j && form[eq] != '=')
			eq++;
		klen = decode(form + i, eq - i, key, sizeof key);
		if (klen >= 0 && strcmp(key, name) == 0)
			return decode(form + eq + (eq < j), j - eq - (eq < j), out, outlen);
		i = j + 1;
	}
	return -1;
}

const char *tw_httpd_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
