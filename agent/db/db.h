/* SPDX-License-Identifier: MIT */
/* db.h - one asynchronous PostgreSQL connection driven by the event loop (libpq, never blocking).
 *
 * A connection runs one job at a time; further jobs wait in a FIFO (intrusive,
 * caller-owned, no allocation). A job is one statement, or a chain of statements
 * on the same connection (a transaction) when its callback calls tw_db_then()
 * from its TW_DB_DONE event. The connection reconnects with a capped backoff;
 * while it is down, tw_db_submit() fails at once with TW_ERR_DB_UNAVAILABLE.
 * Parameterised SQL only: user data always travels as parameters.
 *
 * Every connection is counted, process-wide, under its name (its pool: "write", "read",
 * "rpc write", "buckets"): statements, their failures, jobs refused while down, connects
 * and losses, and the connections in each state, for /metrics (tw_db_metrics()).
 */
#ifndef TW_DB_H
#define TW_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/resolve.h"
#include "hal.h"

struct tw_loop;
struct tw_metrics;
struct pg_conn;
struct pg_result;

/* Errors of the db module (-100..-149; cqrs uses -150..-199). */
enum {
	TW_ERR_DB_UNAVAILABLE = -101, /**< not connected, or the connection broke mid-job */
	TW_ERR_DB_TIMEOUT = -102,     /**< statement_timeout or our own watchdog fired */
	TW_ERR_DB_SQL = -103,         /**< the server rejected the statement (SQLSTATE in the job) */
	TW_ERR_DB_BUSY = -104,        /**< the job is already queued or running */
	TW_ERR_DB_PARAMS = -105,      /**< parameters too many or too long for the job buffer */
};

#define TW_DB_MAX_PARAMS 12
#define TW_DB_PARAM_BYTES 2048
#define TW_DB_ERR_LEN 256

/** Events a job's callback receives. */
enum tw_db_event {
	TW_DB_ROW = 1,  /**< one row (single-row mode); @p res holds it */
	TW_DB_DONE = 2, /**< the statement finished; @p res is its last result (may hold rows) */
	TW_DB_FAIL = 3, /**< the job failed; rc and text in the job; @p res may be NULL */
};

enum {
	TW_DB_SINGLE_ROW = 1u << 0, /**< stream rows one by one */
	TW_DB_MULTI = 1u << 1,      /**< embedded multi-statement SQL, no parameters (migrations) */
	/**
	 * Prepare @p sql once per connection (named by the pointer: pass a static string) and
	 * run it prepared from then on: parsed and planned once, not per call. The first use on
	 * a connection costs one more round trip. Honoured by tw_db_submit(); tw_db_then()
	 * runs it prepared only once it is, else as an unprepared statement.
	 */
	TW_DB_PREPARED = 1u << 2,
};

#define TW_DB_PREPARED_MAX 16 /* prepared statements per connection; more run unprepared */

struct tw_db_job;

/**
 * Job callback. On TW_DB_ROW return 0 to go on, 1 to pause reading (resume with
 * tw_db_resume()), or a negative value to drop the remaining rows (the job then
 * ends with TW_DB_FAIL, rc TW_ERR_ARG). On TW_DB_DONE call tw_db_then() to run
 * the next statement of the same job, or return to end it. @p res is only valid
 * during the call.
 */
typedef int (*tw_db_fn)(struct tw_db_job *j, int event, const struct pg_result *res, void *arg);

/** A caller-owned job. Zero it once; it may be reused after it ended. */
struct tw_db_job {
	/* private */
	struct tw_db_job *next;
	struct tw_db *db;
	tw_db_fn fn;
	void *arg;
	const char *sql;
	unsigned flags;
	int nparams;
	int active; /* queued or running */
	int paused;
	int dropping;
	int chained;
	int in_done; /* inside its TW_DB_DONE callback */
	int stmt_failed;
	const char *pv[TW_DB_MAX_PARAMS];
	char pbuf[TW_DB_PARAM_BYTES];
	/* set when the job fails */
	int rc;
	char sqlstate[6];
	char err[TW_DB_ERR_LEN];
};

enum tw_db_state {
	TW_DB_S_DOWN = 0,   /* not started or closed */
	TW_DB_S_CONNECTING, /* PQconnectPoll in progress */
	TW_DB_S_READY,      /* connected; idle or running a job */
	TW_DB_S_BACKOFF,    /* failed; the next attempt waits for a timer */
};

/** Called once each time the connection becomes ready (before queued jobs run), e.g. to migrate. */
typedef void (*tw_db_ready_fn)(struct tw_db *db, void *arg);

struct tw_db {
	/* private */
	struct tw_loop *loop;
	struct pg_conn *pg;
	const char *name; /* "write" or "read", for logs */
	char url[512];
	int64_t connect_timeout_ms;
	int64_t statement_timeout_ms;
	int state;
	int fd;
	struct tw_connect resolve; /* the server's name, resolved off the loop for hostaddr */
	int via_name;              /* this connect was given resolve.host's addresses */
	unsigned mask;
	long long timer;     /* connect/statement watchdog or backoff */
	long long kick;      /* 0 ms timer that resumes processing */
	int64_t backoff_ms;
	struct tw_db_job *head, *tail; /* FIFO; head is the running job when busy */
	int busy;             /* a statement is in flight for head */
	int closing;
	tw_db_ready_fn on_ready;
	void *ready_arg;
	struct pg_result *last;       /* last complete result of the running statement */
	struct tw_db_job rollback;    /* ROLLBACK after a job that left a transaction open */
	const char *prepared[TW_DB_PREPARED_MAX]; /* TW_DB_PREPARED statements on this session */
	int nprepared;
	int preparing; /* the head job's statement is being prepared (its run follows) */
	uint64_t connects, failures, statements;
	unsigned pool_id; /* 1 + its entry in conn.c's table of pools; 0: not counted */
	char last_err[TW_DB_ERR_LEN];
};

/**
 * Prepare @p db for @p url and start connecting (never blocks).
 * @return 0, or TW_ERR_ARG with text in @p err when the URL is unusable.
 */
int tw_db_open(struct tw_db *db, struct tw_loop *loop, const char *name, const char *url,
	       int64_t connect_timeout_ms, int64_t statement_timeout_ms, tw_db_ready_fn on_ready,
	       void *ready_arg, char *err, size_t errlen);

/** Fail every job with TW_ERR_DB_UNAVAILABLE, close the connection and its timers. Safe twice. */
void tw_db_close(struct tw_db *db);

/**
 * When @p db waits out a backoff, connect now instead (another connection to the same
 * server just came up: it is back). Otherwise nothing.
 */
void tw_db_retry_now(struct tw_db *db);

/** @return 1 when connected (TW_DB_S_READY), else 0. */
int tw_db_ready(const struct tw_db *db);

/** @return the jobs queued on @p db, the running one included. */
size_t tw_db_queued(const struct tw_db *db);

/** @return "down", "connecting", "ready" or "backoff". */
const char *tw_db_state_name(const struct tw_db *db);

/**
 * Queue @p sql with @p nparams text parameters (NULL entries are SQL NULL),
 * copied into the job. @return 0 (the callback runs later, at least once with
 * TW_DB_DONE or TW_DB_FAIL), TW_ERR_DB_UNAVAILABLE when the connection is down
 * or backing off, TW_ERR_DB_BUSY, or TW_ERR_DB_PARAMS. The callback is never
 * called from inside this function.
 */
int tw_db_submit(struct tw_db *db, struct tw_db_job *j, const char *sql, int nparams,
		 const char *const *params, unsigned flags, tw_db_fn fn, void *arg);

/**
 * Put @p j at the front of the queue instead of the back (used for migrations
 * from the on_ready callback). Same returns as tw_db_submit().
 */
int tw_db_submit_first(struct tw_db *db, struct tw_db_job *j, const char *sql, int nparams,
		       const char *const *params, unsigned flags, tw_db_fn fn, void *arg);

/**
 * From a TW_DB_DONE callback: run the next statement of the same job on the same
 * connection (an open transaction stays open). Parameters are sent at once and
 * need not outlive the call. @return 0 or a negative error (the job then fails).
 */
int tw_db_then(struct tw_db_job *j, const char *sql, int nparams, const char *const *params,
	       unsigned flags);

/** Resume a job paused by its row callback. */
void tw_db_resume(struct tw_db_job *j);

/**
 * The tickwatch_db_* families (docs/http.md) of every connection this process opened,
 * by pool (the connection's name, spaces as '_'). Called on the loop; never blocks.
 */
void tw_db_metrics(struct tw_metrics *m);

/** Text of field @p col of row @p row, or NULL when SQL NULL / out of range. */
const char *tw_db_value(const struct pg_result *res, int row, int col);

/** Rows in @p res (0 when NULL). */
int tw_db_rows(const struct pg_result *res);

/** Rows affected by a command result (INSERT/UPDATE/DELETE), or 0. */
long long tw_db_affected(const struct pg_result *res);

#endif
