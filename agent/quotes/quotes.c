/* SPDX-License-Identifier: MIT */
/* quotes.c - opens the configured quote sources (their connections, rate caps, Yahoo session)
 * and runs a fetch on a free connection: request, status (429: rate limit; 401/403: one new
 * crumb), the answer read by yahoo.c or stooq.c. */
#include "quotes/quotes.h"

#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/breaker.h"
#include "core/config.h"
#include "core/log.h"
#include "quotes/crumb.h"

#define YAHOO_RBUF 4096

static size_t body_bytes(const struct tw_config *cfg)
{
	return (size_t)cfg->limits.quote_response_kb * 1024 + 1;
}

/* One jsmn token per 16 response bytes: a real chart meta needs far fewer. */
static unsigned token_count(const struct tw_config *cfg)
{
	return (unsigned)(cfg->limits.quote_response_kb * 1024 / 16);
}

static size_t net_budget(const struct tw_config *cfg);

static int is_replay(const struct tw_config *cfg)
{
	return strncmp(cfg->quotes.source, "replay:", 7) == 0;
}

size_t tw_quotes_budget(const struct tw_config *cfg)
{
	char err[256];
	long n;

	if (!is_replay(cfg))
		return net_budget(cfg);
	n = tw_replay_count(cfg->quotes.source + 7, err, sizeof err);
	if (n < 0)
		return 0;
	if (n > cfg->limits.replay_rows)
		n = (long)cfg->limits.replay_rows;
	return (size_t)n * sizeof(struct tw_replay_row) + ((size_t)n + 1) * sizeof(size_t);
}

static int open_replay(struct tw_quotes *s, const struct tw_config *cfg, struct tw_arena *a,
		       char *err, size_t errlen)
{
	const char *path = cfg->quotes.source + 7;
	long n = tw_replay_count(path, err, errlen);
	struct tw_replay_row *rows;
	size_t *steps;
	int rc;

	if (n < 0)
		return (int)n;
	if (n == 0)
		n = 1; /* the load reports the empty file */
	if (n > cfg->limits.replay_rows) {
		snprintf(err, errlen, "%s: %ld quotes, more than [limits] replay_rows (%lld)", path,
			 n, (long long)cfg->limits.replay_rows);
		return TW_ERR_REPLAY_SYNTAX;
	}
	rows = tw_arena_carve(a, (size_t)n * sizeof *rows, "replay quotes", "replay_rows");
	steps = tw_arena_carve(a, ((size_t)n + 1) * sizeof *steps, "replay steps", "replay_rows");
	if (rows == NULL || steps == NULL) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	rc = tw_replay_load(&s->r, path, rows, steps, (size_t)n, err, errlen);
	if (rc != TW_OK)
		return rc;
	s->kind = 1;
	snprintf(s->name, sizeof s->name, "replay");
	tw_log(TW_LOG_INFO, "collector", "replay %s: %zu quotes in %zu steps", path, s->r.nrows,
	       s->r.nsteps);
	return TW_OK;
}

static unsigned conns(const struct tw_config *cfg)
{
	int64_t n = cfg->quotes.connections;

	return n < 1 ? 1 : n > TW_QUOTES_CONN_MAX ? TW_QUOTES_CONN_MAX : (unsigned)n;
}

/* The sources named by [quotes] source ("yahoo,stooq"): kinds into @p kinds. @return count. */
static unsigned parse_sources(const char *v, int *kinds)
{
	unsigned n = 0;

	for (const char *p = v; *p && n < TW_QUOTES_SOURCES;) {
		size_t l = strcspn(p, ",");

		if (l == 5 && strncmp(p, "yahoo", 5) == 0)
			kinds[n++] = TW_QSRC_YAHOO;
		else if (l == 5 && strncmp(p, "stooq", 5) == 0)
			kinds[n++] = TW_QSRC_STOOQ;
		p += l + (p[l] == ',');
	}
	return n;
}

/* One connection: body, read buffer, tokens (yahoo); plus yahoo's session: its own client. */
static size_t conn_bytes(const struct tw_config *cfg, int kind)
{
	return body_bytes(cfg) + YAHOO_RBUF +
	       (kind == TW_QSRC_YAHOO ? token_count(cfg) * tw_yahoo_token_size() : 0);
}

static size_t net_budget(const struct tw_config *cfg)
{
	int kinds[TW_QUOTES_SOURCES];
	unsigned n = parse_sources(cfg->quotes.source, kinds);
	size_t b = 0;

	for (unsigned i = 0; i < n; i++) {
		b += conns(cfg) * (sizeof(struct tw_qconn) + conn_bytes(cfg, kinds[i]) + 64);
		if (kinds[i] == TW_QSRC_YAHOO)
			b += sizeof(struct tw_yauth) + body_bytes(cfg) + YAHOO_RBUF +
			     TW_COOKIE_SLOTS * sizeof(struct tw_cookie) + 64;
	}
	return b;
}

static int open_net(struct tw_quotes *s, const struct tw_config *cfg, struct tw_loop *loop,
		    struct tw_arena *a, char *err, size_t errlen)
{
	int kinds[TW_QUOTES_SOURCES], rc;
	unsigned n = parse_sources(cfg->quotes.source, kinds);

	if (n == 0) {
		snprintf(err, errlen, "[quotes] source: '%s' names no source", cfg->quotes.source);
		return TW_ERR_ARG;
	}
	rc = tw_stooq_check_map(cfg->quotes.stooq_map, err, errlen);
	if (rc != TW_OK)
		return rc;
	snprintf(s->stooq_map, sizeof s->stooq_map, "%s", cfg->quotes.stooq_map);
	s->max_age_s = cfg->quotes.max_age_ms / 1000;
	s->backoff_ms = cfg->quotes.breaker_recovery_ms;
	s->kind = 0;
	snprintf(s->name, sizeof s->name, "%.63s", cfg->quotes.source);
	for (unsigned i = 0; i < n; i++) {
		struct tw_qsrc *src = &s->src[i];
		const char *base = kinds[i] == TW_QSRC_YAHOO ? cfg->quotes.base : cfg->quotes.stooq_base;

		src->kind = kinds[i];
		src->q = s;
		snprintf(src->name, sizeof src->name, "%s", kinds[i] == TW_QSRC_YAHOO ? "yahoo" : "stooq");
		snprintf(src->base, sizeof src->base, "%s", base);
		if (strncmp(base, "https://", 8) == 0 && !s->tls_ready) {
			rc = tw_tls_config_init(&s->tlscfg, cfg->quotes.ca_file, 1, err, errlen);
			if (rc != TW_OK)
				return rc;
			s->tls_ready = 1;
		}
		tw_rate_init(&src->rate, (unsigned)cfg->quotes.rate, (unsigned)cfg->quotes.rate);
		src->nconn = conns(cfg);
		src->conn = tw_arena_carve(a, src->nconn * sizeof *src->conn, "quote connections",
					   "arena_kb");
		if (src->conn == NULL) {
			snprintf(err, errlen, "%s", a->err);
			return TW_ERR_NOMEM;
		}
		memset(src->conn, 0, src->nconn * sizeof *src->conn);
		for (unsigned k = 0; k < src->nconn; k++) {
			struct tw_qconn *c = &src->conn[k];
			unsigned char *body = tw_arena_carve(a, body_bytes(cfg), "quote response",
							     "quote_response_kb");
			unsigned char *rbuf = tw_arena_carve(a, YAHOO_RBUF, "quote read buffer",
							     "arena_kb");
			int https = strncmp(base, "https://", 8) == 0;

			if (body == NULL || rbuf == NULL) {
				snprintf(err, errlen, "%s", a->err);
				return TW_ERR_NOMEM;
			}
			c->src = src;
			if (kinds[i] == TW_QSRC_YAHOO) {
				c->toks = tw_arena_carve(a, token_count(cfg) * tw_yahoo_token_size(),
							 "quote JSON tokens", "quote_response_kb");
				if (c->toks == NULL) {
					snprintf(err, errlen, "%s", a->err);
					return TW_ERR_NOMEM;
				}
				c->ntoks = token_count(cfg);
			}
			tw_stream_init(&c->stream, https ? &s->tlscfg : NULL, https ? &c->tls : NULL);
			rc = tw_http_client_init(&c->http, loop, base, &c->stream, body,
						 body_bytes(cfg), rbuf, YAHOO_RBUF,
						 cfg->quotes.timeout_ms, err, errlen);
			if (rc != TW_OK)
				return rc;
		}
		if (kinds[i] == TW_QSRC_YAHOO && cfg->quotes.crumb) {
			struct tw_yauth *au = tw_arena_carve(a, sizeof *au, "yahoo session", "arena_kb");
			struct tw_cookie *slots = tw_arena_carve(a, TW_COOKIE_SLOTS * sizeof *slots,
								 "cookie jar", "arena_kb");
			unsigned char *body = tw_arena_carve(a, body_bytes(cfg), "crumb response",
							     "quote_response_kb");
			unsigned char *rbuf = tw_arena_carve(a, YAHOO_RBUF, "crumb read buffer",
							     "arena_kb");
			const char *first = cfg->quotes.cookie_url[0] ? cfg->quotes.cookie_url : base;
			int https = strncmp(first, "https://", 8) == 0 ||
				    strncmp(base, "https://", 8) == 0;

			if (au == NULL || slots == NULL || body == NULL || rbuf == NULL) {
				snprintf(err, errlen, "%s", a->err);
				return TW_ERR_NOMEM;
			}
			memset(au, 0, sizeof *au);
			if (https && !s->tls_ready) {
				rc = tw_tls_config_init(&s->tlscfg, cfg->quotes.ca_file, 1, err, errlen);
				if (rc != TW_OK)
					return rc;
				s->tls_ready = 1;
			}
			tw_cookie_jar_init(&au->jar, slots, TW_COOKIE_SLOTS);
			snprintf(au->cookie_url, sizeof au->cookie_url, "%s", cfg->quotes.cookie_url);
			tw_stream_init(&au->stream, https ? &s->tlscfg : NULL, https ? &au->tls : NULL);
			rc = tw_http_client_init(&au->http, loop, first, &au->stream, body,
						 body_bytes(cfg), rbuf, YAHOO_RBUF,
						 cfg->quotes.timeout_ms, err, errlen);
			if (rc != TW_OK)
				return rc;
			tw_http_client_on_header(&au->http, tw_yauth_on_header, src);
			au->on_base = cfg->quotes.cookie_url[0] == '\0';
			src->auth = au;
			for (unsigned k = 0; k < src->nconn; k++)
				tw_http_client_on_header(&src->conn[k].http, tw_yauth_on_header, src);
		}
		s->nsrc++;
	}
	return TW_OK;
}

int tw_quotes_open(struct tw_quotes *s, const struct tw_config *cfg, struct tw_loop *loop,
		   struct tw_arena *a, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	if (is_replay(cfg))
		return open_replay(s, cfg, a, err, errlen);
	if (tw_config_check_sources(cfg->quotes.source) == 0)
		return open_net(s, cfg, loop, a, err, errlen);
	snprintf(err, errlen, "[quotes] source: '%s' is not yahoo, stooq, a list of them or "
		 "replay:FILE", cfg->quotes.source);
	return TW_ERR_ARG;
}

void tw_quotes_cycle(struct tw_quotes *s)
{
	if (s->kind != 1)
		return;
	if (!s->r.started)
		s->r.started = 1;
	else if (s->r.step + 1 < s->r.nsteps)
		s->r.step++;
}

unsigned tw_quotes_sources(const struct tw_quotes *s)
{
	return s->kind == 1 ? 1 : s->nsrc;
}

const char *tw_quotes_source_name(const struct tw_quotes *s, unsigned i)
{
	if (s->kind == 1)
		return "replay";
	return i < s->nsrc ? s->src[i].name : "?";
}

static struct tw_qconn *free_conn(const struct tw_quotes *s, unsigned i)
{
	if (s->kind == 1 || i >= s->nsrc)
		return NULL;
	for (unsigned k = 0; k < s->src[i].nconn; k++) {
		if (!s->src[i].conn[k].busy)
			return &s->src[i].conn[k];
	}
	return NULL;
}

int tw_quotes_idle(const struct tw_quotes *s, unsigned i)
{
	return s->kind == 1 || free_conn(s, i) != NULL;
}

int tw_quotes_quiet(const struct tw_quotes *s)
{
	if (s->kind == 1)
		return 1;
	for (unsigned i = 0; i < s->nsrc; i++) {
		for (unsigned k = 0; k < s->src[i].nconn; k++) {
			if (s->src[i].conn[k].busy)
				return 0;
		}
	}
	return 1;
}

int tw_quotes_pick(const struct tw_quotes *s, const struct tw_breaker *br)
{
	int trial_out = 0;

	for (unsigned i = 0; i < tw_quotes_sources(s); i++) {
		if (br[i].state == TW_BREAKER_OPEN && tw_breaker_retry_in_ms(&br[i]) > 0)
			continue;
		if (br[i].state == TW_BREAKER_HALF_OPEN && br[i].trial_out) {
			trial_out = 1;
			continue;
		}
		return tw_quotes_idle(s, i) ? (int)i : TW_QUOTES_PICK_WAIT;
	}
	return trial_out ? TW_QUOTES_PICK_WAIT : TW_QUOTES_PICK_SKIP;
}

void tw_quotes_breaker_feed(const struct tw_quotes *s, unsigned i, struct tw_breaker *br, int rc)
{
	int64_t hold = tw_quotes_hold_ms(s, i);

	if (rc == TW_ERR_QUOTES_LIMITED) {
		/* quiet for as long as the source asked: the breaker holds every request */
		if (br->state != TW_BREAKER_OPEN || tw_breaker_retry_in_ms(br) < hold)
			tw_breaker_open_for(br, hold, "rate limited");
	} else if (tw_quotes_is_failure(rc)) {
		tw_breaker_failure(br);
	} else {
		tw_breaker_success(br);
	}
}

int64_t tw_quotes_rate_take(struct tw_quotes *s, unsigned i)
{
	if (s->kind == 1 || i >= s->nsrc)
		return 0;
	return tw_rate_take(&s->src[i].rate, tw_hal_now());
}

int64_t tw_quotes_hold_ms(const struct tw_quotes *s, unsigned i)
{
	return s->kind == 1 || i >= s->nsrc ? 0 : s->src[i].hold_ms;
}

void tw_qsrc_limited(struct tw_qsrc *src, const char *retry_after)
{
	int64_t d;

	src->limited++;
	if (retry_after && retry_after[0] &&
	    tw_http_retry_after(retry_after, tw_hal_wall_ms() / 1000, &d) == 0) {
		/* A Retry-After of 0 (or a date just past) still waits a second: never spin. */
		src->hold_ms = d > 0 ? d * 1000 : 1000;
		src->backoffs = 0;
		return;
	} else {
		/* Exponential back-off with jitter: base * 2^(n-1), at most 64 base, then a
		 * random point in its upper half. */
		unsigned n = src->backoffs < 7 ? src->backoffs++ : 6;
		int64_t full = src->q->backoff_ms << n, r = 0;
		uint32_t rnd = 0;

		if (full > (int64_t)TW_HTTP_RETRY_AFTER_CAP_S * 1000)
			full = (int64_t)TW_HTTP_RETRY_AFTER_CAP_S * 1000;
		if (tw_hal_entropy(&rnd, sizeof rnd) == 0)
			r = (int64_t)(rnd % (uint32_t)(full / 2 + 1));
		src->hold_ms = full - full / 2 + r;
		if (src->hold_ms < 1000)
			src->hold_ms = 1000;
	}
}

/* The fetch of @p c ends: counters, then its done (the connection is free again first). */
static void conn_end(struct tw_qconn *c, int rc)
{
	struct tw_qsrc *src = c->src;
	tw_quotes_done_fn done = c->done;

	c->busy = 0;
	c->done = NULL;
	c->last_rc = rc;
	if (rc == TW_OK) {
		src->fetched++;
		src->q->fetched++;
		src->backoffs = 0;
	} else if (tw_quotes_is_failure(rc)) {
		src->failed++;
		src->q->failed++;
	} else {
		src->rejected++;
		src->q->rejected++;
	}
	if (done)
		done(c->arg, rc, &c->cur, c->err); /* a rejection: only cur.unknown */
}

void tw_qconn_fail(struct tw_qconn *c, int rc, const char *err)
{
	snprintf(c->err, sizeof c->err, "%s: %.200s", c->cur.ticker, err);
	conn_end(c, rc);
}

static void on_response(void *arg, int rc, int status, const char *body, size_t len,
			const char *err)
{
	struct tw_qconn *c = arg;
	struct tw_qsrc *src = c->src;
	int64_t now_s = tw_hal_wall_ms() / 1000;

	if (rc != TW_OK) {
		snprintf(c->err, sizeof c->err, "%s: %.200s", c->cur.ticker, err);
		conn_end(c, rc);
		return;
	}
	if (status == 429) {
		tw_qsrc_limited(src, c->http.p.retry_after);
		snprintf(c->err, sizeof c->err, "%s: HTTP 429 from %s%s%s: quiet for %lld ms",
			 c->cur.ticker, c->http.host, c->http.p.retry_after[0] ? ", Retry-After " : "",
			 c->http.p.retry_after, (long long)src->hold_ms);
		conn_end(c, TW_ERR_QUOTES_LIMITED);
		return;
	}
	if ((status == 401 || status == 403) && src->auth && !c->recrumbed) {
		/* yfinance: on 401/403 a new cookie and crumb, and the request once more */
		c->recrumbed = 1;
		tw_yauth_stale(c);
		tw_qconn_send(c);
		return;
	}
	if (src->kind == TW_QSRC_YAHOO && status != 200 && status != 404) {
		snprintf(c->err, sizeof c->err, "%s: HTTP %d from %s%s", c->cur.ticker, status,
			 c->http.host, c->recrumbed ? " (after a new crumb)" : "");
		conn_end(c, TW_ERR_QUOTES_STATUS);
		return;
	}
	if (src->kind == TW_QSRC_STOOQ && status != 200) {
		snprintf(c->err, sizeof c->err, "%s: HTTP %d from %s", c->cur.ticker, status,
			 c->http.host);
		conn_end(c, TW_ERR_QUOTES_STATUS);
		return;
	}
	if (src->kind == TW_QSRC_YAHOO)
		rc = tw_yahoo_extract(body, len, c->toks, c->ntoks, c->cur.ticker, now_s,
				      src->q->max_age_s, &c->cur, c->err, sizeof c->err);
	else
		rc = tw_stooq_extract(body, len, c->cur.ticker, c->symbol, now_s, src->q->max_age_s,
				      &c->cur, c->err, sizeof c->err);
	conn_end(c, rc);
}

void tw_qconn_send(struct tw_qconn *c)
{
	struct tw_qsrc *src = c->src;
	char path[384], hdr[TW_COOKIE_VALUE_MAX + 128];
	int rc;

	hdr[0] = '\0';
	if (src->kind == TW_QSRC_STOOQ) {
		char sym[64];
		size_t o = 0;

		/* '^' of an index is sent as %5E */
		for (const char *p = c->symbol; *p && o + 4 < sizeof sym; p++) {
			if (*p == '^') {
				memcpy(sym + o, "%5E", 3);
				o += 3;
			} else {
				sym[o++] = *p;
			}
		}
		sym[o] = '\0';
		snprintf(path, sizeof path, "/q/l/?s=%s&f=sd2t2ohlcv&h&e=csv", sym);
	} else if (src->auth) {
		if (tw_yauth_need(c))
			return; /* sent (or failed) when the session is there */
		c->gen = src->auth->gen;
		snprintf(path, sizeof path, "/v8/finance/chart/%s?range=1d&interval=1d&crumb=%s",
			 c->cur.ticker, src->auth->crumb_q);
		if (tw_cookie_jar_header(&src->auth->jar, tw_hal_wall_ms() / 1000, hdr, sizeof hdr) <
		    0)
			hdr[0] = '\0';
	} else {
		snprintf(path, sizeof path, "/v8/finance/chart/%s?range=1d&interval=1d",
			 c->cur.ticker);
	}
	src->requests++;
	rc = tw_http_get_with(&c->http, path, hdr, on_response, c);
	if (rc != TW_OK) {
		snprintf(c->err, sizeof c->err, "%s: %.200s", c->cur.ticker, c->http.err);
		conn_end(c, rc);
	}
}

int tw_quotes_fetch(struct tw_quotes *s, const char *ticker, struct tw_quotes_item *out,
		    tw_quotes_done_fn done, void *arg, char *err, size_t errlen)
{
	return tw_quotes_fetch_from(s, 0, ticker, out, done, arg, err, errlen);
}

int tw_quotes_fetch_from(struct tw_quotes *s, unsigned i, const char *ticker,
			 struct tw_quotes_item *out, tw_quotes_done_fn done, void *arg, char *err,
			 size_t errlen)
{
	struct tw_qconn *c;
	int rc;

	if (tw_quotes_check_ticker(ticker) != TW_OK) {
		snprintf(err, errlen, "rejected: ticker '%.20s' is not 1 to 15 of A-Z 0-9 . - ^ =",
			 ticker);
		s->rejected++;
		return TW_ERR_QUOTES_REJECTED;
	}
	if (s->kind == 1) {
		rc = tw_replay_get(&s->r, ticker, out, err, errlen);
		out->src = 0;
		if (rc == TW_OK)
			s->fetched++;
		else
			s->rejected++;
		return rc;
	}
	c = free_conn(s, i);
	if (c == NULL) {
		snprintf(err, errlen, "%s: every connection of %s is busy", ticker,
			 tw_quotes_source_name(s, i));
		return TW_ERR_HTTP_BUSY;
	}
	memset(&c->cur, 0, sizeof c->cur);
	snprintf(c->cur.ticker, sizeof c->cur.ticker, "%s", ticker);
	c->cur.src = i;
	if (c->src->kind == TW_QSRC_STOOQ &&
	    tw_stooq_symbol(ticker, s->stooq_map, c->symbol, sizeof c->symbol) != TW_OK) {
		snprintf(err, errlen, "rejected: %s has no Stooq symbol", ticker);
		s->rejected++;
		return TW_ERR_QUOTES_REJECTED;
	}
	c->busy = 1;
	c->recrumbed = 0;
	c->wait_auth = 0;
	c->done = NULL; /* a failure inside the send is returned, not called back */
	c->arg = arg;
	tw_qconn_send(c);
	if (!c->busy) {
		snprintf(err, errlen, "%s", c->err);
		return c->last_rc;
	}
	c->done = done;
	return TW_ERR_WOULD_BLOCK;
}

void tw_quotes_status(const struct tw_quotes *s, unsigned i, char *buf, size_t len)
{
	const struct tw_qsrc *src;

	if (s->kind == 1 || i >= s->nsrc) {
		snprintf(buf, len, "replay: %llu fetched, %llu rejected",
			 (unsigned long long)s->fetched, (unsigned long long)s->rejected);
		return;
	}
	src = &s->src[i];
	snprintf(buf, len,
		 "%s: %llu requests, %llu fetched, %llu rejected, %llu failed, %llu rate-limited, "
		 "%llu rate waits, %llu crumbs",
		 src->name, (unsigned long long)src->requests, (unsigned long long)src->fetched,
		 (unsigned long long)src->rejected, (unsigned long long)src->failed,
		 (unsigned long long)src->limited, (unsigned long long)src->rate.waits,
		 (unsigned long long)(src->auth ? src->auth->crumbs : 0));
}

int tw_quotes_is_failure(int rc)
{
	return rc < 0 && rc != TW_ERR_QUOTES_REJECTED && rc != TW_ERR_WOULD_BLOCK;
}

void tw_quotes_close(struct tw_quotes *s)
{
	if (s->kind != 0)
		return;
	for (unsigned i = 0; i < s->nsrc; i++) {
		struct tw_qsrc *src = &s->src[i];

		for (unsigned k = 0; k < src->nconn; k++) {
			src->conn[k].done = NULL;
			src->conn[k].busy = 0;
			src->conn[k].wait_auth = 0;
			if (src->conn[k].http.loop)
				tw_http_client_close(&src->conn[k].http);
		}
		if (src->auth && src->auth->http.loop)
			tw_http_client_close(&src->auth->http);
	}
	if (s->tls_ready)
		tw_tls_config_free(&s->tlscfg);
	s->tls_ready = 0;
}
