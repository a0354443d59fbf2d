/* SPDX-License-Identifier: MIT */
/* server.c - the HTTP server's listener, fixed slots, deadlines and answers (see httpd.h).
 *
 * A slot reads until its head is whole (tw_httpd_parse) and its body, if any,
 * has arrived; the route's handler then writes the body of the answer into
 * the slot's output buffer past a reserved header space, the status line and
 * headers are written just in front of it, and the whole goes out without
 * waiting; the connection closes when it has (after a refusal, once the client has closed
 * its side: the unread rest of its request is read away, so no reset destroys the answer). A slot past its deadline is
 * closed by the sweep ([http] timeout covers the request and the answer).
 */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/hostport.h"
#include "core/log.h"
#include "core/loop.h"
#include "httpd.h"

#define HDR_RESERVE 384 /* status line + headers of an answer */
#define ACCEPT_BATCH 16

enum { SLOT_FREE = 0, SLOT_READ, SLOT_WAIT, SLOT_WRITE, SLOT_DRAIN };

struct slot {
	struct tw_httpd *h;
	int state;
	int fd;
	uint32_t gen; /* bumped whenever a request ends: a late completion no longer matches */
	int head_only;
	tw_mono_t deadline;
	char in[TW_HTTPD_HEAD_MAX + TW_HTTPD_BODY_MAX];
	size_t in_len;
	char *out;      /* out_cap bytes */
	size_t out_off; /* first byte to send */
	size_t out_end;
	int drain; /* after a refusal: read the rest of the request away before closing */
	char peer[64];
};

struct tw_httpd {
	struct tw_loop *loop;
	int lfd;
	int port;
	char listen[128];
	struct slot *slots;
	size_t nslots;
	size_t out_cap;
	int64_t timeout_ms;
	const struct tw_httpd_route *routes;
	size_t nroutes;
	struct tw_httpd_counts c;
};

size_t tw_httpd_budget(int slots, size_t out_cap)
{
	return sizeof(struct tw_httpd) + 16 + (size_t)slots * (sizeof(struct slot) + out_cap + 32);
}

static void slot_close(struct slot *s)
{
	if (s->state == SLOT_FREE)
		return;
	tw_loop_del_fd(s->h->loop, s->fd);
	tw_hal_close(s->fd);
	s->fd = -1;
	s->gen++;
	s->state = SLOT_FREE;
	s->h->c.open--;
}

static void flush(struct slot *s)
{
	while (s->out_off < s->out_end) {
		long n = tw_hal_send(s->fd, s->out + s->out_off, s->out_end - s->out_off);

		if (n == TW_ERR_WOULD_BLOCK)
			return;
		if (n <= 0) {
			tw_log(TW_LOG_DEBUG, "http", "%s: send failed", s->peer);
			slot_close(s);
			return;
		}
		s->out_off += (size_t)n;
	}
	if (!s->drain) {
		slot_close(s);
		return;
	}
	/* Closing with unread request bytes would reset the connection and may destroy the
	 * answer before the client reads it: read until the client closes (or the deadline). */
	s->state = SLOT_DRAIN;
	tw_loop_set_mask(s->h->loop, s->fd, TW_HAL_READ);
}

static void drain(struct slot *s)
{
	char sink[512];

	for (;;) {
		long n = tw_hal_recv(s->fd, sink, sizeof sink);

		if (n == TW_ERR_WOULD_BLOCK)
			return;
		if (n <= 0) {
			slot_close(s);
			return;
		}
	}
}

/* The body is in s->out[HDR_RESERVE .. HDR_RESERVE + r->len); put the head in front. */
static void answer(struct slot *s, const struct tw_httpd_resp *r, int head_only)
{
	char hdr[HDR_RESERVE];
	int n;

	n = snprintf(hdr, sizeof hdr,
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s%s%s"
		     "Connection: close\r\n\r\n",
		     r->status, tw_httpd_reason(r->status),
		     r->content_type ? r->content_type : "text/plain; charset=utf-8", r->len,
		     r->allow ? "Allow: " : "", r->allow ? r->allow : "", r->allow ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof hdr) /* the headers are ours and short: cannot happen */
		n = 0;
	memcpy(s->out + HDR_RESERVE - (size_t)n, hdr, (size_t)n);
	s->out_off = HDR_RESERVE - (size_t)n;
	s->out_end = HDR_RESERVE + (head_only ? 0 : r->len);
	s->drain = r->status >= 400;
	s->gen++;
	s->h->c.requests++;
	if (r->status >= 100 && r->status < 600)
		s->h->c.by_class[r->status / 100]++;
	s->state = SLOT_WRITE;
	tw_loop_set_mask(s->h->loop, s->fd, TW_HAL_WRITE);
	flush(s);
}

static void simple_typed(struct slot *s, int status, const char *ctype, const char *text,
			 const char *allow)
{
	struct tw_httpd_resp r = {.status = status, .allow = allow, .content_type = ctype,
				  .body = s->out + HDR_RESERVE,
				  .cap = s->h->out_cap - HDR_RESERVE};
	int n = snprintf(r.body, r.cap, "%s\n", text);

	r.len = n > 0 && (size_t)n < r.cap ? (size_t)n : 0;
	answer(s, &r, s->head_only);
}

static void simple(struct slot *s, int status, const char *text, const char *allow)
{
	simple_typed(s, status, NULL, text, allow);
}

int tw_httpd_complete(struct tw_httpd *h, struct tw_httpd_ticket t, int status,
		      const char *content_type, const char *text)
{
	struct slot *s;

	if (t.slot >= h->nslots)
		return 0;
	s = &h->slots[t.slot];
	if (s->state != SLOT_WAIT || s->gen != t.gen)
		return 0;
	simple_typed(s, status, content_type, text, NULL);
	return 1;
}

static const char *allow_text(unsigned methods)
{
	if (methods & TW_HTTPD_POST)
		return (methods & TW_HTTPD_GET) ? "GET, HEAD, POST" : "POST";
	return "GET, HEAD";
}

static void dispatch(struct slot *s, const struct tw_httpd_req *req)
{
	const struct tw_httpd_route *rt = NULL;
	struct tw_httpd_resp r;
	unsigned m = req->method == TW_HTTPD_HEAD ? TW_HTTPD_GET : req->method;

	s->head_only = req->method == TW_HTTPD_HEAD;
	for (size_t i = 0; i < s->h->nroutes; i++) {
		if (strcmp(s->h->routes[i].path, req->path) == 0) {
			rt = &s->h->routes[i];
			break;
		}
	}
	if (rt == NULL) {
		simple(s, 404, "not found", NULL);
		return;
	}
	if ((rt->methods & m) == 0) {
		simple(s, 405, "method not allowed", allow_text(rt->methods));
		return;
	}
	memset(&r, 0, sizeof r);
	r.status = 200;
	r.body = s->out + HDR_RESERVE;
	r.cap = s->h->out_cap - HDR_RESERVE;
	r.ticket.slot = (uint32_t)(s - s->h->slots);
	r.ticket.gen = s->gen;
	rt->fn(rt->arg, req, s->in + req->head_len, req->content_length, &r);
	if (r.pending) {
		s->state = SLOT_WAIT;
		tw_loop_set_mask(s->h->loop, s->fd, 0);
		return;
	}
	if (r.len > r.cap)
		r.len = r.cap;
	answer(s, &r, s->head_only);
}

static void read_some(struct slot *s)
{
	struct tw_httpd_req req;
	long n;
	int rc;

	for (;;) {
		if (s->in_len == sizeof s->in) {
			simple(s, 431, "request too large", NULL);
			return;
		}
		n = tw_hal_recv(s->fd, s->in + s->in_len, sizeof s->in - s->in_len);
		if (n == TW_ERR_WOULD_BLOCK)
			return;
		if (n <= 0) { /* closed or failed before a whole request */
			slot_close(s);
			return;
		}
		s->in_len += (size_t)n;
		rc = tw_httpd_parse(s->in, s->in_len, &req);
		if (rc < 0) {
			char why[64];

			snprintf(why, sizeof why, "%s", tw_httpd_reason(-rc));
			tw_log(TW_LOG_DEBUG, "http", "%s: refused: %d %s", s->peer, -rc, why);
			simple(s, -rc, why, NULL);
			return;
		}
		if (rc > 0 && s->in_len >= req.head_len + req.content_length) {
			dispatch(s, &req);
			return;
		}
	}
}

static void on_slot(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct slot *s = arg;

	(void)l;
	(void)fd;
	if (s->state == SLOT_READ && (ready & (TW_HAL_READ | TW_HAL_ERROR)))
		read_some(s);
	else if (s->state == SLOT_WRITE)
		flush(s);
	else if (s->state == SLOT_DRAIN)
		drain(s);
}

static void on_listen(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_httpd *h = arg;

	(void)l;
	(void)ready;
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
					   "Retry-After: 1\r\nConnection: close\r\n\r\n";
		char peer[64];
		int cfd = -1;
		struct slot *s = NULL;

		if (tw_hal_tcp_accept(fd, &cfd, peer, sizeof peer) != TW_OK)
			break;
		for (size_t i = 0; i < h->nslots; i++) {
			if (h->slots[i].state == SLOT_FREE) {
				s = &h->slots[i];
				break;
			}
		}
		if (s == NULL || tw_loop_add_fd(h->loop, cfd, TW_HAL_READ, on_slot, s) != TW_OK) {
			h->c.busy++;
			(void)tw_hal_send(cfd, busy, sizeof busy - 1);
			tw_hal_close(cfd);
			continue;
		}
		s->fd = cfd;
		s->state = SLOT_READ;
		s->in_len = 0;
		s->out_off = s->out_end = 0;
		s->drain = 0;
		s->head_only = 0;
		s->deadline = tw_hal_now() + h->timeout_ms * TW_MONO_PER_MS;
		snprintf(s->peer, sizeof s->peer, "%s", peer);
		h->c.open++;
	}
}

int64_t tw_httpd_sweep(struct tw_httpd *h)
{
	tw_mono_t now = tw_hal_now();
	int64_t next = h->timeout_ms;

	for (size_t i = 0; i < h->nslots; i++) {
		struct slot *s = &h->slots[i];
		int64_t left;

		if (s->state == SLOT_FREE)
			continue;
		left = (int64_t)((s->deadline - now) / TW_MONO_PER_MS);
		if (left <= 0 && s->state == SLOT_WAIT) {
			/* its handler never answered: say so rather than close without a word */
			s->deadline = now + h->timeout_ms * TW_MONO_PER_MS;
			simple(s, 503, "no answer in time: try again", NULL);
		} else if (left <= 0) {
			h->c.timeouts++;
			tw_log(TW_LOG_DEBUG, "http", "%s: closed after [http] timeout", s->peer);
			slot_close(s);
		} else if (left < next) {
			next = left;
		}
	}
	return next < 10 ? 10 : next;
}

int tw_httpd_start(struct tw_httpd **out, struct tw_arena *a, struct tw_loop *loop,
		   const struct tw_httpd_opts *o, char *err, size_t errlen)
{
	struct tw_httpd *h;
	char host[96];
	uint16_t port;
	int rc;

	*out = NULL;
	if (o->slots < 1 || o->out_cap <= HDR_RESERVE + 64) {
		snprintf(err, errlen, "[http] slots must be >= 1 and out_kb >= 1");
		return TW_ERR_ARG;
	}
	if (tw_hostport_split(o->listen, host, sizeof host, &port) != TW_OK) {
		snprintf(err, errlen, "[http] listen '%s' is not host:port", o->listen);
		return TW_ERR_ARG;
	}
	h = tw_arena_carve(a, sizeof *h, "http server", "arena_kb");
	if (h == NULL) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	h->slots = tw_arena_carve(a, (size_t)o->slots * sizeof *h->slots, "http slots", "arena_kb");
	if (h->slots == NULL) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	h->nslots = (size_t)o->slots;
	h->out_cap = o->out_cap;
	for (size_t i = 0; i < h->nslots; i++) {
		h->slots[i].h = h;
		h->slots[i].fd = -1;
		h->slots[i].out = tw_arena_carve(a, o->out_cap, "http output", "arena_kb");
		if (h->slots[i].out == NULL) {
			snprintf(err, errlen, "%s", a->err);
			return TW_ERR_NOMEM;
		}
	}
	h->loop = loop;
	h->timeout_ms = o->timeout_ms;
	h->routes = o->routes;
	h->nroutes = o->nroutes;
	snprintf(h->listen, sizeof h->listen, "%s", o->listen);
	rc = tw_hal_tcp_listen(host, port, 16, &h->lfd, err, errlen);
	if (rc != TW_OK)
		return rc;
	h->port = tw_hal_local_port(h->lfd);
	rc = tw_loop_add_fd(loop, h->lfd, TW_HAL_READ, on_listen, h);
	if (rc != TW_OK) {
		tw_hal_close(h->lfd);
		snprintf(err, errlen, "no room for the http listener (raise [limits] max_fds)");
		return rc;
	}
	*out = h;
	return TW_OK;
}

void tw_httpd_stop(struct tw_httpd *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nslots; i++)
		slot_close(&h->slots[i]);
	if (h->lfd >= 0) {
		tw_loop_del_fd(h->loop, h->lfd);
		tw_hal_close(h->lfd);
		h->lfd = -1;
	}
}

void tw_httpd_status(const struct tw_httpd *h, char *buf, size_t len)
{
	snprintf(buf, len,
		 "http on %s (port %d): %llu answered (2xx %llu, 4xx %llu, 5xx %llu), %d open, "
		 "%llu refused busy, %llu timed out",
		 h->listen, h->port, (unsigned long long)h->c.requests,
		 (unsigned long long)h->c.by_class[2], (unsigned long long)h->c.by_class[4],
		 (unsigned long long)h->c.by_class[5], h->c.open, (unsigned long long)h->c.busy,
		 (unsigned long long)h->c.timeouts);
}

int tw_httpd_port(const struct tw_httpd *h)
{
	return h->port;
}

void tw_httpd_counts(const struct tw_httpd *h, struct tw_httpd_counts *c)
{
	*c = h->c;
}
