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
	} else if (op->kind == TW_CQRS_K_DEAD || op->kind == TW_CQRS_K_QUOTE) {
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

int tw_cqrs_rearm_inside_band(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
			      tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], why[TW_CQRS_MSG_MAX];
	const char *p[1] = {t};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_REARM, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (tw_cqrs_check_ticker(ticker, t, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker", "ticker %s", why);
	return submit_simple(
		op,
		"UPDATE alert_state s SET last_ticker = NULL, last_condition = NULL, last_int = NULL, "
		"episode = s.episode + 1, updated_at = now() FROM users u, LATERAL (SELECT value "
		"FROM quotes WHERE ticker = u.ticker ORDER BY at DESC LIMIT 1) lq WHERE s.email = "
		"u.email AND u.ticker = $1 AND s.last_condition IS NOT NULL AND (u.high IS NULL OR "
		"lq.value <= u.high) AND (u.low IS NULL OR lq.value >= u.low)",
		1, p);
}

static int check_notif(struct tw_cqrs_op *op, const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > TW_CQRS_NOTIF_ID_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "notification_id",
				       "notification_id must have 1 to 128 characters");
	return TW_OK;
}

int tw_cqrs_record_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			const char *email, tw_cqrs_done_fn done, void *arg)
{
	const char *p[2] = {notification_id, email};
	char why[TW_CQRS_MSG_MAX];

	tw_cqrs_op_begin(op, q, TW_CQRS_K_SENT, done, arg);
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	if (check_notif(op, notification_id) != TW_OK)
		return op->rc;
	if (tw_cqrs_check_email(email, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
	return submit_simple(op,
			     "INSERT INTO sent_notifications (notification_id, email) VALUES ($1, $2) "
			     "ON CONFLICT (notification_id) DO NOTHING",
			     2, p);
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
