/* SPDX-License-Identifier: MIT */
/* cqrs_int.h - what the files of agent/cqrs share (service.c's op helpers); not for other modules. */
#ifndef TW_CQRS_INT_H
#define TW_CQRS_INT_H

#include "cqrs.h"
#include "db/migrate.h"

struct tw_cqrs {
	int refs;
	struct tw_db wr;
	struct tw_db rd;
	struct tw_db *pool; /* the rpc role's write connections (tw_cqrs_open_writers), or NULL */
	size_t npool;
	struct tw_db_migrate mig;
	int migrated; /* the schema was brought up to date at least once */
	int mig_failed;
	char mig_msg[TW_DB_ERR_LEN];
};

enum {
	TW_CQRS_K_REGISTER = 1,
	TW_CQRS_K_TICKER,
	TW_CQRS_K_THRESHOLDS,
	TW_CQRS_K_DELETE,
	TW_CQRS_K_QUOTE,
	TW_CQRS_K_SENT,
	TW_CQRS_K_DEAD,
	TW_CQRS_K_EXPIRE,
	TW_CQRS_K_GET,
	TW_CQRS_K_LAST,
	TW_CQRS_K_AVERAGE,
	TW_CQRS_K_LIST,
	TW_CQRS_K_TICKERS,
	TW_CQRS_K_CROSSING,
	TW_CQRS_K_IS_SENT,
	TW_CQRS_K_ADVANCE_BATCH,
	TW_CQRS_K_REARM_PAGE,
	TW_CQRS_K_SENDING,
	TW_CQRS_K_FORGET,
	TW_CQRS_K_NOTIF_KEY,
	TW_CQRS_K_PRUNE,
	TW_CQRS_K_VERIFIED,
	TW_CQRS_K_ALERT_PASS,
	TW_CQRS_K_ALERT_ADVANCE,
};

/* The user columns every user query returns, in parse_user's order. */
#define TW_CQRS_USER_COLS                                                                     \
	"email, ticker, high, low, (extract(epoch FROM created_at) * 1000)::bigint, "          \
	"(extract(epoch FROM updated_at) * 1000)::bigint"

/** Reset @p op (outcome, user and quote included) for a new call of @p kind. */
void tw_cqrs_op_begin(struct tw_cqrs_op *op, struct tw_cqrs *q, int kind, tw_cqrs_done_fn done,
		      void *arg);

/** Record a failure on @p op (synchronous or not). @return @p rc. */
int tw_cqrs_op_fail(struct tw_cqrs_op *op, int rc, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/** Fill the result from @p op and call done. */
void tw_cqrs_op_finish(struct tw_cqrs_op *op);

/** A job failure as the op's outcome: database unavailable, time-out, or SQL error. */
void tw_cqrs_op_db_fail(struct tw_cqrs_op *op, const struct tw_db_job *j);

/** Map a submit error to the op and return it. */
int tw_cqrs_op_submit_fail(struct tw_cqrs_op *op, int rc);

/** Validate @p email into op->user.email. @return 0, or the op failed on field "email". */
int tw_cqrs_take_email(struct tw_cqrs_op *op, const char *email);

/**
 * Validate and upper-case @p ticker into @p out (TW_CQRS_TICKER_MAX + 1 bytes: op->user.ticker
 * for a user command, op->quote.ticker for a query, a local for a pipeline write).
 * @return 0, or the op failed on field "ticker".
 */
int tw_cqrs_take_ticker(struct tw_cqrs_op *op, const char *ticker, char *out);

/**
 * Submit one write statement on the write connection; done gets count = 1 (SaveQuote,
 * RecordSent, RecordDeadLetter) or the rows affected (the others). @return 0 or the op's failure.
 */
int tw_cqrs_submit_write(struct tw_cqrs_op *op, const char *sql, int n, const char *const *p);

/** tw_cqrs_submit_write() on tw_cqrs_writer(): a write of the rpc role's commands. */
int tw_cqrs_submit_user_write(struct tw_cqrs_op *op, const char *sql, int n, const char *const *p);

/** Parse a TW_CQRS_USER_COLS row. */
void tw_cqrs_parse_user(const struct pg_result *res, int row, struct tw_user *u);

/** "%.17g", or NULL for TW_CQRS_UNSET (SQL NULL). */
const char *tw_cqrs_num(char *buf, size_t len, double v);

/**
 * The connection a user command goes to: the least busy ready connection of the pool once
 * the schema is migrated, else the shared write connection (it queues behind the migration).
 */
struct tw_db *tw_cqrs_writer(struct tw_cqrs *q);

/** The read connection, or NULL (with the op failed) when the schema is not ready. */
struct tw_db *tw_cqrs_reader(struct tw_cqrs_op *op);

#endif
