/* SPDX-License-Identifier: MIT */
/* httpd.h - a small bounded HTTP/1.1 server on the event loop: /healthz, /metrics and friends.
 *
 * The http role (agent/roles/http.c) serves a few fixed pages for operators and
 * monitoring, off unless [http] listen is set. Everything here is bounded and
 * time-limited, as the RPC server is:
 *   - [http] slots connections at once, each with a head buffer of
 *     TW_HTTPD_HEAD_MAX bytes, a body of at most TW_HTTPD_BODY_MAX bytes and
 *     one output buffer of [http] out_kb, all carved at start; a connection
 *     beyond the slots gets a short 503 and is closed;
 *   - a request must arrive whole, and its answer be taken, within [http]
 *     timeout (else the connection is closed);
 *   - one request per connection (the answer says "Connection: close");
 *   - the parser (tw_httpd_parse, request.c) is pure and fuzzed: it refuses,
 *     with the status the RFC names, an over-long request line (414), head
 *     (431) or body (413), a Transfer-Encoding request body (501), a bad
 *     Content-Length, a version other than HTTP/1.0 or 1.1 (505), control
 *     bytes, and anything else that is not RFC 9112's grammar (400).
 * Handlers run on the loop and answer at once into the slot's output buffer, or mark the
 * answer pending and complete it later (tw_httpd_complete); a request still waiting at its
 * deadline is answered 503.
 */
#ifndef TW_HTTPD_H
#define TW_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"

#define TW_HTTPD_LINE_MAX 1024  /* request line */
#define TW_HTTPD_HEAD_MAX 4096  /* request line + headers + blank line */
#define TW_HTTPD_BODY_MAX 1024  /* a request body (a form post) */
#define TW_HTTPD_HEADERS_MAX 48 /* header fields */
#define TW_HTTPD_PATH_MAX 256
#define TW_HTTPD_QUERY_MAX 512
#define TW_HTTPD_CTYPE_MAX 128

enum {
	TW_HTTPD_GET = 1 << 0,
	TW_HTTPD_HEAD = 1 << 1,
	TW_HTTPD_POST = 1 << 2,
	TW_HTTPD_OTHER = 1 << 3, /* a method token we do not serve: 405 or 501 */
};

struct tw_httpd_req {
	unsigned method;      /**< one TW_HTTPD_* bit */
	char method_text[16]; /**< as sent (for logs) */
	char path[TW_HTTPD_PATH_MAX];   /**< origin-form path, not decoded */
	char query[TW_HTTPD_QUERY_MAX]; /**< after '?', not decoded ("" when none) */
	int minor;            /**< HTTP/1.<minor> */
	int has_length;       /**< a Content-Length was given */
	size_t content_length;
	char content_type[TW_HTTPD_CTYPE_MAX];
	size_t head_len;      /**< bytes of request line + headers + blank line */
};

/**
 * Parse the head of a request in @p buf[0..len).
 * @return the head's length (> 0) when whole (the body, if any, follows it: content_length
 *         bytes), 0 when more bytes are needed, or minus an HTTP status (-400, -413, -414,
 *         -431, -501, -505) for a request to refuse.
 */
int tw_httpd_parse(const char *buf, size_t len, struct tw_httpd_req *r);

/**
 * The value of parameter @p name in an application/x-www-form-urlencoded string
 * (a query or a form body), percent- and '+'-decoded into @p out (NUL-terminated).
 * @return its length, -1 when absent, -2 when malformed or longer than @p outlen - 1.
 */
int tw_httpd_param(const char *form, size_t formlen, const char *name, char *out, size_t outlen);

/** The reason phrase of @p status ("Not Found"...); "Unknown" for one we never send. */
const char *tw_httpd_reason(int status);

/* ---- the server ---- */

struct tw_arena;
struct tw_loop;
struct tw_httpd;

/** Names one waiting request (a handler that answers later, e.g. after a database call). */
struct tw_httpd_ticket {
	uint32_t slot;
	uint32_t gen;
};

/** What a handler fills in: status, type and the body, written into body[0..cap). Or it sets
 * @c pending, keeps @c ticket, and answers later with tw_httpd_complete(). */
struct tw_httpd_resp {
	int pending;
	struct tw_httpd_ticket ticket;
	int status;
	const char *content_type; /**< a constant; NULL: text/plain; charset=utf-8 */
	const char *allow;        /**< for a 405: the Allow header's value (a constant) */
	char *body;
	size_t cap;
	size_t len;
};

typedef void (*tw_httpd_handler_fn)(void *arg, const struct tw_httpd_req *req, const char *body,
				    size_t bodylen, struct tw_httpd_resp *resp);

struct tw_httpd_route {
	const char *path;   /**< exact path */
	unsigned methods;   /**< TW_HTTPD_* bits served (HEAD is served wherever GET is) */
	tw_httpd_handler_fn fn;
	void *arg;
};

struct tw_httpd_opts {
	const char *listen;   /**< host:port */
	int slots;
	int64_t timeout_ms;
	size_t out_cap;       /**< bytes of one slot's answer, headers included */
	const struct tw_httpd_route *routes;
	size_t nroutes;
};

/** Bytes tw_httpd_start() carves for @p slots slots of @p out_cap bytes of output. */
size_t tw_httpd_budget(int slots, size_t out_cap);

/** Listen and serve on @p loop. @return 0 or an error with text in @p err. */
int tw_httpd_start(struct tw_httpd **out, struct tw_arena *a, struct tw_loop *loop,
		   const struct tw_httpd_opts *o, char *err, size_t errlen);

/**
 * Answer the request @p t named, if it still waits (it may have met its deadline: then it
 * was answered 503 and this does nothing). @p text is the body (a line, NUL-terminated),
 * @p content_type as in struct tw_httpd_resp. @return 1 when answered, 0 when too late.
 */
int tw_httpd_complete(struct tw_httpd *h, struct tw_httpd_ticket t, int status,
		      const char *content_type, const char *text);

/** Close every connection and the listener. Safe on NULL. */
void tw_httpd_stop(struct tw_httpd *h);

/** Close connections past their deadline. @return ms until the next one is due. */
int64_t tw_httpd_sweep(struct tw_httpd *h);

/** One line for `status`: the address, requests served by class, refusals. */
void tw_httpd_status(const struct tw_httpd *h, char *buf, size_t len);

/** The port listened on (tests listen on port 0). */
int tw_httpd_port(const struct tw_httpd *h);

/** Counters for /metrics. */
struct tw_httpd_counts {
	uint64_t requests;      /**< answered */
	uint64_t by_class[6];   /**< [1..5]: answers with status 1xx..5xx */
	uint64_t busy;          /**< refused: no free slot */
	uint64_t timeouts;      /**< closed at their deadline */
	int open;               /**< connections open now */
};
void tw_httpd_counts(const struct tw_httpd *h, struct tw_httpd_counts *c);

#endif
