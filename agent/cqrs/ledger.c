/* SPDX-License-Identifier: MIT */
/* ledger.c - the notifier's ledger: LedgerCheck (one id, or a batch in one statement),
 * MarkSending (owner, lease), RecordSent (one id, or a batch in one statement), ForgetSending,
 * RecordDeadLetter; every statement on the write connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs_int.h"

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
	return tw_cqrs_submit_write(op,
				    "INSERT INTO sent_notifications (notification_id, email, state) "
				    "VALUES ($1, $2, 'sent') ON CONFLICT (notification_id) DO UPDATE SET "
				    "state = 'sent', email = EXCLUDED.email, sent_at = now()",
				    2, p);
}

int tw_cqrs_mark_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, const char *owner, int64_t lease_ms, tw_cqrs_done_fn done,
			 void *arg)
{
	char lease[24];
	const char *p[4] = {notification_id, email, owner, lease};

	if (begin_sent_record(q, op, TW_CQRS_K_SENDING, notification_id, email, done, arg) != TW_OK)
		return op->rc;
	if (owner == NULL || *owner == '\0' || strlen(owner) > TW_CQRS_OWNER_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "owner",
				       "owner must have 1 to 64 characters");
	if (lease_ms <= 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "lease", "lease must be > 0 ms");
	snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
	/* A 'sent' row is never downgraded, and a 'sending' row a live peer holds (another
	 * agent name, lease not expired) is left alone: 0 rows. Ours, an earlier incarnation
	 * of this agent (same name before the '/': it died or stopped, since names are unique
	 * in a fleet), or an expired one: taken. */
	return tw_cqrs_submit_write(op,
				    "INSERT INTO sent_notifications (notification_id, email, state, owner, "
				    "lease_until) VALUES ($1, $2, 'sending', $3, now() + $4::bigint * "
				    "interval '1 millisecond') ON CONFLICT (notification_id) DO UPDATE SET "
				    "email = EXCLUDED.email, sent_at = now(), owner = EXCLUDED.owner, "
				    "lease_until = EXCLUDED.lease_until "
				    "WHERE sent_notifications.state = 'sending' AND "
				    "(sent_notifications.owner IS NULL OR sent_notifications.owner = "
				    "EXCLUDED.owner OR split_part(sent_notifications.owner, '/', 1) = "
				    "split_part(EXCLUDED.owner, '/', 1) OR sent_notifications.lease_until IS "
				    "NULL OR sent_notifications.lease_until <= now())",
				    4, p);
}

int tw_cqrs_forget_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			   tw_cqrs_done_fn done, void *arg)
{
	const char *p[1] = {notification_id};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_FORGET, done, arg);
	if (check_notif(op, notification_id) != TW_OK)
		return op->rc;
	return tw_cqrs_submit_write(op,
				    "DELETE FROM sent_notifications WHERE notification_id = $1 "
				    "AND state = 'sending'",
				    1, p);
}

int tw_cqrs_record_dead_letter(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const char *notification_id, const char *email,
			       const char *payload, const char *reason, int attempts,
			       tw_cqrs_done_fn done, void *arg)
{
	char ab[16], rb[TW_CQRS_DEAD_REASON_MAX + 1];
	const char *p[5] = {notification_id, email, payload ? payload : "",
			    tw_cqrs_text_ascii(reason, rb, sizeof rb), ab};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_DEAD, done, arg);
	if (check_notif(op, notification_id) != TW_OK)
		return op->rc;
	if (email == NULL || *email == '\0' || strlen(email) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email",
				       "email must have 1 to 254 characters");
	if (attempts < 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "attempts", "attempts must be >= 0");
	snprintf(ab, sizeof ab, "%d", attempts);
	return tw_cqrs_submit_write(op,
				    "INSERT INTO dead_letters (notification_id, email, payload, reason, "
				    "attempts) VALUES ($1, $2, $3, $4, $5)",
				    5, p);
}

/* LedgerCheck's one row: the id's state, whether a live peer holds it, whether the recipient
 * is still a user with that alert. */
static int check_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;
	const char *state, *held, *user;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	state = tw_db_rows(res) > 0 ? tw_db_value(res, 0, 0) : NULL;
	held = tw_db_rows(res) > 0 ? tw_db_value(res, 0, 1) : NULL;
	user = tw_db_rows(res) > 0 ? tw_db_value(res, 0, 2) : NULL;
	if (state != NULL && strcmp(state, "sending") != 0)
		op->count = TW_CQRS_SENT_DONE; /* anything but 'sending' counts as sent */
	else if (user == NULL || strcmp(user, "t") != 0)
		op->count = TW_CQRS_SENT_GONE;
	else if (state == NULL)
		op->count = TW_CQRS_SENT_NONE;
	else if (held != NULL && strcmp(held, "t") == 0)
		op->count = TW_CQRS_SENT_HELD;
	else
		op->count = TW_CQRS_SENT_IN_FLIGHT;
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_ledger_check(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, const char *ticker, int condition, int64_t alert_id,
			 const char *owner, tw_cqrs_done_fn done, void *arg)
{
	char alert[24];
	const char *p[6] = {notification_id, email, ticker, tw_cqrs_condition_name(condition),
			    owner, alert};
	int rc;

	if (begin_sent_record(q, op, TW_CQRS_K_IS_SENT, notification_id, email, done, arg) != TW_OK)
		return op->rc;
	if (ticker == NULL || *ticker == '\0' || strlen(ticker) > TW_CQRS_TICKER_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker",
				       "ticker must have 1 to 15 characters");
	if (condition != TW_COND_HIGHER && condition != TW_COND_LOWER)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "condition",
				       "condition must be higher or lower");
	if (owner == NULL || strlen(owner) > TW_CQRS_OWNER_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "owner",
				       "owner must have at most 64 characters");
	if (alert_id < 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "alert", "alert id must be >= 0");
	snprintf(alert, sizeof alert, "%lld", (long long)alert_id);
	/* One statement, on the writer (the connection MarkSending and RecordSent use): what was
	 * sent, who holds it, and whether the user still has that alert (alert 0, the users row:
	 * deleted, moved to another ticker, or the threshold cleared; a further alert: removed,
	 * moved to another ticker, or disabled by the user or its expiry - disabled by its
	 * frequency "once" is the advance of this very e-mail: sent). */
	rc = tw_db_submit(&op->q->wr, &op->job,
			  "SELECT s.state, (s.owner IS NOT NULL AND split_part(s.owner, '/', 1) <> "
			  "split_part($5, '/', 1) AND s.lease_until > now()), CASE WHEN $6::bigint = 0 THEN EXISTS (SELECT 1 FROM users u WHERE "
			  "u.email = $2 AND u.ticker = $3 AND CASE $4 WHEN 'higher' THEN u.high IS NOT "
			  "NULL ELSE u.low IS NOT NULL END) ELSE EXISTS (SELECT 1 FROM alerts a WHERE a.id "
			  "= $6::bigint AND a.email = $2 AND a.ticker = $3 AND (a.enabled OR "
			  "a.disabled_reason = 'once')) END FROM (SELECT 1) one LEFT JOIN sent_notifications s ON "
			  "s.notification_id = $1",
			  6, p, 0, check_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

/* ---- LedgerCheck of a whole batch, one statement ---- */

/* The same columns as LedgerCheck's, one row per item in the arrays' order (o). */
static const char sql_check_batch[] =
	"SELECT x.o, s.state, (s.owner IS NOT NULL AND split_part(s.owner, '/', 1) <> "
	"split_part($5, '/', 1) AND s.lease_until > now()), CASE WHEN x.a = 0 THEN EXISTS (SELECT 1 "
	"FROM users u WHERE u.email = x.e AND u.ticker = x.t AND CASE x.c WHEN 'higher' THEN u.high "
	"IS NOT NULL ELSE u.low IS NOT NULL END) ELSE EXISTS (SELECT 1 FROM alerts al WHERE al.id = "
	"x.a AND al.email = x.e AND al.ticker = x.t AND (al.enabled OR al.disabled_reason = 'once')) "
	"END FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::bigint[]) WITH "
	"ORDINALITY AS x(id, e, t, c, a, o) LEFT JOIN sent_notifications s ON s.notification_id = x.id "
	"ORDER BY x.o";

/* One item's verdict from its row's state, held and user columns (check_step's rule). */
static int check_verdict(const char *state, const char *held, const char *user)
{
	if (state != NULL && strcmp(state, "sending") != 0)
		return TW_CQRS_SENT_DONE;
	if (user == NULL || strcmp(user, "t") != 0)
		return TW_CQRS_SENT_GONE;
	if (state == NULL)
		return TW_CQRS_SENT_NONE;
	if (held != NULL && strcmp(held, "t") == 0)
		return TW_CQRS_SENT_HELD;
	return TW_CQRS_SENT_IN_FLIGHT;
}

static int check_batch_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;
	int *out = op->ext;
	long long n = op->scanned;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (op->step == 0) {
		/* The arrays are longer than a job's own parameter buffer: the job opened with a
		 * no-op, and the chained statement hands libpq the caller's buffer (copied at once). */
		op->step = 1;
		if (tw_db_then(j, sql_check_batch, 6, op->arrays, 0) != TW_OK) {
			tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL,
					"database unavailable: %.200s", j->err);
			tw_cqrs_op_finish(op);
		}
		return 0;
	}
	if (tw_db_rows(res) != (int)n) {
		tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL, "LedgerCheck: %d rows for %lld ids",
				tw_db_rows(res), n);
		tw_cqrs_op_finish(op);
		return 0;
	}
	for (long long i = 0; i < n; i++)
		out[i] = check_verdict(tw_db_value(res, (int)i, 1), tw_db_value(res, (int)i, 2),
				       tw_db_value(res, (int)i, 3));
	op->count = n;
	tw_cqrs_op_finish(op);
	return 0;
}

/* Close the array literal being built at @p b (used bytes) and move @p off past it. */
static int close_array(struct tw_cqrs_op *op, int f, char *b, size_t len, size_t used,
		       size_t *off)
{
	if (used + 2 > len)
		return TW_ERR_DB_PARAMS;
	b[used++] = '}';
	b[used++] = '\0';
	op->arrays[f] = b;
	*off += used;
	return TW_OK;
}

int tw_cqrs_ledger_check_batch(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const struct tw_cqrs_ledger_item *items, size_t n, const char *owner,
			       int *out, char *buf, size_t buflen, tw_cqrs_done_fn done, void *arg)
{
	char why[TW_CQRS_MSG_MAX];
	size_t off = 0;
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_IS_SENT, done, arg);
	if (n == 0 || n > TW_CQRS_LEDGER_BATCH_MAX || items == NULL || out == NULL || buf == NULL)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
				       "a batch has 1 to %d ids", TW_CQRS_LEDGER_BATCH_MAX);
	if (owner == NULL || strlen(owner) > TW_CQRS_OWNER_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "owner",
				       "owner must have at most 64 characters");
	for (size_t i = 0; i < n; i++) { /* every item as LedgerCheck checks it */
		const char *t = items[i].ticker;

		if (check_notif(op, items[i].id) != TW_OK)
			return op->rc;
		if (tw_cqrs_check_email(items[i].email, why, sizeof why) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
		if (t == NULL || *t == '\0' || strlen(t) > TW_CQRS_TICKER_MAX)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "ticker",
					       "ticker must have 1 to 15 characters");
		if (items[i].condition != TW_COND_HIGHER && items[i].condition != TW_COND_LOWER)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "condition",
					       "condition must be higher or lower");
		if (items[i].alert < 0)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "alert",
					       "alert id must be >= 0");
	}
	for (int f = 0; f < 5; f++) {
		char *b = buf + off;
		size_t len = buflen - off, used = 1;

		if (len < 3)
			return tw_cqrs_op_fail(op, TW_ERR_DB_PARAMS, NULL, "LedgerCheck: buffer full");
		b[0] = '{';
		b[1] = '\0';
		for (size_t i = 0; i < n; i++) {
			char num[24];
			const char *v = f == 0   ? items[i].id
					: f == 1 ? items[i].email
					: f == 2 ? items[i].ticker
					: f == 3 ? tw_cqrs_condition_name(items[i].condition)
						 : num;

			snprintf(num, sizeof num, "%lld", (long long)items[i].alert);

			if (tw_cqrs_array_add(b, len, &used, v) != TW_OK)
				return tw_cqrs_op_fail(op, TW_ERR_DB_PARAMS, NULL,
						       "LedgerCheck: buffer full");
		}
		if (close_array(op, f == 4 ? 5 : f, b, len, used, &off) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_DB_PARAMS, NULL, "LedgerCheck: buffer full");
	}
	op->arrays[4] = owner;
	op->ext = out;
	op->scanned = (long long)n;
	rc = tw_db_submit(&op->q->wr, &op->job, "SELECT 1", 0, NULL, 0, check_batch_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

/* ---- RecordSent of several ids, one statement ---- */

/* RecordSent's upsert for every (id, email) of the arrays; an id twice is written once. */
static const char sql_sent_batch[] =
	"INSERT INTO sent_notifications (notification_id, email, state) SELECT DISTINCT ON (x.id) "
	"x.id, x.e, 'sent' FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(id, e, o) "
	"ORDER BY x.id, x.o DESC ON CONFLICT (notification_id) DO UPDATE SET state = 'sent', "
	"email = EXCLUDED.email, sent_at = now()";

static int sent_batch_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	(void)res;
	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (op->step == 0) { /* as check_batch_step: the arrays go in the chained statement */
		op->step = 1;
		if (tw_db_then(j, sql_sent_batch, 2, op->arrays, 0) != TW_OK) {
			tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL,
					"database unavailable: %.200s", j->err);
			tw_cqrs_op_finish(op);
		}
		return 0;
	}
	op->count = op->scanned;
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_record_sent_batch(struct tw_cqrs *q, struct tw_cqrs_op *op,
			      const struct tw_cqrs_ledger_item *items, size_t n, char *buf,
			      size_t buflen, tw_cqrs_done_fn done, void *arg)
{
	char why[TW_CQRS_MSG_MAX];
	size_t off = 0;
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_SENT, done, arg);
	if (n == 0 || n > TW_CQRS_LEDGER_BATCH_MAX || items == NULL || buf == NULL)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
				       "a batch has 1 to %d ids", TW_CQRS_LEDGER_BATCH_MAX);
	for (size_t i = 0; i < n; i++) { /* every item as RecordSent checks it */
		if (check_notif(op, items[i].id) != TW_OK)
			return op->rc;
		if (tw_cqrs_check_email(items[i].email, why, sizeof why) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
	}
	for (int f = 0; f < 2; f++) {
		char *b = buf + off;
		size_t len = buflen - off, used = 1;

		if (len < 3)
			return tw_cqrs_op_fail(op, TW_ERR_DB_PARAMS, NULL, "RecordSent: buffer full");
		b[0] = '{';
		b[1] = '\0';
		for (size_t i = 0; i < n; i++)
			if (tw_cqrs_array_add(b, len, &used, f == 0 ? items[i].id : items[i].email) !=
			    TW_OK)
				return tw_cqrs_op_fail(op, TW_ERR_DB_PARAMS, NULL,
						       "RecordSent: buffer full");
		if (close_array(op, f, b, len, used, &off) != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_DB_PARAMS, NULL, "RecordSent: buffer full");
	}
	op->scanned = (long long)n;
	rc = tw_db_submit(&op->q->wr, &op->job, "SELECT 1", 0, NULL, 0, sent_batch_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}
