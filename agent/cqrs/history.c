/* SPDX-License-Identifier: MIT */
/* history.c - a user's e-mails from the ledger (rpc role, read connection): ListHistory.
 *
 * Read-only. One page of the rows of sent_notifications (sent | sending), notify_retry
 * (deferred) and dead_letters (dead) whose email is the user's, newest first: each row is one
 * entry (docs/alerts.md, History). Order and cursor: (time ms, source, key) descending, where
 * time is sent_at, first_at, created_at or expires_at, source 1 sent_notifications,
 * 2 notify_retry, 3 dead_letters, 4 a further alert past its expiry (alerts: enabled, or
 * disabled by that expiry), and key the notification id (C collation) or the dead letter's or
 * alert's id padded to 20 digits; the cursor "TIME.SOURCE.KEY" of a row is the "after" of the next page. The
 * ledger outlives users (no foreign key): an address with no rows is an empty page, not an
 * error. The signed message (deferred, dead) is handed over as stored, at most
 * TW_CQRS_HISTORY_MSG_MAX bytes (NULL otherwise); reading it is agent/notif's business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cqrs_int.h"

enum { K_HISTORY = 220 };

#define HIST_CUT "200" /* characters of a reason handed over, at most */

static const char sql_history[] =
	"SELECT t, src, k, nid, st, att, nx, why, msg, aid, tk FROM ("
	"SELECT coalesce((extract(epoch FROM sent_at) * 1000)::bigint, 0) AS t, 1 AS src, "
	"notification_id COLLATE \"C\" AS k, notification_id AS nid, state AS st, "
	"NULL::int AS att, NULL::bigint AS nx, NULL::text AS why, NULL::text AS msg, "
	"NULL::bigint AS aid, NULL::text AS tk FROM sent_notifications WHERE email = $1 UNION ALL "
	"SELECT coalesce((extract(epoch FROM first_at) * 1000)::bigint, 0), 2, "
	"notification_id COLLATE \"C\", notification_id, 'deferred', attempts, "
	"(extract(epoch FROM next_at) * 1000)::bigint, left(last_reason, " HIST_CUT "), "
	"CASE WHEN octet_length(message) <= 8192 THEN message END, NULL, NULL FROM notify_retry "
	"WHERE email = $1 UNION ALL "
	"SELECT coalesce((extract(epoch FROM created_at) * 1000)::bigint, 0), 3, "
	"lpad(id::text, 20, '0') COLLATE \"C\", notification_id, 'dead', attempts, NULL, "
	"left(reason, " HIST_CUT "), CASE WHEN octet_length(message) <= 8192 THEN message END, "
	"NULL, NULL FROM dead_letters WHERE email = $1 UNION ALL "
	"SELECT (extract(epoch FROM expires_at) * 1000)::bigint, 4, lpad(id::text, 20, '0') "
	"COLLATE \"C\", '', 'expired', NULL, NULL, NULL, NULL, id, ticker FROM alerts WHERE "
	"email = $1 AND expires_at <= now() AND (enabled OR disabled_reason = 'expired')) h "
	"WHERE $2::bigint IS NULL OR (t, src, k) < ($2::bigint, $3::int, $4::text) "
	"ORDER BY t DESC, src DESC, k DESC LIMIT $5::bigint";

static const char *const state_names[] = {"", "sent", "sending", "deferred", "dead", "expired"};

const char *tw_cqrs_history_state_name(int state)
{
	return state >= TW_HS_SENT && state <= TW_HS_EXPIRED ? state_names[state] : "";
}

static int history_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;
	tw_cqrs_history_fn fn = (tw_cqrs_history_fn)op->row.user; /* cast back: stored as one */
	struct tw_cqrs_history_row h;
	char cursor[TW_CQRS_HISTORY_CURSOR_MAX + 1];
	const char *v[11];
	int rc;

	if (ev == TW_DB_ROW) {
		for (int i = 0; i < 11; i++)
			v[i] = tw_db_value(res, 0, i);
		if (v[0] == NULL || v[1] == NULL || v[2] == NULL || v[3] == NULL || v[4] == NULL)
			return 0;
		memset(&h, 0, sizeof h);
		h.notification_id = v[3];
		h.time_ms = strtoll(v[0], NULL, 10);
		h.state = strcmp(v[4], "sent") == 0       ? TW_HS_SENT
			  : strcmp(v[4], "sending") == 0  ? TW_HS_SENDING
			  : strcmp(v[4], "deferred") == 0 ? TW_HS_DEFERRED
			  : strcmp(v[4], "dead") == 0     ? TW_HS_DEAD
			  : strcmp(v[4], "expired") == 0  ? TW_HS_EXPIRED
							  : 0;
		if (h.state == 0)
			return 0; /* a state this build does not know: not listed */
		h.attempts = v[5] ? atoi(v[5]) : 0;
		h.next_ms = v[6] ? strtoll(v[6], NULL, 10) : 0;
		h.reason = v[7];
		h.message = v[8];
		h.message_len = v[8] ? strlen(v[8]) : 0;
		h.alert_id = v[9] ? strtoll(v[9], NULL, 10) : 0;
		h.ticker = v[10];
		if (snprintf(cursor, sizeof cursor, "%s.%s.%s", v[0], v[1], v[2]) >=
		    (int)sizeof cursor)
			return 0; /* a key longer than the ledger allows: not listed */
		h.cursor = cursor;
		op->count++;
		rc = fn(op->arg, &h);
		return rc < 0 ? rc : 0;
	}
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		if (j->rc == TW_ERR_ARG)
			tw_cqrs_op_fail(op, TW_ERR_ARG, NULL, "the rest of the rows were dropped");
	}
	tw_cqrs_op_finish(op);
	return 0;
}

/* "TIME.SOURCE.KEY" into its three parts. @return 0, or -1 when it is not a cursor. */
static int take_cursor(const char *after, char *tb, char *sb, const char **key)
{
	const char *d1, *d2;
	char *end;
	size_t n = strlen(after);

	if (n == 0 || n > TW_CQRS_HISTORY_CURSOR_MAX || (d1 = strchr(after, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL || d1 == after || d1 - after > 20 ||
	    d2 != d1 + 2 || d1[1] < '1' || d1[1] > '4' || d2[1] == '\0')
		return -1;
	memcpy(tb, after, (size_t)(d1 - after));
	tb[d1 - after] = '\0';
	(void)strtoll(tb, &end, 10);
	if (*end != '\0' || (tb[0] != '-' && (tb[0] < '0' || tb[0] > '9')))
		return -1;
	sb[0] = d1[1];
	sb[1] = '\0';
	*key = d2 + 1;
	return strlen(*key) <= 128 ? 0 : -1;
}

int tw_cqrs_list_history(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 const char *after, long long limit, tw_cqrs_history_fn row,
			 tw_cqrs_done_fn done, void *arg)
{
	char tb[24], sb[4], lb[24];
	const char *p[5] = {NULL, NULL, NULL, NULL, lb};
	struct tw_db *db;
	int rc;

	tw_cqrs_op_begin(op, q, K_HISTORY, done, arg);
	op->ext = NULL;
	if ((rc = tw_cqrs_take_email(op, email)) != TW_OK)
		return rc;
	if (limit < 1 || limit > TW_CQRS_HISTORY_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
				       "limit must be from 1 to %d", TW_CQRS_HISTORY_MAX);
	if (after != NULL) {
		if (take_cursor(after, tb, sb, &p[3]) != 0)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after",
					       "after must be the \"next\" of the page before");
		p[1] = tb;
		p[2] = sb;
	}
	op->row.user = (tw_cqrs_user_fn)row; /* one slot for every row callback: cast back */
	p[0] = op->user.email;
	snprintf(lb, sizeof lb, "%lld", limit);
	if ((db = tw_cqrs_reader(op)) == NULL)
		return op->rc;
	rc = tw_db_submit(db, &op->job, sql_history, 5, p, TW_DB_SINGLE_ROW, history_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}
