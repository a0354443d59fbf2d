/* SPDX-License-Identifier: MIT */
/* methods.c - the method table: each method's params and its handler over agent/cqrs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "rpc_int.h"

const char *const tw_rpc_pnames[P_COUNT] = {"email", "ticker", "high", "low", "request_id",
					    "n", "after", "limit", "id", "kind", "level", "level2",
					    "frequency", "cooldown_s", "rearm_pct", "expires_ms",
					    "enabled"};

/* The request over (from the loop): the server goes on with the slot. */
static void over(struct rpc_slot *s)
{
	s->over(s);
}

/* A call that did not start answers at once (validation, database down). */
static int started(struct rpc_slot *s, int rc)
{
	if (rc == TW_OK)
		return RPC_PENDING; /* the done callback answers */
	tw_rpc_respond_failure(s, tw_cqrs_op_result(&s->op));
	return RPC_DONE;
}

static void write_user(struct tw_jw *w, const struct tw_user *u)
{
	tw_jw_lit(w, "{\"email\":");
	tw_jw_str(w, u->email);
	tw_jw_lit(w, ",\"ticker\":");
	tw_jw_str(w, u->ticker);
	tw_jw_lit(w, ",\"high\":");
	if (u->has_high)
		tw_jw_num(w, u->high);
	else
		tw_jw_lit(w, "null");
	tw_jw_lit(w, ",\"low\":");
	if (u->has_low)
		tw_jw_num(w, u->low);
	else
		tw_jw_lit(w, "null");
	tw_jw_printf(w, ",\"created_ms\":%lld,\"updated_ms\":%lld}", (long long)u->created_ms,
		     (long long)u->updated_ms);
}

/* ---- user commands: at most once; the answer is rendered from the outcome, first run or
 * replayed alike, so a repeat gets the same bytes ---- */

/* An outcome with nothing to render as a result: answered. @return 1, or 0 for a result. */
static int command_answered(struct rpc_slot *s, const struct tw_cqrs_result *r)
{
	if (r->replayed)
		tw_log(TW_LOG_DEBUG, "rpc", "%s: request_id %s replayed", s->peer, s->op.reqid);
	if (r->legacy_response) {
		tw_rpc_respond_stored(s, r->legacy_response);
		return 1;
	}
	if (r->rc != TW_OK) {
		tw_rpc_respond_failure(s, r);
		return 1;
	}
	return 0;
}

/* register, update_ticker, update_thresholds: the row as stored. */
static void user_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[TW_RPC_OUT / 2];
	struct tw_jw w;

	if (!command_answered(s, r)) {
		tw_jw_init(&w, json, sizeof json);
		if (r->user)
			write_user(&w, r->user);
		else
			tw_jw_lit(&w, "null");
		tw_rpc_respond_result(s, json, w.len);
	}
	over(s);
}

static void deleted_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[TW_CQRS_EMAIL_MAX * 6 + 32];
	struct tw_jw w;

	if (!command_answered(s, r)) {
		tw_jw_init(&w, json, sizeof json);
		tw_jw_lit(&w, "{\"deleted\":");
		tw_jw_str(&w, r->user ? r->user->email : "");
		tw_jw_lit(&w, "}");
		tw_rpc_respond_result(s, json, w.len);
	}
	over(s);
}

static struct tw_cqrs_idem idem_of(const struct rpc_slot *s, const struct rpc_method *m,
				   const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = {.request_id = p->request_id, .method = m->name,
				    .ttl_ms = s->rpc->ttl_ms};

	return idem;
}

static int run_register(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = idem_of(s, m, p);

	if (tw_rpc_tcheck_wanted(s, p)) /* the quote source knows the ticker? (tickercheck.c) */
		return tw_rpc_tcheck_start(s, m, p, user_done);
	return started(s, tw_cqrs_register_user(s->rpc->q, &s->op, p->email, p->ticker, p->high,
						p->low, &idem, user_done, s));
}

static int run_update_ticker(struct rpc_slot *s, const struct rpc_method *m,
			     const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = idem_of(s, m, p);

	if (tw_rpc_tcheck_wanted(s, p))
		return tw_rpc_tcheck_start(s, m, p, user_done);
	return started(s, tw_cqrs_update_ticker(s->rpc->q, &s->op, p->email, p->ticker, &idem,
						user_done, s));
}

static int run_update_thresholds(struct rpc_slot *s, const struct rpc_method *m,
				 const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = idem_of(s, m, p);

	return started(s, tw_cqrs_update_thresholds(s->rpc->q, &s->op, p->email, p->high, p->low,
						    &idem, user_done, s));
}

static int run_delete(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = idem_of(s, m, p);

	return started(s, tw_cqrs_delete_user(s->rpc->q, &s->op, p->email, &idem, deleted_done, s));
}

/* ---- queries ---- */

static void get_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[TW_RPC_OUT / 2];
	struct tw_jw w;

	if (r->rc != TW_OK) {
		tw_rpc_respond_failure(s, r);
	} else {
		tw_jw_init(&w, json, sizeof json);
		if (r->user)
			write_user(&w, r->user);
		else
			tw_jw_lit(&w, "null");
		tw_rpc_respond_result(s, json, w.len);
	}
	over(s);
}

static void last_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[256];
	struct tw_jw w;

	if (r->rc != TW_OK) {
		tw_rpc_respond_failure(s, r);
	} else {
		tw_jw_init(&w, json, sizeof json);
		tw_jw_lit(&w, "{\"ticker\":");
		tw_jw_str(&w, r->quote ? r->quote->ticker : "");
		tw_jw_lit(&w, ",\"value\":");
		tw_jw_num(&w, r->quote ? r->quote->value : 0);
		tw_jw_printf(&w, ",\"time_ms\":%lld}",
			     r->quote ? (long long)r->quote->time_ms : 0LL);
		tw_rpc_respond_result(s, json, w.len);
	}
	over(s);
}

static void average_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[256];
	struct tw_jw w;

	if (r->rc != TW_OK) {
		tw_rpc_respond_failure(s, r);
	} else {
		tw_jw_init(&w, json, sizeof json);
		tw_jw_lit(&w, "{\"ticker\":");
		tw_jw_str(&w, r->quote ? r->quote->ticker : s->op.quote.ticker);
		tw_jw_lit(&w, ",\"average\":");
		tw_jw_num(&w, r->average);
		tw_jw_printf(&w, ",\"n\":%lld}", r->count);
		tw_rpc_respond_result(s, json, w.len);
	}
	over(s);
}

static int run_get(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	(void)m;
	return started(s, tw_cqrs_get_user(s->rpc->q, &s->op, p->email, get_done, s));
}

/* quote.last and quote.average need email or ticker: neither is a missing param (-32602,
 * as the error table says), not a value that breaks a rule. @return 0, or answers and -1. */
static int need_email_or_ticker(struct rpc_slot *s, const struct rpc_params *p)
{
	if (p->seen & (RPC_P(EMAIL) | RPC_P(TICKER)))
		return 0;
	tw_rpc_respond_error(s, TW_RPC_INVALID_PARAMS,
			     "email or ticker is missing: give one of them", "email");
	return -1;
}

static int run_last(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	(void)m;
	if (need_email_or_ticker(s, p) != 0)
		return RPC_DONE;
	return started(s, tw_cqrs_last_value(s->rpc->q, &s->op, p->email,
					     p->ticker[0] ? p->ticker : NULL, last_done, s));
}

static int run_average(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	(void)m;
	if (need_email_or_ticker(s, p) != 0)
		return RPC_DONE;
	return started(s, tw_cqrs_average(s->rpc->q, &s->op, p->email,
					  p->ticker[0] ? p->ticker : NULL, (long long)p->n,
					  average_done, s));
}

/* user.list: the page is written into the slot's buffer as rows stream in. */
static int list_row(void *arg, const struct tw_user *u)
{
	struct rpc_slot *s = arg;

	if (s->list_rows++)
		tw_jw_lit(&s->list, ",");
	write_user(&s->list, u);
	if (s->list.overflow)
		return -1;
	snprintf(s->list_last, sizeof s->list_last, "%s", u->email);
	return 0;
}

static void list_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;

	if (r->rc != TW_OK) {
		tw_rpc_respond_error(s, tw_rpc_error_code(r->rc),
				     r->rc == TW_ERR_ARG ? "page larger than the reply buffer" : r->msg,
				     r->field);
	} else {
		tw_jw_lit(&s->list, "],\"next\":");
		/* a full page may have more after it: its last e-mail is the next page's cursor */
		tw_jw_str(&s->list, s->list_rows == s->list_limit ? s->list_last : NULL);
		tw_jw_lit(&s->list, "}");
		tw_rpc_result_close(s, &s->list, "page larger than the reply buffer");
	}
	over(s);
}

static int run_list(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	(void)m;
	tw_rpc_result_open(s, &s->list);
	tw_jw_lit(&s->list, "{\"users\":[");
	s->list_rows = 0;
	s->list_last[0] = '\0';
	s->list_limit = (p->seen & RPC_P(LIMIT)) ? (long long)p->limit : TW_CQRS_LIST_MAX;
	return started(s, tw_cqrs_list_users(s->rpc->q, &s->op, p->after, s->list_limit, list_row,
					     list_done, s));
}

/* ---- agent.status: synchronous ---- */

static int run_status(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	struct tw_agent *ag = s->rpc->ag;
	char json[4096], line[512];
	struct tw_jw w;

	(void)m;
	(void)p;
	tw_jw_init(&w, json, sizeof json);
	tw_jw_lit(&w, "{\"version\":");
	tw_jw_str(&w, TW_VERSION);
	tw_jw_printf(&w, ",\"uptime_s\":%lld,\"board\":", (long long)tw_agent_uptime_s(ag));
	tw_jw_str(&w, ag->cfg.agent.board);
	tw_jw_lit(&w, ",\"roles\":[");
	for (size_t i = 0; i < ag->nroles; i++) {
		line[0] = '\0';
		if (i < ag->nstarted && ag->roles[i]->status)
			ag->roles[i]->status(ag, ag->role_state[i], line, sizeof line);
		tw_jw_lit(&w, i ? ",{\"name\":" : "{\"name\":");
		tw_jw_str(&w, ag->roles[i]->name);
		tw_jw_lit(&w, ",\"status\":");
		tw_jw_str(&w, line);
		tw_jw_lit(&w, "}");
	}
	tw_jw_lit(&w, "],\"db\":");
	tw_cqrs_status(s->rpc->q, line, sizeof line);
	tw_jw_str(&w, line);
	tw_jw_lit(&w, ",\"rpc\":");
	tw_rpc_status(s->rpc, line, sizeof line);
	tw_jw_str(&w, line);
	tw_jw_lit(&w, "}");
	if (w.overflow)
		tw_rpc_respond_error(s, TW_RPC_INTERNAL, "status larger than the reply buffer", NULL);
	else
		tw_rpc_respond_result(s, json, w.len);
	return RPC_DONE;
}

/* ---- the dead letters (docs/notifications.md): a page, and a re-drive at most once ---- */

static int dead_row(void *arg, const struct tw_cqrs_dead_row *r)
{
	struct rpc_slot *s = arg;

	if (s->list_rows++)
		tw_jw_lit(&s->list, ",");
	tw_jw_printf(&s->list, "{\"id\":%lld,\"notification_id\":", r->id);
	tw_jw_str(&s->list, r->notification_id ? r->notification_id : "");
	tw_jw_lit(&s->list, ",\"email\":");
	tw_jw_str(&s->list, r->email ? r->email : "");
	tw_jw_lit(&s->list, ",\"reason\":");
	tw_jw_str(&s->list, r->reason ? r->reason : "");
	tw_jw_printf(&s->list, ",\"attempts\":%d,\"created_ms\":%lld,\"redrivable\":%s}",
		     r->attempts, (long long)r->created_ms, r->redrivable ? "true" : "false");
	if (s->list.overflow)
		return -1;
	snprintf(s->list_last, sizeof s->list_last, "%lld", r->id);
	return 0;
}

static int run_dead_list(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	long long after = 0;
	char *end = NULL;

	(void)m;
	if (p->seen & RPC_P(AFTER)) {
		after = strtoll(p->after, &end, 10);
		if (p->after[0] == '\0' || *end != '\0' || after < 0) {
			tw_rpc_respond_error(s, TW_RPC_VALIDATION, "after must be the \"next\" of the "
					     "page before (a dead letter id)", "after");
			return RPC_DONE;
		}
	}
	tw_rpc_result_open(s, &s->list);
	tw_jw_lit(&s->list, "{\"dead_letters\":[");
	s->list_rows = 0;
	s->list_last[0] = '\0';
	s->list_limit = (p->seen & RPC_P(LIMIT)) ? (long long)p->limit : TW_CQRS_DEAD_LIST_MAX;
	return started(s, tw_cqrs_deadletter_list(s->rpc->q, &s->op, after, s->list_limit, dead_row,
						  list_done, s));
}

static void redrive_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[TW_CQRS_MSG_MAX * 6 + 64];
	struct tw_jw w;

	if (!command_answered(s, r)) {
		tw_jw_init(&w, json, sizeof json);
		tw_jw_printf(&w, "{\"redriven\":%s,\"notification_id\":",
			     r->last_key ? r->last_key : "null");
		tw_jw_str(&w, r->msg);
		tw_jw_lit(&w, "}");
		tw_rpc_respond_result(s, json, w.len);
	}
	over(s);
}

static int run_dead_redrive(struct rpc_slot *s, const struct rpc_method *m,
			    const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = idem_of(s, m, p);

	if (p->id < 1 || p->id > 9e15) {
		tw_rpc_respond_error(s, TW_RPC_VALIDATION, "id must be a dead letter id (a whole "
				     "number >= 1, from deadletter.list)", "id");
		return RPC_DONE;
	}
	return started(s, tw_cqrs_deadletter_redrive(s->rpc->q, &s->op, (long long)p->id, &idem,
						     redrive_done, s));
}

/* ---- for the other method files (alerts.c) ---- */

int tw_rpc_started(struct rpc_slot *s, int rc)
{
	return started(s, rc);
}

int tw_rpc_command_answered(struct rpc_slot *s, const struct tw_cqrs_result *r)
{
	return command_answered(s, r);
}

struct tw_cqrs_idem tw_rpc_idem_of(const struct rpc_slot *s, const struct rpc_method *m,
				   const struct rpc_params *p)
{
	return idem_of(s, m, p);
}

void tw_rpc_over(struct rpc_slot *s)
{
	over(s);
}

/* ---- the table ---- */

#define CMD_ID RPC_P(REQID)

const struct rpc_method tw_rpc_methods[] = {
	{"user.register", RPC_P(EMAIL) | RPC_P(TICKER) | RPC_P(HIGH) | RPC_P(LOW) | CMD_ID,
	 RPC_P(EMAIL) | RPC_P(TICKER) | CMD_ID, run_register},
	{"user.update_ticker", RPC_P(EMAIL) | RPC_P(TICKER) | CMD_ID,
	 RPC_P(EMAIL) | RPC_P(TICKER) | CMD_ID, run_update_ticker},
	{"user.update_thresholds", RPC_P(EMAIL) | RPC_P(HIGH) | RPC_P(LOW) | CMD_ID,
	 RPC_P(EMAIL) | CMD_ID, run_update_thresholds},
	{"user.delete", RPC_P(EMAIL) | CMD_ID, RPC_P(EMAIL) | CMD_ID, run_delete},
	{"user.get", RPC_P(EMAIL), RPC_P(EMAIL), run_get},
	{"quote.last", RPC_P(EMAIL) | RPC_P(TICKER), 0, run_last},
	{"quote.average", RPC_P(EMAIL) | RPC_P(TICKER) | RPC_P(N), RPC_P(N), run_average},
	{"user.list", RPC_P(AFTER) | RPC_P(LIMIT), 0, run_list},
	{"agent.status", 0, 0, run_status},
	{"deadletter.list", RPC_P(AFTER) | RPC_P(LIMIT), 0, run_dead_list},
	{"deadletter.redrive", RPC_P(ID) | CMD_ID, RPC_P(ID) | CMD_ID, run_dead_redrive},
	{"alert.add", RPC_P(EMAIL) | RPC_P(TICKER) | RPC_P(KIND) | RPC_P(LEVEL) | RPC_P(LEVEL2) |
	 RPC_P(FREQUENCY) | RPC_P(COOLDOWN) | RPC_P(REARM) | RPC_P(EXPIRES) | CMD_ID,
	 RPC_P(EMAIL) | RPC_P(TICKER) | RPC_P(KIND) | RPC_P(LEVEL) | CMD_ID, tw_rpc_run_alert_add},
	{"alert.list", RPC_P(EMAIL) | RPC_P(AFTER) | RPC_P(LIMIT), RPC_P(EMAIL),
	 tw_rpc_run_alert_list},
	{"alert.update", RPC_P(EMAIL) | RPC_P(ID) | RPC_P(TICKER) | RPC_P(KIND) | RPC_P(LEVEL) |
	 RPC_P(LEVEL2) | RPC_P(FREQUENCY) | RPC_P(COOLDOWN) | RPC_P(REARM) | RPC_P(EXPIRES) |
	 RPC_P(ENABLED) | CMD_ID, RPC_P(EMAIL) | RPC_P(ID) | CMD_ID, tw_rpc_run_alert_update},
	{"alert.remove", RPC_P(EMAIL) | RPC_P(ID) | CMD_ID, RPC_P(EMAIL) | RPC_P(ID) | CMD_ID,
	 tw_rpc_run_alert_remove},
};

const size_t tw_rpc_nmethods = sizeof tw_rpc_methods / sizeof tw_rpc_methods[0];
