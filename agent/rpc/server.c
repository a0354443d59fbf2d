/* SPDX-License-Identifier: MIT */
/* server.c - the JSON-RPC line server: listener, fixed slots, TLS, framing, time-outs, bans, the console.
 *
 * Each slot's bytes go through a tw_stream: in clear, or, when [rpc] tls_cert
 * is set, through a TLS server session whose storage the slot carved at start
 * (its record buffers come from the Mbed TLS heap, [limits] tls_heap_kb). A
 * TLS connection starts in SLOT_HANDSHAKE, driven on the loop by readiness,
 * and is closed when the handshake is not done within [rpc]
 * tls_handshake_timeout. A peer address the limiter (authlimit.c) has banned
 * is refused at accept. Plaintext is refused at start when the listen
 * address is not loopback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "core/hostport.h"
#include "core/log.h"
#include "rpc_int.h"
#include "tls/tls.h"

#define EXPIRE_EVERY_MS 60000

size_t tw_rpc_budget(const struct tw_config *cfg)
{
	size_t slots = (size_t)cfg->limits.rpc_slots + 1; /* + the console's */
	size_t nlong = (size_t)cfg->limits.rpc_long_lines;

	size_t tls = cfg->rpc.tls_cert[0] ? sizeof(struct tw_tls_config) + 16 +
						  slots * (sizeof(struct tw_tls) + 16)
					: 0;

	return sizeof(struct tw_rpc) + slots * sizeof(struct rpc_slot) +
	       nlong * ((size_t)cfg->limits.rpc_max_line + 1 + sizeof(char *) + sizeof(int)) +
	       TW_RPC_AUTH_PEERS * sizeof(struct tw_rpc_ban) + tls + 256 + tw_rpc_tcheck_budget(cfg);
}

static void update_mask(struct rpc_slot *s)
{
	unsigned mask = 0;

	if (s->fd < 0 || s->console)
		return;
	/* A TLS read or handshake may wait for the socket to be writable, a TLS write for it
	 * to be readable: the direction is the one the blocked call asked for. */
	int reading = s->state == SLOT_HANDSHAKE ||
		      (s->out_len == s->out_off && s->state == SLOT_READ && !s->closing);

	if (s->state != SLOT_HANDSHAKE && s->out_len > s->out_off)
		mask = s->wr_want ? s->wr_want : TW_HAL_WRITE;
	else if (reading)
		mask = s->rd_want ? s->rd_want : TW_HAL_READ;
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
		tw_stream_close(&s->st); /* TLS: close_notify (best effort) and the session freed */
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
		unsigned want = 0;
		long n = tw_stream_write(&s->st, s->out + s->out_off, s->out_len - s->out_off, &want);

		if (n == TW_ERR_WOULD_BLOCK) {
			s->wr_want = want;
			break;
		}
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
		unsigned want = 0;
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
		n = tw_stream_read(&s->st, s->in + s->in_len, s->in_cap - s->in_len, &want);
		if (n == TW_ERR_WOULD_BLOCK) {
			s->rd_want = want;
			break;
		}
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

/* Count a failed authentication of @p peer; when that bans its address, close the address's
 * connections, except @p keep, which closes once its queued error is sent. */
static void count_failure(struct tw_rpc *r, const char *peer, struct rpc_slot *keep)
{
	char addr[sizeof r->auth.t[0].addr];

	tw_rpc_peer_addr(peer, addr, sizeof addr);
	if (!tw_rpc_authlimit_fail(&r->auth, addr, tw_hal_now())) {
		if (r->auth.untracked && !r->untracked_logged) {
			r->untracked_logged = 1;
			tw_log(TW_LOG_WARN, "rpc", "%s: failed authentication not counted: all %zu "
			       "entries of the limiter hold live bans", addr, r->auth.n);
		}
		return;
	}
	r->untracked_logged = 0;
	tw_log(TW_LOG_WARN, "rpc", "%s: %lld failed authentications within %lld s: its "
	       "connections are refused for %lld s ([rpc] auth_failures, auth_window, auth_ban)",
	       addr, (long long)r->auth.failures,
	       (long long)(r->auth.window / TW_MONO_PER_S), (long long)(r->auth.ban / TW_MONO_PER_S));
	for (size_t i = 0; i < r->nslots; i++) {
		struct rpc_slot *o = &r->slots[i];
		char a[sizeof addr];

		if (o->state == SLOT_FREE || o->fd < 0)
			continue;
		tw_rpc_peer_addr(o->peer, a, sizeof a);
		if (strcmp(a, addr) != 0)
			continue;
		if (o == keep)
			o->closing = 1; /* the unauthorised error goes out first */
		else
			slot_close(o, "address banned");
	}
}

void tw_rpc_auth_failed(struct rpc_slot *s)
{
	if (!s->console)
		count_failure(s->rpc, s->peer, s);
}

/* Drive the TLS handshake of @p s; once done, the slot reads lines. */
static void handshake(struct rpc_slot *s)
{
	struct tw_rpc *r = s->rpc;
	char err[256];
	unsigned want = 0;
	int rc = tw_stream_handshake(&s->st, &want, err, sizeof err);

	if (rc == TW_ERR_WOULD_BLOCK) {
		s->rd_want = want;
		update_mask(s);
		return;
	}
	if (rc != TW_OK) {
		r->hs_failed++;
		tw_log(TW_LOG_INFO, "rpc", "%s: %s", s->peer, err);
		if (rc == TW_ERR_TLS_VERIFY)
			count_failure(r, s->peer, NULL); /* an untrusted client certificate */
		slot_close(s, "TLS handshake failed");
		return;
	}
	tw_log(TW_LOG_DEBUG, "rpc", "%s: TLS handshake done", s->peer);
	s->state = SLOT_READ;
	s->rd_want = 0;
	s->last_rx = tw_hal_now();
	read_some(s); /* the client's first line may have come with its last handshake record */
}

static void on_slot(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct rpc_slot *s = arg;

	(void)l;
	(void)fd;
	(void)ready;
	if (s->state == SLOT_HANDSHAKE) {
		handshake(s);
		return;
	}
	/* Whatever woke us, the call that blocked is tried again: with TLS a write may have
	 * waited for readability and a read for writability. */
	if (s->out_len > s->out_off)
		flush(s);
	if (s->fd >= 0 && s->out_len == 0 && s->state == SLOT_READ)
		read_some(s);
	if (s->fd >= 0 && s->out_len == 0 && s->state == SLOT_READ)
		next_lines(s);
}

/* A connection from a banned address: one error line (in clear only) and it goes. */
static void refuse_banned(struct tw_rpc *r, int cfd, const char *addr, int64_t left_ms)
{
	char line[256];

	r->banned_refused++;
	tw_log(TW_LOG_DEBUG, "rpc", "%s refused: banned for another %lld ms", addr,
	       (long long)left_ms);
	if (r->tls_cfg == NULL) {
		int n = snprintf(line, sizeof line,
				 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,"
				 "\"message\":\"too many failed authentications from this address: "
				 "refused for another %lld s ([rpc] auth_ban)\"}}\n",
				 TW_RPC_UNAUTHORISED, (long long)((left_ms + 999) / 1000));

		if (n > 0 && (size_t)n < sizeof line)
			(void)tw_hal_send(cfd, line, (size_t)n);
	}
	tw_hal_close(cfd);
}

static void on_listen(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_rpc *r = arg;

	(void)l;
	(void)ready;
	for (int k = 0; k < 16; k++) { /* a bounded batch per turn */
		char peer[64], addr[sizeof r->auth.t[0].addr], err[256];
		int cfd = -1;
		int64_t ban_left;
		struct rpc_slot *s = NULL;

		if (tw_hal_tcp_accept(fd, &cfd, peer, sizeof peer) != TW_OK)
			break;
		tw_rpc_peer_addr(peer, addr, sizeof addr);
		ban_left = tw_rpc_authlimit_banned(&r->auth, addr, tw_hal_now());
		if (ban_left > 0) {
			refuse_banned(r, cfd, addr, ban_left);
			continue;
		}
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
			if (r->tls_cfg == NULL) /* a TLS client could not read a line in clear */
				(void)tw_hal_send(cfd, busy, n);
			tw_hal_close(cfd);
			tw_log(TW_LOG_WARN, "rpc", "%s refused: all %zu slots in use", peer,
			       r->nslots);
			continue;
		}
		tw_stream_open(&s->st, cfd);
		if (r->tls_cfg && tw_stream_accept_tls(&s->st, err, sizeof err) != TW_OK) {
			r->refused++;
			tw_log(TW_LOG_WARN, "rpc", "%s refused: %s%s", peer, err,
			       strstr(err, "alloc") ? " (raise [limits] tls_heap_kb)" : "");
			tw_stream_close(&s->st);
			tw_loop_del_fd(r->loop, cfd);
			tw_hal_close(cfd);
			continue;
		}
		r->accepted++;
		s->state = r->tls_cfg ? SLOT_HANDSHAKE : SLOT_READ;
		s->hs_started = tw_hal_now();
		s->rd_want = s->wr_want = 0;
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
		if (s->state == SLOT_HANDSHAKE) {
			if (now - s->hs_started > r->hs_ms * TW_MONO_PER_MS) {
				r->hs_timeout++;
				tw_log(TW_LOG_INFO, "rpc", "%s: TLS handshake not done within %lld ms "
				       "([rpc] tls_handshake_timeout): closing", s->peer,
				       (long long)r->hs_ms);
				slot_close(s, "TLS handshake time-out");
			}
			continue;
		}
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
	if (r->tls_cfg && r->hs_ms / 4 < every)
		every = r->hs_ms / 4;
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

static const char *tls_mode(const struct tw_rpc *r)
{
	return r->tls_cfg == NULL ? "plaintext"
	       : r->tls_cfg->verify ? "TLS, client certificates required"
				    : "TLS";
}

/* The TLS rules of [rpc], then the server configuration and each slot's session storage. */
static int tls_start(struct tw_rpc *r, const struct tw_config *c, char *err, size_t errlen)
{
	char text[TW_CFG_ERR_LEN];
	int listening = strcmp(c->rpc.listen, "none") != 0;

	if (listening && c->rpc.tls_cert[0] == '\0' && !tw_config_is_loopback(c->rpc.listen)) {
		snprintf(err, errlen, "[rpc] tls_cert: required when [rpc] listen (%s) is not a "
			 "loopback address: the token and every request would cross the network "
			 "in clear; set tls_cert and tls_key, or listen on 127.0.0.1", c->rpc.listen);
		return TW_ERR_ARG;
	}
	if ((c->rpc.tls_cert[0] == '\0') != (c->rpc.tls_key[0] == '\0')) {
		snprintf(err, errlen, "[rpc] tls_cert and tls_key: set both (TLS) or neither "
			 "(plaintext, loopback only)");
		return TW_ERR_ARG;
	}
	if (c->rpc.tls_client_ca[0] && c->rpc.tls_cert[0] == '\0') {
		snprintf(err, errlen, "[rpc] tls_client_ca: client certificates are checked only "
			 "over TLS: set tls_cert and tls_key too");
		return TW_ERR_ARG;
	}
	if (c->rpc.tls_cert[0] == '\0' || !listening)
		return TW_OK;
	if (!tw_tls_server_built()) {
		snprintf(err, errlen, "[rpc] tls_cert: this tickwatch (board %s) was built without "
			 "a TLS server (MBEDTLS_SSL_SRV_C is not in the board's mbedtls_config.h): "
			 "build with it, or unset tls_cert and listen on loopback", c->agent.board);
		return TW_ERR_ARG;
	}
	r->tls_cfg = tw_arena_carve(&r->ag->arena, sizeof *r->tls_cfg, "rpc TLS configuration",
				    "rpc_slots");
	for (size_t i = 0; r->tls_cfg && i < r->nslots; i++) {
		r->slots[i].tls = tw_arena_carve(&r->ag->arena, sizeof *r->slots[i].tls,
						 "rpc TLS session", "rpc_slots");
		if (r->slots[i].tls == NULL)
			r->tls_cfg = NULL;
	}
	if (r->tls_cfg == NULL) {
		snprintf(err, errlen, "rpc: %s", r->ag->arena.err);
		return TW_ERR_NOMEM;
	}
	if (tw_tls_config_init_server(r->tls_cfg, c->rpc.tls_cert, c->rpc.tls_key,
				      c->rpc.tls_client_ca, text, sizeof text) != TW_OK) {
		tw_tls_config_free(r->tls_cfg);
		r->tls_cfg = NULL;
		snprintf(err, errlen, "[rpc] tls_cert/tls_key/tls_client_ca: %s", text);
		return TW_ERR_ARG;
	}
	for (size_t i = 0; i < r->nslots; i++)
		tw_stream_init(&r->slots[i].st, r->tls_cfg, r->slots[i].tls);
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
	if (r && r->slots)
		r->auth.t = tw_arena_carve(&ag->arena, TW_RPC_AUTH_PEERS * sizeof *r->auth.t,
					   "rpc auth-failure table", "rpc_slots");
	if (r == NULL || r->slots == NULL || (nlong && r->long_owner == NULL) ||
	    r->auth.t == NULL) {
		snprintf(err, errlen, "rpc: %s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	tw_rpc_authlimit_init(&r->auth, r->auth.t, TW_RPC_AUTH_PEERS, c->rpc.auth_failures,
			      c->rpc.auth_window_ms, c->rpc.auth_ban_ms);
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
	r->hs_ms = c->rpc.tls_handshake_timeout_ms > 0 ? c->rpc.tls_handshake_timeout_ms : 10000;
	for (size_t i = 0; i <= nslots; i++) {
		struct rpc_slot *s = &r->slots[i];

		s->rpc = r;
		s->fd = -1;
		s->long_idx = -1;
		tw_stream_init(&s->st, NULL, NULL);
		release_long(s);
	}
	rc = tls_start(r, c, err, errlen);
	if (rc == TW_OK)
		rc = tw_rpc_tcheck_open(r, err, errlen);
	if (rc != TW_OK)
		return rc;
	r->console = &r->slots[nslots];
	r->console->console = 1;
	r->console->state = SLOT_READ;
	snprintf(r->console->peer, sizeof r->console->peer, "console");
	if (strcmp(c->rpc.listen, "none") != 0) {
		if (tw_hostport_split(c->rpc.listen, host, sizeof host, &port) != TW_OK) {
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
	tw_log(TW_LOG_INFO, "rpc", "JSON-RPC on %s (port %d, %s), %zu slots, lines up to %zu "
	       "bytes, token %s; %lld failed authentications in %lld s ban an address for %lld s",
	       c->rpc.listen, r->port, tls_mode(r), nslots, max_line,
	       r->token[0] ? "required" : "not required (loopback)", (long long)c->rpc.auth_failures,
	       (long long)(c->rpc.auth_window_ms / 1000), (long long)(c->rpc.auth_ban_ms / 1000));
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
	tw_rpc_tcheck_close(r);
	if (r->tls_cfg)
		tw_tls_config_free(r->tls_cfg); /* after every session is gone */
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
	char bans[160], where[40];
	size_t nb = tw_rpc_authlimit_list(&r->auth, tw_hal_now(), bans,
					  sizeof bans);
	int n;

	if (r->port < 0)
		snprintf(where, sizeof where, "no port (listen = none)");
	else
		snprintf(where, sizeof where, "port %d", r->port);
	n = snprintf(buf, len,
		     "%s (%s), %zu/%zu slots, %llu connections (%llu refused), %llu requests, "
		     "%llu errors, closed idle %llu slow %llu long %llu",
		     where, tls_mode(r), used, r->nslots, (unsigned long long)r->accepted,
		     (unsigned long long)r->refused, (unsigned long long)r->requests,
		     (unsigned long long)r->errors, (unsigned long long)r->closed_idle,
		     (unsigned long long)r->closed_slow, (unsigned long long)r->closed_long);
	if (n < 0 || (size_t)n >= len)
		return;
	if (r->tls_cfg)
		n += snprintf(buf + n, len - (size_t)n, ", TLS handshakes failed %llu timed out %llu",
			      (unsigned long long)r->hs_failed, (unsigned long long)r->hs_timeout);
	if (n < 0 || (size_t)n >= len)
		return;
	snprintf(buf + n, len - (size_t)n, ", auth failures %llu, banned %zu%s%s",
		 (unsigned long long)r->auth.failures_seen, nb, nb ? ": " : "",
		 nb && !bans[0] ? "(too many to name)" : bans);
}

int tw_rpc_port(const struct tw_rpc *r)
{
	return r ? r->port : -1;
}
