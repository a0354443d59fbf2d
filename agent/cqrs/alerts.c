/* SPDX-License-Identifier: MIT */
/* alerts.c - a user's alerts (rpc role): AddAlert, UpdateAlert, RemoveAlert at most once, ListAlerts.
 *
 * Alert 0 is the users row (ticker, high, low) with its alert_state, untouched here: it is
 * listed first, and changed only by the user commands (commands.c). Alerts 1.. are rows of
 * the alerts table (migration 10; docs/schema.md). A command runs in the request's
 * transaction, as the user commands run theirs (the same rpc_requests claim, TTL and
 * params-hash rule, the outcome stored as data and replayed from it):
 *
 *   BEGIN --> CLAIM --claimed--> [LOCK the user row: add] --> CMD --> STORE --> COMMIT
 *                  \--taken----> LOOKUP ---------------------------------------/
 *
 * The add's count of the user's alerts runs after the lock of its users row (FOR UPDATE),
 * in a later statement, so it sees every add that committed before the lock was granted:
 * two concurrent adds of one user cannot pass [limits] alerts_per_user together.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cqrs_int.h"

enum { K_ALERT_ADD = 200, K_ALERT_UPDATE, K_ALERT_REMOVE, K_ALERT_LIST };
enum { A_BEGIN = 1, A_CLAIM, A_LOCK, A_CMD, A_STORE, A_LOOKUP, A_COMMIT };

/* The alert columns every statement returns, in parse_alert's order (A_NCOLS of them). */
#define ALERT_COLS                                                                             \
	"id, email, ticker, kind, level, level2, frequency, cooldown_s, rearm_pct, "           \
	"(extract(epoch FROM expires_at) * 1000)::bigint, enabled, disabled_reason, "          \
	"(extract(epoch FROM created_at) * 1000)::bigint, "                                    \
	"(extract(epoch FROM updated_at) * 1000)::bigint"
#define A_NCOLS 14

static const char sql_claim[] =
	"INSERT INTO rpc_requests (request_id, method, params_hash) VALUES ($1, $2, $3) "
	"ON CONFLICT (request_id) DO UPDATE SET method = EXCLUDED.method, "
	"params_hash = EXCLUDED.params_hash, response = NULL, created_at = now() "
	"WHERE rpc_requests.created_at < now() - $4::bigint * interval '1 millisecond' "
	"RETURNING 1";
/* The outcome as data: {"v":1, rc, field, msg, "alert": [the ALERT_COLS texts] or null}. */
static const char sql_store[] =
	"UPDATE rpc_requests SET response = json_build_object('v', 1, 'rc', $2::integer, "
	"'field', $3::text, 'msg', $4::text, 'alert', $5::text[])::text WHERE request_id = $1";
static const char sql_lookup[] =
	"SELECT method, params_hash, o->>'rc', o->>'field', o->>'msg', "
	"o->'alert'->>0, o->'alert'->>1, o->'alert'->>2, o->'alert'->>3, o->'alert'->>4, "
	"o->'alert'->>5, o->'alert'->>6, o->'alert'->>7, o->'alert'->>8, o->'alert'->>9, "
	"o->'alert'->>10, o->'alert'->>11, o->'alert'->>12, o->'alert'->>13 "
	"FROM (SELECT method, params_hash, CASE WHEN left(response, 1) = '{' THEN CASE WHEN "
	"response::json->>'v' = '1' THEN response::json END END AS o FROM rpc_requests "
	"WHERE request_id = $1) r";
enum { L_METHOD, L_HASH, L_RC, L_FIELD, L_MSG, L_ALERT };

/* kind move: level is the percent (the same text from take_spec and from sql_update's check) */
#define MOVE_LEVEL_WHY "kind move needs level from 0 to 100 (the percent of the move)"

static const char sql_lock[] = "SELECT 1 FROM users WHERE email = $1 FOR UPDATE";
/* $1 email .. $9 expires ms (NULL: never), $10 the limit (the first alert counts). */
static const char sql_add[] =
	"INSERT INTO alerts (email, ticker, kind, level, level2, frequency, cooldown_s, "
	"rearm_pct, expires_at) SELECT $1, $2, $3, $4::float8, $5::float8, $6, $7::integer, "
	"$8::float8, to_timestamp($9::bigint / 1000.0) "
	"WHERE (SELECT count(*) FROM alerts WHERE email = $1) + 1 < $10::bigint "
	"RETURNING " ALERT_COLS;
/* $1 email, $2 id, then each field and whether it is given ($3..$18), as the spec's set bits.
 * The new row must keep the band rule (checked here against the stored values too: the
 * second column says the alert exists, the third why the update was refused). Any update
 * re-arms: the suppression state is forgotten and the episode moves on. */
static const char sql_update[] =
	"WITH cur AS (SELECT * FROM alerts WHERE email = $1 AND id = $2::bigint FOR UPDATE), "
	"nv AS (SELECT id, CASE WHEN $3::bool THEN $4 ELSE ticker END AS ticker, "
	"CASE WHEN $5::bool THEN $6 ELSE kind END AS kind, "
	"CASE WHEN $7::bool THEN $8::float8 ELSE level END AS level, "
	"CASE WHEN $9::bool THEN $10::float8 ELSE level2 END AS level2, "
	"CASE WHEN $11::bool THEN $12 ELSE frequency END AS frequency, "
	"CASE WHEN $13::bool THEN $14::integer ELSE cooldown_s END AS cooldown_s, "
	"CASE WHEN $15::bool THEN $16::float8 ELSE rearm_pct END AS rearm_pct, "
	"CASE WHEN $17::bool THEN to_timestamp($18::bigint / 1000.0) ELSE expires_at END "
	"AS expires_at, CASE WHEN $19::bool THEN $20::bool ELSE enabled END AS enabled, "
	"enabled AS was_enabled, disabled_reason FROM cur), "
	"chk AS (SELECT *, CASE WHEN kind = 'band' AND level2 IS NULL THEN "
	"'kind band needs level2 (the high end of the band)' "
	"WHEN kind = 'band' AND NOT level < level2 THEN 'band needs level < level2' "
	"WHEN kind = 'move' AND level > 100 THEN '" MOVE_LEVEL_WHY "' "
	"WHEN enabled AND expires_at IS NOT NULL AND expires_at <= now() THEN "
	"'the alert has expired: give a new expires_ms to enable it' END AS why FROM nv), "
	"u AS (UPDATE alerts a SET ticker = c.ticker, kind = c.kind, level = c.level, "
	"level2 = CASE WHEN c.kind = 'band' THEN c.level2 END, frequency = c.frequency, "
	"cooldown_s = c.cooldown_s, rearm_pct = c.rearm_pct, expires_at = c.expires_at, "
	"enabled = c.enabled, disabled_reason = CASE WHEN c.enabled THEN NULL "
	"WHEN c.was_enabled THEN 'user' ELSE c.disabled_reason END, last_condition = NULL, "
	"last_int = NULL, last_sent_at = NULL, last_side = NULL, episode = a.episode + 1, "
	"updated_at = now() FROM chk c WHERE a.id = c.id AND c.why IS NULL RETURNING a.*) "
	"SELECT " ALERT_COLS ", true, NULL FROM u UNION ALL "
	"SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
	"NULL, true, why FROM chk WHERE why IS NOT NULL";
static const char sql_remove[] =
	"DELETE FROM alerts WHERE email = $1 AND id = $2::bigint RETURNING " ALERT_COLS;
/* Alert 0 from the users row (band: low to high), then the alerts; $2 after id (-1: all).
 * An alert past its expiry is listed disabled ('expired') whether or not a pass has stored
 * that yet. */
#define EXPIRED "coalesce(expires_at <= now(), false)"
static const char sql_list[] =
	"SELECT * FROM (SELECT 0::bigint AS id, email, ticker, CASE WHEN high IS NOT NULL AND "
	"low IS NOT NULL THEN 'band' WHEN high IS NOT NULL THEN 'above' WHEN low IS NOT NULL "
	"THEN 'below' ELSE 'none' END, CASE WHEN low IS NOT NULL THEN low ELSE high END, "
	"CASE WHEN high IS NOT NULL AND low IS NOT NULL THEN high END, 'change', 0, 0::float8, "
	"NULL::bigint, true, NULL::text, (extract(epoch FROM created_at) * 1000)::bigint, "
	"(extract(epoch FROM updated_at) * 1000)::bigint FROM users WHERE email = $1 "
	"AND $2::bigint < 0 UNION ALL SELECT id, email, ticker, kind, level, level2, frequency, "
	"cooldown_s, rearm_pct, (extract(epoch FROM expires_at) * 1000)::bigint, "
	"enabled AND NOT " EXPIRED ", CASE WHEN enabled AND " EXPIRED " THEN 'expired' ELSE "
	"disabled_reason END, (extract(epoch FROM created_at) * 1000)::bigint, "
	"(extract(epoch FROM updated_at) * 1000)::bigint FROM alerts WHERE email = $1 "
	"AND id > $2::bigint) a ORDER BY 1 LIMIT $3::bigint";

static const char *const kind_names[] = {"none", "above", "below", "band", "cross", "move"};
static const char *const freq_names[] = {"", "change", "once", "daily"};

const char *tw_cqrs_alert_kind_name(int kind)
{
	return kind >= TW_AK_NONE && kind <= TW_AK_MOVE ? kind_names[kind] : "none";
}

int tw_cqrs_alert_kind_of(const char *name)
{
	for (int k = TW_AK_ABOVE; k <= TW_AK_MOVE; k++)
		if (name && strcmp(name, kind_names[k]) == 0)
			return k;
	return -1;
}

const char *tw_cqrs_alert_freq_name(int freq)
{
	return freq >= TW_AF_CHANGE && freq <= TW_AF_DAILY ? freq_names[freq] : "change";
}

int tw_cqrs_alert_freq_of(const char *name)
{
	for (int f = TW_AF_CHANGE; f <= TW_AF_DAILY; f++)
		if (name && strcmp(name, freq_names[f]) == 0)
			return f;
	return -1;
}

/* The row from the ALERT_COLS texts @p v (a NULL id: no row). @return 1 when there was one. */
static int parse_alert(const char *const *v, struct tw_alert_row *a)
{
	memset(a, 0, sizeof *a);
	if (v[0] == NULL || v[1] == NULL)
		return 0;
	a->id = strtoll(v[0], NULL, 10);
	snprintf(a->email, sizeof a->email, "%s", v[1]);
	snprintf(a->ticker, sizeof a->ticker, "%s", v[2] ? v[2] : "");
	a->kind = v[3] && strcmp(v[3], "none") != 0 ? tw_cqrs_alert_kind_of(v[3]) : TW_AK_NONE;
	if (a->kind < 0)
		a->kind = TW_AK_NONE;
	a->has_level = v[4] != NULL;
	a->level = v[4] ? strtod(v[4], NULL) : 0;
	a->level2 = v[5] ? strtod(v[5], NULL) : 0;
	a->frequency = tw_cqrs_alert_freq_of(v[6]);
	if (a->frequency < 0)
		a->frequency = TW_AF_CHANGE;
	a->cooldown_s = v[7] ? strtoll(v[7], NULL, 10) : 0;
	a->rearm_pct = v[8] ? strtod(v[8], NULL) : 0;
	a->expires_ms = v[9] ? strtoll(v[9], NULL, 10) : 0;
	a->enabled = v[10] && (strcmp(v[10], "t") == 0 || strcmp(v[10], "true") == 0);
	snprintf(a->disabled_reason, sizeof a->disabled_reason, "%s", v[11] ? v[11] : "");
	a->created_ms = v[12] ? strtoll(v[12], NULL, 10) : 0;
	a->updated_ms = v[13] ? strtoll(v[13], NULL, 10) : 0;
	return 1;
}

static int parse_alert_res(const struct pg_result *res, int row, int col0, struct tw_alert_row *a)
{
	const char *v[A_NCOLS];

	for (int i = 0; i < A_NCOLS; i++)
		v[i] = tw_db_value(res, row, col0 + i);
	return parse_alert(v, a);
}

/* The row as a PostgreSQL text[] literal (the stored outcome). @return @p buf. */
static const char *alert_array(const struct tw_alert_row *a, char *buf, size_t len)
{
	char f[A_NCOLS][64];
	const char *v[A_NCOLS];
	size_t used = 0;

	snprintf(f[0], sizeof f[0], "%lld", a->id);
	v[0] = f[0];
	v[1] = a->email;
	v[2] = a->ticker;
	v[3] = tw_cqrs_alert_kind_name(a->kind);
	v[4] = a->has_level ? tw_cqrs_num(f[4], sizeof f[4], a->level) : NULL;
	v[5] = a->kind == TW_AK_BAND ? tw_cqrs_num(f[5], sizeof f[5], a->level2) : NULL;
	v[6] = tw_cqrs_alert_freq_name(a->frequency);
	snprintf(f[7], sizeof f[7], "%lld", (long long)a->cooldown_s);
	v[7] = f[7];
	v[8] = tw_cqrs_num(f[8], sizeof f[8], a->rearm_pct);
	snprintf(f[9], sizeof f[9], "%lld", (long long)a->expires_ms);
	v[9] = a->expires_ms ? f[9] : NULL;
	v[10] = a->enabled ? "t" : "f";
	v[11] = a->disabled_reason[0] ? a->disabled_reason : NULL;
	snprintf(f[12], sizeof f[12], "%lld", (long long)a->created_ms);
	v[12] = f[12];
	snprintf(f[13], sizeof f[13], "%lld", (long long)a->updated_ms);
	v[13] = f[13];
	buf[used++] = '{';
	for (int i = 0; i < A_NCOLS && used + 8 < len; i++) {
		if (i)
			buf[used++] = ',';
		if (v[i] == NULL) {
			memcpy(buf + used, "NULL", 4);
			used += 4;
			continue;
		}
		buf[used++] = '"';
		for (const char *c = v[i]; *c && used + 4 < len; c++) {
			if (*c == '"' || *c == '\\')
				buf[used++] = '\\';
			buf[used++] = *c;
		}
		buf[used++] = '"';
	}
	if (used + 2 > len)
		used = len - 2;
	buf[used++] = '}';
	buf[used] = '\0';
	return buf;
}

/* FNV-1a 64 of the canonical params (as the user commands hash theirs). */
static void hash_params(struct tw_cqrs_op *op, long long id, const struct tw_alert_spec *sp)
{
	char canon[TW_CQRS_EMAIL_MAX + 256];
	uint64_t h = 1469598103934665603ULL;
	int n;

	n = snprintf(canon, sizeof canon, "%d|%s|%lld|%x|%s|%d|%.17g|%.17g|%d|%lld|%.17g|%lld|%d",
		     op->kind, op->user.email, id, sp ? sp->set : 0u,
		     sp && sp->ticker ? op->user.ticker : "", sp ? sp->kind : 0,
		     sp ? sp->level : 0, sp ? sp->level2 : 0, sp ? sp->frequency : 0,
		     sp ? (long long)sp->cooldown_s : 0LL, sp ? sp->rearm_pct : 0,
		     sp ? (long long)sp->expires_ms : 0LL, sp ? sp->enabled : 0);
	for (int i = 0; i < n && i < (int)sizeof canon; i++) {
		h ^= (unsigned char)canon[i];
		h *= 1099511628211ULL;
	}
	snprintf(op->hash, sizeof op->hash, "%016" PRIx64, h);
}

/* What a command keeps between its statements, in the op's own fields: the spec's values as
 * parameter texts (the caller's spec need not outlive the call). */
struct alert_args {
	char f[20][40];
};

/* The op's parameters, kept in op->legacy (unused by these commands until a replay of a
 * stored legacy text, which alert ids never have). */
_Static_assert(sizeof(struct alert_args) <= TW_CQRS_RESPONSE_MAX, "alert args fit op->legacy");

static struct alert_args *args_of(struct tw_cqrs_op *op)
{
	return (struct alert_args *)(void *)op->legacy;
}

static struct tw_alert_row *out_of(struct tw_cqrs_op *op)
{
	return (struct tw_alert_row *)op->ext;
}

static void outcome(struct tw_cqrs_op *op, const struct pg_result *res)
{
	struct tw_alert_row *out = out_of(op);
	const char *why = NULL;

	if (op->kind == K_ALERT_UPDATE && tw_db_rows(res) == 1)
		why = tw_db_value(res, 0, A_NCOLS + 1);
	if (why) {
		memset(out, 0, sizeof *out);
		tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "level2", "%s", why);
		if (strstr(why, "expire"))
			op->field = "expires_ms";
		else if (strstr(why, "percent"))
			op->field = "level";
		return;
	}
	if (tw_db_rows(res) == 1 && parse_alert_res(res, 0, 0, out)) {
		op->rc = TW_OK;
		op->field = NULL;
		op->msg[0] = '\0';
		op->count = 1;
		return;
	}
	memset(out, 0, sizeof *out);
	if (op->kind == K_ALERT_ADD)
		tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email",
				"%s has %lld alerts already, the most [limits] alerts_per_user "
				"allows (the first alert included): remove one first",
				op->user.email, op->scanned);
	else
		tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "id", "%s has no alert %s",
				op->user.email, op->last_key);
}

static void replay(struct tw_cqrs_op *op, const struct pg_result *res)
{
	const char *m = tw_db_value(res, 0, L_METHOD), *h = tw_db_value(res, 0, L_HASH);
	const char *rc = tw_db_value(res, 0, L_RC), *field = tw_db_value(res, 0, L_FIELD);
	const char *msg = tw_db_value(res, 0, L_MSG);

	memset(out_of(op), 0, sizeof *out_of(op));
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
	parse_alert_res(res, 0, L_ALERT, out_of(op));
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

static int send_cmd(struct tw_db_job *j, struct tw_cqrs_op *op)
{
	struct alert_args *a = args_of(op);
	const char *p[20];

	op->step = A_CMD;
	if (op->kind == K_ALERT_ADD) {
		p[0] = op->user.email;
		for (int i = 1; i < 10; i++)
			p[i] = a->f[i][0] ? a->f[i] : NULL;
		return tw_db_then(j, sql_add, 10, p, 0);
	}
	p[0] = op->user.email;
	p[1] = op->last_key;
	if (op->kind == K_ALERT_REMOVE)
		return tw_db_then(j, sql_remove, 2, p, 0);
	for (int i = 2; i < 20; i++)
		p[i] = a->f[i][0] ? a->f[i] : NULL;
	return tw_db_then(j, sql_update, 20, p, 0);
}

static int store(struct tw_db_job *j, struct tw_cqrs_op *op)
{
	char rcb[16], arr[TW_CQRS_EMAIL_MAX * 2 + 512];
	const struct tw_alert_row *out = out_of(op);
	const char *p[5] = {op->reqid, rcb, op->field, op->msg, NULL};

	snprintf(rcb, sizeof rcb, "%d", op->rc);
	if (out->email[0])
		p[4] = alert_array(out, arr, sizeof arr);
	op->step = A_STORE;
	return tw_db_then(j, sql_store, 5, p, 0);
}

static int next(struct tw_db_job *j, struct tw_cqrs_op *op, const struct pg_result *res)
{
	char ttl[24];
	const char *p[4];

	switch (op->step) {
	case A_BEGIN:
		snprintf(ttl, sizeof ttl, "%lld", (long long)op->idem.ttl_ms);
		p[0] = op->reqid;
		p[1] = op->method;
		p[2] = op->hash;
		p[3] = ttl;
		op->step = A_CLAIM;
		return tw_db_then(j, sql_claim, 4, p, 0);
	case A_CLAIM:
		if (tw_db_rows(res) != 1) { /* taken, and not expired: the stored outcome */
			p[0] = op->reqid;
			op->step = A_LOOKUP;
			return tw_db_then(j, sql_lookup, 1, p, 0);
		}
		if (op->kind != K_ALERT_ADD)
			return send_cmd(j, op);
		p[0] = op->user.email;
		op->step = A_LOCK;
		return tw_db_then(j, sql_lock, 1, p, 0);
	case A_LOCK:
		if (tw_db_rows(res) != 1) {
			memset(out_of(op), 0, sizeof *out_of(op));
			tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "email", "no user with e-mail %s",
					op->user.email);
			return store(j, op);
		}
		return send_cmd(j, op);
	case A_CMD:
		outcome(op, res);
		return store(j, op);
	case A_LOOKUP:
		replay(op, res);
		op->step = A_COMMIT;
		return tw_db_then(j, "COMMIT", 0, NULL, 0);
	case A_STORE:
		op->step = A_COMMIT;
		return tw_db_then(j, "COMMIT", 0, NULL, 0);
	default:
		tw_cqrs_op_finish(op);
		return TW_OK;
	}
}

static int cmd_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		op->replayed = 0;
		memset(out_of(op), 0, sizeof *out_of(op));
		tw_cqrs_op_db_fail(op, j);
		tw_cqrs_op_finish(op);
		return 0;
	}
	if (next(j, op, res) != TW_OK) {
		op->replayed = 0;
		memset(out_of(op), 0, sizeof *out_of(op));
		tw_cqrs_op_fail(op, TW_ERR_DB_UNAVAILABLE, NULL, "database unavailable: %.200s",
				j->err);
		tw_cqrs_op_finish(op);
	}
	return 0;
}

/* The at-most-once start: the id checked and kept, the params hashed, BEGIN sent. */
static int start_cmd(struct tw_cqrs_op *op, long long id, const struct tw_alert_spec *sp,
		     const struct tw_cqrs_idem *idem)
{
	char why[TW_CQRS_MSG_MAX];
	int rc;

	if (idem == NULL || idem->request_id == NULL)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "request_id",
				       "request_id is missing: an alert command runs at most once "
				       "per id");
	if (tw_cqrs_check_request_id(idem->request_id, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "request_id", "request_id %s", why);
	op->idem = *idem;
	snprintf(op->reqid, sizeof op->reqid, "%s", idem->request_id);
	snprintf(op->method, sizeof op->method, "%s", idem->method ? idem->method : "");
	op->idem.request_id = op->reqid;
	op->idem.method = op->method;
	snprintf(op->last_key, sizeof op->last_key, "%lld", id);
	hash_params(op, id, sp);
	op->step = A_BEGIN;
	rc = tw_db_submit(tw_cqrs_writer(op->q), &op->job, "BEGIN", 0, NULL, 0, cmd_step, op);
	return rc == TW_OK ? TW_OK : tw_cqrs_op_submit_fail(op, rc);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bad_level(double v)
{
	return !isfinite(v) || v <= 0 || v > 1e9;
}

/* Check the given fields of @p sp (all of them: @p add) into op->user.ticker and the
 * parameter texts of args_of(op) in sql_add's ($2..$9) or sql_update's ($3..$20) places.
 * @return 0, or the op failed with the field and why. */
static int take_spec(struct tw_cqrs_op *op, const struct tw_alert_spec *sp, int add)
{
	struct alert_args *a = args_of(op);
	unsigned set = add ? (sp->set | TW_AS_TICKER | TW_AS_KIND | TW_AS_LEVEL) : sp->set;
	int band_given = (set & TW_AS_KIND) && sp->kind == TW_AK_BAND;

	memset(a, 0, sizeof *a);
	if ((set & TW_AS_TICKER) && tw_cqrs_take_ticker(op, sp->ticker, op->user.ticker) != TW_OK)
		return op->rc;
	if ((set & TW_AS_KIND) && (sp->kind < TW_AK_ABOVE || sp->kind > TW_AK_MOVE))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "kind",
				       "kind must be above, below, band, cross or move");
	if ((set & TW_AS_LEVEL) && bad_level(sp->level))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "level",
				       "level must be a finite number > 0 and <= 1e9");
	if ((set & TW_AS_KIND) && sp->kind == TW_AK_MOVE && (set & TW_AS_LEVEL) &&
	    sp->level > TW_CQRS_MOVE_PCT_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "level", MOVE_LEVEL_WHY);
	if (set & TW_AS_LEVEL2) {
		if (bad_level(sp->level2))
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "level2",
					       "level2 must be a finite number > 0 and <= 1e9");
		if ((set & TW_AS_KIND) && sp->kind != TW_AK_BAND)
			return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "level2",
					       "level2 is only for kind band (its high end)");
	}
	if (add && band_given && !(set & TW_AS_LEVEL2))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "level2",
				       "kind band needs level2 (the high end of the band)");
	if (band_given && (set & TW_AS_LEVEL) && (set & TW_AS_LEVEL2) && !(sp->level < sp->level2))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "level2",
				       "band needs level < level2 (level the low end, level2 the "
				       "high end)");
	if ((set & TW_AS_FREQUENCY) &&
	    (sp->frequency < TW_AF_CHANGE || sp->frequency > TW_AF_DAILY))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "frequency",
				       "frequency must be change, once or daily");
	if ((set & TW_AS_COOLDOWN) && (sp->cooldown_s < 0 || sp->cooldown_s > TW_CQRS_COOLDOWN_MAX))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "cooldown_s",
				       "cooldown_s must be from 0 to %d (30 days)",
				       TW_CQRS_COOLDOWN_MAX);
	if ((set & TW_AS_REARM) &&
	    (!isfinite(sp->rearm_pct) || sp->rearm_pct < 0 || sp->rearm_pct > TW_CQRS_REARM_MAX))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "rearm_pct",
				       "rearm_pct must be from 0 to %g (percent of the level)",
				       TW_CQRS_REARM_MAX);
	if ((set & TW_AS_EXPIRES) && sp->expires_ms != 0 &&
	    (sp->expires_ms <= wall_ms() || sp->expires_ms > 32503680000000LL))
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "expires_ms",
				       "expires_ms must be in the future (ms since the epoch, before "
				       "year 3000), or null for never");
	if ((set & TW_AS_EXPIRES) && sp->expires_ms < 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "expires_ms",
				       "expires_ms must be in the future, or null for never");
	if (add) {
		snprintf(a->f[1], sizeof a->f[1], "%s", op->user.ticker);
		snprintf(a->f[2], sizeof a->f[2], "%s", tw_cqrs_alert_kind_name(sp->kind));
		tw_cqrs_num(a->f[3], sizeof a->f[3], sp->level);
		if (band_given)
			tw_cqrs_num(a->f[4], sizeof a->f[4], sp->level2);
		snprintf(a->f[5], sizeof a->f[5], "%s",
			 tw_cqrs_alert_freq_name((set & TW_AS_FREQUENCY) ? sp->frequency
									: TW_AF_CHANGE));
		snprintf(a->f[6], sizeof a->f[6], "%lld",
			 (set & TW_AS_COOLDOWN) ? (long long)sp->cooldown_s : 0LL);
		tw_cqrs_num(a->f[7], sizeof a->f[7], (set & TW_AS_REARM) ? sp->rearm_pct : 0);
		if ((set & TW_AS_EXPIRES) && sp->expires_ms)
			snprintf(a->f[8], sizeof a->f[8], "%lld", (long long)sp->expires_ms);
		return TW_OK;
	}
	/* sql_update: ($3,$4) ticker, ($5,$6) kind, ... ($19,$20) enabled; f[i] is $(i+1) */
#define GIVEN(bit, i) snprintf(a->f[i], sizeof a->f[i], "%s", (set & (bit)) ? "t" : "f")
	GIVEN(TW_AS_TICKER, 2);
	snprintf(a->f[3], sizeof a->f[3], "%s", (set & TW_AS_TICKER) ? op->user.ticker : "");
	GIVEN(TW_AS_KIND, 4);
	snprintf(a->f[5], sizeof a->f[5], "%s",
		 (set & TW_AS_KIND) ? tw_cqrs_alert_kind_name(sp->kind) : "");
	GIVEN(TW_AS_LEVEL, 6);
	if (set & TW_AS_LEVEL)
		tw_cqrs_num(a->f[7], sizeof a->f[7], sp->level);
	GIVEN(TW_AS_LEVEL2, 8);
	if (set & TW_AS_LEVEL2)
		tw_cqrs_num(a->f[9], sizeof a->f[9], sp->level2);
	GIVEN(TW_AS_FREQUENCY, 10);
	snprintf(a->f[11], sizeof a->f[11], "%s",
		 (set & TW_AS_FREQUENCY) ? tw_cqrs_alert_freq_name(sp->frequency) : "");
	GIVEN(TW_AS_COOLDOWN, 12);
	snprintf(a->f[13], sizeof a->f[13], "%lld", (long long)sp->cooldown_s);
	GIVEN(TW_AS_REARM, 14);
	tw_cqrs_num(a->f[15], sizeof a->f[15], sp->rearm_pct);
	GIVEN(TW_AS_EXPIRES, 16);
	if ((set & TW_AS_EXPIRES) && sp->expires_ms)
		snprintf(a->f[17], sizeof a->f[17], "%lld", (long long)sp->expires_ms);
	GIVEN(TW_AS_ENABLED, 18);
	snprintf(a->f[19], sizeof a->f[19], "%s", sp->enabled ? "t" : "f");
#undef GIVEN
	return TW_OK;
}

static int begin(struct tw_cqrs *q, struct tw_cqrs_op *op, int kind, const char *email,
		 struct tw_alert_row *out, tw_cqrs_done_fn done, void *arg)
{
	tw_cqrs_op_begin(op, q, kind, done, arg);
	op->ext = out;
	if (out == NULL)
		return tw_cqrs_op_fail(op, TW_ERR_ARG, NULL, "no row to fill");
	memset(out, 0, sizeof *out);
	return tw_cqrs_take_email(op, email);
}

/* A failure before the start leaves no half-filled user in the result. @return @p rc. */
static int refused(struct tw_cqrs_op *op, int rc)
{
	memset(&op->user, 0, sizeof op->user);
	op->res.user = NULL;
	op->legacy[0] = '\0';
	op->res.legacy_response = NULL;
	return rc;
}

/* The result carries no user (the row is the caller's out) and no legacy text. */
static int started(struct tw_cqrs_op *op, int rc)
{
	return rc == TW_OK ? TW_OK : refused(op, rc);
}

int tw_cqrs_add_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		      const struct tw_alert_spec *spec, long long limit,
		      const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
		      tw_cqrs_done_fn done, void *arg)
{
	int rc;

	if ((rc = begin(q, op, K_ALERT_ADD, email, out, done, arg)) != TW_OK)
		return refused(op, rc);
	if (spec == NULL || limit < 1 || limit > TW_CQRS_ALERTS_MAX)
		return refused(op, tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
						   "limit must be from 1 to %d",
						   TW_CQRS_ALERTS_MAX));
	if ((rc = take_spec(op, spec, 1)) != TW_OK)
		return refused(op, rc);
	snprintf(args_of(op)->f[9], sizeof args_of(op)->f[9], "%lld", limit);
	op->scanned = limit; /* for the refusal's text */
	return started(op, start_cmd(op, 0, spec, idem));
}

static int take_id(struct tw_cqrs_op *op, long long id, const char *what)
{
	if (id == 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "id",
				       "alert 0 is the user's first alert: %s", what);
	if (id < 1)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "id",
				       "id must be an alert id (a whole number >= 1, from alert.list)");
	return TW_OK;
}

int tw_cqrs_update_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_alert_spec *spec,
			 const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg)
{
	int rc;

	if ((rc = begin(q, op, K_ALERT_UPDATE, email, out, done, arg)) != TW_OK ||
	    (rc = take_id(op, id, "change it with user.update_ticker and "
				  "user.update_thresholds")) != TW_OK)
		return refused(op, rc);
	if (spec == NULL || spec->set == 0)
		return refused(op, tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, NULL,
						   "nothing to update: give at least one field"));
	if ((rc = take_spec(op, spec, 0)) != TW_OK)
		return refused(op, rc);
	return started(op, start_cmd(op, id, spec, idem));
}

int tw_cqrs_remove_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg)
{
	int rc;

	if ((rc = begin(q, op, K_ALERT_REMOVE, email, out, done, arg)) != TW_OK ||
	    (rc = take_id(op, id, "it goes only with user.delete")) != TW_OK)
		return refused(op, rc);
	memset(args_of(op), 0, sizeof *args_of(op));
	return started(op, start_cmd(op, id, NULL, idem));
}

/* ---- ListAlerts ---- */

static int list_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_cqrs_op *op = arg;
	tw_cqrs_alert_fn fn = (tw_cqrs_alert_fn)op->row.user; /* cast back: stored as one */
	struct tw_alert_row a;
	int rc;

	if (ev == TW_DB_ROW) {
		if (!parse_alert_res(res, 0, 0, &a))
			return 0;
		op->count++;
		rc = fn(op->arg, &a);
		if (rc == TW_CQRS_PAUSE)
			return rc;
		return rc < 0 ? rc : 0;
	}
	if (ev == TW_DB_FAIL) {
		tw_cqrs_op_db_fail(op, j);
		if (j->rc == TW_ERR_ARG)
			tw_cqrs_op_fail(op, TW_ERR_ARG, NULL, "the rest of the rows were dropped");
	} else if (op->count == 0 && op->scanned < 0) {
		tw_cqrs_op_fail(op, TW_ERR_CQRS_NOT_FOUND, "email", "no user with e-mail %s",
				op->user.email);
	}
	tw_cqrs_op_finish(op);
	return 0;
}

int tw_cqrs_list_alerts(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			long long after_id, long long limit, tw_cqrs_alert_fn row,
			tw_cqrs_done_fn done, void *arg)
{
	char ab[24], lb[24];
	const char *p[3] = {NULL, ab, lb};
	struct tw_db *db;
	int rc;

	tw_cqrs_op_begin(op, q, K_ALERT_LIST, done, arg);
	op->ext = NULL;
	if ((rc = tw_cqrs_take_email(op, email)) != TW_OK)
		return refused(op, rc);
	if (limit < 1 || limit > TW_CQRS_ALERT_LIST_MAX)
		return refused(op, tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "limit",
						   "limit must be from 1 to %d",
						   TW_CQRS_ALERT_LIST_MAX));
	if (after_id < -1)
		return refused(op, tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "after",
						   "after must be an alert id from the page before"));
	op->row.user = (tw_cqrs_user_fn)row; /* one slot for every row callback: cast back */
	op->scanned = after_id;
	p[0] = op->user.email;
	snprintf(ab, sizeof ab, "%lld", after_id);
	snprintf(lb, sizeof lb, "%lld", limit);
	if ((db = tw_cqrs_reader(op)) == NULL)
		return refused(op, op->rc);
	rc = tw_db_submit(db, &op->job, sql_list, 3, p, TW_DB_SINGLE_ROW, list_step, op);
	return rc == TW_OK ? TW_OK : refused(op, tw_cqrs_op_submit_fail(op, rc));
}
