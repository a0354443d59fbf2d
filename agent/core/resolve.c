/* SPDX-License-Identifier: MIT */
/* resolve.c - the TTL cache and look-up table over the HAL's resolver thread, and the connector
 * that tries every resolved address in turn, all on loop callbacks. */
#include "resolve.h"

#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "log.h"
#include "loop.h"

static struct tw_resolver *def;
static struct tw_resolver fallback;
static struct tw_resolve_entry fallback_cache[TW_RESOLVE_FALLBACK];

static void on_wake(struct tw_loop *l, int fd, unsigned ready, void *arg);

int tw_resolver_init(struct tw_resolver *r, struct tw_loop *loop, struct tw_arena *a,
		     struct tw_resolve_entry *storage, size_t entries, char *err, size_t errlen)
{
	int fd;

	memset(r, 0, sizeof *r);
	r->fd = -1;
	if (entries == 0)
		entries = 1;
	if (a) {
		storage = tw_arena_carve(a, entries * sizeof *storage, "resolver cache",
					 "arena_kb");
		if (storage == NULL) {
			snprintf(err, errlen, "%s", a->err);
			return TW_ERR_NOMEM;
		}
	}
	memset(storage, 0, entries * sizeof *storage);
	r->cache = storage;
	r->ncache = entries;
	fd = tw_hal_resolver_start(err, errlen);
	if (fd < 0)
		return fd;
	if (tw_loop_add_fd(loop, fd, TW_HAL_READ, on_wake, r) != TW_OK) {
		snprintf(err, errlen, "resolver: event loop full: raise [limits] max_fds");
		return TW_ERR_NOMEM;
	}
	r->fd = fd;
	r->loop = loop;
	return TW_OK;
}

void tw_resolver_stop(struct tw_resolver *r)
{
	for (struct tw_connect *c = r->waiting; c; c = c->next_wait)
		c->state = TW_CONNECT_IDLE;
	r->waiting = NULL;
	if (r->loop && r->fd >= 0)
		tw_loop_del_fd(r->loop, r->fd);
	r->loop = NULL;
	r->fd = -1;
	if (def == r)
		def = NULL;
}

void tw_resolver_set_default(struct tw_resolver *r)
{
	def = r;
}

/* The resolver for a connect on @p loop: the default when it serves that loop,
 * else the fallback, (re)made on this loop. A fallback left on another loop is
 * dropped without touching that loop: a test's old loop is gone by then. */
static struct tw_resolver *resolver_for(struct tw_loop *loop, char *err, size_t errlen)
{
	if (def && def->loop == loop)
		return def;
	if (fallback.loop == loop)
		return &fallback;
	memset(&fallback, 0, sizeof fallback);
	if (tw_resolver_init(&fallback, loop, NULL, fallback_cache, TW_RESOLVE_FALLBACK, err,
			     errlen) != TW_OK)
		return NULL;
	return &fallback;
}

size_t tw_resolver_cached(struct tw_resolver *r, const char *host, struct tw_hal_addr *out)
{
	tw_mono_t now = tw_hal_now();
	size_t lit = 0;

	if (tw_hal_addr_parse(host, &out[0]) == TW_OK)
		return 1;
	if (host[0] == '[') { /* [v6] as written in URLs */
		char inner[TW_HAL_HOST_MAX];
		size_t n = strcspn(host + 1, "]");

		if (n < sizeof inner && host[1 + n] == ']' && host[2 + n] == '\0') {
			memcpy(inner, host + 1, n);
			inner[n] = '\0';
			lit = tw_hal_addr_parse(inner, &out[0]) == TW_OK;
		}
		if (lit)
			return 1;
	}
	for (size_t i = 0; r && i < r->ncache; i++) {
		struct tw_resolve_entry *e = &r->cache[i];

		if (e->host[0] && strcmp(e->host, host) == 0) {
			if (now >= e->expires) {
				e->host[0] = '\0'; /* stale: look it up again */
				return 0;
			}
			memcpy(out, e->addrs, e->n * sizeof *out);
			r->hits++;
			return e->n;
		}
	}
	return 0;
}

static void cache_put(struct tw_resolver *r, const char *host, const struct tw_hal_resolved *res)
{
	struct tw_resolve_entry *slot = NULL;
	tw_mono_t now = tw_hal_now();

	/* the same name, else a free or stale entry, else the one expiring first */
	for (size_t i = 0; i < r->ncache && slot == NULL; i++) {
		if (r->cache[i].host[0] && strcmp(r->cache[i].host, host) == 0)
			slot = &r->cache[i];
	}
	for (size_t i = 0; i < r->ncache && slot == NULL; i++) {
		if (!r->cache[i].host[0] || r->cache[i].expires <= now)
			slot = &r->cache[i];
	}
	if (slot == NULL) {
		slot = &r->cache[0];
		for (size_t i = 1; i < r->ncache; i++) {
			if (r->cache[i].expires < slot->expires)
				slot = &r->cache[i];
		}
	}
	snprintf(slot->host, sizeof slot->host, "%s", host);
	memcpy(slot->addrs, res->addrs, res->n * sizeof res->addrs[0]);
	slot->n = res->n;
	slot->expires = now + TW_RESOLVE_TTL_MS * TW_MONO_PER_MS;
}

/* ---- the connector ---- */

static int64_t on_timer(struct tw_loop *l, void *arg);
static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg);

static void stop_timer(struct tw_connect *c)
{
	if (c->timer > 0)
		tw_loop_del_timer(c->loop, c->timer);
	c->timer = 0;
}

static int set_timer(struct tw_connect *c, int64_t ms)
{
	stop_timer(c);
	c->timer = tw_loop_add_timer(c->loop, ms < 0 ? 0 : ms, on_timer, c);
	if (c->timer < 0) {
		c->timer = 0;
		return TW_ERR_NOMEM;
	}
	return TW_OK;
}

static void append_err(struct tw_connect *c, const char *what)
{
	size_t n = strlen(c->err);

	snprintf(c->err + n, sizeof c->err - n, "%s%s", n ? "; " : "", what);
}

/* Deliver from a 0 ms timer: the result is known inside a call that must not call back. */
static void finish_later(struct tw_connect *c, int rc)
{
	c->rc = rc;
	c->state = TW_CONNECT_DONE;
	if (set_timer(c, 0) != TW_OK) {
		/* no timer: nothing can deliver; say so and go idle */
		tw_log(TW_LOG_ERROR, "net", "connect to %s: no free timer: raise [limits] max_timers",
		       c->host);
		c->state = TW_CONNECT_IDLE;
	}
}

static void deliver(struct tw_connect *c, int rc, int fd)
{
	stop_timer(c);
	c->state = TW_CONNECT_IDLE;
	c->rc = rc;
	c->done(c, rc, fd, c->err, c->arg);
}

static void drop_fd(struct tw_connect *c)
{
	if (c->fd >= 0) {
		tw_loop_del_fd(c->loop, c->fd);
		tw_hal_close(c->fd);
	}
	c->fd = -1;
}

/* Try c->addrs from c->next on: the first connect started waits for writability. */
static void try_next(struct tw_connect *c)
{
	char why[200], text[TW_HAL_ADDR_TEXT];
	int rc = TW_ERR_REFUSED;

	while (c->next < c->n) {
		const struct tw_hal_addr *a = &c->addrs[c->next];
		tw_mono_t left = c->deadline - tw_hal_now();
		int64_t share_ms = left / (tw_mono_t)(c->n - c->next) / TW_MONO_PER_MS;

		rc = tw_hal_tcp_connect_addr(a, c->port, &c->fd, why, sizeof why);
		if (rc == TW_OK || rc == TW_ERR_WOULD_BLOCK) {
			/* Connected at once or in progress: writability says which. */
			if (tw_loop_add_fd(c->loop, c->fd, TW_HAL_WRITE, on_fd, c) != TW_OK) {
				drop_fd(c);
				append_err(c, "no free fd slot: raise [limits] max_fds");
				finish_later(c, TW_ERR_NOMEM);
				return;
			}
			c->state = TW_CONNECT_CONNECTING;
			if (set_timer(c, share_ms > 0 ? share_ms : 1) != TW_OK) {
				drop_fd(c);
				append_err(c, "no free timer: raise [limits] max_timers");
				finish_later(c, TW_ERR_NOMEM);
			}
			return;
		}
		tw_hal_addr_format(a, text, sizeof text);
		tw_log(TW_LOG_DEBUG, "net", "connect to %s (%s) port %u: %s", c->host, text,
		       (unsigned)c->port, why);
		append_err(c, why);
		c->next++;
	}
	finish_later(c, rc);
}

static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_connect *c = arg;
	char why[200], text[TW_HAL_ADDR_TEXT];
	int rc;

	(void)l;
	if (c->state != TW_CONNECT_CONNECTING || fd != c->fd ||
	    !(ready & (TW_HAL_WRITE | TW_HAL_ERROR)))
		return;
	rc = tw_hal_tcp_connect_finish(fd, why, sizeof why);
	if (rc == TW_OK) {
		tw_loop_del_fd(c->loop, fd);
		c->fd = -1;
		c->err[0] = '\0';
		deliver(c, TW_OK, fd);
		return;
	}
	tw_hal_addr_format(&c->addrs[c->next], text, sizeof text);
	tw_log(TW_LOG_DEBUG, "net", "connect to %s (%s) port %u: %s", c->host, text,
	       (unsigned)c->port, why);
	snprintf(why + strlen(why), sizeof why - strlen(why), " (%s)", text);
	append_err(c, why);
	drop_fd(c);
	c->next++;
	try_next(c);
}

static void unlink_wait(struct tw_connect *c)
{
	if (c->r == NULL)
		return;
	for (struct tw_connect **p = &c->r->waiting; *p; p = &(*p)->next_wait) {
		if (*p == c) {
			*p = c->next_wait;
			break;
		}
	}
	c->next_wait = NULL;
}

static int64_t on_timer(struct tw_loop *l, void *arg)
{
	struct tw_connect *c = arg;
	char text[TW_HAL_ADDR_TEXT], why[TW_HAL_ADDR_TEXT + 32];

	(void)l;
	c->timer = 0;
	switch (c->state) {
	case TW_CONNECT_DONE:
		deliver(c, c->rc, -1);
		break;
	case TW_CONNECT_RESOLVING:
		unlink_wait(c);
		c->r->timeouts++;
		snprintf(c->err, sizeof c->err, "resolving '%s' timed out", c->host);
		tw_log(TW_LOG_DEBUG, "net", "%s", c->err);
		deliver(c, TW_ERR_TIMEOUT, -1);
		break;
	case TW_CONNECT_CONNECTING:
		tw_hal_addr_format(&c->addrs[c->next], text, sizeof text);
		snprintf(why, sizeof why, "%s: timed out", text);
		append_err(c, why);
		drop_fd(c);
		c->next++;
		if (c->next < c->n)
			try_next(c);
		else
			deliver(c, TW_ERR_TIMEOUT, -1);
		break;
	default:
		break;
	}
	return TW_TIMER_STOP;
}

/* The addresses are known: connect, or (port 0) hand them over. */
static void resolved(struct tw_connect *c, int in_call)
{
	c->next = 0;
	if (c->port == 0) {
		if (in_call)
			finish_later(c, TW_OK);
		else
			deliver(c, TW_OK, -1);
		return;
	}
	try_next(c);
}

static void on_wake(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_resolver *r = arg;
	struct tw_hal_resolved res;

	(void)l;
	(void)fd;
	(void)ready;
	while (tw_hal_resolve_take(&res) == TW_OK) {
		const char *host = NULL;
		char hostcopy[TW_HAL_HOST_MAX];
		struct tw_connect *c;

		for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS; i++) {
			if (r->jobs[i].ticket == res.ticket) {
				snprintf(hostcopy, sizeof hostcopy, "%s", r->jobs[i].host);
				host = hostcopy;
				r->jobs[i].ticket = 0;
			}
		}
		if (host == NULL)
			continue; /* asked by a resolver since dropped */
		if (res.rc == TW_OK)
			cache_put(r, host, &res);
		else
			r->failures++;
		/* A done callback may start another connect: rescan from the head. */
		for (;;) {
			for (c = r->waiting; c && c->ticket != res.ticket; c = c->next_wait)
				;
			if (c == NULL)
				break;
			unlink_wait(c);
			if (res.rc != TW_OK) {
				snprintf(c->err, sizeof c->err, "%s", res.err);
				deliver(c, res.rc, -1);
				continue;
			}
			memcpy(c->addrs, res.addrs, res.n * sizeof res.addrs[0]);
			c->n = res.n;
			resolved(c, 0);
		}
	}
}

static int begin(struct tw_connect *c, struct tw_resolver *r, struct tw_loop *loop,
		 const char *host, uint16_t port, int64_t timeout_ms, tw_connect_fn done,
		 void *arg)
{
	long ticket = 0;

	tw_connect_cancel(c);
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->loop = loop;
	c->port = port;
	c->done = done;
	c->arg = arg;
	if (strlen(host) >= sizeof c->host || timeout_ms <= 0 || host[0] == '\0') {
		snprintf(c->err, sizeof c->err, "host name empty or longer than %zu bytes, or no "
						"time-out", sizeof c->host - 1);
		return TW_ERR_ARG;
	}
	snprintf(c->host, sizeof c->host, "%s", host);
	c->deadline = tw_hal_now() + timeout_ms * TW_MONO_PER_MS;
	if (r == NULL)
		r = resolver_for(loop, c->err, sizeof c->err);
	c->r = r;
	c->n = tw_resolver_cached(r, host, c->addrs);
	if (c->n > 0) {
		resolved(c, 1);
		return c->state == TW_CONNECT_IDLE ? TW_ERR_NOMEM : TW_OK;
	}
	if (r == NULL) {
		finish_later(c, TW_ERR_RESOLVE); /* c->err says why there is no resolver */
		return c->state == TW_CONNECT_IDLE ? TW_ERR_NOMEM : TW_OK;
	}
	r->lookups++;
	for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS && ticket == 0; i++) {
		if (r->jobs[i].ticket && strcmp(r->jobs[i].host, host) == 0)
			ticket = r->jobs[i].ticket; /* the same name is being looked up: join */
	}
	if (ticket == 0) {
		size_t slot = TW_HAL_RESOLVE_SLOTS;

		for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS && slot == TW_HAL_RESOLVE_SLOTS; i++) {
			if (r->jobs[i].ticket == 0)
				slot = i;
		}
		ticket = slot < TW_HAL_RESOLVE_SLOTS ? tw_hal_resolve_submit(host) : TW_ERR_NOMEM;
		if (ticket <= 0) {
			snprintf(c->err, sizeof c->err,
				 "cannot resolve '%s': %d look-ups already in flight (is DNS "
				 "answering?)",
				 host, TW_HAL_RESOLVE_SLOTS);
			finish_later(c, TW_ERR_RESOLVE);
			return c->state == TW_CONNECT_IDLE ? TW_ERR_NOMEM : TW_OK;
		}
		r->jobs[slot].ticket = ticket;
		snprintf(r->jobs[slot].host, sizeof r->jobs[slot].host, "%s", host);
	}
	c->ticket = ticket;
	c->state = TW_CONNECT_RESOLVING;
	if (set_timer(c, timeout_ms) != TW_OK) {
		c->state = TW_CONNECT_IDLE;
		snprintf(c->err, sizeof c->err, "no free timer: raise [limits] max_timers");
		return TW_ERR_NOMEM;
	}
	c->next_wait = r->waiting;
	r->waiting = c;
	return TW_OK;
}

int tw_connect_start(struct tw_connect *c, struct tw_resolver *r, struct tw_loop *loop,
		     const char *host, uint16_t port, int64_t timeout_ms, tw_connect_fn done,
		     void *arg)
{
	if (port == 0) {
		tw_connect_cancel(c);
		snprintf(c->err, sizeof c->err, "port 0");
		return TW_ERR_ARG;
	}
	return begin(c, r, loop, host, port, timeout_ms, done, arg);
}

int tw_resolve_start(struct tw_connect *c, struct tw_resolver *r, struct tw_loop *loop,
		     const char *host, int64_t timeout_ms, tw_connect_fn done, void *arg)
{
	return begin(c, r, loop, host, 0, timeout_ms, done, arg);
}

void tw_connect_cancel(struct tw_connect *c)
{
	if (!tw_connect_busy(c))
		return;
	if (c->state == TW_CONNECT_RESOLVING)
		unlink_wait(c);
	drop_fd(c);
	stop_timer(c);
	c->state = TW_CONNECT_IDLE;
}
