/* SPDX-License-Identifier: MIT */
/* retry.c - the notifier's retry schedule (notify_retry, migration 7) and the dead letters' list
 * and re-drive: Defer, Claim (owner + lease, a bounded due page), Reschedule, the ends of a
 * scheduled e-mail (sent, dropped, dead letter), DeadMessage, DeadLetterList and the at-most-once
 * DeadLetterRedrive. Every statement that decides a send is on the write connection; the list is
 * a user-facing query (the read connection). docs/notifications.md states the rules. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs_int.h"

/* Kinds of this file's ops (past cqrs_int.h's, which other files own). */
enum { K_DEFER = 100, K_CLAIM, K_RESCHEDULE, K_RETRY_SENT, K_RETRY_DROP, K_RETRY_DEAD,
       K_DEAD_MESSAGE, K_DEAD_LIST, K_REDRIVE };

static int check_id(struct tw_cqrs_op *op, const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > TW_CQRS_NOTIF_ID_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "notification_id",
				       "notification_id must have 1 to 128 characters");
	return TW_OK;
}

static int check_owner(struct tw_cqrs_op *op, const char *owner)
{
	if (owner == NULL || *owner == '\0' || strlen(owner) > TW_CQRS_OWNER_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "owner",
				       "owner must have 1 to 64 characters");
	return TW_OK;
}

static int check_message(struct tw_cqrs_op *op, const char *message)
{
	size_t n = message ? strlen(message) : 0;

	if (n == 0 || n > TW_CQRS_RETRY_MSG_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "message",
				       "message must have 1 to %d bytes", TW_CQRS_RETRY_MSG_MAX);
	return TW_OK;
}

static int check_email(struct tw_cqrs_op *op, const char *email)
{
	if (email == NULL || *email == '\0' || strlen(email) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email",
				       "email must have 1 to 254 characters");
	return TW_OK;
}

/* The fields a statement of this file takes, validated in one place: the notification id always,
 * and those of V_* in @p which. @return TW_OK, or the op failed with the field's error. */
enum { V_EMAIL = 1, V_OWNER = 2, V_MESSAGE = 4 };

struct fields {
	const char *id, *email, *owner, *message;
};

static int begin_checked(struct tw_cqrs_op *op, struct tw_cqrs *q, int kind, tw_cqrs_done_fn done,
			 void *arg, unsigned which, const struct fields *f)
{
	tw_cqrs_op_begin(op, q, kind, done, arg);
	if (check_id(op, f->id) != TW_OK ||
	    ((which & V_EMAIL) && check_email(op, f->email) != TW_OK) ||
	    ((which & V_OWNER) && check_owner(op, f->owner) != TW_OK) ||
	    ((which & V_MESSAGE) && check_message(op, f->message) != TW_OK))
		return op->rc;
	return TW_OK;
}

/* @p attempts (and @p delay_ms, when @p db is given) checked >= 0 and written as decimal text
 * into @p ab (16 bytes) and @p db (24 bytes). */
static int counts(struct tw_cqrs_op *op, int attempts, int64_t delay_ms, char *ab, char *db)
{
	if (attempts < 0 || (db && delay_ms < 0))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "attempts",
				       db ? "attempts and delay must be >= 0"
					  : "attempts must be >= 0");
	snprintf(ab, 16, "%d", attempts);
	if (db)
		snprintf(db, 24, "%lld", (long long)delay_ms);
	return TW_OK;
}

/* A reason as stored: tw_cqrs_text_ascii() (a relay's reply may hold any bytes; PostgreSQL
 * refuses invalid UTF-8, and a refused write would hold the e-mail forever). */
static const char *reason_of(const char *r, char *buf, size_t len)
{
	return tw_cqrs_text_ascii(r, buf, len);
}

int tw_cqrs_retry_defer(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			const char *email, const char *message, int has_key, int attempts,
			int64_t delay_ms, const char *reason, tw_cqrs_done_fn done, void *arg)
{
	char ab[16], db[24], rb[TW_CQRS_RETRY_REASON_MAX + 1];
	const char *p[6] = {notification_id, email, message, has_key ? "t" : "f", ab, db};
	const char *p7[7];
	const struct fields f = {.id = notification_id, .email = email, .message = message};

	if (begin_checked(op, q, K_DEFER, done, arg, V_EMAIL | V_MESSAGE, &f) != TW_OK ||
	    counts(op, attempts, delay_ms, ab, db) != TW_OK)
		return op->rc;
	memcpy(p7, p, sizeof p);
	p7[6] = reason_of(reason, rb, sizeof rb);
	/* A row already there (the same id deferred before: a second copy on the topic) keeps
	 * its schedule and its first attempt's time: count = 0. */
	return tw_cqrs_submit_write(op,
				    "INSERT INTO notify_retry (notification_id, email, message, msg_key, "
				    "attempts, next_at, last_reason) VALUES ($1, $2, $3, CASE WHEN $4 = 't' "
				    "THEN $2 END, $5::integer, now() + $6::bigint * interval '1 millisecond', "
				    "$7) ON CONFLICT (notification_id) DO NOTHING",
				    7, p7);
}

/* A claimed row into the caller's array (its row function, cast back from op->row). */
static int claim_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW) {
		tw_cqrs_retry_fn fn = (tw_cqrs_retry_fn)(void (*)(void))op->row.user;
		struct tw_cqrs_retry_row r;
		const char *v;

		memset(&r, 0, sizeof r);
		r.notification_id = tw_db_value(res, 0, 0);
		r.email = tw_db_value(res, 0, 1);
		r.message = tw_db_value(res, 0, 2);
		r.key = tw_db_value(res, 0, 3);
		v = tw_db_value(res, 0, 4);
		r.attempts = v ? (int)strtol(v, NULL, 10) : 0;
		v = tw_db_value(res, 0, 5);
		r.first_ms = v ? strtoll(v, NULL, 10) : 0;
		v = tw_db_value(res, 0, 6);
		r.now_ms = v ? strtoll(v, NULL, 10) : 0;
		r.reason = tw_db_value(res, 0, 7);
		if (r.notification_id == NULL || r.email == NULL || r.message == NULL)
			return 0;
		op->count++;
		return fn ? fn(op->arg, &r) : 0;
	}
	if (ev == TW_DB_FAIL)
		tw_cqrs_op_db_fail(op, j);
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_retry_claim(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *owner,
			int64_t lease_ms, long long limit, tw_cqrs_retry_fn row, tw_cqrs_done_fn done,
			void *arg)
{
	char lb[24], nb[24];
	const char *p[3] = {owner, lb, nb};
	int rc;

	tw_cqrs_op_begin(op, q, K_CLAIM, done, arg);
	op->row.user = (tw_cqrs_user_fn)(void (*)(void))row;
	if (check_owner(op, owner) != TW_OK)
		return op->rc;
	if (lease_ms <= 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "lease", "lease must be > 0 ms");
	if (limit < 1 || limit > TW_CQRS_RETRY_CLAIM_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be from 1 to %d", TW_CQRS_RETRY_CLAIM_MAX);
	snprintf(lb, sizeof lb, "%lld", (long long)lease_ms);
	snprintf(nb, sizeof nb, "%lld", limit);
	/* Due rows nobody holds (no owner, its lease over, or an earlier life of this agent):
	 * a short page in next_at order, SKIP LOCKED so two notifiers claiming at once never
	 * take the same row. */
	rc = tw_db_submit(&q->wr, &op->job,
			  "UPDATE notify_retry r SET owner = $1, lease_until = now() + $2::bigint * "
			  "interval '1 millisecond' FROM (SELECT notification_id FROM notify_retry WHERE "
			  "next_at <= now() AND (owner IS NULL OR lease_until IS NULL OR lease_until <= "
			  "now() OR split_part(owner, '/', 1) = split_part($1, '/', 1)) ORDER BY next_at "
			  "LIMIT $3::bigint FOR UPDATE SKIP LOCKED) d WHERE r.notification_id = "
			  "d.notification_id RETURNING r.notification_id, r.email, r.message, r.msg_key, "
			  "r.attempts, (extract(epoch FROM r.first_at) * 1000)::bigint, "
			  "(extract(epoch FROM now()) * 1000)::bigint, r.last_reason",
			  3, p, TW_DB_SINGLE_ROW, claim_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

int tw_cqrs_retry_reschedule(struct tw_cqrs *q, struct tw_cqrs_op *op,
			     const char *notification_id, const char *owner, int attempts,
			     int64_t delay_ms, const char *reason, tw_cqrs_done_fn done, void *arg)
{
	char ab[16], db[24], rb[TW_CQRS_RETRY_REASON_MAX + 1];
	const char *p[5] = {notification_id, owner, ab, db, NULL};
	const struct fields f = {.id = notification_id, .owner = owner};

	if (begin_checked(op, q, K_RESCHEDULE, done, arg, V_OWNER, &f) != TW_OK ||
	    counts(op, attempts, delay_ms, ab, db) != TW_OK)
		return op->rc;
	p[4] = reason_of(reason, rb, sizeof rb);
	/* Only while ours: a row whose lease ran out and another notifier took is its now. */
	return tw_cqrs_submit_write(op,
				    "UPDATE notify_retry SET attempts = $3::integer, next_at = now() + "
				    "$4::bigint * interval '1 millisecond', last_reason = $5, owner = NULL, "
				    "lease_until = NULL WHERE notification_id = $1 AND owner = $2",
				    5, p);
}

int tw_cqrs_retry_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		       const char *email, tw_cqrs_done_fn done, void *arg)
{
	const char *p[2] = {notification_id, email};
	const struct fields f = {.id = notification_id, .email = email};

	if (begin_checked(op, q, K_RETRY_SENT, done, arg, V_EMAIL, &f) != TW_OK)
		return op->rc;
	/* RecordSent and the end of its schedule, in one statement. */
	return tw_cqrs_submit_write(op,
				    "WITH d AS (DELETE FROM notify_retry WHERE notification_id = $1) "
				    "INSERT INTO sent_notifications (notification_id, email, state) "
				    "VALUES ($1, $2, 'sent') ON CONFLICT (notification_id) DO UPDATE SET "
				    "state = 'sent', email = EXCLUDED.email, sent_at = now()",
				    2, p);
}

int tw_cqrs_retry_drop(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		       const char *owner, tw_cqrs_done_fn done, void *arg)
{
	const char *p[2] = {notification_id, owner};
	const struct fields f = {.id = notification_id, .owner = owner};

	if (begin_checked(op, q, K_RETRY_DROP, done, arg, V_OWNER, &f) != TW_OK)
		return op->rc;
	return tw_cqrs_submit_write(op,
				    "DELETE FROM notify_retry WHERE notification_id = $1 AND owner = $2",
				    2, p);
}

int tw_cqrs_retry_dead(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		       const char *owner, const char *reason, int attempts, tw_cqrs_done_fn done,
		       void *arg)
{
	char ab[16], rb[TW_CQRS_RETRY_REASON_MAX + 1];
	const char *p[4] = {notification_id, owner, NULL, ab};
	const struct fields f = {.id = notification_id, .owner = owner};

	if (begin_checked(op, q, K_RETRY_DEAD, done, arg, V_OWNER, &f) != TW_OK ||
	    counts(op, attempts, 0, ab, NULL) != TW_OK)
		return op->rc;
	p[2] = reason_of(reason, rb, sizeof rb);
	/* The row moves, message and first attempt included (so it can be re-driven). */
	return tw_cqrs_submit_write(op,
				    "WITH d AS (DELETE FROM notify_retry WHERE notification_id = $1 AND "
				    "owner = $2 RETURNING notification_id, email, message, msg_key, "
				    "first_at) INSERT INTO dead_letters (notification_id, email, payload, "
				    "reason, attempts, message, msg_key, first_at) SELECT notification_id, "
				    "email, left(message, 1000), $3, $4::integer, message, msg_key, first_at "
				    "FROM d",
				    4, p);
}

int tw_cqrs_dead_message(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, const char *message, int has_key, const char *reason,
			 int attempts, tw_cqrs_done_fn done, void *arg)
{
	char ab[16], rb[TW_CQRS_RETRY_REASON_MAX + 1];
	const char *p[6] = {notification_id, email, message, has_key ? "t" : "f", NULL, ab};
	const struct fields f = {.id = notification_id, .email = email, .message = message};

	if (begin_checked(op, q, K_DEAD_MESSAGE, done, arg, V_EMAIL | V_MESSAGE, &f) != TW_OK ||
	    counts(op, attempts, 0, ab, NULL) != TW_OK)
		return op->rc;
	p[4] = reason_of(reason, rb, sizeof rb);
	return tw_cqrs_submit_write(op,
				    "INSERT INTO dead_letters (notification_id, email, payload, reason, "
				    "attempts, message, msg_key, first_at) VALUES ($1, $2, left($3, 1000), "
				    "$5, $6::integer, $3, CASE WHEN $4 = 't' THEN $2 END, now())",
				    6, p);
}

/* ---- the dead letters: list and re-drive ---- */

static int list_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW) {
		tw_cqrs_dead_fn fn = (tw_cqrs_dead_fn)(void (*)(void))op->row.user;
		struct tw_cqrs_dead_row r;
		const char *v;

		memset(&r, 0, sizeof r);
		v = tw_db_value(res, 0, 0);
		r.id = v ? strtoll(v, NULL, 10) : 0;
		r.notification_id = tw_db_value(res, 0, 1);
		r.email = tw_db_value(res, 0, 2);
		r.reason = tw_db_value(res, 0, 3);
		v = tw_db_value(res, 0, 4);
		r.attempts = v ? (int)strtol(v, NULL, 10) : 0;
		v = tw_db_value(res, 0, 5);
		r.created_ms = v ? strtoll(v, NULL, 10) : 0;
		v = tw_db_value(res, 0, 6);
		r.redrivable = v && strcmp(v, "t") == 0;
		op->count++;
		op->scanned = r.id;
		return fn ? fn(op->arg, &r) : 0;
	}
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		if (j->rc == TW_ERR_ARG)
			tw_cqrs_op_fail(op, TW_ERR_ARG, NULL, "the rest of the rows were dropped");
	}
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_deadletter_list(struct tw_cqrs *q, struct tw_cqrs_op *op, long long after_id,
			    long long limit, tw_cqrs_dead_fn row, tw_cqrs_done_fn done, void *arg)
{
	char ab[24], lb[24];
	const char *p[2] = {ab, lb};
	struct tw_db *db;
	int rc;

	tw_cqrs_op_begin(op, q, K_DEAD_LIST, done, arg);
	op->row.user = (tw_cqrs_user_fn)(void (*)(void))row;
	if (limit < 1 || limit > TW_CQRS_DEAD_LIST_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be a whole number from 1 to %d",
				       TW_CQRS_DEAD_LIST_MAX);
	if (after_id < 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after",
				       "after must be a dead letter id (a whole number >= 0)");
	db = tw_cqrs_reader(op);
	if (db == NULL)
		return op->rc;
	snprintf(ab, sizeof ab, "%lld", after_id);
	snprintf(lb, sizeof lb, "%lld", limit);
	rc = tw_db_submit(db, &op->job,
			  "SELECT id, notification_id, email, left(reason, 200), attempts, "
			  "(extract(epoch FROM created_at) * 1000)::bigint, message IS NOT NULL FROM "
			  "dead_letters WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint",
			  2, p, TW_DB_SINGLE_ROW, list_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

/* The at-most-once re-drive, as the user commands (commands.c) do it: BEGIN, claim the request
 * id, move the dead letter into the schedule, store the outcome, COMMIT; a repeat of the id gets
 * the stored outcome back. */
enum { R_BEGIN = 1, R_CLAIM, R_MOVE, R_STORE, R_LOOKUP, R_COMMIT };

static const char sql_claim[] =
	"INSERT INTO rpc_requests (request_id, method, params_hash) VALUES ($1, $2, $3) "
	"ON CONFLICT (request_id) DO UPDATE SET method = EXCLUDED.method, "
	"params_hash = EXCLUDED.params_hash, response = NULL, created_at = now() "
	"WHERE rpc_requests.created_at < now() - $4::bigint * interval '1 millisecond' "
	"RETURNING 1";
/* Moved: its full message back into the schedule, due now, a new first attempt (the whole
 * max_retry_age again). A dead letter without a message (malformed, or recorded before
 * migration 7) stays; the second column tells it from no such id. */
static const char sql_move[] =
	"WITH d AS (DELETE FROM dead_letters WHERE id = $1::bigint AND message IS NOT NULL "
	"RETURNING notification_id, email, message, msg_key, reason), i AS (INSERT INTO "
	"notify_retry (notification_id, email, message, msg_key, attempts, first_at, next_at, "
	"last_reason) SELECT notification_id, email, message, msg_key, 0, now(), now(), "
	"'re-driven dead letter: ' || left(reason, 160) FROM d ON CONFLICT (notification_id) DO "
	"UPDATE SET attempts = 0, first_at = now(), next_at = now(), owner = NULL, lease_until = "
	"NULL RETURNING 1) SELECT (SELECT notification_id FROM d), EXISTS (SELECT 1 FROM "
	"dead_letters WHERE id = $1::bigint), (SELECT count(*) FROM i)";
static const char sql_store[] =
	"UPDATE rpc_requests SET response = json_build_object('v', 1, 'rc', $2::integer, "
	"'field', $3::text, 'msg', $4::text, 'user', NULL)::text WHERE request_id = $1";
static const char sql_lookup[] =
	"SELECT method, params_hash, o->>'rc', o->>'field', o->>'msg' FROM (SELECT method, "
	"params_hash, CASE WHEN left(response, 1) = '{' THEN CASE WHEN response::json->>'v' = '1' "
	"THEN response::json END END AS o FROM rpc_requests WHERE request_id = $1) r";

static void moved(struct tw_cqrs_op *op, const struct pg_result *res)
{
	const char *nid = tw_db_value(res, 0, 0), *existed = tw_db_value(res, 0, 1);

	if (nid != NULL) {
		op->rc = TW_OK;
		op->field = NULL;
		op->count = 1;
		snprintf(op->msg, sizeof op->msg, "%s", nid); /* the result: its notification id */
	} else if (existed && strcmp(existed, "t") == 0) {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "id",
				"dead letter %s has no message to send again (malformed, or recorded "
				"before the retry schedule)", op->last_key);
	} else {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "id", "no dead letter %s", op->last_key);
	}
}

static void replay(struct tw_cqrs_op *op, const struct pg_result *res)
{
	const char *m = tw_db_value(res, 0, 0), *h = tw_db_value(res, 0, 1);
	const char *rc = tw_db_value(res, 0, 2), *field = tw_db_value(res, 0, 3);
	const char *msg = tw_db_value(res, 0, 4);

	if (m == NULL || h == NULL || strcmp(m, op->method) != 0 || strcmp(h, op->hash) != 0) {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_REUSED, "request_id",
				"request_id %s was already used for %s with other params: "
				"choose a new request_id", op->reqid, m ? m : "another call");
		return;
	}
	if (rc == NULL) {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_REUSED, "request_id",
				"request_id %s has no stored response", op->reqid);
		return;
	}
	op->rc = (int)strtol(rc, NULL, 10);
	op->count = op->rc == TW_OK;
	op->field = NULL;
	if (field && strlen(field) < sizeof op->field_text) {
		memcpy(op->field_text, field, strlen(field) + 1);
		op->field = op->field_text;
	}
	snprintf(op->msg, sizeof op->msg, "%s", msg ? msg : "");
	op->replayed = 1;
}

static int redrive_next(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	char ttl[24], rcb[16];
	const char *p[4];

	switch (op->step) {
	case R_BEGIN:
		snprintf(ttl, sizeof ttl, "%lld", (long long)op->idem.ttl_ms);
		p[0] = op->reqid;
		p[1] = op->method;
		p[2] = op->hash;
		p[3] = ttl;
		op->step = R_CLAIM;
		return tw_db_then(j, sql_claim, 4, p, 0);
	case R_CLAIM:
		if (tw_db_rows(res) != 1) { /* taken, and not expired: the stored outcome */
			p[0] = op->reqid;
			op->step = R_LOOKUP;
			return tw_db_then(j, sql_lookup, 1, p, 0);
		}
		p[0] = op->last_key;
		op->step = R_MOVE;
		return tw_db_then(j, sql_move, 1, p, 0);
	case R_MOVE:
		moved(op, res);
		snprintf(rcb, sizeof rcb, "%d", op->rc);
		p[0] = op->reqid;
		p[1] = rcb;
		p[2] = op->field;
		p[3] = op->msg;
		op->step = R_STORE;
		return tw_db_then(j, sql_store, 4, p, 0);
	case R_LOOKUP:
		replay(op, res);
		op->step = R_COMMIT;
		return tw_db_then(j, "COMMIT", 0, NULL, 0);
	case R_STORE:
		op->step = R_COMMIT;
		return tw_db_then(j, "COMMIT", 0, NULL, 0);
	default:
		tw_cqrs_op_finish(op);
		return TW_OK;
	}
}

static int redrive_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		op->replayed = 0;
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (redrive_next(j, op, res) != TW_OK) {
		op->replayed = 0;
		tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL, "database unavailable: %.200s",
				j->err);
		tw_cqrs_op_finish(op);
	}
	return 0;
}

int tw_cqrs_deadletter_redrive(struct tw_cqrs *q, struct tw_cqrs_op *op, long long dead_id,
			       const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	char why[TW_CQRS_MSG_MAX], canon[64];
	uint64_t h = 1469598103934665603ULL;
	int n, rc;

	tw_cqrs_op_begin(op, q, K_REDRIVE, done, arg);
	if (dead_id < 1)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "id",
				       "id must be a dead letter id (a whole number >= 1)");
	if (idem == NULL || idem->request_id == NULL)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "request_id",
				       "request_id is missing: a re-drive runs at most once per id");
	if (tw_cqrs_check_request_id(idem->request_id, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "request_id", "request_id %s", why);
	op->idem = *idem;
	snprintf(op->reqid, sizeof op->reqid, "%s", idem->request_id);
	snprintf(op->method, sizeof op->method, "%s", idem->method ? idem->method : "");
	op->idem.request_id = op->reqid;
	op->idem.method = op->method;
	snprintf(op->last_key, sizeof op->last_key, "%lld", dead_id);
	/* FNV-1a 64 of the canonical params, as the user commands hash theirs */
	n = snprintf(canon, sizeof canon, "redrive|%lld", dead_id);
	for (int i = 0; i < n && i < (int)sizeof canon; i++) {
		h ^= (unsigned char)canon[i];
		h *= 1099511628211ULL;
	}
	snprintf(op->hash, sizeof op->hash, "%016" PRIx64, h);
	op->step = R_BEGIN;
	rc = tw_db_submit(&q->wr, &op->job, "BEGIN", 0, NULL, 0, redrive_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}
