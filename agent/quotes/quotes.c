/* SPDX-License-Identifier: MIT */
/* quotes.c - opens the configured quote source and dispatches cycle/fetch/close to it. */
#include "quotes/quotes.h"

#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"

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

static int is_replay(const struct tw_config *cfg)
{
	return strncmp(cfg->quotes.source, "replay:", 7) == 0;
}

size_t tw_quotes_budget(const struct tw_config *cfg)
{
	char err[256];
	long n;

	if (!is_replay(cfg))
		return body_bytes(cfg) + YAHOO_RBUF + token_count(cfg) * tw_yahoo_token_size();
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

static int open_yahoo(struct tw_quotes *s, const struct tw_config *cfg, struct tw_loop *loop,
		      struct tw_arena *a, char *err, size_t errlen)
{
	struct tw_yahoo *y = &s->y;
	unsigned char *body = tw_arena_carve(a, body_bytes(cfg), "quote response",
					     "quote_response_kb");
	unsigned char *rbuf = tw_arena_carve(a, YAHOO_RBUF, "quote read buffer", "arena_kb");
	void *toks = tw_arena_carve(a, token_count(cfg) * tw_yahoo_token_size(),
				    "quote JSON tokens", "quote_response_kb");
	int rc;

	if (body == NULL || rbuf == NULL || toks == NULL) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	y->toks = toks;
	y->ntoks = token_count(cfg);
	y->max_age_s = cfg->quotes.max_age_ms / 1000;
	if (strncmp(cfg->quotes.base, "https://", 8) == 0) {
		rc = tw_tls_config_init(&y->tlscfg, cfg->quotes.ca_file, 1, err, errlen);
		if (rc != TW_OK)
			return rc;
		y->tls_ready = 1;
		tw_stream_init(&y->stream, &y->tlscfg, &y->tls);
	} else {
		tw_stream_init(&y->stream, NULL, NULL);
	}
	rc = tw_http_client_init(&y->http, loop, cfg->quotes.base, &y->stream, body,
				 body_bytes(cfg), rbuf, YAHOO_RBUF, cfg->quotes.timeout_ms, err,
				 errlen);
	if (rc != TW_OK)
		return rc;
	s->kind = 0;
	snprintf(s->name, sizeof s->name, "yahoo");
	return TW_OK;
}

int tw_quotes_open(struct tw_quotes *s, const struct tw_config *cfg, struct tw_loop *loop,
		   struct tw_arena *a, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	if (is_replay(cfg))
		return open_replay(s, cfg, a, err, errlen);
	if (strcmp(cfg->quotes.source, "yahoo") == 0)
		return open_yahoo(s, cfg, loop, a, err, errlen);
	snprintf(err, errlen, "[quotes] source: '%s' is not yahoo or replay:FILE", cfg->quotes.source);
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

static void yahoo_done(void *arg, int rc, int status, const char *body, size_t len,
		       const char *err)
{
	struct tw_quotes *s = arg;
	struct tw_yahoo *y = &s->y;
	tw_quotes_done_fn done = y->done;

	y->done = NULL;
	if (rc == TW_OK && status != 200 && status != 404) {
		snprintf(y->err, sizeof y->err, "%s: HTTP %d from %s", y->cur.ticker, status,
			 y->http.host);
		rc = TW_ERR_QUOTES_STATUS;
	} else if (rc == TW_OK) {
		rc = tw_yahoo_extract(body, len, y->toks, y->ntoks, y->cur.ticker,
				      tw_hal_wall_ms() / 1000, y->max_age_s, &y->cur, y->err,
				      sizeof y->err);
	} else {
		snprintf(y->err, sizeof y->err, "%s: %s", y->cur.ticker, err);
	}
	if (rc == TW_OK)
		s->fetched++;
	else if (tw_quotes_is_failure(rc))
		s->failed++;
	else
		s->rejected++;
	if (done)
		done(y->arg, rc, rc == TW_OK ? &y->cur : NULL, y->err);
}

int tw_quotes_fetch(struct tw_quotes *s, const char *ticker, struct tw_quotes_item *out,
		    tw_quotes_done_fn done, void *arg, char *err, size_t errlen)
{
	char path[96];
	int rc;

	if (tw_quotes_check_ticker(ticker) != TW_OK) {
		snprintf(err, errlen, "rejected: ticker '%.20s' is not 1 to 15 of A-Z 0-9 . - ^ =",
			 ticker);
		s->rejected++;
		return TW_ERR_QUOTES_REJECTED;
	}
	if (s->kind == 1) {
		rc = tw_replay_get(&s->r, ticker, out, err, errlen);
		if (rc == TW_OK)
			s->fetched++;
		else
			s->rejected++;
		return rc;
	}
	snprintf(s->y.cur.ticker, sizeof s->y.cur.ticker, "%s", ticker);
	snprintf(path, sizeof path, "/v8/finance/chart/%s?range=1d&interval=1d", ticker);
	s->y.done = done;
	s->y.arg = arg;
	rc = tw_http_get(&s->y.http, path, yahoo_done, s);
	if (rc != TW_OK) {
		s->y.done = NULL;
		s->failed++;
		snprintf(err, errlen, "%s: %s", ticker, s->y.http.err);
		return rc;
	}
	return TW_ERR_WOULD_BLOCK;
}

int tw_quotes_is_failure(int rc)
{
	return rc < 0 && rc != TW_ERR_QUOTES_REJECTED && rc != TW_ERR_WOULD_BLOCK;
}

void tw_quotes_close(struct tw_quotes *s)
{
	if (s->kind == 0) {
		s->y.done = NULL;
		if (s->y.http.loop)
			tw_http_client_close(&s->y.http);
		if (s->y.tls_ready)
			tw_tls_config_free(&s->y.tlscfg);
		s->y.tls_ready = 0;
	}
}
