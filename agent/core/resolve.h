/* SPDX-License-Identifier: MIT */
/* resolve.h - name resolution off the loop with a TTL cache, and the connector every TCP
 * connect of the agent goes through: resolve, then try every address in turn.
 *
 * The look-ups run in the HAL's worker thread (tw_hal_resolver_start); this
 * module keeps the cache (a table carved at start: TW_RESOLVE_TTL_MS per
 * entry, getaddrinfo gives no TTL), joins connectors waiting on the same name
 * to one look-up, bounds each wait with a loop timer, and wakes on the HAL's
 * fd. Literals never wait. Failures are not cached: the caller's own backoff
 * paces the retries.
 *
 * The agent makes one resolver at boot (tw_resolver_init + set_default). A
 * program that never made one (a test tool, `db migrate`) gets a small
 * fallback resolver on its loop at its first connect (static, TW_RESOLVE_FALLBACK
 * entries), so every caller goes through the same path. */
#ifndef TW_RESOLVE_H
#define TW_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"

struct tw_arena;
struct tw_loop;
struct tw_connect;

#define TW_RESOLVE_TTL_MS 60000 /* a cached answer is used this long */
#define TW_RESOLVE_FALLBACK 8   /* cache entries of the fallback resolver */

struct tw_resolve_entry {
	char host[TW_HAL_HOST_MAX]; /* "": free */
	struct tw_hal_addr addrs[TW_HAL_ADDRS_MAX];
	size_t n;
	tw_mono_t expires;
};

struct tw_resolver {
	struct tw_loop *loop;
	int fd; /* the HAL's wake-up fd, watched for TW_HAL_READ */
	struct tw_resolve_entry *cache;
	size_t ncache;
	struct tw_connect *waiting; /* connectors waiting on a look-up */
	struct {
		long ticket; /* 0: free */
		char host[TW_HAL_HOST_MAX];
	} jobs[TW_HAL_RESOLVE_SLOTS];
	uint64_t lookups, hits, failures, timeouts;
};

/**
 * Start the HAL's worker, carve @p entries cache entries from @p a (NULL: use
 * @p storage, @p entries entries) and watch the wake-up fd on @p loop.
 * @return 0 or an error with text.
 */
int tw_resolver_init(struct tw_resolver *r, struct tw_loop *loop, struct tw_arena *a,
		     struct tw_resolve_entry *storage, size_t entries, char *err, size_t errlen);

/** Stop watching; connectors still waiting are forgotten (their done is not called). Safe twice. */
void tw_resolver_stop(struct tw_resolver *r);

/** Connectors started with no resolver use @p r (NULL: none, the fallback). */
void tw_resolver_set_default(struct tw_resolver *r);

/**
 * The cached addresses of @p host (or a literal), without waiting.
 * @return the number of addresses copied to @p out (> 0), or 0 when the name
 *         must be looked up.
 */
size_t tw_resolver_cached(struct tw_resolver *r, const char *host, struct tw_hal_addr *out);

/**
 * Called once when the connect ended: @p rc 0 and a connected non-blocking
 * socket @p fd that the callee now owns (nothing watches it on the loop), or
 * an error with text naming every address tried.
 */
typedef void (*tw_connect_fn)(struct tw_connect *c, int rc, int fd, const char *err, void *arg);

enum { TW_CONNECT_IDLE = 0, TW_CONNECT_RESOLVING, TW_CONNECT_CONNECTING, TW_CONNECT_DONE };

struct tw_connect {
	struct tw_resolver *r;
	struct tw_loop *loop;
	char host[TW_HAL_HOST_MAX];
	uint16_t port;
	int state;
	struct tw_hal_addr addrs[TW_HAL_ADDRS_MAX];
	size_t n, next; /* addresses, and the next to try */
	int fd;
	long ticket; /* the look-up waited on */
	long long timer;
	tw_mono_t deadline;
	struct tw_connect *next_wait;
	int rc;
	char err[400];
	tw_connect_fn done;
	void *arg;
};

/**
 * Connect to @p host : @p port within @p timeout_ms in all (the look-up, then
 * each address in turn with an equal share of what is left). @p done runs
 * from the loop, never inside this call.
 * @return 0 (done will be called), or TW_ERR_ARG (host too long, timeout <= 0)
 *         or TW_ERR_NOMEM (no free timer) with text in c->err, done not called.
 */
int tw_connect_start(struct tw_connect *c, struct tw_resolver *r, struct tw_loop *loop,
		     const char *host, uint16_t port, int64_t timeout_ms, tw_connect_fn done,
		     void *arg);

/** Abandon a connect (done is not called; a socket in progress is closed). Safe twice. */
void tw_connect_cancel(struct tw_connect *c);

/** @return 1 between tw_connect_start() and done (or cancel). */
static inline int tw_connect_busy(const struct tw_connect *c)
{
	return c->state == TW_CONNECT_RESOLVING || c->state == TW_CONNECT_CONNECTING ||
	       c->state == TW_CONNECT_DONE;
}

/**
 * The look-up alone, for a caller that hands an address to a library (libpq's
 * hostaddr): @p done is called with rc 0 and fd -1 once @p c->addrs holds
 * c->n addresses, or with the error. Same rules as tw_connect_start().
 */
int tw_resolve_start(struct tw_connect *c, struct tw_resolver *r, struct tw_loop *loop,
		     const char *host, int64_t timeout_ms, tw_connect_fn done, void *arg);

#endif
