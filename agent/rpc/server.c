/* SPDX-License-Identifier: MIT */
/* server.c - the JSON-RPC line server: listener, fixed slots, framing, time-outs, the console. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "rpc_int.h"

#define EXPIRE_EVERY_MS 60000

size_t tw_rpc_budget(const struct tw_config *cfg)
{
	size_t slots = (size_t)cfg->limits.rpc_slots + 1; /* + the console's */
	size_t nlong = (size_t)cfg->limits.rpc_long_lines;

	return sizeof(struct tw_rpc) + slots * sizeof(struct rpc_slot) +
	       nlong * ((size_t)cfg->limits.rpc_max_line + 1 + sizeof(char *) + sizeof(int)) + 256;
}

static void update_mask(struct rpc_slot *s)
{
	unsigned mask = 0;

	if (s->fd < 0 || s->console)
		return;
	if (s->out_len > s->out_off)
		mask |= TW_HAL_WRITE;
	else if (s->state == SLOT_READ && !s->closing)
		mask |= TW_HAL_READ;
	tw_loop_set_mask(s->rpc->loop, s->fd, mask);
}

static void release_long(struct rpc_slot *s)
{
	struct tw_rpc *r = s->rpc;

	if (s->long_idx >= 0) {
		r->long_owner[s->long_idx] = -1;
		s->long_idx = -1;
	}
	s->in = s->small;
	s->in_cap = r->max_line + 1 < sizeof s->small ? r->max_line + 1 : sizeof s->small;
}

static void slot_close(struct rpc_slot *s, const char *why)
{
	if (s->console)
		return;
	if (s->fd >= 0) {
		tw_log(TW_LOG_DEBUG, "rpc", "%s: closed (%s)", s->peer, why);
		tw_loop_del_fd(s->rpc->loop, s->fd);
		tw_hal_close(s->fd);
		s->fd = -1;
	}
	s->in_len = 0;
	s->out_len = s->out_off = 0;
	release_long(s);
	if (s->state == SLOT_BUSY) {
		s->closing = 1; /* the operation in flight frees the slot when it ends */
		return;
	}
	s->state = SLOT_FREE;
	s->closing = 0;
}

/* Send what is queued; close when asked to once it is out. */
static void flush(struct rpc_slot *s)
{
	while (s->fd >= 0 && s->out_off < s->out_len) {
		long n = tw_hal_send(s->fd, s->out + s->out_off, s->out_len - s->out_off);

		if (n == TW_ERR_WOULD_BLOCK)
			break;
		if (n <= 0) {
			slot_close(s, "send failed");
			return;
		}
		s->out_off += (size_t)n;
	}
	if (s->fd >= 0 && s->out_off == s->out_len) {
		s->out_off = s->out_len = 0;
		if (s->closing && s->state != SLOT_BUSY) {
			slot_close(s, "closed after the error");
			return;
		}
	}
	if (s->fd >= 0)
		update_mask(s);
}

static void read_some(struct rpc_slot *s);
static void console_run(struct tw_rpc *r);

/* The line of @p s just answered leaves the input; a borrowed long-line buffer goes back
 * once the rest fits the slot's own. */
static void line_answered(struct rpc_slot *s)
{
	s->state = SLOT_READ;
	if (s->line_drop > s->in_len)
		s->line_drop = s->in_len;
	memmove(s->in, s->in + s->line_drop, s->in_len - s->line_drop);
	s->in_len -= s->line_drop;
	s->line_drop = 0;
	if (s->in_len)
		s->line_started = tw_hal_now();
	if (s->long_idx >= 0 && s->in_len < sizeof s->small) {
		memcpy(s->small, s->in, s->in_len);
		release_long(s);
	}
}

/* A request that waited for the database is answered (from the loop, never from inside
 * tw_rpc_dispatch): send, then go on with the next line. */
static void request_over(struct rpc_slot *s)
{
	if (s->console) {
		s->state = SLOT_READ;
		console_run(s->rpc);
		return;
	}
	if (s->fd < 0) { /* closed while the request ran */
		s->state = SLOT_FREE;
		s->closing = 0;
		return;
	}
	line_answered(s);
	flush(s);
	if (s->fd >= 0 && s->out_len == 0)
		read_some(s);
}

/* Run the complete lines buffered in @p s, one request at a time. */
static void next_lines(struct rpc_slot *s)
{
	while (s->fd >= 0 && s->state == SLOT_READ && !s->closing && s->out_len == 0) {
		char *nl = memchr(s->in, '\n', s->in_len);
		size_t len;

		if (nl == NULL)
			break;
		*nl = '\0';
		len = (size_t)(nl - s->in);
		if (len && s->in[len - 1] == '\r')
			s->in[--len] = '\0';
		s->state = SLOT_BUSY;
		s->requests++;
		s->rpc->requests++;
		s->line_drop = (size_t)(nl - s->in) + 1;
		if (tw_rpc_dispatch(s, s->in, len, request_over) == RPC_PENDING)
			break; /* the database answers later */
		line_answered(s);
		flush(s);
	}
}

/* An overlong or refused line: one error, then the connection goes. */
static void refuse_line(struct rpc_slot *s, int code, const char *msg)
{
	s->id[0] = '\0';
	s->notify = 0;
	tw_rpc_respond_error(s, code, msg, NULL);
	s->closing = 1;
	s->in_len = 0;
	flush(s);
}

static void read_some(struct rpc_slot *s)
{
	struct tw_rpc *r = s->rpc;
	char msg[160];

	while (s->fd >= 0 && s->state == SLOT_READ && !s->closing && s->out_len == 0) {
		long n;

		if (memchr(s->in, '\n', s->in_len)) {
			next_lines(s);
			continue;
		}
		if (s->in_len == s->in_cap) {
			size_t i;

			if (s->in_cap >= r->max_line + 1) {
				r->closed_long++;
				snprintf(msg, sizeof msg,
					 "request line longer than %zu bytes ([limits] rpc_max_line)",
					 r->max_line);
				refuse_line(s, TW_RPC_INVALID_REQUEST, msg);
				return;
			}
			for (i = 0; i < r->nlong && r->long_owner[i] >= 0; i++)
				;
			if (i == r->nlong) {
				r->closed_long++;
				snprintf(msg, sizeof msg,
					 "server busy: no buffer free for a line over %zu bytes; retry "
					 "later",
					 sizeof s->small);
				refuse_line(s, TW_RPC_BUSY, msg);
				return;
			}
			r->long_owner[i] = (int)(s - r->slots);
			s->long_idx = (int)i;
			memcpy(r->longbuf[i], s->in, s->in_len);
			s->in = r->longbuf[i];
			s->in_cap = r->max_line + 1;
		}
		n = tw_hal_recv(s->fd, s->in + s->in_len, s->in_cap - s->in_len);
		if (n == TW_ERR_WOULD_BLOCK)
			break;
		if (n <= 0) {
			slot_close(s, n == TW_ERR_CLOSED ? "peer closed" : "receive failed");
			return;
		}
		if (s->in_len == 0)
			s->line_started = tw_hal_now();
		s->in_len += (size_t)n;
		s->last_rx = tw_hal_now();
	}
	if (s->fd >= 0)
		update_mask(s);
}

static void on_slot(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct rpc_slot *s = arg;

	(void)l;
	(void)fd;
	if (ready & TW_HAL_WRITE)
		flush(s);
	if (s->fd >= 0 && s->out_len == 0 && (ready & (TW_HAL_READ | TW_HAL_ERROR)))
		read_some(s);
	if (s->fd >= 0 && s->out_len == 0 && s->state == SLOT_READ)
		next_lines(s);
}

static void on_listen(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_rpc *r = arg;

	(void)l;
	(void)ready;
	for (int k = 0; k < 16; k++) { /* a bounded batch per turn */
		char peer[64];
		int cfd = -1;
		struct rpc_slot *s = NULL;

		if (tw_hal_tcp_accept(fd, &cfd, peer, sizeof peer) != TW_OK)
			break;
		for (size_t i = 0; i < r->nslots; i++) {
			if (r->slots[i].state == SLOT_FREE) {
				s = &r->slots[i];
				break;
			}
		}
		if (s == NULL || tw_loop_add_fd(r->loop, cfd, TW_HAL_READ, on_slot,
						s ? s : (void *)r) != TW_OK) {
			char busy[192];
			size_t n = tw_rpc_refusal(busy, sizeof busy, "server busy: every connection "
						  "slot is in use ([limits] rpc_slots); retry later");

			r->refused++;
			(void)tw_hal_send(cfd, busy, n);
			tw_hal_close(cfd);
			tw_log(TW_LOG_WARN, "rpc", "%s refused: all %zu slots in use", peer,
			       r->nslots);
			continue;
		}
		r->accepted++;
		s->state = SLOT_READ;
		s->fd = cfd;
		s->closing = 0;
		s->in_len = 0;
		s->out_len = s->out_off = 0;
		s->long_idx = -1;
		release_long(s);
		s->last_rx = tw_hal_now();
		s->requests = 0;
		snprintf(s->peer, sizeof s->peer, "%s", peer);
		tw_log(TW_LOG_DEBUG, "rpc", "%s connected", peer);
	}
}

static int64_t sweep(struct tw_loop *l, void *arg)
{
	struct tw_rpc *r = arg;
	tw_mono_t now = tw_hal_now();
	int64_t every;

	(void)l;
	for (size_t i = 0; i < r->nslots; i++) {
		struct rpc_slot *s = &r->slots[i];

		if (s->state == SLOT_FREE || s->fd < 0)
			continue;
		if (s->out_len > s->out_off) {
			if (now - s->write_started > r->slow_ms * TW_MONO_PER_MS) {
				r->closed_slow++;
				tw_log(TW_LOG_INFO, "rpc", "%s: response not taken within %lld ms: "
				       "closing", s->peer, (long long)r->slow_ms);
				s->closing = 0;
				slot_close(s, "slow reader");
			}
			continue;
		}
		if (s->state != SLOT_READ)
			continue;
		if (s->in_len > 0 && now - s->line_started > r->slow_ms * TW_MONO_PER_MS) {
			char msg[128];

			r->closed_slow++;
			snprintf(msg, sizeof msg,
				 "request line not completed within %lld ms ([rpc] slow_timeout)",
				 (long long)r->slow_ms);
			tw_log(TW_LOG_INFO, "rpc", "%s: %s: closing", s->peer, msg);
			refuse_line(s, TW_RPC_INVALID_REQUEST, msg);
		} else if (s->in_len == 0 && now - s->last_rx > r->idle_ms * TW_MONO_PER_MS) {
			r->closed_idle++;
			slot_close(s, "idle");
		}
	}
	every = (r->slow_ms < r->idle_ms ? r->slow_ms : r->idle_ms) / 4;
	return every < 50 ? 50 : every > 1000 ? 1000 : every;
}

/* Run the console's queued lines one at a time, until one waits for the database. */
static void console_run(struct tw_rpc *r)
{
	struct rpc_slot *s = r->console;
	char line[TW_RPC_IN_SMALL];

	while (s->state == SLOT_READ && s->in_len > 0) {
		char *nl = memchr(s->in, '\n', s->in_len);
		size_t n = nl ? (size_t)(nl - s->in) : s->in_len;

		memcpy(line, s->in, n);
		line[n] = '\0';
		s->in_len -= nl ? n + 1 : n;
		memmove(s->in, s->in + (nl ? n + 1 : n), s->in_len);
		s->state = SLOT_BUSY;
		s->requests++;
		r->requests++;
		if (tw_rpc_dispatch(s, line, n, request_over) == RPC_PENDING)
			return; /* request_over runs the rest */
		s->state = SLOT_READ;
	}
}

/* Console lines queue in the console slot's input buffer while one runs. */
static void on_console_json(struct tw_agent *ag, const char *line, void *arg)
{
	struct tw_rpc *r = arg;
	struct rpc_slot *s = r->console;
	size_t n = strlen(line);

	if (n + 1 > sizeof s->small - s->in_len) {
		char busy[160];

		tw_console_write(&ag->console, busy,
				 tw_rpc_refusal(busy, sizeof busy, "console request queue full "
						"(2 KiB): wait for the answers"));
		return;
	}
	memcpy(s->in + s->in_len, line, n);
	s->in[s->in_len + n] = '\n';
	s->in_len += n + 1;
	console_run(r);
}

static int split_listen(const char *hp, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(hp, ':');
	long p;
	char *end;

	if (colon == NULL || (size_t)(colon - hp) >= hostlen)
		return TW_ERR_ARG;
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return TW_ERR_ARG;
	*port = (uint16_t)p;
	return TW_OK;
}

int tw_rpc_start(struct tw_rpc **out, struct tw_agent *ag, struct tw_cqrs *q, char *err,
		 size_t errlen)
{
	const struct tw_config *c = &ag->cfg;
	struct tw_rpc *r;
	size_t nslots = (size_t)c->limits.rpc_slots;
	size_t nlong = (size_t)c->limits.rpc_long_lines;
	size_t max_line = (size_t)c->limits.rpc_max_line;
	char host[128];
	uint16_t port = 0;
	int rc;

	r = tw_arena_carve(&ag->arena, sizeof *r, "rpc server", "rpc_slots");
	if (r)
		r->slots = tw_arena_carve(&ag->arena, (nslots + 1) * sizeof *r->slots,
					  "rpc connection slots", "rpc_slots");
	if (r && r->slots && nlong) {
		int *owner;

		r->longbuf = tw_arena_carve(&ag->arena, nlong * sizeof *r->longbuf,
					    "rpc long-line table", "rpc_long_lines");
		owner = r->longbuf ? tw_arena_carve(&ag->arena, nlong * sizeof(int),
						    "rpc long-line owners", "rpc_long_lines")
				   : NULL;
		for (size_t i = 0; owner && i < nlong; i++) {
			r->longbuf[i] = tw_arena_carve(&ag->arena, max_line + 1,
						       "rpc long-line buffer", "rpc_max_line");
			if (r->longbuf[i] == NULL)
				owner = NULL;
			else
				owner[i] = -1;
		}
		r->long_owner = owner;
	}
	if (r == NULL || r->slots == NULL || (nlong && r->long_owner == NULL)) {
		snprintf(err, errlen, "rpc: %s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	r->ag = ag;
	r->loop = &ag->loop;
	r->q = q;
	r->listen_fd = -1;
	r->port = -1;
	r->nslots = nslots;
	r->nlong = nlong;
	r->max_line = max_line;
	r->token = c->rpc.token;
	r->idle_ms = c->rpc.idle_timeout_ms;
	r->slow_ms = c->rpc.slow_timeout_ms > 0 ? c->rpc.slow_timeout_ms : 10000;
	r->ttl_ms = c->rpc.request_ttl_ms;
	for (size_t i = 0; i <= nslots; i++) {
		struct rpc_slot *s = &r->slots[i];

		s->rpc = r;
		s->fd = -1;
		s->long_idx = -1;
		release_long(s);
	}
	r->console = &r->slots[nslots];
	r->console->console = 1;
	r->console->state = SLOT_READ;
	snprintf(r->console->peer, sizeof r->console->peer, "console");
	if (strcmp(c->rpc.listen, "none") != 0) {
		if (split_listen(c->rpc.listen, host, sizeof host, &port) != TW_OK) {
			snprintf(err, errlen, "[rpc] listen: '%s' is not host:port", c->rpc.listen);
			return TW_ERR_ARG;
		}
		rc = tw_hal_tcp_listen(host, port, 128, &r->listen_fd, err, errlen);
		if (rc != TW_OK)
			return rc;
		r->port = tw_hal_local_port(r->listen_fd);
		if (tw_loop_add_fd(r->loop, r->listen_fd, TW_HAL_READ, on_listen, r) != TW_OK) {
			tw_hal_close(r->listen_fd);
			r->listen_fd = -1;
			snprintf(err, errlen, "rpc: no free loop slot for the listener: raise [limits] "
					      "max_fds");
			return TW_ERR_NOMEM;
		}
	}
	r->sweep = tw_loop_add_timer(r->loop, 50, sweep, r);
	if (r->sweep <= 0) {
		tw_rpc_stop(r);
		snprintf(err, errlen, "rpc: no free timer: raise [limits] max_timers");
		return TW_ERR_NOMEM;
	}
	tw_agent_set_json_handler(ag, on_console_json, r);
	tw_log(TW_LOG_INFO, "rpc", "JSON-RPC on %s (port %d), %zu slots, lines up to %zu bytes, "
	       "token %s", c->rpc.listen, r->port, nslots, max_line,
	       r->token[0] ? "required" : "not required (loopback)");
	*out = r;
	return TW_OK;
}

void tw_rpc_stop(struct tw_rpc *r)
{
	if (r == NULL || r->stopped)
		return;
	r->stopped = 1;
	if (r->listen_fd >= 0) {
		tw_loop_del_fd(r->loop, r->listen_fd);
		tw_hal_close(r->listen_fd);
		r->listen_fd = -1;
	}
	if (r->sweep > 0)
		tw_loop_del_timer(r->loop, r->sweep);
	r->sweep = 0;
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i].state != SLOT_FREE) {
			flush(&r->slots[i]); /* one bounded attempt at what is queued */
			slot_close(&r->slots[i], "agent stopping");
		}
	}
	if (r->ag->json_arg == r)
		tw_agent_set_json_handler(r->ag, NULL, NULL);
}

static void expired(void *arg, const struct tw_cqrs_result *res)
{
	(void)arg;
	if (res->rc == TW_OK && res->count > 0)
		tw_log(TW_LOG_INFO, "rpc", "forgot %lld request ids older than [rpc] request_ttl",
		       res->count);
}

int64_t tw_rpc_step(struct tw_rpc *r)
{
	if (!r->expire_op.job.active && tw_cqrs_ready(r->q))
		(void)tw_cqrs_expire_requests(r->q, &r->expire_op, r->ttl_ms, expired, r);
	return EXPIRE_EVERY_MS;
}

void tw_rpc_status(const struct tw_rpc *r, char *buf, size_t len)
{
	size_t used = 0;

	for (size_t i = 0; i < r->nslots; i++)
		used += r->slots[i].state != SLOT_FREE;
	char where[40];

	if (r->port < 0)
		snprintf(where, sizeof where, "no port (listen = none)");
	else
		snprintf(where, sizeof where, "port %d", r->port);
	snprintf(buf, len,
		 "%s, %zu/%zu slots, %llu connections (%llu refused), %llu requests, %llu "
		 "errors, closed idle %llu slow %llu long %llu",
		 where, used, r->nslots, (unsigned long long)r->accepted,
		 (unsigned long long)r->refused, (unsigned long long)r->requests,
		 (unsigned long long)r->errors, (unsigned long long)r->closed_idle,
		 (unsigned long long)r->closed_slow, (unsigned long long)r->closed_long);
}

int tw_rpc_port(const struct tw_rpc *r)
{
	return r ? r->port : -1;
}
