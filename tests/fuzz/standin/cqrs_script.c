/* SPDX-License-Identifier: MIT */
/* cqrs_script.c - a scripted stand-in for agent/cqrs (which needs libpq) under the rpc fuzz
 * target: each call checks the params dispatch hands it, then answers on the next loop turn
 * with the outcome the target chose (fz_cqrs_outcome), or at once when told to fail now.
 * Like tests/unit/test_rpc_server.c's, without the request-id store. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/loop.h"
#include "cqrs/cqrs.h"
#include "fuzz_common.h"
#include "json/json.h"
#include "notif/notif.h"
#include "standin/cqrs_script.h"

struct tw_cqrs {
	int dummy;
};

struct tw_loop *fz_cqrs_loop;
int fz_cqrs_outcome;
int fz_cqrs_sync_fail;
int fz_cqrs_calls;

/* dispatch's promise: strings within their limit + 1 (cqrs refuses the + 1 itself), UTF-8
 * without NUL (the line was checked and \u0000 is refused). */
static void check_str(const char *what, const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	FZ_CHECK(n <= max + 1, "%s of %zu bytes reaches cqrs (limit %zu)", what, n, max);
	FZ_CHECK(tw_json_utf8_ok(s, n), "%s is not UTF-8", what);
}

/* A command always gets its request_id (dispatch requires the param); its content ("" too) is
 * cqrs' to validate (tw_cqrs_check_request_id). */
static void check_idem(const struct tw_cqrs_idem *idem)
{
	FZ_CHECK(idem && idem->request_id && idem->method, "a command without request_id");
	check_str("request_id", idem->request_id, TW_CQRS_REQID_MAX);
}

static void check_threshold(const char *what, double v)
{
	FZ_CHECK(!isnan(v), "%s is NaN", what);
}

static int64_t complete(struct tw_loop *l, void *arg)
{
	struct tw_cqrs_op *op = arg;
	struct tw_cqrs_result *r = &op->res;

	(void)l;
	memset(r, 0, sizeof *r);
	r->rc = fz_cqrs_outcome;
	r->msg = r->rc ? "scripted failure" : "";
	r->field = r->rc == TW_ERR_CQRS_INVALID ? "email" : NULL;
	if (r->rc == 0) {
		snprintf(op->user.email, sizeof op->user.email, "a@example.com");
		snprintf(op->user.ticker, sizeof op->user.ticker, "AAPL");
		op->user.has_high = 1;
		op->user.high = 200;
		r->user = &op->user;
		snprintf(op->quote.ticker, sizeof op->quote.ticker, "AAPL");
		op->quote.value = 123.5;
		r->quote = &op->quote;
		r->average = 120.25;
		r->count = 3;
	}
	op->done(op->arg, r);
	return TW_TIMER_STOP;
}

static int start(struct tw_cqrs_op *op, tw_cqrs_done_fn done, void *arg)
{
	fz_cqrs_calls++;
	memset(&op->res, 0, sizeof op->res);
	op->done = done;
	op->arg = arg;
	if (fz_cqrs_sync_fail) {
		op->res.rc = fz_cqrs_outcome ? fz_cqrs_outcome : TW_ERR_DB_UNAVAILABLE;
		op->res.msg = "scripted synchronous failure";
		op->res.field = op->res.rc == TW_ERR_CQRS_INVALID ? "ticker" : NULL;
		return op->res.rc;
	}
	FZ_CHECK(tw_loop_add_timer(fz_cqrs_loop, 0, complete, op) > 0, "no timer left");
	return TW_OK;
}

int tw_cqrs_register_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, double high, double low,
			  const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_str("ticker", ticker, TW_CQRS_TICKER_MAX);
	check_threshold("high", high);
	check_threshold("low", low);
	check_idem(idem);
	return start(op, done, arg);
}

int tw_cqrs_update_ticker(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, const struct tw_cqrs_idem *idem,
			  tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_str("ticker", ticker, TW_CQRS_TICKER_MAX);
	check_idem(idem);
	return start(op, done, arg);
}

int tw_cqrs_update_thresholds(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			      double high, double low, const struct tw_cqrs_idem *idem,
			      tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_threshold("high", high);
	check_threshold("low", low);
	check_idem(idem);
	return start(op, done, arg);
}

int tw_cqrs_delete_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_idem(idem);
	return start(op, done, arg);
}

int tw_cqrs_get_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		     tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	return start(op, done, arg);
}

int tw_cqrs_last_value(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		       const char *ticker, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_str("ticker", ticker, TW_CQRS_TICKER_MAX);
	return start(op, done, arg);
}

int tw_cqrs_average(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		    const char *ticker, long long n, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)n;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_str("ticker", ticker, TW_CQRS_TICKER_MAX);
	return start(op, done, arg);
}

int tw_cqrs_list_users(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *after,
		       long long limit, tw_cqrs_user_fn row, tw_cqrs_done_fn done, void *arg)
{
	struct tw_user u = {.email = "a@example.com", .ticker = "AAPL"};

	(void)q;
	check_str("after", after, TW_CQRS_EMAIL_MAX);
	for (long long i = 0; i < limit && i < 3; i++)
		if (row(arg, &u) != 0)
			break;
	return start(op, done, arg);
}

int tw_cqrs_deadletter_list(struct tw_cqrs *q, struct tw_cqrs_op *op, long long after_id,
			    long long limit, tw_cqrs_dead_fn row, tw_cqrs_done_fn done, void *arg)
{
	struct tw_cqrs_dead_row r = {.id = 7, .notification_id = "n7", .email = "a@example.com",
				     .reason = "r", .attempts = 1, .redrivable = 1};

	(void)q;
	(void)after_id;
	for (long long i = 0; i < limit && i < 3; i++)
		if (row(arg, &r) != 0)
			break;
	return start(op, done, arg);
}

int tw_cqrs_deadletter_redrive(struct tw_cqrs *q, struct tw_cqrs_op *op, long long dead_id,
			       const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)dead_id;
	if (idem)
		check_str("request_id", idem->request_id, TW_CQRS_REQID_MAX);
	return start(op, done, arg);
}

/* The alert.* methods (agent/rpc/alerts.c): the params within their limits, the row echoed. */
static void alert_row(struct tw_alert_row *out, const char *email)
{
	memset(out, 0, sizeof *out);
	out->id = 3;
	snprintf(out->email, sizeof out->email, "%s", email ? email : "");
	snprintf(out->ticker, sizeof out->ticker, "AAPL");
	out->kind = TW_AK_BAND;
	out->has_level = 1;
	out->level = 1;
	out->level2 = 2;
	out->frequency = TW_AF_DAILY;
	out->enabled = 1;
}

static void check_spec(const struct tw_alert_spec *sp)
{
	FZ_CHECK(sp != NULL, "an alert command without its spec");
	if (sp->set & TW_AS_TICKER)
		check_str("ticker", sp->ticker, TW_CQRS_TICKER_MAX);
	/* rpc/alerts.c maps the names: an unknown kind or frequency never reaches cqrs */
	FZ_CHECK(!(sp->set & TW_AS_KIND) || (sp->kind >= TW_AK_ABOVE && sp->kind <= TW_AK_MOVE),
		 "kind %d reaches cqrs", sp->kind);
	FZ_CHECK(!(sp->set & TW_AS_FREQUENCY) ||
		 (sp->frequency >= TW_AF_CHANGE && sp->frequency <= TW_AF_DAILY),
		 "frequency %d reaches cqrs", sp->frequency);
}

int tw_cqrs_add_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		      const struct tw_alert_spec *spec, long long limit,
		      const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
		      tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)limit;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_spec(spec);
	check_idem(idem);
	alert_row(out, email);
	return start(op, done, arg);
}

int tw_cqrs_update_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_alert_spec *spec,
			 const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	FZ_CHECK(id >= 1, "alert id %lld reaches cqrs (rpc/alerts.c answers it)", id);
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_spec(spec);
	check_idem(idem);
	alert_row(out, email);
	return start(op, done, arg);
}

int tw_cqrs_remove_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	FZ_CHECK(id >= 1, "alert id %lld reaches cqrs (rpc/alerts.c answers it)", id);
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	check_idem(idem);
	alert_row(out, email);
	return start(op, done, arg);
}

int tw_cqrs_list_alerts(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			long long after_id, long long limit, tw_cqrs_alert_fn row,
			tw_cqrs_done_fn done, void *arg)
{
	struct tw_alert_row a;

	(void)q;
	(void)after_id;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	alert_row(&a, email);
	for (long long i = 0; i < limit && i < 3; i++)
		if (row(arg, &a) != 0)
			break;
	return start(op, done, arg);
}

int tw_cqrs_list_history(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 const char *after, long long limit, tw_cqrs_history_fn row,
			 tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)after;
	(void)limit;
	(void)row;
	check_str("email", email, TW_CQRS_EMAIL_MAX);
	if (after)
		check_str("after", after, TW_CQRS_HISTORY_CURSOR_MAX);
	return start(op, done, arg);
}

const char *tw_cqrs_history_state_name(int state)
{
	return state == TW_HS_SENT ? "sent" : "";
}

/* alert.history reads stored messages with agent/notif: no key here, nothing is read. */
const struct tw_notif_key *tw_notif_key_poll(struct tw_cqrs *q)
{
	(void)q;
	return NULL;
}

int tw_notif_parse(struct tw_notif *n, const char *value, size_t len, const char *key,
		   size_t keylen, const struct tw_notif_key *sk, char *err, size_t errlen)
{
	(void)n;
	(void)value;
	(void)len;
	(void)key;
	(void)keylen;
	(void)sk;
	snprintf(err, errlen, "stand-in");
	return TW_ERR_ARG;
}

const char *tw_cqrs_alert_kind_name(int kind)
{
	static const char *const n[] = {"none", "above", "below", "band", "cross", "move"};

	return kind >= 0 && kind <= TW_AK_MOVE ? n[kind] : "none";
}

int tw_cqrs_alert_kind_of(const char *name)
{
	for (int k = TW_AK_ABOVE; k <= TW_AK_MOVE; k++)
		if (strcmp(name, tw_cqrs_alert_kind_name(k)) == 0)
			return k;
	return -1;
}

const char *tw_cqrs_alert_freq_name(int freq)
{
	static const char *const n[] = {"", "change", "once", "daily"};

	return freq >= TW_AF_CHANGE && freq <= TW_AF_DAILY ? n[freq] : "change";
}

int tw_cqrs_alert_freq_of(const char *name)
{
	for (int f = TW_AF_CHANGE; f <= TW_AF_DAILY; f++)
		if (strcmp(name, tw_cqrs_alert_freq_name(f)) == 0)
			return f;
	return -1;
}

int tw_cqrs_expire_requests(struct tw_cqrs *q, struct tw_cqrs_op *op, int64_t ttl_ms,
			    tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)op;
	(void)ttl_ms;
	(void)done;
	(void)arg;
	return TW_OK;
}

int tw_cqrs_ready(const struct tw_cqrs *q)
{
	(void)q;
	return 1;
}

void tw_cqrs_status(const struct tw_cqrs *q, char *buf, size_t len)
{
	(void)q;
	snprintf(buf, len, "scripted db");
}

const struct tw_cqrs_result *tw_cqrs_op_result(const struct tw_cqrs_op *op)
{
	return &op->res;
}
