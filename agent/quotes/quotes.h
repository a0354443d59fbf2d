/* SPDX-License-Identifier: MIT */
/* quotes.h - quote sources behind one interface: "yahoo" (HTTPS chart API) and "replay:FILE".
 *
 * A source is opened once at start from [quotes] (buffers carved from the
 * arena). Each collection cycle calls tw_quotes_cycle(), then
 * tw_quotes_fetch() once per ticker, one at a time:
 *   - returns 0: the quote is in *out now (replay);
 *   - returns TW_ERR_WOULD_BLOCK: @p done is called later from the loop (yahoo);
 *   - returns another negative code: failed now, text in @p err.
 * tw_quotes_is_failure() tells a failure of the source (network, time-out,
 * HTTP 5xx, garbage), which counts against the circuit breaker, from a quote
 * rejected on its merits (unknown ticker, stale time, NaN, zero, negative),
 * which is logged and skipped.
 */
#ifndef TW_QUOTES_H
#define TW_QUOTES_H

#include <stddef.h>
#include <stdint.h>

#include "quotes/http.h"
#include "tls/stream.h"
#include "tls/tls.h"

struct tw_arena;
struct tw_config;
struct tw_loop;

#define TW_QUOTES_TICKER_MAX 15
#define TW_QUOTES_ERR_LEN 256

enum {
	TW_ERR_QUOTES_REJECTED = -410, /**< a valid answer, but no usable quote (see text) */
	TW_ERR_QUOTES_BAD_JSON = -411, /**< not the Yahoo chart shape */
	TW_ERR_QUOTES_STATUS = -412,   /**< HTTP status other than 200/404 */
	TW_ERR_REPLAY_SYNTAX = -420,   /**< replay file: bad line (file:line in the text) */
	TW_ERR_REPLAY_IO = -421,       /**< replay file cannot be read */
};

struct tw_quotes_item {
	char ticker[TW_QUOTES_TICKER_MAX + 1];
	double price;
	int64_t time_s; /* the market time of the price, Unix seconds */
};

typedef void (*tw_quotes_done_fn)(void *arg, int rc, const struct tw_quotes_item *q,
				  const char *err);

/* One recorded quote of a replay file. */
struct tw_replay_row {
	char ticker[TW_QUOTES_TICKER_MAX + 1];
	double price;
	int64_t time_s;
};

struct tw_replay {
	struct tw_replay_row *rows;
	size_t nrows, cap;
	size_t *steps; /* index of the first row of each step; steps[nsteps] = nrows */
	size_t nsteps;
	size_t step;   /* the step served this cycle */
	int started;
	char path[256];
};

struct tw_yahoo {
	struct tw_http_client http;
	struct tw_stream stream; /* the HTTP client's: in clear, or TLS for https:// */
	struct tw_tls tls;       /* the stream's TLS session */
	struct tw_tls_config tlscfg;
	int tls_ready;
	void *toks; /* jsmntok_t[ntoks] */
	unsigned ntoks;
	int64_t max_age_s;
	struct tw_quotes_item cur;
	tw_quotes_done_fn done;
	void *arg;
	char err[TW_QUOTES_ERR_LEN];
};

struct tw_quotes {
	int kind; /* 0 yahoo, 1 replay */
	char name[64];
	struct tw_yahoo y;
	struct tw_replay r;
	uint64_t fetched, rejected, failed;
};

/** Arena bytes the source configured in @p cfg will carve (replay: sized from the file). */
size_t tw_quotes_budget(const struct tw_config *cfg);

/**
 * Open the source named by [quotes] source. Never blocks on the network
 * (the yahoo source connects on the first fetch); a replay file is read and
 * checked here. @return 0, or an error with text (replay: "FILE:LINE: what").
 */
int tw_quotes_open(struct tw_quotes *s, const struct tw_config *cfg, struct tw_loop *loop,
		   struct tw_arena *a, char *err, size_t errlen);

/** A new cycle begins (replay: the next step, the last one repeating). */
void tw_quotes_cycle(struct tw_quotes *s);

/** Fetch @p ticker (see the file comment for the three outcomes). */
int tw_quotes_fetch(struct tw_quotes *s, const char *ticker, struct tw_quotes_item *out,
		    tw_quotes_done_fn done, void *arg, char *err, size_t errlen);

/** @return 1 when @p rc is a failure of the source (breaker), 0 for a rejected quote. */
int tw_quotes_is_failure(int rc);

/** Abort what runs, close connections, free TLS state. Safe twice. */
void tw_quotes_close(struct tw_quotes *s);

/* ---- the pieces, exposed for tests ---- */

/**
 * Extract chart.result[0].meta.regularMarketPrice/regularMarketTime from a
 * Yahoo chart response for @p ticker. @p toks: scratch for @p ntoks jsmn tokens.
 * Rejects chart.error, a symbol other than @p ticker, a time older than
 * @p max_age_s before @p now_s (or more than a day ahead), NaN, zero or negative.
 * @return 0, TW_ERR_QUOTES_REJECTED or TW_ERR_QUOTES_BAD_JSON with text.
 */
int tw_yahoo_extract(const char *json, size_t len, void *toks, unsigned ntoks,
		     const char *ticker, int64_t now_s, int64_t max_age_s,
		     struct tw_quotes_item *out, char *err, size_t errlen);

/** Bytes of one jsmn token (to size the scratch). */
size_t tw_yahoo_token_size(void);

/** @return 0 when @p t is a ticker we accept (1..15 of A-Z a-z 0-9 . - ^ =). */
int tw_quotes_check_ticker(const char *t);

/**
 * Parse a replay file into @p r (rows from @p rows, capacity @p cap; steps
 * from @p steps, capacity @p cap + 1). @return 0 or TW_ERR_REPLAY_SYNTAX /
 * TW_ERR_REPLAY_IO with "FILE:LINE: what" in @p err.
 */
int tw_replay_load(struct tw_replay *r, const char *path, struct tw_replay_row *rows,
		   size_t *steps, size_t cap, char *err, size_t errlen);

/** Count the data lines of a replay file (to size it). @return count or TW_ERR_REPLAY_IO. */
long tw_replay_count(const char *path, char *err, size_t errlen);

/** The quote of @p ticker in the current step. @return 0 or TW_ERR_QUOTES_REJECTED. */
int tw_replay_get(const struct tw_replay *r, const char *ticker, struct tw_quotes_item *out,
		  char *err, size_t errlen);

#endif
