/* SPDX-License-Identifier: MIT */
/* commands.c - the user commands (rpc role): validated, at most once per request id; id expiry. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs_int.h"

/* The at-most-once transaction: BEGIN, claim the id, run the command, store the outcome,
 * COMMIT; or, when the id is known: BEGIN, claim (no row), look the outcome up, COMMIT.
 * A register goes first as ONE statement (S_FAST, one round trip) and falls back to that
 * transaction only when a repeat of its id raced it on another connection. */
enum { S_CMD = 1, S_BEGIN, S_CLAIM, S_STORE, S_LOOKUP, S_COMMIT, S_FAST };

static const char sql_claim[] =
	"INSERT INTO rpc_requests (request_id, method, params_hash) VALUES ($1, $2, $3) "
	"ON CONFLICT (request_id) DO UPDATE SET method = EXCLUDED.method, "
	"params_hash = EXCLUDED.params_hash, response = NULL, created_at = now() "
	"WHERE rpc_requests.created_at < now() - $4::bigint * interval '1 millisecond' "
	"RETURNING 1";
/* The outcome is stored as data, not as an answer: PostgreSQL builds the JSON from the
 * parameters ({"v":1, rc, field, msg, user row or null}) and takes it apart again on a
 * repeat, so the caller renders its answer from the same values both times. */
static const char sql_store[] =
	"UPDATE rpc_requests SET response = json_build_object('v', 1, 'rc', $2::integer, "
	"'field', $3::text, 'msg', $4::text, 'user', CASE WHEN $5::text IS NULL THEN NULL ELSE "
	"json_build_object('email', $5::text, 'ticker', $6::text, 'high', $7::float8, "
	"'low', $8::float8, 'created_ms', $9::bigint, 'updated_ms', $10::bigint) END)::text "
	"WHERE request_id = $1";
/* Columns: the user (TW_CQRS_USER_COLS' order), method, params_hash, a response stored by a
 * build before the outcome format (the text it rendered then, NULL otherwise), rc, field, msg.
 * The nested CASEs only read as JSON what is JSON with "v": 1 (CASE keeps its order). */
static const char sql_lookup[] =
	"SELECT o->'user'->>'email', o->'user'->>'ticker', o->'user'->>'high', "
	"o->'user'->>'low', o->'user'->>'created_ms', o->'user'->>'updated_ms', method, "
	"params_hash, CASE WHEN o IS NULL THEN response END, o->>'rc', o->>'field', o->>'msg' "
	"FROM (SELECT method, params_hash, response, CASE WHEN left(response, 1) = '{' THEN "
	"CASE WHEN response::json->>'v' = '1' THEN response::json END END AS o "
	"FROM rpc_requests WHERE request_id = $1) r";
enum { L_METHOD = 6, L_HASH, L_LEGACY, L_RC, L_FIELD, L_MSG };

/*
 * RegisterUser at most once in one statement (its own transaction): the outcome stored with
 * a live id ("prev") is looked up, else the user is inserted (with the ticker check's verdict,
 * users.ticker_verified, in the same row), the outcome built as the same JSON sql_store
 * writes and the id claimed with it; the columns are sql_lookup's, plus whether the outcome is
 * new. A new outcome is answered from its values as inserted (no JSON parsed back: that was
 * most of the statement's cost); only a stored one is taken apart. Data-modifying CTEs all
 * run on one snapshot, so a repeat of the id committed by another connection after that
 * snapshot is not in prev: the claim then waits for it and finds it taken (no row), and the
 * guard divides by zero (SQLSTATE 22012) so the whole statement, the user's row with it, rolls
 * back; the op then runs the transaction above, which sees the other's outcome and replays
 * it. Params: $1 id, $2 method, $3 params hash, $4 ttl ms, $5 email, $6 ticker, $7 high,
 * $8 low, $9 the rc and $10 the message of "already registered", $11 ticker_verified (NULL:
 * not checked).
 */
static const char sql_register_once[] =
	"WITH prev AS (SELECT method, params_hash, response FROM rpc_requests "
	"WHERE request_id = $1 AND created_at >= now() - $4::bigint * interval '1 millisecond'), "
	"ins AS (INSERT INTO users (email, ticker, high, low, ticker_verified) "
	"SELECT $5, $6, $7::float8, $8::float8, $11::boolean "
	"WHERE NOT EXISTS (SELECT 1 FROM prev) ON CONFLICT (email) DO NOTHING "
	"RETURNING email, ticker, high, low, "
	"(extract(epoch FROM created_at) * 1000)::bigint AS created_ms, "
	"(extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms), "
	"outcome AS (SELECT i.*, CASE WHEN i.email IS NULL THEN $9::integer ELSE 0 END AS rc, "
	"CASE WHEN i.email IS NULL THEN 'email' END AS field, "
	"CASE WHEN i.email IS NULL THEN $10::text ELSE '' END AS msg "
	"FROM (SELECT 1) one LEFT JOIN ins i ON true WHERE NOT EXISTS (SELECT 1 FROM prev)), "
	"claim AS (INSERT INTO rpc_requests AS r (request_id, method, params_hash, response) "
	"SELECT $1, $2, $3, json_build_object('v', 1, 'rc', rc, 'field', field, 'msg', msg, "
	"'user', CASE WHEN email IS NULL THEN NULL ELSE json_build_object('email', email, "
	"'ticker', ticker, 'high', high, 'low', low, 'created_ms', created_ms, "
	"'updated_ms', updated_ms) END)::text FROM outcome "
	"ON CONFLICT (request_id) DO UPDATE SET "
	"method = EXCLUDED.method, params_hash = EXCLUDED.params_hash, "
	"response = EXCLUDED.response, created_at = now() "
	"WHERE r.created_at < now() - $4::bigint * interval '1 millisecond' RETURNING 1), "
	"guard AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM outcome) "
	"THEN 1 / (SELECT count(*)::integer FROM claim) ELSE 1 END AS ok) "
	"SELECT email, ticker, high::text, low::text, created_ms::text, updated_ms::text, "
	"$2::text, $3::text, NULL::text, rc::text, field, msg, 1 FROM outcome, guard "
	"WHERE guard.ok = 1 UNION ALL "
	"SELECT o->'user'->>'email', o->'user'->>'ticker', o->'user'->>'high', "
	"o->'user'->>'low', o->'user'->>'created_ms', o->'user'->>'updated_ms', method, "
	"params_hash, CASE WHEN o IS NULL THEN response END, o->>'rc', o->>'field', o->>'msg', 0 "
	"FROM (SELECT method, params_hash, response, CASE WHEN left(response, 1) = '{' "
	"THEN CASE WHEN response::json->>'v' = '1' THEN response::json END END AS o FROM prev) r";
enum { L_FRESH = L_MSG + 1 };
#define SQLSTATE_RACED "22012" /* the guard of sql_register_once: division by zero */

/* $5: users.ticker_verified, the ticker check's verdict (NULL: not checked). */
static const char sql_register[] =
	"INSERT INTO users (email, ticker, high, low, ticker_verified) "
	"VALUES ($1, $2, $3, $4, $5::boolean) "
	"ON CONFLICT (email) DO NOTHING RETURNING " TW_CQRS_USER_COLS;
/* Changing a user's ticker or thresholds re-arms the user: the last e-mailed state is
 * forgotten and the episode moves on, in the same statement (one transaction). A user never
 * e-mailed yet gets its row at episode 1, so an AdvanceAlert decided before the change (at
 * episode 0) finds the episode moved and leaves the re-arm standing (its compare-and-set). */
#define REARM_USER                                                                             \
	"rearm AS (INSERT INTO alert_state AS s (email, episode) SELECT email, 1 FROM users "   \
	"WHERE email = $1 ON CONFLICT (email) DO UPDATE SET last_ticker = NULL, "              \
	"last_condition = NULL, last_int = NULL, episode = s.episode + 1, updated_at = now()) "
static const char sql_ticker[] = "WITH " REARM_USER ", u AS (UPDATE users SET ticker = $2, "
				 "updated_at = now() WHERE email = $1 RETURNING *) "
				 "SELECT " TW_CQRS_USER_COLS " FROM u";
static const char sql_thresholds[] = "WITH " REARM_USER ", u AS (UPDATE users SET high = $2, "
				     "low = $3, updated_at = now() WHERE email = $1 RETURNING *) "
				     "SELECT " TW_CQRS_USER_COLS " FROM u";
static const char sql_delete[] = "DELETE FROM users WHERE email = $1 RETURNING " TW_CQRS_USER_COLS;

/* FNV-1a 64 over the canonical form of the validated params: key order and spacing of the
 * client's JSON do not matter, a different value does. */
static void params_hash(struct tw_cqrs_op *op)
{
	char canon[TW_CQRS_EMAIL_MAX + 128];
	uint64_t h = 1469598103934665603ULL;
	int n;

	switch (op->kind) {
	case TW_CQRS_K_REGISTER:
		n = snprintf(canon, sizeof canon, "%s|%s|%.17g|%.17g", op->user.email,
			     op->user.ticker, op->user.high, op->user.low);
		break;
	case TW_CQRS_K_TICKER:
		n = snprintf(canon, sizeof canon, "%s|%s", op->user.email, op->user.ticker);
		break;
	case TW_CQRS_K_THRESHOLDS:
		n = snprintf(canon, sizeof canon, "%s|%.17g|%.17g", op->user.email, op->user.high,
			     op->user.low);
		break;
	default:
		n = snprintf(canon, sizeof canon, "%s", op->user.email);
		break;
	}
	for (int i = 0; i < n && i < (int)sizeof canon; i++) {
		h ^= (unsigned char)canon[i];
		h *= 1099511628211ULL;
	}
	snprintf(op->hash, sizeof op->hash, "%016" PRIx64, h);
}

/* The ticker check's verdict as the users.ticker_verified parameter (NULL: not checked). */
static const char *verified_param(const struct tw_cqrs_op *op)
{
	return op->verified < 0 ? NULL : op->verified ? "true" : "false";
}

/* The command's own statement and parameters, from the validated input kept in op->user.
 * @p hb and @p lb (32 bytes each) hold the formatted thresholds. @return the SQL. */
static const char *cmd_sql(struct tw_cqrs_op *op, const char **p, int *n, char *hb, char *lb)
{
	p[0] = op->user.email;
	switch (op->kind) {
	case TW_CQRS_K_REGISTER:
		p[1] = op->user.ticker;
		p[2] = tw_cqrs_num(hb, 32, op->user.high);
		p[3] = tw_cqrs_num(lb, 32, op->user.low);
		p[4] = verified_param(op);
		*n = 5;
		return sql_register;
	case TW_CQRS_K_TICKER:
		p[1] = op->user.ticker;
		*n = 2;
		return sql_ticker;
	case TW_CQRS_K_THRESHOLDS:
		p[1] = tw_cqrs_num(hb, 32, op->user.high);
		p[2] = tw_cqrs_num(lb, 32, op->user.low);
		*n = 3;
		return sql_thresholds;
	default:
		*n = 1;
		return sql_delete;
	}
}

/* The outcome of the command statement: the row, or not found / already exists. */
static void cmd_outcome(struct tw_cqrs_op *op, const struct pg_result *res)
{
	char email[TW_CQRS_EMAIL_MAX + 1];

	memcpy(email, op->user.email, sizeof email);
	if (tw_db_rows(res) == 1) {
		tw_cqrs_parse_user(res, 0, &op->user);
		op->count = 1;
		op->rc = 0;
		op->msg[0] = '\0';
		return;
	}
	memset(&op->user, 0, sizeof op->user);
	if (op->kind == TW_CQRS_K_REGISTER)
		tw_cqrs_op_fail(op, TW_ERR_CQRS_EXISTS, "email", "%s is already registered", email);
	else
		tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "email", "no user with e-mail %s",
				email);
}

/* Store the outcome just made with the claimed id (then S_STORE). @return tw_db_then's. */
static int store_outcome(struct tw_db_job *j, struct tw_cqrs_op *op)
{
	char rc[16], hb[32], lb[32], cb[24], ub[24];
	const struct tw_user *u = &op->user;
	int has = u->email[0] != '\0';
	const char *p[10] = {op->reqid, rc, op->field, op->msg};

	snprintf(rc, sizeof rc, "%d", op->rc);
	if (has) {
		snprintf(cb, sizeof cb, "%lld", (long long)u->created_ms);
		snprintf(ub, sizeof ub, "%lld", (long long)u->updated_ms);
		p[4] = u->email;
		p[5] = u->ticker;
		p[6] = u->has_high ? tw_cqrs_num(hb, sizeof hb, u->high) : NULL;
		p[7] = u->has_low ? tw_cqrs_num(lb, sizeof lb, u->low) : NULL;
		p[8] = cb;
		p[9] = ub;
	}
	op->step = S_STORE;
	return tw_db_then(j, sql_store, 10, p, 0);
}

/* The id was taken (S_LOOKUP): the same call again gets the outcome stored with it. */
static void replay(struct tw_cqrs_op *op, const struct pg_result *res)
{
	const char *m = tw_db_value(res, 0, L_METHOD), *h = tw_db_value(res, 0, L_HASH);
	const char *legacy = tw_db_value(res, 0, L_LEGACY), *rc = tw_db_value(res, 0, L_RC);
	const char *field = tw_db_value(res, 0, L_FIELD), *msg = tw_db_value(res, 0, L_MSG);

	memset(&op->user, 0, sizeof op->user);
	if (m == NULL || h == NULL || strcmp(m, op->method) != 0 || strcmp(h, op->hash) != 0) {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_REUSED, "request_id",
				"request_id %s was already used for %s with other params: "
				"choose a new request_id",
				op->reqid, m ? m : "another call");
	} else if (legacy) {
		snprintf(op->legacy, sizeof op->legacy, "%s", legacy);
		op->replayed = 1;
	} else if (rc == NULL) {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_REUSED, "request_id",
				"request_id %s has no stored response", op->reqid);
	} else {
		tw_cqrs_parse_user(res, 0, &op->user);
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
}

static void fail_all_rows(struct tw_cqrs_op *op);

/*
 * One handler per state of the transaction, as its statement's result comes in: each sends
 * the next statement (@return tw_db_then's: 0, or an error that fails the op) or finishes
 * the op (@return 0; the op is the caller's again).
 *
 *   BEGIN --> CLAIM --claimed--> CMD --> STORE --> COMMIT --> done
 *                  \--taken----> LOOKUP ----------/
 *   (no request id: CMD alone, then done)
 */
static int on_begun(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	char ttl[24];
	const char *p[4] = {op->reqid, op->method, op->hash, ttl};

	(void)res;
	snprintf(ttl, sizeof ttl, "%lld", (long long)op->idem.ttl_ms);
	op->step = S_CLAIM;
	return tw_db_then(j, sql_claim, 4, p, 0);
}

static int on_claimed(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	char hb[32], lb[32];
	const char *p[5];
	int n;
	const char *sql;

	if (tw_db_rows(res) != 1) { /* taken, and not expired */
		p[0] = op->reqid;
		op->step = S_LOOKUP;
		return tw_db_then(j, sql_lookup, 1, p, 0);
	}
	sql = cmd_sql(op, p, &n, hb, lb);
	op->step = S_CMD;
	return tw_db_then(j, sql, n, p, 0);
}

static int on_command(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	cmd_outcome(op, res);
	if (op->idem.request_id == NULL) {
		tw_cqrs_op_finish(op);
		return TW_OK;
	}
	return store_outcome(j, op);
}

static int on_stored(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	(void)res;
	op->step = S_COMMIT;
	return tw_db_then(j, "COMMIT", 0, NULL, 0);
}

static int on_looked_up(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	replay(op, res);
	op->step = S_COMMIT;
	return tw_db_then(j, "COMMIT", 0, NULL, 0);
}

static int on_committed(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	(void)j;
	(void)res;
	tw_cqrs_op_finish(op);
	return TW_OK;
}

/* The one-statement register answered: its new outcome, or the one stored with the id. */
static int on_fast(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	const char *fresh = tw_db_value(res, 0, L_FRESH);

	(void)j;
	if (tw_db_rows(res) != 1) { /* cannot happen: the guard or a row */
		fail_all_rows(op);
		tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL,
				"database unavailable: the register returned %d rows", tw_db_rows(res));
	} else {
		replay(op, res);
		if (fresh && strcmp(fresh, "1") == 0 && !op->legacy[0])
			op->replayed = 0;
	}
	tw_cqrs_op_finish(op);
	return TW_OK;
}

static int (*const on_step[])(struct tw_db_job *, struct tw_cqrs_op *, const struct pg_result *) = {
	[S_CMD] = on_command,    [S_BEGIN] = on_begun,      [S_CLAIM] = on_claimed,
	[S_STORE] = on_stored,   [S_LOOKUP] = on_looked_up, [S_COMMIT] = on_committed,
	[S_FAST] = on_fast,
};

/* A failed transaction reports no row and no replay: only why it failed. */
static void fail_all_rows(struct tw_cqrs_op *op)
{
	memset(&op->user, 0, sizeof op->user);
	op->legacy[0] = '\0';
	op->replayed = 0;
}

static int begin_txn(struct tw_cqrs_op *op);

static int user_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		if (op->step == S_FAST && strcmp(j->sqlstate, SQLSTATE_RACED) == 0) {
			/* a repeat of the id raced this one: the transaction path replays it */
			if (begin_txn(op) == TW_OK)
				return 0;
		}
		fail_all_rows(op);
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (op->step < S_CMD || op->step > S_FAST)
		op->step = S_COMMIT; /* cannot happen: end the op rather than jump nowhere */
	if (on_step[op->step](j, op, res) != TW_OK) {
		fail_all_rows(op);
		tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL, "database unavailable: %.200s",
				j->err);
		tw_cqrs_op_finish(op);
	}
	return 0;
}

/* Start the at-most-once transaction (S_BEGIN) on a write connection. @return tw_db_submit's. */
static int begin_txn(struct tw_cqrs_op *op)
{
	op->step = S_BEGIN;
	return tw_db_submit(tw_cqrs_writer(op->q), &op->job, "BEGIN", 0, NULL, 0, user_step, op);
}

/* Send the one-statement register (S_FAST). @return tw_db_submit's. */
static int register_once(struct tw_cqrs_op *op)
{
	char ttl[24], hb[32], lb[32], rc[16], msg[TW_CQRS_EMAIL_MAX + 32];
	const char *p[11] = {op->reqid, op->method, op->hash, ttl, op->user.email, op->user.ticker,
			     tw_cqrs_num(hb, sizeof hb, op->user.high),
			     tw_cqrs_num(lb, sizeof lb, op->user.low), rc, msg, verified_param(op)};

	snprintf(ttl, sizeof ttl, "%lld", (long long)op->idem.ttl_ms);
	snprintf(rc, sizeof rc, "%d", TW_ERR_CQRS_EXISTS);
	snprintf(msg, sizeof msg, "%s is already registered", op->user.email);
	op->step = S_FAST;
	return tw_db_submit(tw_cqrs_writer(op->q), &op->job, sql_register_once, 11, p,
			    TW_DB_PREPARED, user_step, op);
}

static int start_user_cmd(struct tw_cqrs_op *op, const struct tw_cqrs_idem *idem)
{
	int rc;

	if (idem && idem->request_id) {
		char why[TW_CQRS_MSG_MAX];

		if (tw_cqrs_check_request_id(idem->request_id, why, sizeof why) != TW_OK) {
			memset(&op->user, 0, sizeof op->user);
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "request_id", "request_id %s",
					       why);
		}
		op->idem = *idem;
		snprintf(op->reqid, sizeof op->reqid, "%s", idem->request_id);
		snprintf(op->method, sizeof op->method, "%s", idem->method ? idem->method : "");
		op->idem.request_id = op->reqid;
		op->idem.method = op->method;
		params_hash(op);
		rc = op->kind == TW_CQRS_K_REGISTER ? register_once(op) : begin_txn(op);
	} else {
		char hb[32], lb[32];
		const char *p[5];
		int n;
		const char *sql = cmd_sql(op, p, &n, hb, lb);

		op->step = S_CMD;
		rc = tw_db_submit(tw_cqrs_writer(op->q), &op->job, sql, n, p, 0, user_step, op);
	}
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

static int take_thresholds(struct tw_cqrs_op *op, double high, double low)
{
	const char *field = NULL;
	char why[TW_CQRS_MSG_MAX];

	if (tw_cqrs_check_thresholds(high, low, &field, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, field, "%s %s", field, why);
	op->user.high = high;
	op->user.low = low;
	op->user.has_high = high != TW_CQRS_UNSET;
	op->user.has_low = low != TW_CQRS_UNSET;
	return TW_OK;
}

static void begin_user(struct tw_cqrs *q, struct tw_cqrs_op *op, int kind, tw_cqrs_done_fn done,
		       void *arg)
{
	tw_cqrs_op_begin(op, q, kind, done, arg);
	op->verified = -1;
	op->user.high = TW_CQRS_UNSET;
	op->user.low = TW_CQRS_UNSET;
}

/* A validation failure leaves no half-filled row in the result. @return @p rc. */
static int invalid(struct tw_cqrs_op *op, int rc)
{
	memset(&op->user, 0, sizeof op->user);
	op->res.user = NULL;
	return rc;
}

int tw_cqrs_register_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, double high, double low,
			  const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	return tw_cqrs_register_user_verified(q, op, email, ticker, high, low, -1, idem, done,
					      arg);
}

int tw_cqrs_register_user_verified(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
				   const char *ticker, double high, double low, int verified,
				   const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done,
				   void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_REGISTER, done, arg);
	if (verified < -1 || verified > 1)
		return invalid(op, tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "verified",
						   "verified must be 1, 0 or -1 (NULL)"));
	op->verified = verified;
	if ((rc = tw_cqrs_take_email(op, email)) != TW_OK ||
	    (rc = tw_cqrs_take_ticker(op, ticker, op->user.ticker)) != TW_OK ||
	    (rc = take_thresholds(op, high, low)) != TW_OK)
		return invalid(op, rc);
	return start_user_cmd(op, idem);
}

int tw_cqrs_update_ticker(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, const struct tw_cqrs_idem *idem,
			  tw_cqrs_done_fn done, void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_TICKER, done, arg);
	if ((rc = tw_cqrs_take_email(op, email)) != TW_OK ||
	    (rc = tw_cqrs_take_ticker(op, ticker, op->user.ticker)) != TW_OK)
		return invalid(op, rc);
	return start_user_cmd(op, idem);
}

int tw_cqrs_update_thresholds(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			      double high, double low, const struct tw_cqrs_idem *idem,
			      tw_cqrs_done_fn done, void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_THRESHOLDS, done, arg);
	if ((rc = tw_cqrs_take_email(op, email)) != TW_OK ||
	    (rc = take_thresholds(op, high, low)) != TW_OK)
		return invalid(op, rc);
	return start_user_cmd(op, idem);
}

int tw_cqrs_delete_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_DELETE, done, arg);
	if ((rc = tw_cqrs_take_email(op, email)) != TW_OK)
		return invalid(op, rc);
	return start_user_cmd(op, idem);
}

int tw_cqrs_expire_requests(struct tw_cqrs *q, struct tw_cqrs_op *op, int64_t ttl_ms,
			    tw_cqrs_done_fn done, void *arg)
{
	char tb[24];
	const char *p[1] = {tb};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_EXPIRE, done, arg);
	if (ttl_ms < 1000)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ttl", "ttl must be >= 1 s");
	snprintf(tb, sizeof tb, "%lld", (long long)ttl_ms);
	return tw_cqrs_submit_write(op,
				    "DELETE FROM rpc_requests WHERE created_at < now() - $1::bigint * "
				    "interval '1 millisecond'",
				    1, p);
}
