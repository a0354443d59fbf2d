/* SPDX-License-Identifier: MIT */
/* pipeline.c - the writes of the quote-to-alert pipeline: SaveQuote and the retention Prune
 * (collector), RearmInsideBand and the batched, compare-and-set AdvanceAlert (alert role). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs/shards.h"
#include "cqrs_int.h"

int tw_cqrs_save_quote(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
		       double value, int64_t time_ms, tw_cqrs_done_fn done, void *arg)
{
	return tw_cqrs_save_quote_from(q, op, ticker, value, time_ms, NULL, done, arg);
}

int tw_cqrs_save_quote_from(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
			    double value, int64_t time_ms, const char *source,
			    tw_cqrs_done_fn done, void *arg)
{
	return tw_cqrs_save_quote_meta(q, op, ticker, value, time_ms, source, NULL, done, arg);
}

/* The meta's rules (schema 12's checks): @return 0, or the op failed with the field. */
static int take_meta(struct tw_cqrs_op *op, const struct tw_quote_meta *m)
{
	size_t n = m->exchange ? strlen(m->exchange) : 0;

	if (m->prev_close != 0 && !(isfinite(m->prev_close) && m->prev_close > 0 &&
				    m->prev_close <= 1e9))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "prev_close",
				       "prev_close must be a finite number > 0 and <= 1e9");
	if (m->currency && m->currency[0] &&
	    (strlen(m->currency) != 3 || strspn(m->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "currency",
				       "currency must be three of A-Z");
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)m->exchange[i] < 0x20 || (unsigned char)m->exchange[i] > 0x7e)
			n = 33; /* refused below */
	}
	if (n > 32 || (n && (m->exchange[0] == ' ' || m->exchange[n - 1] == ' ')))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "exchange",
				       "exchange must be 1 to 32 printable ASCII bytes");
	return TW_OK;
}

int tw_cqrs_save_quote_meta(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
			    double value, int64_t time_ms, const char *source,
			    const struct tw_quote_meta *meta, tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], vb[32], tb[24], pb[32], why[TW_CQRS_MSG_MAX];
	const char *p[7] = {t, tb, vb, source, NULL, NULL, NULL};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_QUOTE, done, arg);
	if (tw_cqrs_take_ticker(op, ticker, t) != TW_OK)
		return op->rc;
	if (tw_cqrs_check_value(value, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "value", "value %s", why);
	if (time_ms <= 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "time", "time must be after 1970");
	if (source && (source[0] == '\0' || strlen(source) > 16 ||
		       strspn(source, "abcdefghijklmnopqrstuvwxyz") != strlen(source)))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "source",
				       "source must be 1 to 16 of a-z");
	if (meta && take_meta(op, meta) != TW_OK)
		return op->rc;
	snprintf(vb, sizeof vb, "%.17g", value);
	snprintf(tb, sizeof tb, "%lld", (long long)time_ms);
	if (source == NULL && meta == NULL)
		return tw_cqrs_submit_write(op,
					    "INSERT INTO quotes (ticker, at, value) VALUES ($1, "
					    "to_timestamp($2::double precision / 1000), $3) ON CONFLICT "
					    "(ticker, at) DO UPDATE SET value = EXCLUDED.value, received_at = now() "
					    "WHERE quotes.value IS DISTINCT FROM EXCLUDED.value",
					    3, p);
	/* The source of the quote (schema 9); a repeat of the stored value is no news whoever
	 * gives it, so the row keeps the source of its first teller. */
	if (meta == NULL)
		return tw_cqrs_submit_write(op,
					    "INSERT INTO quotes (ticker, at, value, source) VALUES ($1, "
					    "to_timestamp($2::double precision / 1000), $3, $4) ON CONFLICT "
					    "(ticker, at) DO UPDATE SET value = EXCLUDED.value, received_at = now(), "
					    "source = EXCLUDED.source WHERE quotes.value IS DISTINCT FROM "
					    "EXCLUDED.value",
					    4, p);
	/* With what the source told besides the price (schema 12), kept with the value: a
	 * correction of the value takes the corrector's. */
	if (meta->prev_close != 0)
		p[4] = tw_cqrs_num(pb, sizeof pb, meta->prev_close);
	p[5] = meta->currency && meta->currency[0] ? meta->currency : NULL;
	p[6] = meta->exchange && meta->exchange[0] ? meta->exchange : NULL;
	return tw_cqrs_submit_write(op,
				    "INSERT INTO quotes (ticker, at, value, source, prev_close, currency, "
				    "exchange) VALUES ($1, to_timestamp($2::double precision / 1000), $3, "
				    "$4, $5::float8, $6, $7) ON CONFLICT (ticker, at) DO UPDATE SET "
				    "value = EXCLUDED.value, received_at = now(), source = EXCLUDED.source, "
				    "prev_close = EXCLUDED.prev_close, currency = EXCLUDED.currency, "
				    "exchange = EXCLUDED.exchange WHERE quotes.value IS DISTINCT FROM "
				    "EXCLUDED.value",
				    7, p);
}

/* RearmInsideBand, one page of the users that are not armed (alert_state's primary key walked
 * from $2, at most $3 of them): those of ticker $1 (NULL: any) whose latest quote is back inside
 * their band. The latest quote is looked up once per ticker of the page (an index probe each),
 * and each statement stays short whatever the table. */
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

/* The same over the slots [$1, $2): alert_state_shard_idx (shard, email) of the users not
 * armed, walked from the keyset ($3, $4), at most $5; the last walked comes back with its
 * shard. */
static const char sql_rearm_shard[] =
	"WITH r AS (SELECT s.email, s.shard FROM alert_state s WHERE s.shard >= $1::integer AND "
	"s.shard < $2::integer AND (s.shard, s.email) > ($3::integer, $4::text) AND "
	"s.last_condition IS NOT NULL ORDER BY s.shard, s.email LIMIT $5::integer), "
	"c AS (SELECT u.email, u.ticker, u.high, u.low FROM r JOIN users u ON u.email = r.email), "
	"lq AS (SELECT t.ticker, q.value FROM (SELECT DISTINCT ticker FROM c) t CROSS JOIN LATERAL "
	"(SELECT value FROM quotes WHERE quotes.ticker = t.ticker ORDER BY at DESC LIMIT 1) q), "
	"upd AS (UPDATE alert_state s SET last_ticker = NULL, last_condition = NULL, last_int = "
	"NULL, episode = s.episode + 1, updated_at = now() FROM c JOIN lq ON lq.ticker = c.ticker "
	"WHERE s.email = c.email AND s.last_condition IS NOT NULL AND (c.high IS NULL OR lq.value "
	"<= c.high) AND (c.low IS NULL OR lq.value >= c.low) RETURNING 1), "
	"l AS (SELECT shard, email FROM r ORDER BY shard DESC, email DESC LIMIT 1) "
	"SELECT (SELECT count(*) FROM r), (SELECT email FROM l), (SELECT count(*) FROM upd), "
	"(SELECT shard FROM l)";

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
	if (op->step == 1) { /* the sharded page: the last walked user's shard */
		v = tw_db_value(res, 0, 3);
		op->last_shard = v ? atoi(v) : 0;
	}
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_rearm_page(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *ticker,
		       const char *after, long long limit, tw_cqrs_done_fn done, void *arg)
{
	char t[TW_CQRS_TICKER_MAX + 1], lb[24];
	const char *p[3] = {NULL, after ? after : "", lb};
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_REARM_PAGE, done, arg);
	if (ticker) {
		if (tw_cqrs_take_ticker(op, ticker, t) != TW_OK)
			return op->rc;
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

int tw_cqrs_rearm_shard_page(struct tw_cqrs *q, struct tw_cqrs_op *op, int lo, int hi,
			     int after_shard, const char *after, long long limit,
			     tw_cqrs_done_fn done, void *arg)
{
	char b[4][24];
	const char *p[5];
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_REARM_PAGE, done, arg);
	if (tw_cqrs_shard_args(op, lo, hi, after_shard, after, limit, b, p) != TW_OK)
		return op->rc;
	op->step = 1;
	rc = tw_db_submit(&op->q->wr, &op->job, sql_rearm_shard, 5, p, 0, rearm_page_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

/* ---- batched AdvanceAlert ---- */

/* The batch as six arrays, one element per item in order. Duplicates of a user are folded:
 * the last item (the newest decision) wins. Compare-and-set on the state that decision was
 * made at: the user's generation (deleted and registered again: another user now) and the
 * episode (a re-arm by UpdateTicker, UpdateThresholds or RearmInsideBand since moved it on:
 * the re-arm stands). ON CONFLICT DO UPDATE ... WHERE sees the row's latest committed version,
 * so a re-arm that commits while this statement runs is not overwritten either. A user with no
 * row yet was decided at episode 0 (the crossing query's coalesce). */
static const char sql_advance_batch[] =
	"WITH x AS (SELECT e, t, c, i, ep, g, o FROM unnest($1::text[], $2::text[], $3::text[], "
	"$4::bigint[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS x(e, t, c, i, ep, g, o)), "
	"k AS (SELECT DISTINCT ON (e) e, t, c, i, ep, g FROM x ORDER BY e, o DESC) "
	"INSERT INTO alert_state AS s (email, last_ticker, last_condition, last_int, episode, "
	"notified_at) SELECT k.e, k.t, k.c, k.i, k.ep + 1, now() FROM k JOIN users u ON "
	"u.email = k.e AND u.generation = k.g "
	"ON CONFLICT (email) DO UPDATE SET last_ticker = EXCLUDED.last_ticker, "
	"last_condition = EXCLUDED.last_condition, last_int = EXCLUDED.last_int, "
	"episode = EXCLUDED.episode, notified_at = now(), updated_at = now() "
	"WHERE s.episode = EXCLUDED.episode - 1";

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
	/* "higher", and three numbers of up to 20 digits */
	return escaped(it->email) + escaped(it->ticker) + 9 + (size_t)3 * 23;
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
			snprintf(v, sizeof v, "%lld",
				 (long long)(f == 3   ? items[i].int_part
					     : f == 4 ? items[i].episode
						      : items[i].generation));
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
		if (tw_db_then(j, sql_advance_batch, 6, op->arrays, 0) != TW_OK) {
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
		if (it->episode < 0 || it->generation < 0)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "episode",
					       "item %zu: episode and generation must be >= 0", i);
		need += tw_cqrs_advance_size(it);
	}
	if (buf == NULL || need > buflen)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
				       "%zu users need %zu bytes of buffer, %zu given: send fewer",
				       n, need, buflen);
	for (int f = 0; f < 6; f++) {
		rc = encode(op, items, n, f, buf, buflen, &off);
		if (rc != TW_OK)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
					       "cannot encode the batch (%d)", rc);
	}
	op->step = 0;
	rc = tw_db_submit(&op->q->wr, &op->job, "SELECT 1", 0, NULL, 0, advance_batch_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

/* ---- retention ---- */

/* One short statement per batch: the oldest $2 rows past the age $1 (ms), by their time
 * column's index, deleted by ctid. A ticker's latest quote always stays (the crossing query
 * and GetLastValue read it, however old). */
static const char *const sql_prune[TW_CQRS_PRUNE_TABLES] = {
	"DELETE FROM sent_notifications WHERE ctid = ANY (ARRAY (SELECT ctid FROM "
	"sent_notifications WHERE sent_at < now() - $1::bigint * interval '1 millisecond' "
	"ORDER BY sent_at LIMIT $2::integer))",
	"DELETE FROM dead_letters WHERE ctid = ANY (ARRAY (SELECT ctid FROM dead_letters WHERE "
	"created_at < now() - $1::bigint * interval '1 millisecond' ORDER BY created_at "
	"LIMIT $2::integer))",
	"DELETE FROM rpc_requests WHERE ctid = ANY (ARRAY (SELECT ctid FROM rpc_requests WHERE "
	"created_at < now() - $1::bigint * interval '1 millisecond' ORDER BY created_at "
	"LIMIT $2::integer))",
	"DELETE FROM quotes WHERE ctid = ANY (ARRAY (SELECT q.ctid FROM quotes q WHERE q.at < "
	"now() - $1::bigint * interval '1 millisecond' AND EXISTS (SELECT 1 FROM quotes n WHERE "
	"n.ticker = q.ticker AND n.at > q.at) ORDER BY q.at LIMIT $2::integer))",
};

int tw_cqrs_prune(struct tw_cqrs *q, struct tw_cqrs_op *op, int table, int64_t older_than_ms,
		  long long limit, tw_cqrs_done_fn done, void *arg)
{
	char ab[24], lb[24];
	const char *p[2] = {ab, lb};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_PRUNE, done, arg);
	if (table < 0 || table >= TW_CQRS_PRUNE_TABLES)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "table", "no such table to prune (%d)",
				       table);
	if (older_than_ms <= 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "older_than",
				       "the age must be > 0 ms");
	if (limit < 1 || limit > TW_CQRS_PRUNE_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be a whole number from 1 to %d", TW_CQRS_PRUNE_MAX);
	snprintf(ab, sizeof ab, "%lld", (long long)older_than_ms);
	snprintf(lb, sizeof lb, "%lld", limit);
	return tw_cqrs_submit_write(op, sql_prune[table], 2, p);
}
