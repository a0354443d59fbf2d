/* SPDX-License-Identifier: MIT */
/* http.h - a small HTTP/1.1 GET client on the event loop: keep-alive, content-length and
 * chunked bodies, a bound on the response size, connect and response time-outs on loop timers.
 *
 * Two parts: the response parser (http_parse.c), pure and fed any split of
 * the bytes, and the loop-driven client (http_client.c), whose bytes go
 * through the caller's tw_stream (tls/stream.h: in clear for http://, TLS
 * for https://), so the parser and the time-outs are tested over plain
 * scripted peers. One request at a time per client; the done callback is
 * always called later from the loop, never from inside tw_http_get().
 */
#ifndef TW_HTTP_H
#define TW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/resolve.h"
#include "hal.h"

struct tw_loop;
struct tw_stream;

enum {
	TW_ERR_HTTP_PROTO = -400,   /**< not HTTP, or a malformed message */
	TW_ERR_HTTP_TOO_BIG = -401, /**< response larger than the bound ([limits] quote_response_kb) */
	TW_ERR_HTTP_URL = -402,     /**< base URL not http(s)://host[:port][/path] */
	TW_ERR_HTTP_TRUNCATED = -403, /**< the peer closed before the response ended */
	TW_ERR_HTTP_BUSY = -404,    /**< a request is already running on this client */
};

#define TW_HTTP_ERR_LEN 512
#define TW_HTTP_LINE_MAX 1024   /* longest status or header line */
#define TW_HTTP_HEAD_MAX 16384  /* all header lines together */

/* ---- parser (http_parse.c: pure, fed any split of the bytes) ---- */

/** A header of the response, name and value trimmed (valid during the call). */
typedef void (*tw_http_header_fn)(void *arg, const char *name, const char *value);

#define TW_HTTP_RETRY_AFTER_MAX 48

struct tw_http_parser {
	int state;
	int status;
	int minor; /* HTTP/1.<minor> */
	int chunked, conn_close, keep_alive;
	long long content_length; /* -1: none given */
	long long chunk_left;
	size_t head_bytes;
	char line[TW_HTTP_LINE_MAX];
	size_t line_len;
	unsigned char *body;
	size_t body_len, body_cap;
	char retry_after[TW_HTTP_RETRY_AFTER_MAX]; /* the Retry-After value, "" when none */
	tw_http_header_fn on_header;               /* every header also goes here (may be NULL) */
	void *header_arg;
};

/** Start a response into @p body (capacity @p cap, one byte kept for a NUL). */
void tw_http_parser_init(struct tw_http_parser *p, unsigned char *body, size_t cap);

/**
 * Feed @p len bytes. @return 1 when the response is complete (*used says how
 * much was taken), 0 when more is needed (all taken), or TW_ERR_HTTP_PROTO /
 * TW_ERR_HTTP_TOO_BIG with text in @p err.
 */
int tw_http_parse(struct tw_http_parser *p, const unsigned char *data, size_t len, size_t *used,
		  char *err, size_t errlen);

/** Call @p fn for each header of the response (set after tw_http_parser_init; kept over 1xx). */
void tw_http_parser_on_header(struct tw_http_parser *p, tw_http_header_fn fn, void *arg);

/**
 * The peer closed the stream. @return 1 when that ends a body read until
 * close, else TW_ERR_HTTP_TRUNCATED with text.
 */
int tw_http_parse_eof(struct tw_http_parser *p, char *err, size_t errlen);

/* ---- client (http_client.c: on the loop, through a tw_stream) ---- */

/**
 * The request ended. @p rc 0 with the HTTP @p status and body (NUL-terminated,
 * valid during the call), or a negative error (time-out, reset, too big...)
 * with text in @p err.
 */
typedef void (*tw_http_done_fn)(void *arg, int rc, int status, const char *body, size_t len,
				const char *err);

struct tw_http_client {
	struct tw_loop *loop;
	struct tw_stream *st; /* the caller's byte stream, opened on each new connection */
	int tls;              /* https://: the stream switches to TLS after connecting */
	char host[128];
	char hosthdr[144];
	char prefix[256]; /* path of the base URL, without a trailing slash */
	uint16_t port;
	int64_t timeout_ms;
	int fd;
	struct tw_connect conn; /* resolves the host and tries its addresses (core/resolve.h) */
	int state;
	int reused;   /* this request runs on a kept-alive connection */
	int retried;  /* a stale kept-alive connection was replaced once */
	size_t got;   /* response bytes received for this request */
	long long timer;
	char req[2048];
	size_t req_len, req_off;
	struct tw_http_parser p;
	unsigned char *rbuf;
	size_t rbuf_cap;
	tw_http_done_fn done;
	void *arg;
	tw_http_header_fn on_header; /* given to the parser of every response */
	void *header_arg;
	char err[TW_HTTP_ERR_LEN];
	uint64_t requests, connects, reuses;
};

/**
 * Parse @p base_url (http://host[:port][/path] or https://...) and set up.
 * @p st is the byte stream (tw_stream_init(): with a TLS configuration for
 * https://), owned by the caller and used by this client alone. @p body is the
 * response buffer (@p body_cap bytes: the size bound), @p rbuf a read scratch
 * buffer. @return 0, TW_ERR_HTTP_URL, or TW_ERR_ARG (https:// over a stream
 * without TLS), with text.
 */
int tw_http_client_init(struct tw_http_client *c, struct tw_loop *loop, const char *base_url,
			struct tw_stream *st, unsigned char *body, size_t body_cap,
			unsigned char *rbuf, size_t rbuf_cap, int64_t timeout_ms, char *err,
			size_t errlen);

/** Split a base URL. @return 0 or TW_ERR_HTTP_URL. @p tls set to 1 for https. */
int tw_http_parse_url(const char *url, int *tls, char *host, size_t hostlen, uint16_t *port,
		      char *path, size_t pathlen);

/**
 * GET base path + @p path (path must start with '/'; printable ASCII only).
 * @return 0 (done is called later), TW_ERR_HTTP_BUSY, or an error with text in c->err.
 */
int tw_http_get(struct tw_http_client *c, const char *path, tw_http_done_fn done, void *arg);

/**
 * As tw_http_get() with @p extra header lines (each "Name: value\r\n"; printable ASCII,
 * may be NULL or ""), e.g. a Cookie header.
 */
int tw_http_get_with(struct tw_http_client *c, const char *path, const char *extra,
		     tw_http_done_fn done, void *arg);

/** Every response header of this client goes to @p fn too (NULL: none). */
void tw_http_client_on_header(struct tw_http_client *c, tw_http_header_fn fn, void *arg);

/* ---- dates and Retry-After (http_date.c: pure) ---- */

/**
 * Parse an HTTP date (IMF-fixdate, RFC 850 or asctime form) or a cookie's Expires by the
 * RFC 6265 section 5.1.1 algorithm (which accepts all three). @return 0 and Unix seconds
 * in *t, or -1.
 */
int tw_http_date_parse(const char *s, int64_t *t);

#define TW_HTTP_RETRY_AFTER_CAP_S 86400 /* a longer Retry-After is taken as one day */

/**
 * Retry-After (RFC 9110 10.2.3): delay-seconds (digits) or an HTTP date. @return 0 and the
 * wait from @p now_s in *delay_s (a past date: 0; capped at TW_HTTP_RETRY_AFTER_CAP_S), or
 * -1 when @p v is neither.
 */
int tw_http_retry_after(const char *v, int64_t now_s, int64_t *delay_s);

/** Abort any request (its done is not called) and close the connection. Safe twice. */
void tw_http_client_close(struct tw_http_client *c);

#endif
