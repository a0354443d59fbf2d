/* SPDX-License-Identifier: MIT */
/* buckets.h - work split across agents with PostgreSQL session advisory locks (docs/scale.md).
 *
 * N buckets (the collectors: [quotes] shards; the admin report: 1). Each agent holds a share
 * of them as session advisory locks (key pair: the namespace, the bucket) on a connection of
 * its own, and also a membership lock (namespace + 1, its backend pid), so every agent can
 * count the live ones. At each claim (once a cycle) an agent counts the members M, keeps at
 * most ceil(N / M) buckets (releasing the highest beyond that) and tries to take free ones up
 * to that share. A bucket is held by at most one session at a time (PostgreSQL's lock); the
 * buckets of a dead agent are freed with its session and taken at the others' next claim; a
 * new agent gets its share once the others released theirs (one claim each). When the
 * connection drops, the locks are gone with it: the agent holds nothing until it has claimed
 * again on the new session.
 *
 * Which bucket a ticker is in: FNV-1a (32 bits) of its text mod N (tw_buckets_of).
 * Every claim is a short chain of statements on this module's connection; nothing waits.
 */
#ifndef TW_CQRS_BUCKETS_H
#define TW_CQRS_BUCKETS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define TW_BUCKETS_MAX 256 /* its release list fits one parameter (TW_DB_PARAM_BYTES) */
#define TW_BUCKETS_NS_COLLECT 74771000 /* advisory lock namespaces (first key) */
#define TW_BUCKETS_NS_ADMIN 74772000

struct tw_buckets;

/** A claim ended: @p rc 0 (b->held is this cycle's set) or an error (text in b->err; held 0). */
typedef void (*tw_buckets_fn)(struct tw_buckets *b, int rc, void *arg);

struct tw_buckets {
	/* private */
	struct tw_db db;
	struct tw_db_job job;
	int ns, n, step, claiming, open;
	tw_buckets_fn done;
	void *arg;
	int64_t want; /* how many to take at the try step */
	/* public, read-only */
	int members;                  /* live agents counted at the last claim */
	int nheld;                    /* buckets held now */
	unsigned char held[TW_BUCKETS_MAX];
	uint64_t claims, taken, released;
	char err[TW_DB_ERR_LEN];
};

/** The bucket of @p ticker among @p n (1..TW_BUCKETS_MAX). */
int tw_buckets_of(const char *ticker, int n);

/**
 * Open the module's own connection to @p url and set up @p n buckets in namespace @p ns
 * (TW_BUCKETS_NS_*). @p b zeroed, caller-owned. @return 0 or TW_ERR_ARG (text in @p err).
 */
int tw_buckets_open(struct tw_buckets *b, struct tw_loop *loop, const char *url,
		    int64_t connect_timeout_ms, int64_t statement_timeout_ms, int ns, int n,
		    char *err, size_t errlen);

/**
 * Claim this cycle's share (see above); @p done follows. @return 0, TW_ERR_DB_BUSY when a
 * claim is running, TW_ERR_DB_UNAVAILABLE when the connection is down (held cleared).
 */
int tw_buckets_claim(struct tw_buckets *b, tw_buckets_fn done, void *arg);

/** @return 1 when bucket @p i is held now. */
int tw_buckets_holds(const struct tw_buckets *b, int i);

/** @return 1 when the bucket of @p ticker is held now. */
int tw_buckets_holds_ticker(const struct tw_buckets *b, const char *ticker);

/** "buckets 0-3,7 of 16 (2 agents)" for status lines. @return @p buf. */
char *tw_buckets_status(const struct tw_buckets *b, char *buf, size_t len);

/** Close the connection (its locks go with the session). Safe twice. */
void tw_buckets_close(struct tw_buckets *b);

#endif
