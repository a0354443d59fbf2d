/* SPDX-License-Identifier: MIT */
/* http_client.c - the keep-alive HTTP/1.1 GET client on the event loop: connect, TLS through the
 * stream, request, response through the parser, time-outs on loop timers. */
#include "quotes/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/resolve.h"
#include "tls/stream.h"

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
			struct tw_stream *st, unsigned char *body, size_t body_cap,
			unsigned char *rbuf, size_t rbuf_cap, int64_t timeout_ms, char *err,
			size_t errlen)
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
	if (tls && !tw_stream_can_tls(st)) {
		snprintf(err, errlen, "[quotes] base: '%s' is https:// but the stream has no TLS "
			 "configuration", base_url);
		return TW_ERR_ARG;
	}
	if ((c->port == 80 && !tls) || (c->port == 443 && tls))
		snprintf(c->hosthdr, sizeof c->hosthdr, "%s", c->host);
	else
		snprintf(c->hosthdr, sizeof c->hosthdr, "%s:%u", c->host, (unsigned)c->port);
	c->loop = loop;
	c->st = st;
	c->tls = tls;
	c->p.body = body;
	c->p.body_cap = body_cap;
	c->rbuf = rbuf;
	c->rbuf_cap = rbuf_cap;
	c->timeout_ms = timeout_ms;
	return TW_OK;
}

static void close_conn(struct tw_http_client *c)
{
	tw_connect_cancel(&c->conn);
	if (c->fd >= 0) {
		tw_stream_close(c->st);
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

/* The connector resolved the name off the loop and tried each address in turn. */
static void on_connected(struct tw_connect *cn, int rc, int fd, const char *err, void *arg)
{
	struct tw_http_client *c = arg;

	(void)cn;
	if (rc == TW_ERR_TIMEOUT) {
		snprintf(c->err, sizeof c->err,
			 "%s:%u: no connection within %lld ms ([quotes] timeout): %.300s", c->host,
			 (unsigned)c->port, (long long)c->timeout_ms, err);
		finish(c, rc, c->err);
		return;
	}
	if (rc != TW_OK) {
		snprintf(c->err, sizeof c->err, "connect to %s:%u: %.300s", c->host,
			 (unsigned)c->port, err);
		finish(c, rc, c->err);
		return;
	}
	c->fd = fd;
	if (tw_loop_add_fd(c->loop, c->fd, TW_HAL_WRITE, on_io, c) != TW_OK) {
		tw_hal_close(c->fd);
		c->fd = -1;
		c->state = C_IDLE;
		snprintf(c->err, sizeof c->err, "no free loop slot: raise [limits] max_fds");
		finish(c, TW_ERR_NOMEM, c->err);
	}
	/* on_io in C_CONNECTING finishes (a no-op on a connected socket) and goes on */
}

static int open_conn(struct tw_http_client *c)
{
	int rc;

	c->connects++;
	c->fd = -1;
	c->state = C_CONNECTING;
	rc = tw_connect_start(&c->conn, NULL, c->loop, c->host, c->port, c->timeout_ms,
			      on_connected, c);
	if (rc != TW_OK) {
		c->state = C_IDLE;
		snprintf(c->err, sizeof c->err, "connect to %s:%u: %.300s", c->host,
			 (unsigned)c->port, c->conn.err);
		return rc;
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
		long n = tw_stream_read(c->st, c->rbuf, c->rbuf_cap, &want);
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
		if (rc == TW_OK) {
			tw_stream_open(c->st, c->fd);
			if (c->tls)
				rc = tw_stream_start_tls(c->st, c->host, c->err, sizeof c->err);
		}
		if (rc != TW_OK)
			return finish(c, rc, c->err);
		c->state = C_HANDSHAKE;
		/* fall through */
	case C_HANDSHAKE:
		rc = tw_stream_handshake(c->st, &want, c->err, sizeof c->err);
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
			/* A retry after would-block passes the same bytes (stream.h). */
			n = tw_stream_write(c->st, c->req + c->req_off, c->req_len - c->req_off,
					    &want);
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

void tw_http_client_on_header(struct tw_http_client *c, tw_http_header_fn fn, void *arg)
{
	c->on_header = fn;
	c->header_arg = arg;
}

int tw_http_get(struct tw_http_client *c, const char *path, tw_http_done_fn done, void *arg)
{
	return tw_http_get_with(c, path, NULL, done, arg);
}

int tw_http_get_with(struct tw_http_client *c, const char *path, const char *extra,
		     tw_http_done_fn done, void *arg)
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
	if (extra == NULL)
		extra = "";
	for (const char *s = extra; *s; s++) {
		/* Header lines: printable ASCII, each ended by CR LF, never a bare CR or LF. */
		if ((*s < ' ' || *s >= 0x7f) &&
		    !(*s == '\r' && s[1] == '\n') && !(*s == '\n' && s > extra && s[-1] == '\r')) {
			snprintf(c->err, sizeof c->err, "extra header has a control or non-ASCII byte");
			return TW_ERR_ARG;
		}
	}
	n = (int)strlen(extra);
	if (n > 0 && (n < 2 || extra[n - 2] != '\r' || extra[n - 1] != '\n')) {
		snprintf(c->err, sizeof c->err, "extra header lines must end with CR LF");
		return TW_ERR_ARG;
	}
	n = snprintf(c->req, sizeof c->req,
		     "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (compatible; "
		     "tickwatch/" TW_VERSION ")\r\nAccept: application/json, text/csv, "
		     "*/*\r\n%sConnection: keep-alive\r\n\r\n",
		     c->prefix, path, c->hosthdr, extra);
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
	tw_http_parser_on_header(&c->p, c->on_header, c->header_arg);
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
