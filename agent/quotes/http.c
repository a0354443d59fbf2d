/* SPDX-License-Identifier: MIT */
/* http.c - HTTP/1.1 response parser and a keep-alive GET client driven by the event loop. */
#include "quotes/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/loop.h"

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
	}
	return 0;
}

/* The empty line after the headers: decide how the body is framed. */
static int end_of_head(struct tw_http_parser *p, char *err, size_t errlen)
{
	if (p->status < 200) { /* 1xx: an interim answer, the real one follows */
		int minor = p->minor;

		tw_http_parser_init(p, p->body, p->body_cap);
		p->minor = minor;
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

/* ---- plain transport ---- */

static int plain_start(void *ctx, int fd, const char *host, char *err, size_t errlen)
{
	(void)host;
	(void)err;
	(void)errlen;
	((struct tw_http_plain *)ctx)->fd = fd;
	return TW_OK;
}

static int plain_handshake(void *ctx, unsigned *want, char *err, size_t errlen)
{
	(void)ctx;
	(void)want;
	(void)err;
	(void)errlen;
	return TW_OK;
}

static long plain_read(void *ctx, void *buf, size_t len, unsigned *want)
{
	long n = tw_hal_recv(((struct tw_http_plain *)ctx)->fd, buf, len);

	if (n == TW_ERR_WOULD_BLOCK)
		*want = TW_HAL_READ;
	return n;
}

static long plain_write(void *ctx, const void *buf, size_t len, unsigned *want)
{
	long n = tw_hal_send(((struct tw_http_plain *)ctx)->fd, buf, len);

	if (n == TW_ERR_WOULD_BLOCK)
		*want = TW_HAL_WRITE;
	return n;
}

static void plain_close(void *ctx)
{
	((struct tw_http_plain *)ctx)->fd = -1;
}

const struct tw_http_transport_ops tw_http_plain_ops = {
	plain_start, plain_handshake, plain_read, plain_write, plain_close,
};

/* ---- client ---- */

enum cstate { C_IDLE, C_KEPT, C_CONNECTING, C_HANDSHAKE, C_SENDING, C_RECEIVING };

int tw_http_parse_url(const char *url, int *tls, char *host, size_t hostlen, uint16_t *port,
		      char *path, size_t pathlen)
{
	const char *h, *end, *colon, *slash;
	size_t hl;
	long pv;

	if (strncmp(url, "https://", 8) == 0) {
		*tls = 1;
		h = url + 8;
		*port = 443;
	} else if (strncmp(url, "http://", 7) == 0) {
		*tls = 0;
		h = url + 7;
		*port = 80;
	} else {
		return TW_ERR_HTTP_URL;
	}
	slash = strchr(h, '/');
	end = slash ? slash : h + strlen(h);
	colon = memchr(h, ':', (size_t)(end - h));
	hl = (size_t)((colon ? colon : end) - h);
	if (hl == 0 || hl >= hostlen)
		return TW_ERR_HTTP_URL;
	for (size_t i = 0; i < hl; i++) {
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-')
			return TW_ERR_HTTP_URL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (colon) {
		char *e;

		pv = strtol(colon + 1, &e, 10);
		if (e != end || pv <= 0 || pv > 65535)
			return TW_ERR_HTTP_URL;
		*port = (uint16_t)pv;
	}
	if (snprintf(path, pathlen, "%s", slash ? slash : "") >= (int)pathlen)
		return TW_ERR_HTTP_URL;
	hl = strlen(path);
	while (hl && path[hl - 1] == '/')
		path[--hl] = '\0';
	return TW_OK;
}

int tw_http_client_init(struct tw_http_client *c, struct tw_loop *loop, const char *base_url,
			const struct tw_http_transport_ops *ops, void *tctx, unsigned char *body,
			size_t body_cap, unsigned char *rbuf, size_t rbuf_cap, int64_t timeout_ms,
			char *err, size_t errlen)
{
	int tls;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	if (tw_http_parse_url(base_url, &tls, c->host, sizeof c->host, &c->port, c->prefix,
			      sizeof c->prefix) != TW_OK) {
		snprintf(err, errlen,
			 "[quotes] base: '%s' is not http(s)://host[:port][/path] (letters, digits, "
			 "dots and dashes in the host)",
			 base_url);
		return TW_ERR_HTTP_URL;
	}
	if ((c->port == 80 && !tls) || (c->port == 443 && tls))
		snprintf(c->hosthdr, sizeof c->hosthdr, "%s", c->host);
	else
		snprintf(c->hosthdr, sizeof c->hosthdr, "%s:%u", c->host, (unsigned)c->port);
	c->loop = loop;
	c->ops = ops;
	c->tctx = tctx;
	c->p.body = body;
	c->p.body_cap = body_cap;
	c->rbuf = rbuf;
	c->rbuf_cap = rbuf_cap;
	c->timeout_ms = timeout_ms;
	return TW_OK;
}

static void close_conn(struct tw_http_client *c)
{
	if (c->fd >= 0) {
		c->ops->close(c->tctx);
		tw_loop_del_fd(c->loop, c->fd);
		tw_hal_close(c->fd);
	}
	c->fd = -1;
	c->state = C_IDLE;
}

static void stop_timer(struct tw_http_client *c)
{
	if (c->timer > 0)
		tw_loop_del_timer(c->loop, c->timer);
	c->timer = 0;
}

static void finish(struct tw_http_client *c, int rc, const char *err)
{
	tw_http_done_fn done = c->done;

	stop_timer(c);
	if (rc != TW_OK)
		close_conn(c);
	c->done = NULL;
	if (done) {
		if (rc == TW_OK)
			done(c->arg, TW_OK, c->p.status, (const char *)c->p.body, c->p.body_len, "");
		else
			done(c->arg, rc, 0, NULL, 0, err);
	}
}

static int64_t on_timeout(struct tw_loop *l, void *arg)
{
	struct tw_http_client *c = arg;

	(void)l;
	c->timer = 0;
	snprintf(c->err, sizeof c->err, "%s:%u: no %s within %lld ms ([quotes] timeout)", c->host,
		 (unsigned)c->port,
		 c->state == C_CONNECTING ? "connection" :
		 c->state == C_HANDSHAKE ? "TLS handshake" : "complete response",
		 (long long)c->timeout_ms);
	finish(c, TW_ERR_TIMEOUT, c->err);
	return TW_TIMER_STOP;
}

static int arm(struct tw_http_client *c)
{
	stop_timer(c);
	c->timer = tw_loop_add_timer(c->loop, c->timeout_ms, on_timeout, c);
	if (c->timer < 0) {
		c->timer = 0;
		snprintf(c->err, sizeof c->err, "no free timer: raise [limits] max_timers");
		return TW_ERR_NOMEM;
	}
	return TW_OK;
}

static void on_io(struct tw_loop *l, int fd, unsigned ready, void *arg);

static int open_conn(struct tw_http_client *c)
{
	char why[200];
	int rc = tw_hal_tcp_connect_start(c->host, c->port, &c->fd, why, sizeof why);

	c->connects++;
	if (rc != TW_OK && rc != TW_ERR_WOULD_BLOCK) {
		snprintf(c->err, sizeof c->err, "connect to %s:%u: %s", c->host, (unsigned)c->port,
			 why);
		c->fd = -1;
		return rc;
	}
	c->state = C_CONNECTING;
	if (tw_loop_add_fd(c->loop, c->fd, TW_HAL_WRITE, on_io, c) != TW_OK) {
		tw_hal_close(c->fd);
		c->fd = -1;
		c->state = C_IDLE;
		snprintf(c->err, sizeof c->err, "no free loop slot: raise [limits] max_fds");
		return TW_ERR_NOMEM;
	}
	return arm(c);
}

/* A kept-alive connection the server had closed: try once more on a new one. */
static int stale_retry(struct tw_http_client *c)
{
	int rc;

	if (!c->reused || c->retried || c->got > 0)
		return 0;
	tw_log(TW_LOG_DEBUG, "quotes", "%s: kept-alive connection was closed, reconnecting",
	       c->host);
	close_conn(c);
	c->retried = 1;
	c->reused = 0;
	c->req_off = 0;
	rc = open_conn(c);
	if (rc != TW_OK)
		finish(c, rc, c->err);
	return 1;
}

static void receive(struct tw_http_client *c)
{
	for (;;) {
		unsigned want = TW_HAL_READ;
		long n = c->ops->read(c->tctx, c->rbuf, c->rbuf_cap, &want);
		size_t used = 0;
		int rc;

		if (n == TW_ERR_WOULD_BLOCK) {
			tw_loop_set_mask(c->loop, c->fd, want);
			return;
		}
		if (n == TW_ERR_CLOSED) {
			if (stale_retry(c))
				return;
			rc = tw_http_parse_eof(&c->p, c->err, sizeof c->err);
			if (rc == 1) {
				close_conn(c);
				finish(c, TW_OK, "");
			} else {
				finish(c, rc, c->err);
			}
			return;
		}
		if (n < 0) {
			if (stale_retry(c))
				return;
			snprintf(c->err, sizeof c->err, "%s:%u: %s while reading the response",
				 c->host, (unsigned)c->port,
				 n == TW_ERR_RESET ? "connection reset" : "read error");
			finish(c, (int)n, c->err);
			return;
		}
		c->got += (size_t)n;
		rc = tw_http_parse(&c->p, c->rbuf, (size_t)n, &used, c->err, sizeof c->err);
		if (rc < 0) {
			finish(c, rc, c->err);
			return;
		}
		if (rc == 1) {
			int keep = !c->p.conn_close && (c->p.minor >= 1 || c->p.keep_alive) &&
				   used == (size_t)n;

			if (keep) {
				tw_loop_del_fd(c->loop, c->fd);
				c->state = C_KEPT;
			} else {
				close_conn(c);
			}
			finish(c, TW_OK, "");
			return;
		}
	}
}

static void on_io(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_http_client *c = arg;
	unsigned want = 0;
	int rc;
	long n;

	(void)l;
	(void)fd;
	(void)ready;
	switch (c->state) {
	case C_CONNECTING:
		rc = tw_hal_tcp_connect_finish(c->fd, c->err, sizeof c->err);
		if (rc == TW_OK)
			rc = c->ops->start(c->tctx, c->fd, c->host, c->err, sizeof c->err);
		if (rc != TW_OK)
			return finish(c, rc, c->err);
		c->state = C_HANDSHAKE;
		/* fall through */
	case C_HANDSHAKE:
		rc = c->ops->handshake(c->tctx, &want, c->err, sizeof c->err);
		if (rc == TW_ERR_WOULD_BLOCK) {
			tw_loop_set_mask(c->loop, c->fd, want);
			return;
		}
		if (rc != TW_OK)
			return finish(c, rc, c->err);
		c->state = C_SENDING;
		if (arm(c) != TW_OK) /* the response time-out starts now */
			return finish(c, TW_ERR_NOMEM, c->err);
		/* fall through */
	case C_SENDING:
		while (c->req_off < c->req_len) {
			n = c->ops->write(c->tctx, c->req + c->req_off, c->req_len - c->req_off, &want);
			if (n == TW_ERR_WOULD_BLOCK) {
				tw_loop_set_mask(c->loop, c->fd, want);
				return;
			}
			if (n < 0) {
				if (stale_retry(c))
					return;
				snprintf(c->err, sizeof c->err, "%s:%u: %s while sending the request",
					 c->host, (unsigned)c->port,
					 n == TW_ERR_RESET ? "connection reset" : "write error");
				return finish(c, (int)n, c->err);
			}
			c->req_off += (size_t)n;
		}
		c->state = C_RECEIVING;
		tw_loop_set_mask(c->loop, c->fd, TW_HAL_READ);
		/* fall through */
	case C_RECEIVING:
		receive(c);
		return;
	default:
		/* Readiness of an idle connection: nothing is expected. */
		return;
	}
}

int tw_http_get(struct tw_http_client *c, const char *path, tw_http_done_fn done, void *arg)
{
	int n, rc;

	if (c->state != C_IDLE && c->state != C_KEPT) {
		snprintf(c->err, sizeof c->err, "a request is already running");
		return TW_ERR_HTTP_BUSY;
	}
	if (path[0] != '/') {
		snprintf(c->err, sizeof c->err, "path must start with '/'");
		return TW_ERR_ARG;
	}
	for (const char *s = path; *s; s++) {
		if (*s <= ' ' || *s >= 0x7f) {
			snprintf(c->err, sizeof c->err, "path has a space or non-ASCII byte");
			return TW_ERR_ARG;
		}
	}
	n = snprintf(c->req, sizeof c->req,
		     "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (compatible; "
		     "tickwatch/" TW_VERSION ")\r\nAccept: application/json\r\nConnection: "
		     "keep-alive\r\n\r\n",
		     c->prefix, path, c->hosthdr);
	if (n < 0 || (size_t)n >= sizeof c->req) {
		snprintf(c->err, sizeof c->err, "request line too long");
		return TW_ERR_ARG;
	}
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->got = 0;
	c->retried = 0;
	c->done = done;
	c->arg = arg;
	c->requests++;
	tw_http_parser_init(&c->p, c->p.body, c->p.body_cap);
	if (c->state == C_KEPT) {
		c->reused = 1;
		c->reuses++;
		c->state = C_SENDING;
		if (tw_loop_add_fd(c->loop, c->fd, TW_HAL_WRITE, on_io, c) != TW_OK) {
			c->done = NULL;
			close_conn(c);
			snprintf(c->err, sizeof c->err, "no free loop slot: raise [limits] max_fds");
			return TW_ERR_NOMEM;
		}
		rc = arm(c);
	} else {
		c->reused = 0;
		rc = open_conn(c);
	}
	if (rc != TW_OK) {
		c->done = NULL;
		stop_timer(c);
		close_conn(c);
	}
	return rc;
}

void tw_http_client_close(struct tw_http_client *c)
{
	c->done = NULL;
	stop_timer(c);
	close_conn(c);
}
