/* SPDX-License-Identifier: MIT */
/* cqrs.h - the command (write) and query (read) services over PostgreSQL: validated, async.
 *
 * One service per process, shared by every role: tw_cqrs_open() from a role's
 * start (the first call carves and connects, later calls share it),
 * tw_cqrs_close() from its stop. Commands use the write connection
 * ([db] write_url), queries the read one ([db] read_url).
 *
 * Every call takes a caller-owned struct tw_cqrs_op (one per operation in
 * flight; keep it in your role state, it is a few KiB) and follows one rule:
 *
 *   - returns 0: the operation runs; @p done is called exactly once, later,
 *     from the event loop (never from inside the call);
 *   - returns < 0: nothing was written, @p done is never called, and
 *     tw_cqrs_op_result(op) says why (validation: which field and why;
 *     TW_ERR_DB_UNAVAILABLE: the database is down, retry later).
 *
 * Streaming queries call a row callback once per row (libpq single-row mode,
 * bounded memory whatever the row count) before @p done. A row callback
 * returns 0 to go on, TW_CQRS_PAUSE to stop reading until tw_cqrs_resume(),
 * or a negative value to drop the rest (done then reports TW_ERR_ARG).
 * Pointers handed to callbacks are only valid during the call. Results are
 * data (codes, rows, counts), never rendered text: each caller renders its own
 * answers (the rpc role its JSON-RPC).
 */
#ifndef TW_CQRS_H
#define TW_CQRS_H

#include <stddef.h>
#include <stdint.h>

#include "core/email.h"
#include "db/db.h"

struct tw_agent;
struct tw_config;

#define TW_CQRS_EMAIL_MAX TW_EMAIL_MAX /* core/email.h: the one address rule */
#define TW_CQRS_TICKER_MAX 15
#define TW_CQRS_REQID_MAX 64
#define TW_CQRS_AVG_MAX 1000 /* GetAverage: N from 1 to this */
#define TW_CQRS_LIST_MAX 20  /* ListUsers: page size from 1 to this */
#define TW_CQRS_PAGE_MAX 100000 /* UsersCrossingThresholds page: from 1 to this rows */
#define TW_CQRS_NOTIF_ID_MAX 128
#define TW_CQRS_RESPONSE_MAX 1024 /* a response text stored by a build before the outcome format */
#define TW_CQRS_MSG_MAX 256
#define TW_CQRS_UNSET (-1.0) /* a threshold of -1 means "unset" (NULL) */
#define TW_CQRS_PAUSE 1
#define TW_CQRS_SIGN_KEY_LEN 64 /* notif_key.key: hex digits */

/* Errors of the cqrs module (-150..-199). */
enum {
	TW_ERR_CQRS_INVALID = -150,   /**< validation failed: field and reason in the result */
	TW_ERR_CQRS_NOT_FOUND = -151, /**< no such user (or no quote yet) */
	TW_ERR_CQRS_EXISTS = -152,    /**< the user is already registered */
	TW_ERR_CQRS_REUSED = -153,    /**< request id seen before with other method or params */
};

enum tw_condition { TW_COND_NONE = 0, TW_COND_HIGHER = 1, TW_COND_LOWER = 2 };

struct tw_user {
	char email[TW_CQRS_EMAIL_MAX + 1];
	char ticker[TW_CQRS_TICKER_MAX + 1];
	int has_high, has_low;
	double high, low;     /* meaningful only when has_* */
	int64_t created_ms;   /* wall clock, ms since the epoch */
	int64_t updated_ms;
};

struct tw_quote {
	char ticker[TW_CQRS_TICKER_MAX + 1];
	double value;
	int64_t time_ms; /* the quote's own time */
};

/** One row of UsersCrossingThresholds: a user whose ticker's latest quote is out of band. */
struct tw_crossing {
	const char *email;
	const char *ticker;
	double value;           /* latest quote */
	int64_t quote_ms;       /* its time */
	int condition;          /* TW_COND_HIGHER (value > high) or TW_COND_LOWER (value < low) */
	double threshold;       /* the high or low crossed */
	/* duplicate-suppression state: what was last e-mailed to this user */
	int has_last;           /* 0: never notified, or re-armed since */
	const char *last_ticker;/* "" when !has_last */
	int last_condition;     /* TW_COND_* */
	int64_t last_int;       /* integer part of the value last e-mailed */
	int64_t episode;        /* re-arm counter; part of a deterministic notification id */
	int64_t generation;     /* users.generation: new at each registration (0: registered
				 * before migration 4); part of the notification id too */
	int shard;              /* users.shard (cqrs/shards.h): the sharded pass's keyset */
	int64_t alert_id;       /* 0: the users row (alert 0); >= 1: a row of alerts */
};

/** One user of a batched AdvanceAlert (tw_cqrs_advance_alerts). */
struct tw_cqrs_advance {
	const char *email;
	const char *ticker;
	int condition;    /* TW_COND_HIGHER or TW_COND_LOWER */
	int64_t int_part; /* integer part of the value e-mailed */
	int64_t episode;    /* the crossing row's episode the decision was made at */
	int64_t generation; /* and its user's generation */
};

/** What an operation ended with. Pointers are valid during the done callback only. */
struct tw_cqrs_result {
	int rc;                /* 0 or a negative TW_ERR_* */
	const char *field;     /* TW_ERR_CQRS_INVALID: the field ("email", "ticker", "high", ...) */
	const char *msg;       /* rc != 0: what failed and what to do ("" on success) */
	long long count;       /* call-specific, see each call */
	const struct tw_user *user;   /* GetUser, RegisterUser, Update*: the row as stored */
	const struct tw_quote *quote; /* GetLastValue */
	double average;               /* GetAverage (count = quotes averaged) */
	/* at-most-once commands (idem given): */
	int replayed;          /* 1: the request id was seen before; nothing was executed, and
				* rc, field, msg and user are the outcome stored with it */
	const char *legacy_response; /* replayed, stored by a build before the outcome format:
				* the answer text that build rendered then (rc etc. unset) */
	/* keyset-paged commands (tw_cqrs_rearm_page): */
	long long scanned;     /* keys the page walked */
	const char *last_key;  /* the last of them, to pass as the next page's after (NULL: none) */
	int last_shard;        /* sharded pages (cqrs/shards.h): the shard of last_key */
	const char *sign_key;  /* tw_cqrs_notif_key: the key, 64 lower-case hex digits */
};

typedef void (*tw_cqrs_done_fn)(void *arg, const struct tw_cqrs_result *r);
typedef int (*tw_cqrs_user_fn)(void *arg, const struct tw_user *u);
typedef int (*tw_cqrs_ticker_fn)(void *arg, const char *ticker);
typedef int (*tw_cqrs_crossing_fn)(void *arg, const struct tw_crossing *c);
struct tw_alert_pass_row;
typedef int (*tw_cqrs_alert_pass_fn)(void *arg, const struct tw_alert_pass_row *r);

/**
 * At-most-once wrapper of a user command. The command, the claim of
 * @p request_id and the command's outcome (rc, field, msg and the row, as data:
 * rendering an answer is the caller's business) are written in ONE transaction.
 * A repeat of the same id (within @p ttl_ms) executes nothing and gets the
 * stored outcome back in the same fields (result->replayed = 1), so an answer
 * rendered from the result is the same both times; the same id with another
 * method or other params fails with TW_ERR_CQRS_REUSED. Only an outcome of the
 * command itself is stored (the row, TW_ERR_CQRS_EXISTS, TW_ERR_CQRS_NOT_FOUND);
 * validation failures and database errors store nothing. An id stored by a build
 * before this format (docs/schema.md, rpc_requests) is replayed as the text that
 * build rendered (result->legacy_response). The struct is copied by the call.
 */
struct tw_cqrs_idem {
	const char *request_id; /* 1..64 of [A-Za-z0-9._:-] */
	const char *method;     /* e.g. "user.register" */
	int64_t ttl_ms;
};

/** One operation in flight; caller-owned, zero it once, reusable after done. */
struct tw_cqrs_op {
	/* private */
	struct tw_db_job job;
	struct tw_cqrs *q;
	int kind;
	int step;
	tw_cqrs_done_fn done;
	void *arg;
	union {
		tw_cqrs_user_fn user;
		tw_cqrs_ticker_fn ticker;
		tw_cqrs_crossing_fn crossing;
		tw_cqrs_alert_pass_fn alert_pass;
	} row;
	struct tw_cqrs_idem idem;
	char reqid[TW_CQRS_REQID_MAX + 1];
	char method[48];
	char hash[24];
	char field_text[32]; /* a replayed outcome's field */
	struct tw_user user;
	struct tw_quote quote;
	double average;
	long long count;
	int rc;
	const char *field;
	char msg[TW_CQRS_MSG_MAX];
	int replayed;
	char legacy[TW_CQRS_RESPONSE_MAX];
	struct tw_cqrs_result res;
	const char *arrays[9]; /* batched statements: the array literals in the caller's buffer */
	long long scanned;
	char last_key[TW_CQRS_EMAIL_MAX + 1];
	int last_shard;
	char sign_key[TW_CQRS_SIGN_KEY_LEN + 1];
	void *ext; /* alerts.c: the caller's struct tw_alert_row */
	int verified; /* RegisterUser: users.ticker_verified to store (1, 0; -1: NULL) */
};

struct tw_cqrs;

/* ---- service ---- */

/**
 * Open (first caller) or share the service of agent @p ag: connects the write
 * and read connections and applies the migrations on the write one.
 * @return the service, or NULL with text in @p err.
 */
struct tw_cqrs *tw_cqrs_open(struct tw_agent *ag, char *err, size_t errlen);

/** Drop one reference; the last one closes both connections. */
void tw_cqrs_close(struct tw_cqrs *q);

/**
 * The rpc role's pool ([db] write_connections): @p n connections to [db] write_url in
 * @p pool (caller-owned, carved; tw_cqrs_writers_budget() bytes), over which the user
 * commands spread (each goes to the least busy ready one; the shared write connection
 * while the schema is not migrated yet or no pool connection is up). Every at-most-once
 * guarantee holds across connections: the claim of a request id is a unique row, so a
 * repeat racing its original on another connection waits for it and gets its outcome.
 * @return 0, or TW_ERR_ARG with text in @p err.
 */
int tw_cqrs_open_writers(struct tw_cqrs *q, struct tw_agent *ag, struct tw_db *pool, size_t n,
			 char *err, size_t errlen);

/** Close the pool (its waiting commands fail with TW_ERR_DB_UNAVAILABLE). Safe twice. */
void tw_cqrs_close_writers(struct tw_cqrs *q);

/** Bytes of the pool for @p cfg's [db] write_connections. */
size_t tw_cqrs_writers_budget(const struct tw_config *cfg);

/** @return 1 when the write connection is up and migrated, the read one up. */
int tw_cqrs_ready(const struct tw_cqrs *q);

/** One line: state of both connections, statements run, last error. */
void tw_cqrs_status(const struct tw_cqrs *q, char *buf, size_t len);

/** The outcome of the last call on @p op (after a negative return, or in done). */
const struct tw_cqrs_result *tw_cqrs_op_result(const struct tw_cqrs_op *op);

/** Resume a stream paused by a row callback returning TW_CQRS_PAUSE. */
void tw_cqrs_resume(struct tw_cqrs_op *op);

/* ---- validation (also used by the callers to pre-check; no database) ---- */

/** @return 0, or TW_ERR_CQRS_INVALID with the reason in @p msg. */
int tw_cqrs_check_email(const char *email, char *msg, size_t len);
/** Lower-case the domain of a checked @p email in place; the local part stays as given
 *  (RFC 5321: only the receiving host may treat it case-insensitively). Every command
 *  and query compares and stores addresses folded so (tw_cqrs_take_email). */
void tw_cqrs_fold_email(char *email);
/** Checks and upper-cases @p in into @p out (TW_CQRS_TICKER_MAX + 1 bytes). */
int tw_cqrs_check_ticker(const char *in, char *out, char *msg, size_t len);
/** @p v: -1 unset, else finite and > 0. */
int tw_cqrs_check_threshold(const char *field, double v, char *msg, size_t len);
/** Both thresholds, and high > low when both are set. Sets *field on error. */
int tw_cqrs_check_thresholds(double high, double low, const char **field, char *msg, size_t len);
int tw_cqrs_check_request_id(const char *id, char *msg, size_t len);
int tw_cqrs_check_n(long long n, char *msg, size_t len);
/** A quote value: finite, > 0, at most 1e9. */
int tw_cqrs_check_value(double v, char *msg, size_t len);

/* ---- commands (write connection): the user commands, at most once (rpc role) ---- */

/** RegisterUser. high/low: TW_CQRS_UNSET or > 0. done: user = the row; TW_ERR_CQRS_EXISTS. */
int tw_cqrs_register_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, double high, double low,
			  const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg);
/** UpdateTicker. done: user = the row; TW_ERR_CQRS_NOT_FOUND. */
int tw_cqrs_update_ticker(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, const struct tw_cqrs_idem *idem,
			  tw_cqrs_done_fn done, void *arg);
/** UpdateThresholds: sets both (TW_CQRS_UNSET clears one). done: user; TW_ERR_CQRS_NOT_FOUND. */
int tw_cqrs_update_thresholds(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			      double high, double low, const struct tw_cqrs_idem *idem,
			      tw_cqrs_done_fn done, void *arg);
/** DeleteUser (its alert state goes too). done: TW_ERR_CQRS_NOT_FOUND. */
int tw_cqrs_delete_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg);

/**
 * SetTickerVerified (rpc role's ticker check, schema 11): users.ticker_verified of @p email
 * to @p verified (1 true, 0 false, -1 NULL) while its ticker is still @p ticker (as stored).
 * count = rows changed (0: the user or its ticker changed meanwhile). verified.c.
 */
int tw_cqrs_set_ticker_verified(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
				const char *ticker, int verified, tw_cqrs_done_fn done, void *arg);

/** ExpireRequests (rpc role): forget request ids older than @p ttl_ms. count = rows deleted. */
int tw_cqrs_expire_requests(struct tw_cqrs *q, struct tw_cqrs_op *op, int64_t ttl_ms,
			    tw_cqrs_done_fn done, void *arg);

/* ---- commands: the writes of the quote-to-alert pipeline (collector, alert role) ---- */

/**
 * SaveQuote (collector): value finite > 0. count = 1 when the quote is new (or corrects the
 * value held for that ticker and time), 0 when exactly that quote is already stored (a shut
 * market repeats its last quote: no news, no wake-up).
 */
int tw_cqrs_save_quote(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
		       double value, int64_t time_ms, tw_cqrs_done_fn done, void *arg);

/** SaveQuote recording the quote's @p source (1..16 of a-z: "yahoo", "stooq"; schema 9). */
int tw_cqrs_save_quote_from(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
			    double value, int64_t time_ms, const char *source,
			    tw_cqrs_done_fn done, void *arg);

/**
 * AdvanceAlert (alert role): record that each item's user was notified for its
 * ticker, condition and integer part, for @p n users (1..TW_CQRS_PAGE_MAX) in ONE
 * statement. Compare-and-set: a user is advanced only while its state is still the
 * one its (last) item was decided at — the same generation (not deleted and
 * registered again) and the same episode (not re-armed meanwhile by a threshold or
 * ticker change or RearmInsideBand); then its last_* become that item's values and
 * its episode becomes the item's episode + 1, so no later e-mail can carry the id
 * of an earlier one. A user re-armed, deleted or registered again since is left as
 * it is (its re-arm stands; the next pass decides again). The items are validated first
 * (an invalid one fails the call, field and index in the text) and encoded as
 * PostgreSQL array literals into @p buf, which must hold tw_cqrs_advance_size()
 * of every item and stay untouched until done. done: count = users advanced (the
 * others were superseded).
 */
int tw_cqrs_advance_alerts(struct tw_cqrs *q, struct tw_cqrs_op *op,
			   const struct tw_cqrs_advance *items, size_t n, char *buf, size_t buflen,
			   tw_cqrs_done_fn done, void *arg);

/** Bytes @p it takes in the buffer of tw_cqrs_advance_alerts() (escapes included). */
size_t tw_cqrs_advance_size(const struct tw_cqrs_advance *it);

/** Fixed bytes of that buffer, on top of the items' sizes. */
#define TW_CQRS_ADVANCE_FIXED 24
/** Largest tw_cqrs_advance_size() of a valid item. */
#define TW_CQRS_ADVANCE_ITEM_MAX (2 * TW_CQRS_EMAIL_MAX + 3 + 2 * TW_CQRS_TICKER_MAX + 3 + 9 + 3 * 23)

/**
 * Append @p s as one element to the PostgreSQL array literal being built in
 * @p buf (quoted; '"' and '\\' escaped; a comma before all but the first).
 * @p *used is the length so far (the literal starts with its '{'). Pure: no database.
 * @return 0, or TW_ERR_DB_PARAMS when it does not fit (buf unchanged).
 */
int tw_cqrs_array_add(char *buf, size_t len, size_t *used, const char *s);

/**
 * RearmInsideBand (alert role), keyset-paged by e-mail for a pass over any
 * number of users: walks at most @p limit (1..TW_CQRS_PAGE_MAX) users that are
 * not armed, in e-mail order after @p after ("" or NULL: from the start), and
 * re-arms those of them (of @p ticker; NULL: any) whose latest quote is back
 * inside their band: their last_* cleared and episode + 1.
 * done: count = users re-armed, scanned = users walked, last_key = the last of
 * them. Walk on with after = last_key until scanned < limit.
 */
int tw_cqrs_rearm_page(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
		       const char *after, long long limit, tw_cqrs_done_fn done, void *arg);

/* ---- commands: the notifier's ledger of e-mails ---- */

/*
 * The notifier's two-phase record of an e-mail (docs/schema.md, sent_notifications):
 * MarkSending before the end of data leaves, RecordSent after the server's 250,
 * ForgetSending when the server did not take it (so a retry is allowed). An id
 * still 'sending' when IsSent looks (the agent died between end of data and
 * answer) may or may not have reached the server: the notifier sends it again
 * with the same Message-ID, a possible second copy rather than a lost alert.
 */

#define TW_CQRS_OWNER_MAX 64 /* a 'sending' row's owner: the agent instance id */

/**
 * MarkSending: record @p notification_id as 'sending', owned by @p owner (this agent
 * instance) until now + @p lease_ms (committed when done reports 0). An id already
 * 'sent' stays sent; a 'sending' row another owner holds with a lease not yet expired
 * is left to it. done: count = 1 when the row is now ours and 'sending', 0 when it was
 * 'sent' or a live peer holds it (do not send it now: LedgerCheck tells which).
 */
int tw_cqrs_mark_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, const char *owner, int64_t lease_ms, tw_cqrs_done_fn done,
			 void *arg);

/** RecordSent (notifier): upsert to 'sent', sent_at = now(). done: count = 1. */
int tw_cqrs_record_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			const char *email, tw_cqrs_done_fn done, void *arg);

/** ForgetSending: delete the row of @p notification_id if it is 'sending'. count = rows deleted. */
int tw_cqrs_forget_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			   tw_cqrs_done_fn done, void *arg);

/** RecordDeadLetter (notifier): an e-mail given up after @p attempts. count = 1. */
int tw_cqrs_record_dead_letter(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const char *notification_id, const char *email,
			       const char *payload, const char *reason, int attempts,
			       tw_cqrs_done_fn done, void *arg);

/* ---- queries (read connection) ---- */

/** GetUser. done: user; TW_ERR_CQRS_NOT_FOUND. */
int tw_cqrs_get_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		     tw_cqrs_done_fn done, void *arg);

/** GetLastValue of @p ticker, or of the ticker of @p email when ticker is NULL. done: quote. */
int tw_cqrs_last_value(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		       const char *ticker, tw_cqrs_done_fn done, void *arg);

/** GetAverage of the last @p n quotes (1..TW_CQRS_AVG_MAX), by ticker or user. */
int tw_cqrs_average(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		    const char *ticker, long long n, tw_cqrs_done_fn done, void *arg);

/**
 * ListUsers, paged by e-mail: users after @p after ("" or NULL: from the
 * start), at most @p limit (1..TW_CQRS_LIST_MAX), streamed to @p row.
 * done: count = rows streamed.
 */
int tw_cqrs_list_users(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *after,
		       long long limit, tw_cqrs_user_fn row, tw_cqrs_done_fn done, void *arg);

/** DistinctTickers (collector): every ticker some user watches (a users row or an enabled
 * further alert), once, streamed. count = tickers. */
int tw_cqrs_distinct_tickers(struct tw_cqrs *q, struct tw_cqrs_op *op, tw_cqrs_ticker_fn row,
			     tw_cqrs_done_fn done, void *arg);

/**
 * UsersCrossingThresholds (alert), keyset-paged by e-mail: the users whose
 * ticker's latest quote is above high or below low, with their suppression
 * state, of @p ticker (NULL: every ticker), whose e-mail sorts after @p after
 * ("" or NULL: from the start), in e-mail order, at most @p limit
 * (1..TW_CQRS_PAGE_MAX), streamed row by row to @p row.
 * Each page is one short statement: walk the pages, passing the last e-mail
 * seen, until a page has fewer than @p limit rows. done: count = rows streamed.
 */
int tw_cqrs_users_crossing_page(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
				const char *after, long long limit, tw_cqrs_crossing_fn row,
				tw_cqrs_done_fn done, void *arg);

/* What IsSent and LedgerCheck report in count. */
#define TW_CQRS_SENT_NONE 0      /* never recorded: send it */
#define TW_CQRS_SENT_DONE 1      /* 'sent': the server's 250 was recorded */
#define TW_CQRS_SENT_IN_FLIGHT 2 /* 'sending': marked, no answer recorded (a crash): sent again */
#define TW_CQRS_SENT_HELD 3      /* LedgerCheck: 'sending' under a live peer's lease: wait */
#define TW_CQRS_SENT_GONE 4      /* LedgerCheck: not sent, and the recipient no longer has that
				  * alert (deleted, other ticker, threshold cleared): drop it */

/**
 * LedgerCheck (notifier), on the write connection, one statement: the state of
 * @p notification_id and whether @p email still has the alert: @p alert_id 0, a user
 * watching @p ticker with the threshold of @p condition set; >= 1, that row of alerts,
 * of @p email, on @p ticker, enabled (or disabled by its frequency once). done: count = TW_CQRS_SENT_DONE (skip),
 * TW_CQRS_SENT_GONE (skip: no such alert any more), TW_CQRS_SENT_NONE (send),
 * TW_CQRS_SENT_HELD (another owner than @p owner holds a live lease: wait) or
 * TW_CQRS_SENT_IN_FLIGHT (ours, unowned or expired: sent again, same Message-ID).
 */
int tw_cqrs_ledger_check(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, const char *ticker, int condition, int64_t alert_id,
			 const char *owner, tw_cqrs_done_fn done, void *arg);

/**
 * IsSent (notifier): done: count = TW_CQRS_SENT_NONE (send it), TW_CQRS_SENT_DONE
 * (already sent: skip it) or TW_CQRS_SENT_IN_FLIGHT (its end of data may or may
 * not have reached the server: it is sent again, with the same Message-ID).
 */
int tw_cqrs_is_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		    tw_cqrs_done_fn done, void *arg);

/**
 * NotifKey (alert and notifier roles, once at start): the to-notifier signing key of
 * migration 4 (one row of notif_key), read on the write connection.
 * done: sign_key = its 64 hex digits (TW_ERR_CQRS_NOT_FOUND: no row, or not 64 hex digits).
 */
int tw_cqrs_notif_key(struct tw_cqrs *q, struct tw_cqrs_op *op, tw_cqrs_done_fn done, void *arg);

/* What tw_cqrs_prune() deletes from ([db] retain_* keys; docs/schema.md, Retention). */
enum tw_cqrs_prune_table {
	TW_CQRS_PRUNE_SENT = 0,   /* sent_notifications, by sent_at */
	TW_CQRS_PRUNE_DEAD,       /* dead_letters, by created_at */
	TW_CQRS_PRUNE_REQUESTS,   /* rpc_requests, by created_at */
	TW_CQRS_PRUNE_QUOTES,     /* quotes, by at; never a ticker's latest quote */
	TW_CQRS_PRUNE_TABLES
};

/** Largest @p limit of tw_cqrs_prune(). */
#define TW_CQRS_PRUNE_MAX 10000

/**
 * Prune (collector, on a timer): delete at most @p limit (1..TW_CQRS_PRUNE_MAX) rows of
 * @p table older than @p older_than_ms (> 0) in ONE short statement; call again until
 * count < limit. done: count = rows deleted.
 */
int tw_cqrs_prune(struct tw_cqrs *q, struct tw_cqrs_op *op, int table, int64_t older_than_ms,
		  long long limit, tw_cqrs_done_fn done, void *arg);

/** "higher", "lower" or "none". */
const char *tw_cqrs_condition_name(int condition);

/* ---- the notifier's retry schedule and the dead letters (retry.c; docs/notifications.md) ---- */

#define TW_CQRS_RETRY_MSG_MAX 1400   /* a scheduled message, at most (an alert role's fit) */
#define TW_CQRS_RETRY_REASON_MAX 200 /* a stored reason, at most */
#define TW_CQRS_DEAD_REASON_MAX 400  /* a dead letter's reason, at most */

/**
 * @p in as stored in a reason column: printable ASCII only (any other byte, a relay's
 * Latin-1 or a cut UTF-8 sequence included, becomes '?'), cut to @p len - 1 bytes, so the
 * database never refuses it as invalid UTF-8. @return @p buf.
 */
const char *tw_cqrs_text_ascii(const char *in, char *buf, size_t len);
#define TW_CQRS_RETRY_CLAIM_MAX 10   /* rows one claim takes, at most */
#define TW_CQRS_DEAD_LIST_MAX 10     /* DeadLetterList: page size from 1 to this */

/** One scheduled e-mail as claimed (valid during the row call). */
struct tw_cqrs_retry_row {
	const char *notification_id, *email, *message;
	const char *key;   /* the Kafka key it came with, NULL: none */
	const char *reason; /* the last failure */
	int attempts;      /* SMTP attempts so far */
	int64_t first_ms;  /* its first attempt, the database's wall clock (ms since the epoch) */
	int64_t now_ms;    /* the database's now() at the claim */
};

/** One dead letter of DeadLetterList (valid during the row call). */
struct tw_cqrs_dead_row {
	long long id;
	const char *notification_id, *email, *reason;
	int attempts;
	int64_t created_ms;
	int redrivable; /* its whole message is stored: DeadLetterRedrive can send it again */
};

typedef int (*tw_cqrs_retry_fn)(void *arg, const struct tw_cqrs_retry_row *r);
typedef int (*tw_cqrs_dead_fn)(void *arg, const struct tw_cqrs_dead_row *r);

/**
 * Defer (notifier): put a transiently refused e-mail into the schedule: its whole signed
 * @p message (1..TW_CQRS_RETRY_MSG_MAX bytes; @p has_key: it came with a Kafka key, the
 * e-mail), @p attempts so far, due @p delay_ms from now. The same id already scheduled keeps
 * its row. done: count = 1 (scheduled) or 0 (it was already).
 */
int tw_cqrs_retry_defer(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			const char *email, const char *message, int has_key, int attempts,
			int64_t delay_ms, const char *reason, tw_cqrs_done_fn done, void *arg);

/**
 * Claim (notifier): take at most @p limit (1..TW_CQRS_RETRY_CLAIM_MAX) due rows nobody holds
 * (no owner, an expired lease, or an earlier life of this agent: the part of @p owner before
 * its '/'), as @p owner until now + @p lease_ms, streamed to @p row. count = rows claimed.
 */
int tw_cqrs_retry_claim(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *owner,
			int64_t lease_ms, long long limit, tw_cqrs_retry_fn row, tw_cqrs_done_fn done,
			void *arg);

/** Reschedule a claimed row (still @p owner's): attempts, due @p delay_ms from now, released.
 *  count = 1, or 0 when another notifier holds it now. */
int tw_cqrs_retry_reschedule(struct tw_cqrs *q, struct tw_cqrs_op *op,
			     const char *notification_id, const char *owner, int attempts,
			     int64_t delay_ms, const char *reason, tw_cqrs_done_fn done, void *arg);

/** RecordSent of a scheduled e-mail and the end of its schedule, in one statement. */
int tw_cqrs_retry_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		       const char *email, tw_cqrs_done_fn done, void *arg);

/** The end of a claimed row's schedule without a send (sent already, recipient gone). */
int tw_cqrs_retry_drop(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		       const char *owner, tw_cqrs_done_fn done, void *arg);

/** A claimed row given up: moved into dead_letters, its message kept (re-drive). count = 1,
 *  or 0 when it was not @p owner's any more. */
int tw_cqrs_retry_dead(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		       const char *owner, const char *reason, int attempts, tw_cqrs_done_fn done,
		       void *arg);

/** RecordDeadLetter of a valid message, kept whole so it can be re-driven. count = 1. */
int tw_cqrs_dead_message(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, const char *message, int has_key, const char *reason,
			 int attempts, tw_cqrs_done_fn done, void *arg);

/**
 * DeadLetterList (read connection): dead letters with an id above @p after_id (0: from the
 * first), in id order, at most @p limit (1..TW_CQRS_DEAD_LIST_MAX), streamed to @p row.
 * done: count = rows, scanned = the last id streamed.
 */
int tw_cqrs_deadletter_list(struct tw_cqrs *q, struct tw_cqrs_op *op, long long after_id,
			    long long limit, tw_cqrs_dead_fn row, tw_cqrs_done_fn done, void *arg);

/**
 * DeadLetterRedrive, at most once per @p idem request id (as the user commands): dead letter
 * @p dead_id moves back into the retry schedule, due now, with a new first attempt; the
 * notifier then sends it under the ledger's rules (LedgerCheck, signature, the recipient's
 * alert). done: msg = its notification id; TW_ERR_CQRS_NOT_FOUND (no such dead letter),
 * TW_ERR_CQRS_INVALID field "id" (no message stored: not re-drivable); replayed as commands.
 */
int tw_cqrs_deadletter_redrive(struct tw_cqrs *q, struct tw_cqrs_op *op, long long dead_id,
			       const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg);

/* ---- a user's alerts (alerts.c; docs/alerts.md, Alerts as objects) ----
 *
 * Alert 0 is the user's first alert: the users row (ticker, high, low) with its alert_state,
 * changed only by user.update_ticker / user.update_thresholds and gone with user.delete.
 * Alerts 1.. are rows of the alerts table (migration 10). */

#define TW_CQRS_ALERTS_MAX 1000        /* [limits] alerts_per_user at most */
#define TW_CQRS_ALERT_LIST_MAX 20      /* ListAlerts: page size from 1 to this */
#define TW_CQRS_COOLDOWN_MAX 2592000   /* 30 days, seconds */
#define TW_CQRS_REARM_MAX 50.0         /* percent */

enum tw_alert_kind { TW_AK_NONE = 0, TW_AK_ABOVE, TW_AK_BELOW, TW_AK_BAND, TW_AK_CROSS };
enum tw_alert_freq { TW_AF_CHANGE = 1, TW_AF_ONCE, TW_AF_DAILY };

/** One alert as stored (alert 0: the users row, frequency change, no cooldown / expiry). */
struct tw_alert_row {
	long long id;
	char email[TW_CQRS_EMAIL_MAX + 1];
	char ticker[TW_CQRS_TICKER_MAX + 1];
	int kind;          /* TW_AK_*; alert 0 with no threshold set: TW_AK_NONE */
	int has_level;
	double level;      /* above / below / cross: the level; band: the low end */
	double level2;     /* band: the high end (0 otherwise) */
	int frequency;     /* TW_AF_* */
	int64_t cooldown_s;
	double rearm_pct;
	int64_t expires_ms; /* 0: never */
	int enabled;
	char disabled_reason[8]; /* "" (enabled), "once", "expired" or "user" */
	int64_t created_ms, updated_ms;
};

/* Which fields of a struct tw_alert_spec are given (UpdateAlert: the others stay). */
enum {
	TW_AS_TICKER = 1u << 0, TW_AS_KIND = 1u << 1, TW_AS_LEVEL = 1u << 2,
	TW_AS_LEVEL2 = 1u << 3, TW_AS_FREQUENCY = 1u << 4, TW_AS_COOLDOWN = 1u << 5,
	TW_AS_REARM = 1u << 6, TW_AS_EXPIRES = 1u << 7, TW_AS_ENABLED = 1u << 8,
};

/** An alert's fields as a caller gives them (validated by the calls). */
struct tw_alert_spec {
	unsigned set;     /* TW_AS_* */
	const char *ticker;
	int kind;         /* TW_AK_ABOVE.. TW_AK_CROSS */
	double level, level2;
	int frequency;    /* TW_AF_* */
	int64_t cooldown_s;
	double rearm_pct;
	int64_t expires_ms; /* 0: never; else ms since the epoch, in the future */
	int enabled;
};

typedef int (*tw_cqrs_alert_fn)(void *arg, const struct tw_alert_row *a);

/** "above", "below", "band", "cross" ("none" for TW_AK_NONE); TW_AK_* of @p name, or -1. */
const char *tw_cqrs_alert_kind_name(int kind);
int tw_cqrs_alert_kind_of(const char *name);
/** "change", "once", "daily"; TW_AF_* of @p name, or -1. */
const char *tw_cqrs_alert_freq_name(int freq);
int tw_cqrs_alert_freq_of(const char *name);

/**
 * AddAlert, at most once per @p idem request id (required; as the user commands): a new alert
 * of user @p email, refused (TW_ERR_CQRS_INVALID, field "email") when the user has @p limit
 * alerts already, the first one included; the count and the insert run under a lock of the
 * user's row, in the request's transaction, so concurrent adds never exceed it. @p out (the
 * caller's, untouched until done) gets the row. done: TW_ERR_CQRS_NOT_FOUND (no such user).
 */
int tw_cqrs_add_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		      const struct tw_alert_spec *spec, long long limit,
		      const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
		      tw_cqrs_done_fn done, void *arg);

/**
 * UpdateAlert @p id (>= 1) of @p email, at most once: the fields in spec->set change, and the
 * alert is re-armed (its suppression state forgotten, its episode moved on). done: out = the
 * row; TW_ERR_CQRS_NOT_FOUND; TW_ERR_CQRS_INVALID when the result breaks a rule (band levels).
 */
int tw_cqrs_update_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_alert_spec *spec,
			 const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg);

/** RemoveAlert @p id (>= 1) of @p email, at most once. done: out = the row removed;
 *  TW_ERR_CQRS_NOT_FOUND. */
int tw_cqrs_remove_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg);

/**
 * ListAlerts of @p email (read connection): alert 0 (the users row) then its alerts by id,
 * those with an id above @p after_id (-1: from alert 0), at most @p limit
 * (1..TW_CQRS_ALERT_LIST_MAX), streamed to @p row. done: count = rows;
 * TW_ERR_CQRS_NOT_FOUND (no such user, on the first page).
 */
int tw_cqrs_list_alerts(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			long long after_id, long long limit, tw_cqrs_alert_fn row,
			tw_cqrs_done_fn done, void *arg);

/* ---- LedgerCheck of a batch (notifier), one statement ---- */

#define TW_CQRS_LEDGER_BATCH_MAX 10 /* ids in one batched LedgerCheck */
/** Buffer bytes tw_cqrs_ledger_check_batch() needs for a full batch (escapes included). */
#define TW_CQRS_LEDGER_BUF (TW_CQRS_LEDGER_BATCH_MAX * \
			    (2 * (TW_CQRS_NOTIF_ID_MAX + TW_CQRS_EMAIL_MAX + TW_CQRS_TICKER_MAX) + \
			     4 * 3 + 6 + 24) + 5 * 3)

struct tw_cqrs_ledger_item {
	const char *id, *email, *ticker;
	int condition;
	int64_t alert; /* the message's "alert": 0 the users row, >= 1 a row of alerts */
};

/**
 * LedgerCheck of @p n (1..TW_CQRS_LEDGER_BATCH_MAX) ids in ONE statement on the write
 * connection (arrays as parameters, unnest): out[i] gets for items[i] exactly what
 * tw_cqrs_ledger_check() reports in count (TW_CQRS_SENT_*), same rules, same @p owner.
 * Every item is validated as tw_cqrs_ledger_check() validates it; one invalid item fails
 * the call (TW_ERR_CQRS_INVALID, nothing submitted). @p buf (TW_CQRS_LEDGER_BUF bytes)
 * holds the array literals until done. done: count = n; out[] is written only on rc 0.
 */
int tw_cqrs_ledger_check_batch(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const struct tw_cqrs_ledger_item *items, size_t n, const char *owner,
			       int *out, char *buf, size_t buflen, tw_cqrs_done_fn done, void *arg);

/**
 * RecordSent of @p n (1..TW_CQRS_LEDGER_BATCH_MAX) ids (items[].id, items[].email; ticker and
 * condition unused) in ONE statement on the write connection: each row 'sent' exactly as
 * tw_cqrs_record_sent() writes it, all or none (one statement). One invalid item fails the
 * call (nothing submitted). @p buf (TW_CQRS_LEDGER_BUF bytes) holds the arrays until done.
 * done: count = n.
 */
int tw_cqrs_record_sent_batch(struct tw_cqrs *q, struct tw_cqrs_op *op,
			      const struct tw_cqrs_ledger_item *items, size_t n, char *buf,
			      size_t buflen, tw_cqrs_done_fn done, void *arg);

/* ---- a user's e-mails from the ledger (history.c; docs/alerts.md, History) ---- */

#define TW_CQRS_HISTORY_MAX 50         /* ListHistory: page size from 1 to this */
#define TW_CQRS_HISTORY_MSG_MAX 8192   /* a stored message handed over, at most (else NULL) */
#define TW_CQRS_HISTORY_CURSOR_MAX 160 /* "TIME.SOURCE.KEY", at most */

enum tw_history_state { TW_HS_SENT = 1, TW_HS_SENDING, TW_HS_DEFERRED, TW_HS_DEAD,
			TW_HS_EXPIRED };

/** One ledger entry (pointers valid during the callback only). */
struct tw_cqrs_history_row {
	const char *notification_id;
	int state;          /* TW_HS_* */
	int64_t time_ms;    /* sent_at (sent, sending), first_at (deferred), created_at (dead),
			     * expires_at (expired) */
	int attempts;       /* deferred, dead */
	int64_t next_ms;    /* deferred: next_at */
	const char *reason; /* deferred: last_reason, dead: reason (first 200 characters), or NULL */
	const char *message; /* deferred, dead: the signed message as stored, or NULL */
	size_t message_len;
	const char *cursor; /* this row as the "after" of the next page */
	int64_t alert_id;   /* expired: the further alert past its expiry (notification_id "") */
	const char *ticker; /* expired: its ticker */
};

typedef int (*tw_cqrs_history_fn)(void *arg, const struct tw_cqrs_history_row *h);

/** "sent", "sending", "deferred", "dead", "expired" ("" otherwise). */
const char *tw_cqrs_history_state_name(int state);

/**
 * ListHistory of @p email (read connection, read-only): its entries in sent_notifications,
 * notify_retry and dead_letters, newest first, those after the cursor @p after (NULL: from
 * the newest), at most @p limit (1..TW_CQRS_HISTORY_MAX), streamed to @p row. done: count =
 * rows. An address without rows is an empty page (the ledger outlives its users).
 */
int tw_cqrs_list_history(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 const char *after, long long limit, tw_cqrs_history_fn row,
			 tw_cqrs_done_fn done, void *arg);

/* ---- the alert pass over the alerts table (alertpass.c; docs/alerts.md) ---- */

/** One enabled alert of the alerts table with its ticker's latest quote (a pass's page row;
 * pointers valid during the callback only). */
struct tw_alert_pass_row {
	int64_t id;
	const char *email;
	const char *ticker;
	int kind;            /* TW_AK_* */
	double level, level2;
	int frequency;       /* TW_AF_* */
	int64_t cooldown_s;
	double rearm_pct;
	int64_t expires_ms;  /* 0: never */
	int has_last;        /* last_condition and last_int set */
	int last_condition;  /* TW_COND_* */
	int64_t last_int;
	int64_t last_sent_ms; /* the quote time of the last e-mail, 0: none */
	int last_side;       /* -1, 1, 0: not known */
	int64_t episode;
	int shard;
	double value;        /* the ticker's latest quote */
	int64_t quote_ms;    /* its time */
	int64_t now_ms;      /* the database's clock when the page was read (expiry) */
};

/**
 * One page of the enabled alerts whose ticker has a quote, over the shard slots [@p lo,
 * @p hi), walked in (shard, email, id) order from the keyset (@p after_shard, @p after,
 * @p after_id), at most @p limit (1..TW_CQRS_PAGE_MAX) rows, on the write connection (the
 * state the advance compares is read where it is written), streamed to @p row (which may
 * return TW_CQRS_PAUSE). done: count = rows.
 */
int tw_cqrs_alert_pass_page(struct tw_cqrs *q, struct tw_cqrs_op *op, int lo, int hi,
			    int after_shard, const char *after, int64_t after_id, long long limit,
			    tw_cqrs_alert_pass_fn row, tw_cqrs_done_fn done, void *arg);

enum { TW_CQRS_DISABLE_NONE = 0, TW_CQRS_DISABLE_ONCE = 1, TW_CQRS_DISABLE_EXPIRED = 2 };

/** One alert of a batched AdvanceAlertRows: what its evaluation decided. */
struct tw_cqrs_alert_advance {
	int64_t id;
	int64_t episode;    /* the episode the decision was made at (compare-and-set) */
	int sent;           /* 1: its e-mail was acknowledged by the brokers */
	int condition;      /* sent: TW_COND_HIGHER / TW_COND_LOWER */
	int64_t int_part;   /* sent: the integer part e-mailed */
	int64_t sent_ms;    /* sent: the quote time of the e-mail */
	int side;           /* cross: -1 / 1 to store, 0 leave it */
	int rearm;          /* 1: forget last_condition / last_int */
	int disable;        /* TW_CQRS_DISABLE_* */
};

/* Bytes one item of tw_cqrs_alert_advance_rows() takes in the buffer, at most (nine numbers
 * of up to 21 characters and their commas), and the fixed part (nine pairs of braces). */
#define TW_CQRS_ALERT_ADVANCE_ITEM_MAX ((size_t)9 * 22)
#define TW_CQRS_ALERT_ADVANCE_FIXED ((size_t)9 * 3)

/**
 * AdvanceAlertRows: @p n (1..TW_CQRS_PAGE_MAX) alerts' new state in ONE statement on the
 * write connection: an e-mail sent moves the episode on and records condition, integer part
 * and quote time; a re-arm forgets the last e-mail (episode moved on, its time kept for the
 * cooldown and daily rules); a side is stored; once / expired disable the alert. Each row
 * only where its episode is still the one decided at and it is still enabled (an
 * alert.update or remove meanwhile: its new state stands). @p buf (n *
 * TW_CQRS_ALERT_ADVANCE_ITEM_MAX + TW_CQRS_ALERT_ADVANCE_FIXED bytes) holds the arrays until
 * done. done: count = rows changed.
 */
int tw_cqrs_alert_advance_rows(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const struct tw_cqrs_alert_advance *items, size_t n, char *buf,
			       size_t buflen, tw_cqrs_done_fn done, void *arg);

/* ---- RegisterUser with the ticker check's verdict (commands.c; rpc/tickercheck.c) ---- */

/**
 * RegisterUser (as tw_cqrs_register_user) storing @p verified as users.ticker_verified in the
 * same statement as the user's row (1 true, 0 false, -1 NULL: not checked): the check's
 * verdict costs no second round trip. A replayed request id writes nothing.
 */
int tw_cqrs_register_user_verified(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
				   const char *ticker, double high, double low, int verified,
				   const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done,
				   void *arg);

#endif
