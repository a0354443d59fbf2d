/* SPDX-License-Identifier: MIT */
/* service.c - the shared CQRS service: write and read connections, the rpc role's pool of write
 * connections, migrations, op helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "cqrs_int.h"
#include "db/migrate.h"

static struct tw_cqrs service; /* one per process, shared by the roles */

static void migrated(void *arg, int rc, const char *msg)
{
	struct tw_cqrs *q = arg;

	if (rc == TW_OK) {
		q->migrated = 1;
		q->mig_failed = 0;
	} else {
		q->mig_failed = 1;
	}
	snprintf(q->mig_msg, sizeof q->mig_msg, "%s", msg);
}

/* One connection came up: the server is back, so the others stop waiting out their backoff
 * (reads and writes resume together, not seconds apart). */
static void retry_others(struct tw_cqrs *q)
{
	tw_db_retry_now(&q->wr);
	tw_db_retry_now(&q->rd);
	for (size_t i = 0; i < q->npool; i++)
		tw_db_retry_now(&q->pool[i]);
}

static void other_ready(struct tw_db *db, void *arg)
{
	(void)db;
	retry_others(arg);
}

static void write_ready(struct tw_db *db, void *arg)
{
	struct tw_cqrs *q = arg;

	retry_others(q);
	if (!q->mig.job.active && tw_db_migrate_start(db, &q->mig, migrated, q) != TW_OK)
		tw_log(TW_LOG_ERROR, "cqrs", "cannot queue the schema migration");
}

struct tw_cqrs *tw_cqrs_open(struct tw_agent *ag, char *err, size_t errlen)
{
	struct tw_cqrs *q = &service;
	const struct tw_config *c = &ag->cfg;
	const char *rurl = c->db.read_url[0] && !c->db.read_follows ? c->db.read_url : c->db.write_url;
	char red[600];

	if (q->refs > 0) {
		q->refs++;
		return q;
	}
	memset(q, 0, sizeof *q);
	if (tw_db_open(&q->wr, &ag->loop, "write", c->db.write_url, c->db.connect_timeout_ms,
		       c->db.statement_timeout_ms, write_ready, q, err, errlen) != TW_OK)
		return NULL;
	if (tw_db_open(&q->rd, &ag->loop, "read", rurl, c->db.connect_timeout_ms,
		       c->db.statement_timeout_ms, other_ready, q, err, errlen) != TW_OK) {
		tw_db_close(&q->wr);
		return NULL;
	}
	tw_log(TW_LOG_INFO, "cqrs", "commands go to %s",
	       tw_log_redact(c->db.write_url, red, sizeof red));
	tw_log(TW_LOG_INFO, "cqrs", "queries go to %s", tw_log_redact(rurl, red, sizeof red));
	q->refs = 1;
	return q;
}

void tw_cqrs_close(struct tw_cqrs *q)
{
	if (q == NULL || q->refs <= 0)
		return;
	if (--q->refs > 0)
		return;
	tw_cqrs_close_writers(q);
	tw_db_close(&q->wr);
	tw_db_close(&q->rd);
}

int tw_cqrs_open_writers(struct tw_cqrs *q, struct tw_agent *ag, struct tw_db *pool, size_t n,
			 char *err, size_t errlen)
{
	const struct tw_config *c = &ag->cfg;

	if (q == NULL || pool == NULL || n == 0 || q->pool != NULL) {
		snprintf(err, errlen, "cqrs: no pool of write connections to open");
		return TW_ERR_ARG;
	}
	for (size_t i = 0; i < n; i++) {
		if (tw_db_open(&pool[i], &ag->loop, "rpc write", c->db.write_url,
			       c->db.connect_timeout_ms, c->db.statement_timeout_ms, other_ready, q,
			       err, errlen) != TW_OK) {
			for (size_t k = 0; k < i; k++)
				tw_db_close(&pool[k]);
			return TW_ERR_ARG;
		}
	}
	q->pool = pool;
	q->npool = n;
	tw_log(TW_LOG_INFO, "cqrs", "user commands spread over %zu write connections", n);
	return TW_OK;
}

void tw_cqrs_close_writers(struct tw_cqrs *q)
{
	if (q == NULL || q->pool == NULL)
		return;
	for (size_t i = 0; i < q->npool; i++)
		tw_db_close(&q->pool[i]);
	q->pool = NULL;
	q->npool = 0;
}

size_t tw_cqrs_writers_budget(const struct tw_config *cfg)
{
	return (size_t)cfg->db.write_connections * sizeof(struct tw_db);
}

struct tw_db *tw_cqrs_writer(struct tw_cqrs *q)
{
	struct tw_db *best = NULL;
	size_t least = 0;

	if (!q->migrated)
		return &q->wr;
	for (size_t i = 0; i < q->npool; i++) {
		size_t n;

		if (!tw_db_ready(&q->pool[i]))
			continue;
		n = tw_db_queued(&q->pool[i]);
		if (best == NULL || n < least) {
			best = &q->pool[i];
			least = n;
		}
		if (n == 0)
			break;
	}
	return best ? best : &q->wr;
}

int tw_cqrs_ready(const struct tw_cqrs *q)
{
	return q && q->migrated && tw_db_ready(&q->wr) && tw_db_ready(&q->rd);
}

void tw_cqrs_status(const struct tw_cqrs *q, char *buf, size_t len)
{
	if (q == NULL || q->refs <= 0) {
		snprintf(buf, len, "db closed");
		return;
	}
	unsigned long long st = q->wr.statements + q->rd.statements;
	unsigned long long fl = q->wr.failures + q->rd.failures;
	size_t up = 0;
	char pool[48] = "";

	for (size_t i = 0; i < q->npool; i++) {
		st += q->pool[i].statements;
		fl += q->pool[i].failures;
		up += (size_t)tw_db_ready(&q->pool[i]);
	}
	if (q->npool)
		snprintf(pool, sizeof pool, ", rpc writes %zu/%zu ready", up, q->npool);
	snprintf(buf, len, "db write %s, read %s%s, schema %s, %llu statements, %llu failures%s%.120s",
		 tw_db_state_name(&q->wr), tw_db_state_name(&q->rd), pool,
		 q->migrated ? "ok" : (q->mig_failed ? "FAILED" : "pending"), st, fl,
		 q->wr.last_err[0] ? "; last error: " : "", q->wr.last_err);
}

const struct tw_cqrs_result *tw_cqrs_op_result(const struct tw_cqrs_op *op)
{
	return &op->res;
}

void tw_cqrs_resume(struct tw_cqrs_op *op)
{
	tw_db_resume(&op->job);
}

void tw_cqrs_op_begin(struct tw_cqrs_op *op, struct tw_cqrs *q, int kind, tw_cqrs_done_fn done,
		      void *arg)
{
	op->q = q;
	op->kind = kind;
	op->step = 0;
	op->done = done;
	op->arg = arg;
	op->rc = 0;
	op->field = NULL;
	op->msg[0] = '\0';
	op->count = 0;
	op->replayed = 0;
	op->legacy[0] = '\0';
	op->field_text[0] = '\0';
	op->average = 0;
	memset(&op->idem, 0, sizeof op->idem);
	op->reqid[0] = '\0';
	op->scanned = 0;
	op->last_key[0] = '\0';
	op->last_shard = 0;
	memset(&op->user, 0, sizeof op->user);
	memset(&op->quote, 0, sizeof op->quote);
	memset(&op->res, 0, sizeof op->res);
	op->res.msg = "";
}

static void fill(struct tw_cqrs_op *op)
{
	op->res.rc = op->rc;
	op->res.field = op->field;
	op->res.msg = op->msg;
	op->res.count = op->count;
	op->res.user = op->user.email[0] ? &op->user : NULL;
	op->res.quote = op->quote.ticker[0] ? &op->quote : NULL;
	op->res.average = op->average;
	op->res.replayed = op->replayed;
	op->res.legacy_response = op->legacy[0] ? op->legacy : NULL;
	op->res.scanned = op->scanned;
	op->res.last_key = op->last_key[0] ? op->last_key : NULL;
	op->res.last_shard = op->last_shard;
}

int tw_cqrs_op_fail(struct tw_cqrs_op *op, int rc, const char *field, const char *fmt, ...)
{
	va_list ap;

	op->rc = rc;
	op->field = field;
	va_start(ap, fmt);
	vsnprintf(op->msg, sizeof op->msg, fmt, ap);
	va_end(ap);
	fill(op);
	return rc;
}

void tw_cqrs_op_finish(struct tw_cqrs_op *op)
{
	fill(op);
	if (op->done)
		op->done(op->arg, &op->res);
}

void tw_cqrs_op_db_fail(struct tw_cqrs_op *op, const struct tw_db_job *j)
{
	int rc = j->rc;

	if (rc == TW_ERR_DB_TIMEOUT)
		rc = TW_ERR_DB_UNAVAILABLE; /* for callers a time-out is the database not answering */
	if (rc == TW_ERR_DB_SQL && strcmp(j->sqlstate, "23503") == 0) {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "email", "no such user");
		return;
	}
	if (rc == TW_ERR_DB_UNAVAILABLE)
		tw_cqrs_op_fail(op, rc, NULL, "database unavailable: %.200s", j->err);
	else
		tw_cqrs_op_fail(op, rc, NULL, "database error %s: %.200s", j->sqlstate, j->err);
}

int tw_cqrs_op_submit_fail(struct tw_cqrs_op *op, int rc)
{
	if (rc == TW_ERR_DB_UNAVAILABLE)
		return tw_cqrs_op_fail(op, rc, NULL, "%.250s", op->job.err);
	if (rc == TW_ERR_DB_BUSY)
		return tw_cqrs_op_fail(op, rc, NULL, "this operation context is still in use");
	return tw_cqrs_op_fail(op, rc, NULL, "cannot queue the statement (%d)", rc);
}

int tw_cqrs_take_email(struct tw_cqrs_op *op, const char *email)
{
	char why[TW_CQRS_MSG_MAX];

	if (tw_cqrs_check_email(email, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
	snprintf(op->user.email, sizeof op->user.email, "%s", email);
	tw_cqrs_fold_email(op->user.email);
	return TW_OK;
}

int tw_cqrs_take_ticker(struct tw_cqrs_op *op, const char *ticker, char *out)
{
	char why[TW_CQRS_MSG_MAX];

	if (tw_cqrs_check_ticker(ticker, out, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker", "ticker %s", why);
	return TW_OK;
}

/* The end of a single-statement write: what count means depends on the call. */
static int write_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (op->kind == TW_CQRS_K_DEAD || op->kind == TW_CQRS_K_SENT)
		op->count = 1;
	else
		op->count = tw_db_affected(res);
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_submit_write(struct tw_cqrs_op *op, const char *sql, int n, const char *const *p)
{
	int rc = tw_db_submit(&op->q->wr, &op->job, sql, n, p, 0, write_step, op);

	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

int tw_cqrs_submit_user_write(struct tw_cqrs_op *op, const char *sql, int n, const char *const *p)
{
	int rc = tw_db_submit(tw_cqrs_writer(op->q), &op->job, sql, n, p, 0, write_step, op);

	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

void tw_cqrs_parse_user(const struct pg_result *res, int row, struct tw_user *u)
{
	const char *v;

	memset(u, 0, sizeof *u);
	v = tw_db_value(res, row, 0);
	snprintf(u->email, sizeof u->email, "%s", v ? v : "");
	v = tw_db_value(res, row, 1);
	snprintf(u->ticker, sizeof u->ticker, "%s", v ? v : "");
	v = tw_db_value(res, row, 2);
	u->has_high = v != NULL;
	u->high = v ? strtod(v, NULL) : TW_CQRS_UNSET;
	v = tw_db_value(res, row, 3);
	u->has_low = v != NULL;
	u->low = v ? strtod(v, NULL) : TW_CQRS_UNSET;
	v = tw_db_value(res, row, 4);
	u->created_ms = v ? strtoll(v, NULL, 10) : 0;
	v = tw_db_value(res, row, 5);
	u->updated_ms = v ? strtoll(v, NULL, 10) : 0;
}

const char *tw_cqrs_num(char *buf, size_t len, double v)
{
	if (v == TW_CQRS_UNSET)
		return NULL;
	snprintf(buf, len, "%.17g", v);
	return buf;
}

struct tw_db *tw_cqrs_reader(struct tw_cqrs_op *op)
{
	if (!op->q->migrated) {
		tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL,
				"database unavailable: the schema is not ready yet (%s)",
				op->q->mig_msg[0] ? op->q->mig_msg : "waiting for the write connection");
		return NULL;
	}
	return &op->q->rd;
}
