/* SPDX-License-Identifier: MIT */
/* queries.c - the read side: users, latest and average quotes, streamed lists for the roles.
 *
 * User-facing queries go to the read connection ([db] read_url, maybe a replica). A read that
 * decides an e-mail (UsersCrossingThresholds, whose episode the AdvanceAlert compare-and-set
 * checks) goes to the write connection: a lagging replica would turn into missed re-arms and
 * duplicates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs/shards.h"
#include "cqrs_int.h"

static const char sql_get[] = "SELECT " TW_CQRS_USER_COLS " FROM users WHERE email = $1";
static const char sql_last_ticker[] =
	"SELECT ticker, value, (extract(epoch FROM at) * 1000)::bigint FROM quotes "
	"WHERE ticker = $1 ORDER BY at DESC LIMIT 1";
static const char sql_last_email[] =
	"SELECT u.ticker, lq.value, lq.ms FROM users u LEFT JOIN LATERAL (SELECT value, "
	"(extract(epoch FROM at) * 1000)::bigint AS ms FROM quotes WHERE ticker = u.ticker "
	"ORDER BY at DESC LIMIT 1) lq ON true WHERE u.email = $1";
static const char sql_avg_ticker[] =
	"SELECT $1::text, avg(value), count(*) FROM (SELECT value FROM quotes WHERE ticker = $1 "
	"ORDER BY at DESC LIMIT $2::integer) lq";
static const char sql_avg_email[] =
	"SELECT u.ticker, avg(lq.value), count(lq.value) FROM users u LEFT JOIN LATERAL (SELECT "
	"value FROM quotes WHERE ticker = u.ticker ORDER BY at DESC LIMIT $2::integer) lq ON true "
	"WHERE u.email = $1 GROUP BY u.ticker";
static const char sql_list[] = "SELECT " TW_CQRS_USER_COLS " FROM users WHERE email > $1 "
			       "ORDER BY email LIMIT $2::integer";
/* Every ticker a user watches: the users rows' and the enabled further alerts' (once each). */
static const char sql_tickers[] =
	"SELECT ticker FROM users UNION SELECT ticker FROM alerts WHERE enabled";
/* UsersCrossingThresholds, keyset-paged: users of ticker $1 (NULL: any) whose ticker's latest
 * quote is above high or below low, with their suppression state. The primary key's index is
 * walked from $2 in e-mail order and the walk stops after $3 crossing users, so each page is a
 * short statement whatever the table.
 * "s.email > $2" lets a merge join start alert_state's index at the page too. */
static const char sql_crossing_page[] =
	"SELECT u.email, u.ticker, lq.value, (extract(epoch FROM lq.at) * 1000)::bigint, "
	"CASE WHEN u.high IS NOT NULL AND lq.value > u.high THEN 'higher' ELSE 'lower' END, "
	"CASE WHEN u.high IS NOT NULL AND lq.value > u.high THEN u.high ELSE u.low END, "
	"s.last_ticker, s.last_condition, s.last_int, coalesce(s.episode, 0), u.generation, "
	"u.shard FROM users u JOIN LATERAL (SELECT value, at FROM quotes WHERE ticker = u.ticker "
	"ORDER BY at DESC LIMIT 1) lq ON true LEFT JOIN alert_state s ON s.email = u.email AND "
	"s.email > $2 WHERE ($1::text IS NULL OR u.ticker = $1) AND u.email > $2 AND ((u.high IS NOT NULL AND "
	"lq.value > u.high) OR (u.low IS NOT NULL AND lq.value < u.low)) "
	"ORDER BY u.email LIMIT $3::integer";
/* The same over the slots [$1, $2) (cqrs/shards.h): users_shard_idx (shard, email) walked from
 * the keyset ($3, $4) in its order, at most $5 crossing users a page. */
static const char sql_crossing_shard[] =
	"SELECT u.email, u.ticker, lq.value, (extract(epoch FROM lq.at) * 1000)::bigint, "
	"CASE WHEN u.high IS NOT NULL AND lq.value > u.high THEN 'higher' ELSE 'lower' END, "
	"CASE WHEN u.high IS NOT NULL AND lq.value > u.high THEN u.high ELSE u.low END, "
	"s.last_ticker, s.last_condition, s.last_int, coalesce(s.episode, 0), u.generation, "
	"u.shard FROM users u JOIN LATERAL (SELECT value, at FROM quotes WHERE ticker = u.ticker "
	"ORDER BY at DESC LIMIT 1) lq ON true LEFT JOIN alert_state s ON s.email = u.email "
	"WHERE u.shard >= $1::integer AND u.shard < $2::integer AND (u.shard, u.email) > "
	"($3::integer, $4::text) AND ((u.high IS NOT NULL AND lq.value > u.high) OR "
	"(u.low IS NOT NULL AND lq.value < u.low)) ORDER BY u.shard, u.email LIMIT $5::integer";
static const char sql_notif_key[] = "SELECT key FROM notif_key WHERE one";
static const char sql_is_sent[] = "SELECT state FROM sent_notifications WHERE notification_id = $1";

static int cond_parse(const char *s)
{
	if (s && strcmp(s, "higher") == 0)
		return TW_COND_HIGHER;
	if (s && strcmp(s, "lower") == 0)
		return TW_COND_LOWER;
	return TW_COND_NONE;
}

static int row_crossing(struct tw_cqrs_op *op, const struct pg_result *res)
{
	struct tw_crossing c;
	const char *v;

	memset(&c, 0, sizeof c);
	c.email = tw_db_value(res, 0, 0);
	c.ticker = tw_db_value(res, 0, 1);
	v = tw_db_value(res, 0, 2);
	c.value = v ? strtod(v, NULL) : 0;
	v = tw_db_value(res, 0, 3);
	c.quote_ms = v ? strtoll(v, NULL, 10) : 0;
	c.condition = cond_parse(tw_db_value(res, 0, 4));
	v = tw_db_value(res, 0, 5);
	c.threshold = v ? strtod(v, NULL) : 0;
	c.last_ticker = tw_db_value(res, 0, 6);
	c.has_last = c.last_ticker != NULL;
	if (c.last_ticker == NULL)
		c.last_ticker = "";
	c.last_condition = cond_parse(tw_db_value(res, 0, 7));
	v = tw_db_value(res, 0, 8);
	c.last_int = v ? strtoll(v, NULL, 10) : 0;
	v = tw_db_value(res, 0, 9);
	c.episode = v ? strtoll(v, NULL, 10) : 0;
	v = tw_db_value(res, 0, 10);
	c.generation = v ? strtoll(v, NULL, 10) : 0;
	v = tw_db_value(res, 0, 11);
	c.shard = v ? atoi(v) : 0;
	if (c.email == NULL || c.ticker == NULL)
		return 0;
	op->count++;
	return op->row.crossing ? op->row.crossing(op->arg, &c) : 0;
}

static int on_row(struct tw_cqrs_op *op, const struct pg_result *res)
{
	switch (op->kind) {
	case TW_CQRS_K_LIST: {
		struct tw_user u;

		tw_cqrs_parse_user(res, 0, &u);
		op->count++;
		return op->row.user ? op->row.user(op->arg, &u) : 0;
	}
	case TW_CQRS_K_TICKERS: {
		const char *t = tw_db_value(res, 0, 0);

		if (t == NULL)
			return 0;
		op->count++;
		return op->row.ticker ? op->row.ticker(op->arg, t) : 0;
	}
	case TW_CQRS_K_CROSSING:
		return row_crossing(op, res);
	default:
		return 0;
	}
}

static void on_done(struct tw_cqrs_op *op, const struct pg_result *res)
{
	const char *v;

	switch (op->kind) {
	case TW_CQRS_K_GET:
		if (tw_db_rows(res) == 1) {
			tw_cqrs_parse_user(res, 0, &op->user);
			op->count = 1;
		} else {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "email", "no user with e-mail %s",
					op->user.email);
			memset(&op->user, 0, sizeof op->user);
		}
		break;
	case TW_CQRS_K_LAST:
		if (tw_db_rows(res) != 1) {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, op->user.email[0] ? "email" : "ticker",
					op->user.email[0] ? "no user with e-mail %s"
							  : "no quote for %s yet",
					op->user.email[0] ? op->user.email : op->quote.ticker);
			break;
		}
		v = tw_db_value(res, 0, 0);
		snprintf(op->quote.ticker, sizeof op->quote.ticker, "%s", v ? v : "");
		if (tw_db_value(res, 0, 1) == NULL) {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "ticker", "no quote for %s yet",
					op->quote.ticker);
			memset(&op->quote, 0, sizeof op->quote);
			break;
		}
		op->quote.value = strtod(tw_db_value(res, 0, 1), NULL);
		v = tw_db_value(res, 0, 2);
		op->quote.time_ms = v ? strtoll(v, NULL, 10) : 0;
		op->count = 1;
		break;
	case TW_CQRS_K_AVERAGE:
		if (tw_db_rows(res) != 1) {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "email", "no user with e-mail %s",
					op->user.email);
			break;
		}
		v = tw_db_value(res, 0, 0);
		snprintf(op->quote.ticker, sizeof op->quote.ticker, "%s", v ? v : "");
		v = tw_db_value(res, 0, 2);
		op->count = v ? strtoll(v, NULL, 10) : 0;
		if (op->count == 0) {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "ticker", "no quote for %s yet",
					op->quote.ticker);
			break;
		}
		v = tw_db_value(res, 0, 1);
		op->average = v ? strtod(v, NULL) : 0;
		break;
	case TW_CQRS_K_NOTIF_KEY:
		v = tw_db_rows(res) == 1 ? tw_db_value(res, 0, 0) : NULL;
		if (v == NULL || strlen(v) != TW_CQRS_SIGN_KEY_LEN ||
		    strspn(v, "0123456789abcdef") != TW_CQRS_SIGN_KEY_LEN) {
			tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, NULL,
					"notif_key holds no key of %d hex digits (migration 4)",
					TW_CQRS_SIGN_KEY_LEN);
			break;
		}
		memcpy(op->sign_key, v, TW_CQRS_SIGN_KEY_LEN + 1);
		op->res.sign_key = op->sign_key; /* (kept by the result's fill) */
		op->count = 1;
		break;
	case TW_CQRS_K_IS_SENT:
		v = tw_db_rows(res) > 0 ? tw_db_value(res, 0, 0) : NULL;
		/* Anything but 'sending' in a row counts as sent: never send twice. */
		op->count = v == NULL ? TW_CQRS_SENT_NONE
			    : strcmp(v, "sending") == 0 ? TW_CQRS_SENT_IN_FLIGHT : TW_CQRS_SENT_DONE;
		break;
	default:
		break; /* streams: count was kept per row */
	}
}

static int step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW)
		return on_row(op, res);
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		if (j->rc == TW_ERR_ARG)
			tw_cqrs_op_fail(op, TW_ERR_ARG, NULL, "the rest of the rows were dropped");
	} else {
		on_done(op, res);
	}
	tw_cqrs_op_finish(op);
	return 0;
}

/* On the read connection, or (@p writer) on the write one: a read that decides a send. */
static int submit_on(struct tw_cqrs_op *op, int writer, const char *sql, int n,
		     const char *const *p, unsigned flags)
{
	struct tw_db *db = tw_cqrs_reader(op);
	int rc;

	if (db == NULL)
		return op->rc;
	if (writer)
		db = &op->q->wr;
	rc = tw_db_submit(db, &op->job, sql, n, p, flags, step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

static int submit(struct tw_cqrs_op *op, const char *sql, int n, const char *const *p,
		  unsigned flags)
{
	return submit_on(op, 0, sql, n, p, flags);
}

int tw_cqrs_get_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		     tw_cqrs_done_fn done, void *arg)
{
	const char *p[1];

	tw_cqrs_op_begin(op, q, TW_CQRS_K_GET, done, arg);
	if (tw_cqrs_take_email(op, email) != TW_OK)
		return op->rc;
	p[0] = op->user.email;
	return submit(op, sql_get, 1, p, 0);
}

/* By ticker when one is given, else by the user's ticker. */
static int by_user_or_ticker(struct tw_cqrs_op *op, const char *email, const char *ticker)
{
	if (ticker && *ticker)
		return tw_cqrs_take_ticker(op, ticker, op->quote.ticker);
	if (email && *email)
		return tw_cqrs_take_email(op, email);
	return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email",
			       "give email or ticker: neither was given");
}

int tw_cqrs_last_value(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		       const char *ticker, tw_cqrs_done_fn done, void *arg)
{
	const char *p[1];

	tw_cqrs_op_begin(op, q, TW_CQRS_K_LAST, done, arg);
	if (by_user_or_ticker(op, email, ticker) != TW_OK)
		return op->rc;
	if (op->quote.ticker[0]) {
		p[0] = op->quote.ticker;
		return submit(op, sql_last_ticker, 1, p, 0);
	}
	p[0] = op->user.email;
	return submit(op, sql_last_email, 1, p, 0);
}

int tw_cqrs_average(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		    const char *ticker, long long n, tw_cqrs_done_fn done, void *arg)
{
	char nb[24], why[TW_CQRS_MSG_MAX];
	const char *p[2] = {NULL, nb};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_AVERAGE, done, arg);
	if (by_user_or_ticker(op, email, ticker) != TW_OK)
		return op->rc;
	if (tw_cqrs_check_n(n, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "n", "n %s", why);
	snprintf(nb, sizeof nb, "%lld", n);
	if (op->quote.ticker[0]) {
		p[0] = op->quote.ticker;
		return submit(op, sql_avg_ticker, 2, p, 0);
	}
	p[0] = op->user.email;
	return submit(op, sql_avg_email, 2, p, 0);
}

int tw_cqrs_list_users(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *after,
		       long long limit, tw_cqrs_user_fn row, tw_cqrs_done_fn done, void *arg)
{
	char lb[24];
	const char *p[2] = {after ? after : "", lb};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_LIST, done, arg);
	op->row.user = row;
	if (limit < 1 || limit > TW_CQRS_LIST_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be a whole number from 1 to %d", TW_CQRS_LIST_MAX);
	if (strlen(p[0]) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after",
				       "after must be an e-mail of at most 254 characters");
	snprintf(lb, sizeof lb, "%lld", limit);
	return submit(op, sql_list, 2, p, TW_DB_SINGLE_ROW);
}

int tw_cqrs_distinct_tickers(struct tw_cqrs *q, struct tw_cqrs_op *op, tw_cqrs_ticker_fn row,
			     tw_cqrs_done_fn done, void *arg)
{
	tw_cqrs_op_begin(op, q, TW_CQRS_K_TICKERS, done, arg);
	op->row.ticker = row;
	return submit(op, sql_tickers, 0, NULL, TW_DB_SINGLE_ROW);
}

int tw_cqrs_users_crossing_page(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
				const char *after, long long limit, tw_cqrs_crossing_fn row,
				tw_cqrs_done_fn done, void *arg)
{
	char lb[24];
	const char *p[3] = {NULL, after ? after : "", lb};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_CROSSING, done, arg);
	op->row.crossing = row;
	if (ticker) {
		if (tw_cqrs_take_ticker(op, ticker, op->quote.ticker) != TW_OK)
			return op->rc;
		p[0] = op->quote.ticker;
	}
	if (limit < 1 || limit > TW_CQRS_PAGE_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be a whole number from 1 to %d", TW_CQRS_PAGE_MAX);
	if (strlen(p[1]) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after",
				       "after must be an e-mail of at most 254 characters");
	snprintf(lb, sizeof lb, "%lld", limit);
	return submit_on(op, 1, sql_crossing_page, 3, p, TW_DB_SINGLE_ROW);
}

/* The bounds of a sharded page: 0 <= lo < hi <= slots, lo <= after_shard < hi. */
int tw_cqrs_shard_args(struct tw_cqrs_op *op, int lo, int hi, int after_shard, const char *after,
		       long long limit, char (*b)[24], const char **p)
{
	if (lo < 0 || hi > TW_SHARD_SLOTS || lo >= hi || after_shard < lo || after_shard >= hi)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "shard",
				       "shard range must be 0 <= lo <= after < hi <= %d",
				       TW_SHARD_SLOTS);
	if (limit < 1 || limit > TW_CQRS_PAGE_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be a whole number from 1 to %d", TW_CQRS_PAGE_MAX);
	if (after == NULL)
		after = "";
	if (strlen(after) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after",
				       "after must be an e-mail of at most 254 characters");
	snprintf(b[0], sizeof b[0], "%d", lo);
	snprintf(b[1], sizeof b[1], "%d", hi);
	snprintf(b[2], sizeof b[2], "%d", after_shard);
	snprintf(b[3], sizeof b[3], "%lld", limit);
	p[0] = b[0];
	p[1] = b[1];
	p[2] = b[2];
	p[3] = after;
	p[4] = b[3];
	return TW_OK;
}

int tw_cqrs_users_crossing_shard_page(struct tw_cqrs *q, struct tw_cqrs_op *op, int lo, int hi,
				      int after_shard, const char *after, long long limit,
				      tw_cqrs_crossing_fn row, tw_cqrs_done_fn done, void *arg)
{
	char b[4][24];
	const char *p[5];

	tw_cqrs_op_begin(op, q, TW_CQRS_K_CROSSING, done, arg);
	op->row.crossing = row;
	if (tw_cqrs_shard_args(op, lo, hi, after_shard, after, limit, b, p) != TW_OK)
		return op->rc;
	return submit_on(op, 1, sql_crossing_shard, 5, p, TW_DB_SINGLE_ROW);
}

int tw_cqrs_is_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
		    tw_cqrs_done_fn done, void *arg)
{
	const char *p[1] = {notification_id};
	size_t n = notification_id ? strlen(notification_id) : 0;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_IS_SENT, done, arg);
	if (n == 0 || n > TW_CQRS_NOTIF_ID_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "notification_id",
				       "notification_id must have 1 to 128 characters");
	return submit(op, sql_is_sent, 1, p, 0);
}

int tw_cqrs_notif_key(struct tw_cqrs *q, struct tw_cqrs_op *op, tw_cqrs_done_fn done, void *arg)
{
	tw_cqrs_op_begin(op, q, TW_CQRS_K_NOTIF_KEY, done, arg);
	op->sign_key[0] = '\0';
	return submit_on(op, 1, sql_notif_key, 0, NULL, 0);
}
