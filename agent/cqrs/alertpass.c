/* SPDX-License-Identifier: MIT */
/* alertpass.c - the alert pass over the alerts table: its pages and its batched advance.
 *
 * The alert role walks a user's further alerts (alerts 1.., docs/alerts.md) after the users
 * rows (alert 0), in the same shard ranges: AlertPassPage streams the enabled alerts whose
 * ticker has a quote, keyset-paged on (shard, email, id) over alerts_shard_idx, with the
 * latest quote of each ticker (one backward probe of quotes_pkey) and the database's clock
 * for the expiry. What to do with each row is agent/alert's (tw_alert_evaluate()); what was
 * decided comes back here as AdvanceAlertRows, one statement per batch, compare-and-set on
 * the episode each decision was made at, so an alert.update or alert.remove that lands while
 * an e-mail is in flight is never overwritten. Both run on the write connection, like the
 * users rows' pass (queries.c, pipeline.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs/shards.h"
#include "cqrs_int.h"

static const char sql_page[] =
	"SELECT a.id, a.email, a.ticker, a.kind, a.level, a.level2, a.frequency, a.cooldown_s, "
	"a.rearm_pct, (extract(epoch FROM a.expires_at) * 1000)::bigint, a.last_condition, "
	"a.last_int, (extract(epoch FROM a.last_sent_at) * 1000)::bigint, a.last_side, a.episode, "
	"a.shard, lq.value, (extract(epoch FROM lq.at) * 1000)::bigint, "
	"(extract(epoch FROM now()) * 1000)::bigint FROM alerts a JOIN LATERAL (SELECT value, at "
	"FROM quotes WHERE ticker = a.ticker ORDER BY at DESC LIMIT 1) lq ON true "
	"WHERE a.enabled AND a.shard >= $1::integer AND a.shard < $2::integer AND "
	"(a.shard, a.email, a.id) > ($3::integer, $4::text, $6::bigint) "
	"ORDER BY a.shard, a.email, a.id LIMIT $5::integer";

/* Every decision of the batch, by id (an id twice: the last one wins). The episode moves on
 * with an e-mail and with a re-arm; the side, the once / expired disable as decided. */
static const char sql_advance[] =
	"WITH x AS (SELECT DISTINCT ON (id) id, ep, s, c, i, ms, sd, r, d FROM unnest($1::bigint[], "
	"$2::bigint[], $3::integer[], $4::integer[], $5::bigint[], $6::bigint[], $7::integer[], "
	"$8::integer[], $9::integer[]) WITH ORDINALITY AS x(id, ep, s, c, i, ms, sd, r, d, o) "
	"ORDER BY id, o DESC) "
	"UPDATE alerts a SET last_condition = CASE WHEN x.s = 1 THEN x.c WHEN x.r = 1 THEN NULL "
	"ELSE a.last_condition END, last_int = CASE WHEN x.s = 1 THEN x.i WHEN x.r = 1 THEN NULL "
	"ELSE a.last_int END, last_sent_at = CASE WHEN x.s = 1 THEN to_timestamp(x.ms / 1000.0) "
	"ELSE a.last_sent_at END, last_side = CASE WHEN x.sd <> 0 THEN x.sd ELSE a.last_side END, "
	"episode = a.episode + CASE WHEN x.s = 1 OR x.r = 1 THEN 1 ELSE 0 END, "
	"enabled = x.d = 0, disabled_reason = CASE x.d WHEN 1 THEN 'once' WHEN 2 THEN 'expired' "
	"END FROM x WHERE a.id = x.id AND a.episode = x.ep AND a.enabled";

static int64_t num(const struct pg_result *res, int col)
{
	const char *v = tw_db_value(res, 0, col);

	return v ? strtoll(v, NULL, 10) : 0;
}

static double dbl(const struct pg_result *res, int col)
{
	const char *v = tw_db_value(res, 0, col);

	return v ? strtod(v, NULL) : 0;
}

static int page_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;
	struct tw_alert_pass_row r;

	if (ev == TW_DB_ROW) {
		memset(&r, 0, sizeof r);
		r.id = num(res, 0);
		r.email = tw_db_value(res, 0, 1);
		r.ticker = tw_db_value(res, 0, 2);
		r.kind = tw_cqrs_alert_kind_of(tw_db_value(res, 0, 3));
		r.level = dbl(res, 4);
		r.level2 = dbl(res, 5);
		r.frequency = tw_cqrs_alert_freq_of(tw_db_value(res, 0, 6));
		r.cooldown_s = num(res, 7);
		r.rearm_pct = dbl(res, 8);
		r.expires_ms = num(res, 9);
		r.has_last = tw_db_value(res, 0, 10) != NULL && tw_db_value(res, 0, 11) != NULL;
		r.last_condition = (int)num(res, 10);
		r.last_int = num(res, 11);
		r.last_sent_ms = num(res, 12);
		r.last_side = (int)num(res, 13);
		r.episode = num(res, 14);
		r.shard = (int)num(res, 15);
		r.value = dbl(res, 16);
		r.quote_ms = num(res, 17);
		r.now_ms = num(res, 18);
		if (r.email == NULL || r.ticker == NULL)
			return 0;
		op->count++;
		return op->row.alert_pass ? op->row.alert_pass(op->arg, &r) : 0;
	}
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		if (j->rc == TW_ERR_ARG)
			tw_cqrs_op_fail(op, TW_ERR_ARG, NULL, "the rest of the rows were dropped");
	}
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_alert_pass_page(struct tw_cqrs *q, struct tw_cqrs_op *op, int lo, int hi,
			    int after_shard, const char *after, int64_t after_id, long long limit,
			    tw_cqrs_alert_pass_fn row, tw_cqrs_done_fn done, void *arg)
{
	char b[4][24], idb[24];
	const char *p[6];
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_ALERT_PASS, done, arg);
	op->row.alert_pass = row;
	if (tw_cqrs_shard_args(op, lo, hi, after_shard, after, limit, b, p) != TW_OK)
		return op->rc;
	if (after_id < 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after_id", "after_id must be >= 0");
	snprintf(idb, sizeof idb, "%lld", (long long)after_id);
	p[5] = idb;
	rc = tw_db_submit(&op->q->wr, &op->job, sql_page, 6, p, TW_DB_SINGLE_ROW, page_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

/* ---- AdvanceAlertRows ---- */

static int advance_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
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
		/* the arrays exceed a job's own parameter buffer: opened with a no-op, the chained
		 * statement hands libpq the caller's buffer (copied at once) */
		op->step = 1;
		if (tw_db_then(j, sql_advance, 9, op->arrays, 0) != TW_OK) {
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

static long long field(const struct tw_cqrs_alert_advance *it, int f)
{
	switch (f) {
	case 0: return (long long)it->id;
	case 1: return (long long)it->episode;
	case 2: return it->sent;
	case 3: return it->sent ? it->condition : 0;
	case 4: return it->sent ? (long long)it->int_part : 0;
	case 5: return it->sent ? (long long)it->sent_ms : 0;
	case 6: return it->side;
	case 7: return it->rearm;
	default: return it->disable;
	}
}

int tw_cqrs_alert_advance_rows(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const struct tw_cqrs_alert_advance *items, size_t n, char *buf,
			       size_t buflen, tw_cqrs_done_fn done, void *arg)
{
	size_t off = 0;
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_ALERT_ADVANCE, done, arg);
	if (items == NULL || n == 0 || n > TW_CQRS_PAGE_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
				       "a batch has 1 to %d alerts, not %zu", TW_CQRS_PAGE_MAX, n);
	if (buf == NULL || buflen < n * TW_CQRS_ALERT_ADVANCE_ITEM_MAX + TW_CQRS_ALERT_ADVANCE_FIXED)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
				       "%zu alerts need %zu bytes of buffer, %zu given: send fewer", n,
				       n * TW_CQRS_ALERT_ADVANCE_ITEM_MAX + TW_CQRS_ALERT_ADVANCE_FIXED,
				       buflen);
	for (size_t i = 0; i < n; i++) {
		const struct tw_cqrs_alert_advance *it = &items[i];

		if (it->id < 1 || it->episode < 0)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "id",
					       "item %zu: id must be >= 1 and episode >= 0", i);
		if (it->sent && ((it->condition != TW_COND_HIGHER && it->condition != TW_COND_LOWER) ||
				 it->int_part < 0 || it->sent_ms < 0))
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "condition",
					       "item %zu: an e-mail sent needs a condition higher or "
					       "lower, an integer part and a quote time >= 0", i);
		if ((it->sent != 0 && it->sent != 1) || (it->rearm != 0 && it->rearm != 1) ||
		    it->side < -1 || it->side > 1 || it->disable < TW_CQRS_DISABLE_NONE ||
		    it->disable > TW_CQRS_DISABLE_EXPIRED)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "items",
					       "item %zu: sent and rearm are 0 or 1, side -1..1, "
					       "disable 0..2", i);
	}
	/* Nine array literals of numbers, {a,b,c}: within the bound checked above. */
	for (int f = 0; f < 9; f++) {
		char *b = buf + off;
		size_t used = 0;

		b[used++] = '{';
		for (size_t i = 0; i < n; i++)
			used += (size_t)snprintf(b + used, buflen - off - used, "%s%lld",
						 i ? "," : "", field(&items[i], f));
		b[used++] = '}';
		b[used++] = '\0';
		op->arrays[f] = b;
		off += used;
	}
	op->step = 0;
	rc = tw_db_submit(&op->q->wr, &op->job, "SELECT 1", 0, NULL, 0, advance_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}
