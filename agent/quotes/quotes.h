/* SPDX-License-Identifier: MIT */
/* quotes.h - quote sources behind one interface: "yahoo" (HTTPS chart API with cookie and crumb),
 * "stooq" (HTTPS CSV), a failover list of them ("yahoo,stooq"), and "replay:FILE".
 *
 * The sources are opened once at start from [quotes] (buffers carved from the arena). A
 * network source has [quotes] connections keep-alive connections, a request-rate cap
 * ([quotes] rate) and, for yahoo, the session cookie and crumb (crumb.c). Each collection
 * cycle calls tw_quotes_cycle(), then, per ticker, picks a source i (docs/quotes.md: the
 * first whose breaker allows) and, while tw_quotes_idle(s, i) and tw_quotes_rate_take(s, i)
 * say so, tw_quotes_fetch(s, i, ...):
 *   - returns 0: the quote is in *out now (replay);
 *   - returns TW_ERR_WOULD_BLOCK: @p done is called later from the loop (network);
 *   - returns another negative code: failed now, text in @p err.
 * tw_quotes_is_failure() tells a failure of the source (network, time-out, HTTP 5xx,
 * garbage), which counts against the circuit breaker, from a quote rejected on its merits
 * (unknown ticker, stale time, NaN, zero, negative), which is logged and skipped.
 * TW_ERR_QUOTES_LIMITED is a rate limit (HTTP 429, a "Too Many Requests" crumb): the source
 * asks for quiet for tw_quotes_hold_ms() (its Retry-After, else an exponential back-off with
 * jitter), and the caller opens that source's breaker for that long.
 */
#ifndef TW_QUOTES_H
#define TW_QUOTES_H

#include <stddef.h>
#include <stdint.h>

#include "quotes/cookie.h"
#include "quotes/http.h"
#include "quotes/ratelimit.h"
#include "tls/stream.h"
#include "tls/tls.h"

struct tw_arena;
struct tw_breaker;
struct tw_config;
struct tw_loop;

#define TW_QUOTES_TICKER_MAX 15
#define TW_QUOTES_ERR_LEN 256
#define TW_QUOTES_SOURCES 2  /* sources in a failover list */
#define TW_QUOTES_CONN_MAX 8 /* largest [quotes] connections */
#define TW_QUOTES_CRUMB_MAX 64
#define TW_QUOTES_CURRENCY_LEN 3  /* ISO 4217: three upper-case letters */
#define TW_QUOTES_EXCHANGE_MAX 32 /* an exchange name: 1..32 printable ASCII bytes */
#define TW_QUOTES_PREV_MAX 1e9    /* a previous close above this is not taken */

enum {
	TW_ERR_QUOTES_REJECTED = -410, /**< a valid answer, but no usable quote (see text) */
	TW_ERR_QUOTES_BAD_JSON = -411, /**< not the Yahoo chart shape */
	TW_ERR_QUOTES_STATUS = -412,   /**< HTTP status other than 200/404 */
	TW_ERR_QUOTES_LIMITED = -413,  /**< rate limited: 429 or "Too Many Requests" (hold) */
	TW_ERR_QUOTES_BAD_CSV = -414,  /**< not the Stooq CSV shape */
	TW_ERR_QUOTES_AUTH = -415,     /**< no cookie or crumb from the source */
	TW_ERR_REPLAY_SYNTAX = -420,   /**< replay file: bad line (file:line in the text) */
	TW_ERR_REPLAY_IO = -421,       /**< replay file cannot be read */
};

struct tw_quotes_item {
	char ticker[TW_QUOTES_TICKER_MAX + 1];
	double price;
	int64_t time_s; /* the market time of the price, Unix seconds */
	unsigned src;   /* the index of the source that gave it */
	/* yahoo: meta.currentTradingPeriod.regular {start, end}, Unix seconds; 0, 0: not given */
	int64_t reg_start, reg_end;
	int unknown; /* a rejection because the source does not know the ticker (chart.error
		      * Not Found, an empty chart.result, Stooq's N/D) */
	/* Optional, each checked (tw_quotes_check_meta); absent when not given or not valid:
	 * the previous session's close (yahoo: meta.chartPreviousClose; 0: not known), the
	 * currency (meta.currency, "USD"; "": not known) and the exchange's name
	 * (meta.exchangeName, "NMS"; "": not known). */
	double prev_close;
	char currency[TW_QUOTES_CURRENCY_LEN + 1];
	char exchange[TW_QUOTES_EXCHANGE_MAX + 1];
};

/** @return 1 when @p v is a previous close we take: finite, > 0 and <= 1e9. */
int tw_quotes_prev_ok(double v);

/** @return 1 when @p s is a currency we take: exactly three of A-Z. */
int tw_quotes_currency_ok(const char *s);

/** @return 1 when @p s is an exchange name we take: 1..32 bytes of printable ASCII (0x20-0x7e,
 *  not starting or ending with a blank). */
int tw_quotes_exchange_ok(const char *s);

/* @p q: the quote when @p rc is 0; after a rejection its unknown flag (the rest unset). */
typedef void (*tw_quotes_done_fn)(void *arg, int rc, const struct tw_quotes_item *q,
				  const char *err);

/**
 * Is @p q outside its regular trading period ([quotes] regular_hours_only)? @return 1 when
 * the source gave a period (yahoo's currentTradingPeriod.regular) and the market time is
 * before its start or after its end; 0 when it is inside or no period was given.
 */
int tw_quotes_off_hours(const struct tw_quotes_item *q);

/* One recorded quote of a replay file (prev_close 0, currency and exchange "": not given). */
struct tw_replay_row {
	char ticker[TW_QUOTES_TICKER_MAX + 1];
	double price;
	int64_t time_s;
	double prev_close;
	char currency[TW_QUOTES_CURRENCY_LEN + 1];
	char exchange[TW_QUOTES_EXCHANGE_MAX + 1];
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

enum { TW_QSRC_YAHOO, TW_QSRC_STOOQ };

struct tw_qsrc;

/* One keep-alive connection of a network source and the fetch it runs. */
struct tw_qconn {
	struct tw_http_client http;
	struct tw_stream stream; /* in clear, or TLS for https:// */
	struct tw_tls tls;
	struct tw_qsrc *src;
	int busy;      /* a fetch runs (done is owed) */
	int wait_auth; /* waiting for the source's cookie and crumb */
	int recrumbed; /* this fetch had its one new crumb already */
	unsigned gen;  /* the crumb generation its request carried */
	int last_rc;   /* how the last fetch ended */
	void *toks;    /* jsmntok_t[ntoks] (yahoo) */
	unsigned ntoks;
	char symbol[32]; /* the source's name of the ticker (stooq: aapl.us) */
	struct tw_quotes_item cur;
	tw_quotes_done_fn done;
	void *arg;
	char err[TW_QUOTES_ERR_LEN];
};

/* Yahoo's session: the cookie (from [quotes] cookie_url, or "/" of the base host) and the
 * crumb (GET {base}/v1/test/getcrumb with that cookie), shared by the source's connections;
 * fetched on its own connection (crumb.c). */
struct tw_yauth {
	struct tw_http_client http;
	struct tw_stream stream;
	struct tw_tls tls;
	struct tw_cookie_jar jar;
	int state;     /* TW_AUTH_* */
	unsigned gen;  /* bumped each time a new crumb is asked for */
	int on_base;   /* the client is set up for the base URL (else the cookie URL) */
	char cookie_url[256];
	char crumb[TW_QUOTES_CRUMB_MAX + 1];
	char crumb_q[3 * TW_QUOTES_CRUMB_MAX + 1]; /* percent-encoded for the query */
	char err[TW_QUOTES_ERR_LEN];
	uint64_t cookies, crumbs, failures;
};

enum { TW_AUTH_NONE, TW_AUTH_COOKIE, TW_AUTH_CRUMB, TW_AUTH_HAVE };

struct tw_qsrc {
	int kind; /* TW_QSRC_* */
	char name[16];
	struct tw_quotes *q;
	char base[256];
	struct tw_qconn *conn;
	unsigned nconn;
	struct tw_rate rate;
	struct tw_yauth *auth; /* yahoo: the session; NULL for stooq */
	int64_t hold_ms;       /* the last rate limit's wait */
	unsigned backoffs;     /* rate limits in a row without Retry-After */
	uint64_t fetched, rejected, failed, limited, requests;
};

struct tw_quotes {
	int kind; /* 0 network sources, 1 replay */
	char name[64];
	struct tw_qsrc src[TW_QUOTES_SOURCES];
	unsigned nsrc;
	struct tw_tls_config tlscfg; /* shared by every https:// connection */
	int tls_ready;
	int64_t max_age_s;
	int64_t backoff_ms; /* first back-off of a 429 without Retry-After ([quotes] breaker_recovery) */
	char stooq_map[256];
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

/** Sources in the list (replay: 1). */
unsigned tw_quotes_sources(const struct tw_quotes *s);

/** Name of source @p i: "yahoo", "stooq" or "replay". */
const char *tw_quotes_source_name(const struct tw_quotes *s, unsigned i);

/** @return 1 when source @p i has a free connection (replay: always). */
int tw_quotes_idle(const struct tw_quotes *s, unsigned i);

/** @return 1 when no fetch of any source is running. */
int tw_quotes_quiet(const struct tw_quotes *s);

/** The rate cap of source @p i: 0 (a request may go now, counted) or the ms to wait. */
int64_t tw_quotes_rate_take(struct tw_quotes *s, unsigned i);

/** After TW_ERR_QUOTES_LIMITED from source @p i: how long it asked for quiet, in ms. */
int64_t tw_quotes_hold_ms(const struct tw_quotes *s, unsigned i);

/** Fetch @p ticker from source @p i (see the file comment for the three outcomes). */
int tw_quotes_fetch_from(struct tw_quotes *s, unsigned i, const char *ticker,
			 struct tw_quotes_item *out, tw_quotes_done_fn done, void *arg, char *err,
			 size_t errlen);

/** tw_quotes_fetch_from() of source 0. */
int tw_quotes_fetch(struct tw_quotes *s, const char *ticker, struct tw_quotes_item *out,
		    tw_quotes_done_fn done, void *arg, char *err, size_t errlen);

enum { TW_QUOTES_PICK_WAIT = -1, TW_QUOTES_PICK_SKIP = -2 };

/**
 * The source for the next request (failover, docs/quotes.md): the first whose breaker
 * (@p br[i], one per source) would let a request through, if it has a free connection.
 * @return its index; TW_QUOTES_PICK_WAIT when that source is busy, or a half-open one's trial
 * runs with no later source to use; TW_QUOTES_PICK_SKIP when every breaker is open.
 */
int tw_quotes_pick(const struct tw_quotes *s, const struct tw_breaker *br);

/**
 * A fetch of source @p i ended with @p rc: its breaker @p br learns it. A quote or a rejected
 * one (the source answered) is a success, a failure counts, a rate limit opens it for the
 * source's tw_quotes_hold_ms() (unless it is open for longer already).
 */
void tw_quotes_breaker_feed(const struct tw_quotes *s, unsigned i, struct tw_breaker *br, int rc);

/** One line of figures of source @p i (requests, rate-limits, crumbs...). */
void tw_quotes_status(const struct tw_quotes *s, unsigned i, char *buf, size_t len);

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
 * Also reads meta.currentTradingPeriod.regular.{start,end} into out->reg_start/reg_end
 * when both are Unix times with start < end (else both 0: no period), and the optional
 * meta.chartPreviousClose, meta.currency and meta.exchangeName into out->prev_close,
 * currency and exchange when each passes its check (else 0 / "": not known; a bad one never
 * rejects the quote). A chart.error
 * "Not Found" or an empty chart.result sets out->unknown (out is otherwise written only
 * on success). @return 0, TW_ERR_QUOTES_REJECTED or TW_ERR_QUOTES_BAD_JSON with text.
 */
int tw_yahoo_extract(const char *json, size_t len, void *toks, unsigned ntoks,
		     const char *ticker, int64_t now_s, int64_t max_age_s,
		     struct tw_quotes_item *out, char *err, size_t errlen);

/** Bytes of one jsmn token (to size the scratch). */
size_t tw_yahoo_token_size(void);

/**
 * Read the Stooq CSV answer for @p symbol (tw_stooq_symbol's) into @p out as @p ticker; same
 * rejections as tw_yahoo_extract (plus N/D: no data). @return 0, TW_ERR_QUOTES_REJECTED or
 * TW_ERR_QUOTES_BAD_CSV with text.
 */
int tw_stooq_extract(const char *csv, size_t len, const char *ticker, const char *symbol,
		     int64_t now_s, int64_t max_age_s, struct tw_quotes_item *out, char *err,
		     size_t errlen);

/**
 * Stooq's symbol of @p ticker: the entry of @p map ("TICKER=symbol,..." e.g.
 * "SAP.DE=sap.de,^GSPC=^spx") if any, else the ticker in lower case, with ".us" added when
 * it has no '.', '^' or '=' (a plain US ticker). @return 0 or TW_ERR_ARG (does not fit).
 */
int tw_stooq_symbol(const char *ticker, const char *map, char *out, size_t len);

/** Check a [quotes] stooq_map value. @return 0 or TW_ERR_ARG with text. */
int tw_stooq_check_map(const char *map, char *err, size_t errlen);

/** Unix seconds of a Europe/Warsaw wall-clock time (CET/CEST by the EU rule). */
int64_t tw_stooq_warsaw_to_utc(int y, int mo, int d, int h, int mi, int s);

/**
 * Is @p body (the getcrumb answer) a crumb? @return 0 and the crumb copied into @p out,
 * TW_ERR_QUOTES_LIMITED for a "Too Many Requests" body, or TW_ERR_QUOTES_AUTH (empty, HTML,
 * too long, a control byte or a blank).
 */
int tw_yahoo_crumb_check(const char *body, size_t len, char *out, size_t outlen);

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
