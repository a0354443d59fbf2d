/* SPDX-License-Identifier: MIT */
/* http_parse.c - the HTTP/1.1 response parser: status line, headers, content-length, chunked and
 * read-until-close bodies, fed any split of the bytes; pure (no I/O, no loop). */
#include "quotes/http.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum pstate {
	P_STATUS,
	P_HEADER,
	P_BODY_LEN,
	P_BODY_CLOSE,
	P_CHUNK_SIZE,
	P_CHUNK_DATA,
	P_CHUNK_CRLF,
	P_TRAILER,
	P_DONE,
};

void tw_http_parser_init(struct tw_http_parser *p, unsigned char *body, size_t cap)
{
	memset(p, 0, sizeof *p);
	p->state = P_STATUS;
	p->content_length = -1;
	p->body = body;
	p->body_cap = cap;
}

void tw_http_parser_on_header(struct tw_http_parser *p, tw_http_header_fn fn, void *arg)
{
	p->on_header = fn;
	p->header_arg = arg;
}

static int perr(int rc, char *err, size_t errlen, const char *what, const char *line)
{
	char shown[80];
	size_t i;

	/* Show the offending bytes printable and short. */
	for (i = 0; line && line[i] && i < sizeof shown - 1; i++)
		shown[i] = isprint((unsigned char)line[i]) ? line[i] : '?';
	shown[i] = '\0';
	snprintf(err, errlen, "%s%s%s%s", what, line ? " in '" : "", line ? shown : "",
		 line ? "'" : "");
	return rc;
}

static int too_big(struct tw_http_parser *p, long long more, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "response body larger than %zu bytes (%lld more announced): raise [limits] "
		 "quote_response_kb",
		 p->body_cap ? p->body_cap - 1 : 0, more);
	return TW_ERR_HTTP_TOO_BIG;
}

static int status_line(struct tw_http_parser *p, const char *l, char *err, size_t errlen)
{
	if (strncmp(l, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)l[7]) || l[8] != ' ' ||
	    !isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) ||
	    !isdigit((unsigned char)l[11]) || (l[12] != ' ' && l[12] != '\0'))
		return perr(TW_ERR_HTTP_PROTO, err, errlen, "not an HTTP/1.x status line", l);
	p->minor = l[7] - '0';
	p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (p->status < 100)
		return perr(TW_ERR_HTTP_PROTO, err, errlen, "bad HTTP status", l);
	return 0;
}

static int header_line(struct tw_http_parser *p, char *l, char *err, size_t errlen)
{
	char *colon = strchr(l, ':'), *v;
	size_t vl;

	if (l[0] == ' ' || l[0] == '\t')
		return perr(TW_ERR_HTTP_PROTO, err, errlen, "folded header line not allowed", l);
	if (colon == NULL || colon == l)
		return perr(TW_ERR_HTTP_PROTO, err, errlen, "header line without a name", l);
	for (char *c = l; c < colon; c++) {
		if (!isgraph((unsigned char)*c))
			return perr(TW_ERR_HTTP_PROTO, err, errlen, "bad header name", l);
	}
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	vl = strlen(v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		v[--vl] = '\0';
	if (strcasecmp(l, "Content-Length") == 0) {
		long long n = 0;

		if (vl == 0 || vl > 18)
			return perr(TW_ERR_HTTP_PROTO, err, errlen, "bad Content-Length", v);
		for (size_t i = 0; i < vl; i++) {
			if (!isdigit((unsigned char)v[i]))
				return perr(TW_ERR_HTTP_PROTO, err, errlen, "bad Content-Length", v);
			n = n * 10 + (v[i] - '0');
		}
		if (p->content_length >= 0 && p->content_length != n)
			return perr(TW_ERR_HTTP_PROTO, err, errlen, "two different Content-Length", v);
		p->content_length = n;
	} else if (strcasecmp(l, "Transfer-Encoding") == 0) {
		if (strcasecmp(v, "chunked") != 0)
			return perr(TW_ERR_HTTP_PROTO, err, errlen,
				    "unsupported Transfer-Encoding (only chunked)", v);
		p->chunked = 1;
	} else if (strcasecmp(l, "Connection") == 0) {
		if (strcasestr(v, "close"))
			p->conn_close = 1;
		if (strcasestr(v, "keep-alive"))
			p->keep_alive = 1;
	} else if (strcasecmp(l, "Retry-After") == 0) {
		/* Kept only when it fits: a longer one is no delay nor date anyway. */
		if (vl < sizeof p->retry_after)
			memcpy(p->retry_after, v, vl + 1);
	}
	if (p->on_header)
		p->on_header(p->header_arg, l, v);
	return 0;
}

/* The empty line after the headers: decide how the body is framed. */
static int end_of_head(struct tw_http_parser *p, char *err, size_t errlen)
{
	if (p->status < 200) { /* 1xx: an interim answer, the real one follows */
		int minor = p->minor;
		tw_http_header_fn fn = p->on_header;
		void *arg = p->header_arg;

		tw_http_parser_init(p, p->body, p->body_cap);
		p->minor = minor;
		tw_http_parser_on_header(p, fn, arg);
		return 0;
	}
	if (p->status == 204 || p->status == 304) {
		p->state = P_DONE;
		return 1;
	}
	if (p->chunked) {
		p->state = P_CHUNK_SIZE;
		return 0;
	}
	if (p->content_length >= 0) {
		if (p->content_length > (long long)p->body_cap - 1)
			return too_big(p, p->content_length, err, errlen);
		p->state = p->content_length ? P_BODY_LEN : P_DONE;
		return p->state == P_DONE;
	}
	p->state = P_BODY_CLOSE;
	p->conn_close = 1;
	return 0;
}

static int chunk_size_line(struct tw_http_parser *p, const char *l, char *err, size_t errlen)
{
	long long n = 0;
	size_t i;

	for (i = 0; isxdigit((unsigned char)l[i]); i++) {
		if (i >= 15)
			return perr(TW_ERR_HTTP_PROTO, err, errlen, "chunk size too long", l);
		n = n * 16 + (isdigit((unsigned char)l[i]) ? l[i] - '0'
							  : tolower((unsigned char)l[i]) - 'a' + 10);
	}
	if (i == 0 || (l[i] != '\0' && l[i] != ';' && l[i] != ' '))
		return perr(TW_ERR_HTTP_PROTO, err, errlen, "bad chunk size line", l);
	if (n == 0) {
		p->state = P_TRAILER;
		return 0;
	}
	if (n > (long long)(p->body_cap - 1 - p->body_len))
		return too_big(p, n, err, errlen);
	p->chunk_left = n;
	p->state = P_CHUNK_DATA;
	return 0;
}

/* One complete line (CR LF stripped) in the current state. */
static int on_line(struct tw_http_parser *p, char *l, char *err, size_t errlen)
{
	switch (p->state) {
	case P_STATUS:
		if (l[0] == '\0' && p->status == 0 && p->head_bytes <= 2)
			return 0; /* tolerate one stray CRLF before the status line */
		if (status_line(p, l, err, errlen) != 0)
			return TW_ERR_HTTP_PROTO;
		p->state = P_HEADER;
		return 0;
	case P_HEADER:
		if (l[0] == '\0')
			return end_of_head(p, err, errlen);
		return header_line(p, l, err, errlen);
	case P_CHUNK_SIZE:
		return chunk_size_line(p, l, err, errlen);
	case P_CHUNK_CRLF:
		if (l[0] != '\0')
			return perr(TW_ERR_HTTP_PROTO, err, errlen, "chunk not followed by CRLF", l);
		p->state = P_CHUNK_SIZE;
		return 0;
	case P_TRAILER:
		if (l[0] == '\0') {
			p->state = P_DONE;
			return 1;
		}
		return 0;
	default:
		return perr(TW_ERR_HTTP_PROTO, err, errlen, "parser state error", NULL);
	}
}

static int is_line_state(int s)
{
	return s == P_STATUS || s == P_HEADER || s == P_CHUNK_SIZE || s == P_CHUNK_CRLF ||
	       s == P_TRAILER;
}

int tw_http_parse(struct tw_http_parser *p, const unsigned char *data, size_t len, size_t *used,
		  char *err, size_t errlen)
{
	size_t i = 0;
	int rc;

	while (i < len && p->state != P_DONE) {
		if (is_line_state(p->state)) {
			unsigned char ch = data[i++];

			if (p->state == P_STATUS || p->state == P_HEADER) {
				if (++p->head_bytes > TW_HTTP_HEAD_MAX)
					return perr(TW_ERR_HTTP_PROTO, err, errlen,
						    "response head longer than 16 KiB", NULL);
			}
			if (ch == '\n') {
				if (p->line_len && p->line[p->line_len - 1] == '\r')
					p->line_len--;
				p->line[p->line_len] = '\0';
				p->line_len = 0;
				rc = on_line(p, p->line, err, errlen);
				if (rc < 0)
					return rc;
				continue;
			}
			if (ch == '\0')
				return perr(TW_ERR_HTTP_PROTO, err, errlen, "NUL byte in the head", NULL);
			if (p->state == P_CHUNK_CRLF && ch != '\r')
				return perr(TW_ERR_HTTP_PROTO, err, errlen,
					    "chunk data longer than its size", NULL);
			if (p->line_len >= sizeof p->line - 1) {
				p->line[sizeof p->line - 1] = '\0';
				return perr(TW_ERR_HTTP_PROTO, err, errlen, "line longer than 1 KiB",
					    p->line);
			}
			p->line[p->line_len++] = (char)ch;
			continue;
		}
		/* Body bytes. */
		size_t avail = len - i, take = avail;

		if (p->state == P_BODY_LEN) {
			if ((long long)take > p->content_length - (long long)p->body_len)
				take = (size_t)(p->content_length - (long long)p->body_len);
		} else if (p->state == P_CHUNK_DATA) {
			if ((long long)take > p->chunk_left)
				take = (size_t)p->chunk_left;
		}
		if (take > p->body_cap - 1 - p->body_len)
			return too_big(p, (long long)take, err, errlen);
		memcpy(p->body + p->body_len, data + i, take);
		p->body_len += take;
		i += take;
		if (p->state == P_BODY_LEN && (long long)p->body_len == p->content_length)
			p->state = P_DONE;
		else if (p->state == P_CHUNK_DATA && (p->chunk_left -= (long long)take) == 0)
			p->state = P_CHUNK_CRLF;
	}
	*used = i;
	if (p->state == P_DONE) {
		p->body[p->body_len] = '\0';
		return 1;
	}
	return 0;
}

int tw_http_parse_eof(struct tw_http_parser *p, char *err, size_t errlen)
{
	if (p->state == P_BODY_CLOSE) {
		p->state = P_DONE;
		p->body[p->body_len] = '\0';
		return 1;
	}
	if (p->state == P_DONE)
		return 1;
	snprintf(err, errlen, "connection closed in the middle of the response (%s, %zu body bytes)",
		 p->state == P_STATUS ? "before the status line" :
		 p->state == P_HEADER ? "in the headers" : "in the body",
		 p->body_len);
	return TW_ERR_HTTP_TRUNCATED;
}
