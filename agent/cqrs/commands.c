/* SPDX-License-Identifier: MIT */
/* commands.c - the write side: validated user commands (at-most-once), quotes, alert state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs_int.h"

/* The at-most-once transaction: BEGIN, claim the id, run the command, store the response,
 * COMMIT; or, when the id is known: BEGIN, claim (no row), look the response up, COMMIT. */
enum { S_CMD = 1, S_BEGIN, S_CLAIM, S_STORE, S_LOOKUP, S_COMMIT };

static const char sql_claim[] =
	"INSERT INTO rpc_requests (request_id, method, params_hash) VALUES ($1, $2, $3) "
	"ON CONFLICT (request_id) DO UPDATE SET method = EXCLUDED.method, "
	"params_hash = EXCLUDED.params_hash, response = NULL, created_at = now() "
	"WHERE rpc_requests.created_at < now() - $4::bigint * interval '1 millisecond' "
	"RETURNING 1";
static const char sql_lookup[] =
	"SELECT method, params_hash, response FROM rpc_requests WHERE request_id = $1";
static const char sql_store[] = "UPDATE rpc_requests SET response = $2 WHERE request_id = $1";

static const char sql_register[] =
	"INSERT INTO users (email, ticker, high, low) VALUES ($1, $2, $3, $4) "
	"ON CONFLICT (email) DO NOTHING RETURNING " TW_CQRS_USER_COLS;
/* Changing a user's ticker or thresholds re-arms the user: the last e-mailed state is
 * forgotten and the episode moves on, in the same statement (one transaction). */
#define REARM_USER                                                                             \
	"rearm AS (UPDATE alert_state SET last_ticker = NULL, last_condition = NULL, "         \
	"last_int = NULL, episode = episode + 1, updated_at = now() WHERE email = $1) "
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
		*n = 4;
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

static int user_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg);

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

static int user_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;
	const char *p[4];
	char ttl[24];
	int rc = TW_OK;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		memset(&op->user, 0, sizeof op->user);
		op->response[0] = '\0';
		op->replayed = 0;
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	switch (op->step) {
	case S_BEGIN:
		snprintf(ttl, sizeof ttl, "%lld", (long long)op->idem.ttl_ms);
		p[0] = op->reqid;
		p[1] = op->method;
		p[2] = op->hash;
		p[3] = ttl;
		op->step = S_CLAIM;
		rc = tw_db_then(j, sql_claim, 4, p, 0);
		break;
	case S_CLAIM:
		if (tw_db_rows(res) == 1) {
			char hb[32], lb[32];
			const char *cp[4];
			int n;
			const char *sql = cmd_sql(op, cp, &n, hb, lb);

			op->step = S_CMD;
			rc = tw_db_then(j, sql, n, cp, 0);
		} else {
			p[0] = op->reqid;
			op->step = S_LOOKUP;
			rc = tw_db_then(j, sql_lookup, 1, p, 0);
		}
		break;
	case S_CMD:
		cmd_outcome(op, res);
		if (op->idem.request_id == NULL) {
			tw_cqrs_op_finish(op);
			return 0;
		}
		{
			size_t n = 0;

			op->res.rc = op->rc;
			op->res.field = op->field;
			op->res.msg = op->msg;
			op->res.count = op->count;
			op->res.user = op->user.email[0] ? &op->user : NULL;
			op->res.replayed = 0;
			op->res.response = NULL;
			if (op->idem.format)
				n = op->idem.format(op->idem.format_arg, &op->res, op->response,
						    sizeof op->response);
			if (n == 0 || n >= sizeof op->response)
				snprintf(op->response, sizeof op->response, "{\"rc\":%d}", op->rc);
			p[0] = op->reqid;
			p[1] = op->response;
			op->step = S_STORE;
			rc = tw_db_then(j, sql_store, 2, p, 0);
		}
		break;
	case S_STORE:
		op->step = S_COMMIT;
		rc = tw_db_then(j, "COMMIT", 0, NULL, 0);
		break;
	case S_LOOKUP: {
		const char *m = tw_db_value(res, 0, 0), *h = tw_db_value(res, 0, 1);
		const char *r = tw_db_value(res, 0, 2);

		memset(&op->user, 0, sizeof op->user);
		if (m == NULL || h == NULL || strcmp(m, op->method) != 0 ||
		    strcmp(h, op->hash) != 0) {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_REUSED, "request_id",
					"request_id %s was already used for %s with other params: "
					"choose a new request_id",
					op->reqid, m ? m : "another call");
		} else if (r == NULL) {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_REUSED, "request_id",
					"request_id %s has no stored response", op->reqid);
		} else {
			snprintf(op->response, sizeof op->response, "%s", r);
			op->replayed = 1;
		}
		op->step = S_COMMIT;
		rc = tw_db_then(j, "COMMIT", 0, NULL, 0);
		break;
	}
	case S_COMMIT:
	default:
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (rc != TW_OK) {
		tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL, "database unavailable: %.200s",
				j->err);
		op->response[0] = '\0';
		tw_cqrs_op_finish(op);
	}
	return 0;
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
		params_hash(op);
		op->step = S_BEGIN;
		rc = tw_db_submit(&op->q->wr, &op->job, "BEGIN", 0, NULL, 0, user_step, op);
	} else {
		char hb[32], lb[32];
		const char *p[4];
		int n;
		const char *sql = cmd_sql(op, p, &n, hb, lb);

		op->step = S_CMD;
		rc = tw_db_submit(&op->q->wr, &op->job, sql, n, p, 0, user_step, op);
	}
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

static int take_email(struct tw_cqrs_op *op, const char *email)
{
	if (tw_cqrs_check_email(email, op->msg, sizeof op->msg) != TW_OK) {
		char why[TW_CQRS_MSG_MAX];

		memcpy(why, op->msg, sizeof why);
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
	}
	snprintf(op->user.email, sizeof op->user.email, "%s", email);
	return TW_OK;
}

static int take_ticker(struct tw_cqrs_op *op, const char *ticker)
{
	if (tw_cqrs_check_ticker(ticker, op->user.ticker, op->msg, sizeof op->msg) != TW_OK) {
		char why[TW_CQRS_MSG_MAX];

		memcpy(why, op->msg, sizeof why);
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker", "ticker %s", why);
	}
	return TW_OK;
}

static int take_thresholds(struct tw_cqrs_op *op, double high, double low)
{
	const char *field = NULL;

	if (tw_cqrs_check_thresholds(high, low, &field, op->msg, sizeof op->msg) != TW_OK) {
		char why[TW_CQRS_MSG_MAX];

		memcpy(why, op->msg, sizeof why);
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, field, "%s %s", field, why);
	}
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
	memset(&op->user, 0, sizeof op->user);
	op->user.high = TW_CQRS_UNSET;
	op->user.low = TW_CQRS_UNSET;
}

int tw_cqrs_register_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, double high, double low,
			  const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_REGISTER, done, arg);
	if ((rc = take_email(op, email)) != TW_OK || (rc = take_ticker(op, ticker)) != TW_OK ||
	    (rc = take_thresholds(op, high, low)) != TW_OK) {
		memset(&op->user, 0, sizeof op->user);
		op->res.user = NULL;
		return rc;
	}
	return start_user_cmd(op, idem);
}

int tw_cqrs_update_ticker(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, const struct tw_cqrs_idem *idem,
			  tw_cqrs_done_fn done, void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_TICKER, done, arg);
	if ((rc = take_email(op, email)) != TW_OK || (rc = take_ticker(op, ticker)) != TW_OK) {
		memset(&op->user, 0, sizeof op->user);
		op->res.user = NULL;
		return rc;
	}
	return start_user_cmd(op, idem);
}

int tw_cqrs_update_thresholds(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			      double high, double low, const struct tw_cqrs_idem *idem,
			      tw_cqrs_done_fn done, void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_THRESHOLDS, done, arg);
	if ((rc = take_email(op, email)) != TW_OK || (rc = take_thresholds(op, high, low)) != TW_OK) {
		memset(&op->user, 0, sizeof op->user);
		op->res.user = NULL;
		return rc;
	}
	return start_user_cmd(op, idem);
}

int tw_cqrs_delete_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	int rc;

	begin_user(q, op, TW_CQRS_K_DELETE, done, arg);
	if ((rc = take_email(op, email)) != TW_OK) {
		memset(&op->user, 0, sizeof op->user);
		op->res.user = NULL;
		return rc;
	}
	return start_user_cmd(op, idem);
}

/* ---- single-statement commands of the other roles ---- */

static int simple_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (op->kind == TW_CQRS_K_ADVANCE) {
		const char *v = tw_db_value(res, 0, 0);

		op->count = v ? strtoll(v, NULL, 10) : 0;
	} else if (op->kind == TW_CQRS_K_DEAD || op->kind == TW_CQRS_K_QUOTE ||
		   op->kind == TW_CQRS_K_SENT) {
		op->count = 1;
	} else {
		op->count = tw_db_affected(res);
	}
	tw_cqrs_op_finish(op);
	return 0;
}

static int submit_simple(struct tw_cqrs_op *op, const char *sql, int n, const char *const *p)
{
	int rc = tw_db_submit(&op->q->wr, &op->job, sql, n, p, 0, simple_step, op);

	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

int tw_cqrs_save_quote(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
		       double value, int64_t time_ms, tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], vb[32], tb[24], why[TW_CQRS_MSG_MAX];
	const char *p[3] = {t, tb, vb};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_QUOTE, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (tw_cqrs_check_ticker(ticker, t, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker", "ticker %s", why);
	if (tw_cqrs_check_value(value, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "value", "value %s", why);
	if (time_ms <= 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "time", "time must be after 1970");
	snprintf(vb, sizeof vb, "%.17g", value);
	snprintf(tb, sizeof tb, "%lld", (long long)time_ms);
	return submit_simple(op,
			     "INSERT INTO quotes (ticker, at, value) VALUES ($1, "
			     "to_timestamp($2::double precision / 1000), $3) ON CONFLICT (ticker, at) "
			     "DO UPDATE SET value = EXCLUDED.value, received_at = now()",
			     3, p);
}

int tw_cqrs_advance_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, int condition, int64_t int_part,
			  tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], ib[24], why[TW_CQRS_MSG_MAX];
	const char *p[4] = {email, t, tw_cqrs_condition_name(condition), ib};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_ADVANCE, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (tw_cqrs_check_email(email, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
	if (tw_cqrs_check_ticker(ticker, t, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker", "ticker %s", why);
	if (condition != TW_COND_HIGHER && condition != TW_COND_LOWER)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "condition",
				       "condition must be higher or lower");
	snprintf(ib, sizeof ib, "%lld", (long long)int_part);
	return submit_simple(op,
			     /* Every advance moves the episode on, so no later e-mail can carry
			      * the id of an earlier one (191 -> 192 -> 191 stays three ids). */
			     "INSERT INTO alert_state (email, last_ticker, last_condition, last_int, "
			     "episode, notified_at) VALUES ($1, $2, $3, $4, 1, now()) ON CONFLICT "
			     "(email) DO UPDATE SET last_ticker = EXCLUDED.last_ticker, "
			     "last_condition = EXCLUDED.last_condition, last_int = EXCLUDED.last_int, "
			     "episode = alert_state.episode + 1, notified_at = now(), updated_at = "
			     "now() RETURNING episode",
			     4, p);
}

/* Users of one ticker (or of every ticker: $1 NULL) back inside their band. The latest quote
 * is looked up once per ticker (an index probe each), not once per user. */
static const char sql_rearm[] =
	"WITH lq AS (SELECT t.ticker, q.value FROM (SELECT DISTINCT ticker FROM users WHERE "
	"$1::text IS NULL OR ticker = $1) t CROSS JOIN LATERAL (SELECT value FROM quotes WHERE "
	"quotes.ticker = t.ticker ORDER BY at DESC LIMIT 1) q) "
	"UPDATE alert_state s SET last_ticker = NULL, last_condition = NULL, last_int = NULL, "
	"episode = s.episode + 1, updated_at = now() FROM users u JOIN lq ON lq.ticker = u.ticker "
	"WHERE s.email = u.email AND s.last_condition IS NOT NULL AND (u.high IS NULL OR "
	"lq.value <= u.high) AND (u.low IS NULL OR lq.value >= u.low)";

int tw_cqrs_rearm_inside_band(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
			      tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], why[TW_CQRS_MSG_MAX];
	const char *p[1] = {NULL};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_REARM, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (ticker) {
		if (tw_cqrs_check_ticker(ticker, t, why, sizeof why) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker", "ticker %s", why);
		p[0] = t;
	}
	return submit_simple(op, sql_rearm, 1, p);
}

/* The same, for one page of the users that are not armed (alert_state's primary key walked
 * from $2, at most $3 of them): each statement stays short whatever the table. */
static const char sql_rearm_page[] =
	"WITH r AS (SELECT s.email FROM alert_state s WHERE s.email > $2 AND s.last_condition IS "
	"NOT NULL ORDER BY s.email LIMIT $3::integer), "
	"c AS (SELECT u.email, u.ticker, u.high, u.low FROM r JOIN users u ON u.email = r.email "
	"WHERE $1::text IS NULL OR u.ticker = $1), "
	"lq AS (SELECT t.ticker, q.value FROM (SELECT DISTINCT ticker FROM c) t CROSS JOIN LATERAL "
	"(SELECT value FROM quotes WHERE quotes.ticker = t.ticker ORDER BY at DESC LIMIT 1) q), "
	"upd AS (UPDATE alert_state s SET last_ticker = NULL, last_condition = NULL, last_int = "
	"NULL, episode = s.episode + 1, updated_at = now() FROM c JOIN lq ON lq.ticker = c.ticker "
	"WHERE s.email = c.email AND s.last_condition IS NOT NULL AND (c.high IS NULL OR lq.value "
	"<= c.high) AND (c.low IS NULL OR lq.value >= c.low) RETURNING 1) "
	"SELECT (SELECT count(*) FROM r), (SELECT max(email) FROM r), (SELECT count(*) FROM upd)";

static int rearm_page_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;
	const char *v;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	v = tw_db_value(res, 0, 0);
	op->scanned = v ? strtoll(v, NULL, 10) : 0;
	v = tw_db_value(res, 0, 1);
	if (v && strlen(v) <= TW_CQRS_EMAIL_MAX) {
		snprintf(op->last_key, sizeof op->last_key, "%s", v);
	} else if (v) {
		tw_cqrs_op_fail(op, TW_ERR_DB_SQL, NULL, "a stored e-mail is longer than %d bytes",
				TW_CQRS_EMAIL_MAX);
		tw_cqrs_op_finish(op);
		return 0;
	}
	v = tw_db_value(res, 0, 2);
	op->count = v ? strtoll(v, NULL, 10) : 0;
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_rearm_page(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
		       const char *after, long long limit, tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], why[TW_CQRS_MSG_MAX], lb[24];
	const char *p[3] = {NULL, after ? after : "", lb};
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_REARM_PAGE, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (ticker) {
		if (tw_cqrs_check_ticker(ticker, t, why, sizeof why) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker", "ticker %s", why);
		p[0] = t;
	}
	if (limit < 1 || limit > TW_CQRS_PAGE_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be a whole number from 1 to %d", TW_CQRS_PAGE_MAX);
	if (strlen(p[1]) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after",
				       "after must be an e-mail of at most 254 characters");
	snprintf(lb, sizeof lb, "%lld", limit);
	rc = tw_db_submit(&op->q->wr, &op->job, sql_rearm_page, 3, p, 0, rearm_page_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

/* ---- batched AdvanceAlert ---- */

/* The batch as four arrays, one element per item in order. Duplicates of a user are folded:
 * the last item wins and the episode moves on once per item, as that many single advances
 * would. A user deleted meanwhile has nothing to suppress any more: skipped. */
static const char sql_advance_batch[] =
	"WITH x AS (SELECT e, t, c, i, o FROM unnest($1::text[], $2::text[], $3::text[], "
	"$4::bigint[]) WITH ORDINALITY AS x(e, t, c, i, o)), "
	"k AS (SELECT DISTINCT ON (e) e, t, c, i, count(*) OVER (PARTITION BY e) AS n FROM x "
	"ORDER BY e, o DESC) "
	"INSERT INTO alert_state (email, last_ticker, last_condition, last_int, episode, "
	"notified_at) SELECT k.e, k.t, k.c, k.i, k.n, now() FROM k JOIN users u ON u.email = k.e "
	"ON CONFLICT (email) DO UPDATE SET last_ticker = EXCLUDED.last_ticker, "
	"last_condition = EXCLUDED.last_condition, last_int = EXCLUDED.last_int, "
	"episode = alert_state.episode + EXCLUDED.episode, notified_at = now(), updated_at = now()";

int tw_cqrs_array_add(char *buf, size_t len, size_t *used, const char *s)
{
	size_t u = *used, need = (u > 1 ? 1 : 0) + 2;

	for (const char *c = s; *c; c++)
		need += (*c == '"' || *c == '\\') ? 2 : 1;
	if (u + need + 2 > len) /* room for the closing '}' and the NUL too */
		return TW_ERR_DB_PARAMS;
	if (u > 1)
		buf[u++] = ',';
	buf[u++] = '"';
	for (const char *c = s; *c; c++) {
		if (*c == '"' || *c == '\\')
			buf[u++] = '\\';
		buf[u++] = *c;
	}
	buf[u++] = '"';
	buf[u] = '\0';
	*used = u;
	return TW_OK;
}

static size_t escaped(const char *s)
{
	size_t n = 3; /* quotes and comma */

	for (; s && *s; s++)
		n += (*s == '"' || *s == '\\') ? 2 : 1;
	return n;
}

size_t tw_cqrs_advance_size(const struct tw_cqrs_advance *it)
{
	return escaped(it->email) + escaped(it->ticker) + 9 + 23; /* "higher", and 20 digits */
}

/* One array literal of field @p f of every item at @p buf + *off. @return 0 or an error. */
static int encode(struct tw_cqrs_op *op, const struct tw_cqrs_advance *items, size_t n, int f,
		  char *buf, size_t buflen, size_t *off)
{
	char *b = buf + *off, v[24];
	size_t len = buflen - *off, used = 1;
	char t[TW_CQRS_TICKER_MAX + 1], why[TW_CQRS_MSG_MAX];
	int rc = TW_OK;

	if (len < 3)
		return TW_ERR_DB_PARAMS;
	b[0] = '{';
	b[1] = '\0';
	for (size_t i = 0; i < n && rc == TW_OK; i++) {
		switch (f) {
		case 0:
			rc = tw_cqrs_array_add(b, len, &used, items[i].email);
			break;
		case 1:
			if (tw_cqrs_check_ticker(items[i].ticker, t, why, sizeof why) != TW_OK)
				return TW_ERR_CQRS_INVALID;
			rc = tw_cqrs_array_add(b, len, &used, t);
			break;
		case 2:
			rc = tw_cqrs_array_add(b, len, &used,
					       tw_cqrs_condition_name(items[i].condition));
			break;
		default:
			snprintf(v, sizeof v, "%lld", (long long)items[i].int_part);
			rc = tw_cqrs_array_add(b, len, &used, v);
			break;
		}
	}
	if (rc != TW_OK)
		return rc;
	b[used++] = '}';
	b[used++] = '\0';
	op->arrays[f] = b;
	*off += used;
	return TW_OK;
}

static int advance_batch_step(struct tw_db_job *j, int ev, const struct pg_result *res,
			      void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (op->step == 0) {
		/* The arrays are far longer than a job's own parameter buffer: the job opened
		 * with a no-op, and its chained statement hands libpq the caller's buffer, which
		 * libpq copies at once. */
		op->step = 1;
		if (tw_db_then(j, sql_advance_batch, 4, op->arrays, 0) != TW_OK) {
			tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL,
					"database unavailable: %.200s", j->err);
			tw_cqrs_op_finish(op);
		}
		return 0;
	}
	op->count = tw_db_affected(res);
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_advance_alerts(struct tw_cqrs *q, struct tw_cqrs_op *op,
			   const struct tw_cqrs_advance *items, size_t n, char *buf, size_t buflen,
			   tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], why[TW_CQRS_MSG_MAX];
	size_t need = TW_CQRS_ADVANCE_FIXED, off = 0;
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_ADVANCE_BATCH, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (items == NULL || n == 0 || n > TW_CQRS_PAGE_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
				       "a batch has 1 to %d users, not %zu", TW_CQRS_PAGE_MAX, n);
	for (size_t i = 0; i < n; i++) {
		const struct tw_cqrs_advance *it = &items[i];

		if (tw_cqrs_check_email(it->email, why, sizeof why) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "item %zu: email %s",
					       i, why);
		if (tw_cqrs_check_ticker(it->ticker, t, why, sizeof why) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker",
					       "item %zu: ticker %s", i, why);
		if (it->condition != TW_COND_HIGHER && it->condition != TW_COND_LOWER)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "condition",
					       "item %zu: condition must be higher or lower", i);
		need += tw_cqrs_advance_size(it);
	}
	if (buf == NULL || need > buflen)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
				       "%zu users need %zu bytes of buffer, %zu given: send fewer",
				       n, need, buflen);
	for (int f = 0; f < 4; f++) {
		rc = encode(op, items, n, f, buf, buflen, &off);
		if (rc != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
					       "cannot encode the batch (%d)", rc);
	}
	op->step = 0;
	rc = tw_db_submit(&op->q->wr, &op->job, "SELECT 1", 0, NULL, 0, advance_batch_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

static int check_notif(struct tw_cqrs_op *op, const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > TW_CQRS_NOTIF_ID_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "notification_id",
				       "notification_id must have 1 to 128 characters");
	return TW_OK;
}

/* Start a sent_notifications write: the op, then the id and the e-mail checked.
 * @return 0, or the op's failure (nothing submitted). */
static int begin_sent_record(struct tw_cqrs *q, struct tw_cqrs_op *op, int kind, const char *id,
			     const char *email, tw_cqrs_done_fn done, void *arg)
{
	char why[TW_CQRS_MSG_MAX];

	tw_cqrs_op_begin(op, q, kind, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (check_notif(op, id) != TW_OK)
		return op->rc;
	if (tw_cqrs_check_email(email, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
	return TW_OK;
}

int tw_cqrs_record_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			const char *email, tw_cqrs_done_fn done, void *arg)
{
	const char *p[2] = {notification_id, email};

	if (begin_sent_record(q, op, TW_CQRS_K_SENT, notification_id, email, done, arg) != TW_OK)
		return op->rc;
	return submit_simple(op,
			     "INSERT INTO sent_notifications (notification_id, email, state) "
			     "VALUES ($1, $2, 'sent') ON CONFLICT (notification_id) DO UPDATE SET "
			     "state = 'sent', email = EXCLUDED.email, sent_at = now()",
			     2, p);
}

int tw_cqrs_mark_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, tw_cqrs_done_fn done, void *arg)
{
	const char *p[2] = {notification_id, email};

	if (begin_sent_record(q, op, TW_CQRS_K_SENDING, notification_id, email, done, arg) != TW_OK)
		return op->rc;
	/* A 'sent' row is never downgraded: the WHERE leaves it alone (0 rows). */
	return submit_simple(op,
			     "INSERT INTO sent_notifications (notification_id, email, state) "
			     "VALUES ($1, $2, 'sending') ON CONFLICT (notification_id) DO UPDATE SET "
			     "email = EXCLUDED.email, sent_at = now() "
			     "WHERE sent_notifications.state = 'sending'",
			     2, p);
}

int tw_cqrs_forget_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			   tw_cqrs_done_fn done, void *arg)
{
	const char *p[1] = {notification_id};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_FORGET, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (check_notif(op, notification_id) != TW_OK)
		return op->rc;
	return submit_simple(op,
			     "DELETE FROM sent_notifications WHERE notification_id = $1 "
			     "AND state = 'sending'",
			     1, p);
}

int tw_cqrs_record_dead_letter(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const char *notification_id, const char *email,
			       const char *payload, const char *reason, int attempts,
			       tw_cqrs_done_fn done, void *arg)
{
	char ab[16];
	const char *p[5] = {notification_id, email, payload ? payload : "", reason ? reason : "",
			    ab};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_DEAD, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (check_notif(op, notification_id) != TW_OK)
		return op->rc;
	if (email == NULL || *email == '\0' || strlen(email) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email",
				       "email must have 1 to 254 characters");
	if (attempts < 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "attempts", "attempts must be >= 0");
	snprintf(ab, sizeof ab, "%d", attempts);
	return submit_simple(op,
			     "INSERT INTO dead_letters (notification_id, email, payload, reason, "
			     "attempts) VALUES ($1, $2, $3, $4, $5)",
			     5, p);
}

int tw_cqrs_expire_requests(struct tw_cqrs *q, struct tw_cqrs_op *op, int64_t ttl_ms,
			    tw_cqrs_done_fn done, void *arg)
{
	char tb[24];
	const char *p[1] = {tb};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_EXPIRE, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (ttl_ms < 1000)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ttl", "ttl must be >= 1 s");
	snprintf(tb, sizeof tb, "%lld", (long long)ttl_ms);
	return submit_simple(op,
			     "DELETE FROM rpc_requests WHERE created_at < now() - $1::bigint * "
			     "interval '1 millisecond'",
			     1, p);
}
