/* SPDX-License-Identifier: MIT */
/* alerts.c - the alert.* methods (docs/rpc.md): a user's alerts over agent/cqrs/alerts.c.
 *
 * alert.add, alert.update and alert.remove are at most once per request_id like the user.*
 * methods (methods.c's wrapper: the answer is rendered from the outcome, first run or
 * replayed alike); alert.list is a page of alert 0 (the users row) then the alerts by id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "rpc_int.h"

static void write_alert(struct tw_jw *w, const struct tw_alert_row *a)
{
	tw_jw_printf(w, "{\"id\":%lld,\"email\":", a->id);
	tw_jw_str(w, a->email);
	tw_jw_lit(w, ",\"ticker\":");
	tw_jw_str(w, a->ticker);
	tw_jw_lit(w, ",\"kind\":");
	tw_jw_str(w, tw_cqrs_alert_kind_name(a->kind));
	tw_jw_lit(w, ",\"level\":");
	if (a->has_level)
		tw_jw_num(w, a->level);
	else
		tw_jw_lit(w, "null");
	tw_jw_lit(w, ",\"level2\":");
	if (a->kind == TW_AK_BAND)
		tw_jw_num(w, a->level2);
	else
		tw_jw_lit(w, "null");
	tw_jw_lit(w, ",\"frequency\":");
	tw_jw_str(w, tw_cqrs_alert_freq_name(a->frequency));
	tw_jw_printf(w, ",\"cooldown_s\":%lld,\"rearm_pct\":", (long long)a->cooldown_s);
	tw_jw_num(w, a->rearm_pct);
	if (a->expires_ms)
		tw_jw_printf(w, ",\"expires_ms\":%lld", (long long)a->expires_ms);
	else
		tw_jw_lit(w, ",\"expires_ms\":null");
	tw_jw_printf(w, ",\"enabled\":%s,\"disabled_reason\":", a->enabled ? "true" : "false");
	tw_jw_str(w, a->disabled_reason[0] ? a->disabled_reason : NULL);
	tw_jw_printf(w, ",\"created_ms\":%lld,\"updated_ms\":%lld}", (long long)a->created_ms,
		     (long long)a->updated_ms);
}

/* add, update, remove: the row (remove: the row removed, as {"removed": row}). */
static void alert_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[TW_RPC_OUT / 2];
	struct tw_jw w;

	if (!tw_rpc_command_answered(s, r)) {
		tw_jw_init(&w, json, sizeof json);
		write_alert(&w, &s->alert);
		tw_rpc_respond_result(s, json, w.len);
	}
	tw_rpc_over(s);
}

static void removed_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char json[TW_RPC_OUT / 2];
	struct tw_jw w;

	if (!tw_rpc_command_answered(s, r)) {
		tw_jw_init(&w, json, sizeof json);
		tw_jw_lit(&w, "{\"removed\":");
		write_alert(&w, &s->alert);
		tw_jw_lit(&w, "}");
		tw_rpc_respond_result(s, json, w.len);
	}
	tw_rpc_over(s);
}

/* The spec of the params given. @return 0, or answers and -1 (a kind or frequency unknown). */
static int spec_of(struct rpc_slot *s, const struct rpc_params *p, struct tw_alert_spec *sp)
{
	memset(sp, 0, sizeof *sp);
	if (p->seen & RPC_P(TICKER)) {
		sp->set |= TW_AS_TICKER;
		sp->ticker = p->ticker;
	}
	if (p->seen & RPC_P(KIND)) {
		sp->set |= TW_AS_KIND;
		if ((sp->kind = tw_cqrs_alert_kind_of(p->kind)) < 0) {
			tw_rpc_respond_error(s, TW_RPC_VALIDATION,
					     "kind must be above, below, band, cross or move",
					     "kind");
			return -1;
		}
	}
	if (p->seen & RPC_P(FREQUENCY)) {
		sp->set |= TW_AS_FREQUENCY;
		if ((sp->frequency = tw_cqrs_alert_freq_of(p->frequency)) < 0) {
			tw_rpc_respond_error(s, TW_RPC_VALIDATION,
					     "frequency must be change, once or daily", "frequency");
			return -1;
		}
	}
	if (p->seen & RPC_P(LEVEL)) {
		sp->set |= TW_AS_LEVEL;
		sp->level = p->level;
	}
	if (p->seen & RPC_P(LEVEL2)) {
		sp->set |= TW_AS_LEVEL2;
		sp->level2 = p->level2;
	}
	if (p->seen & RPC_P(COOLDOWN)) {
		sp->set |= TW_AS_COOLDOWN;
		sp->cooldown_s = p->cooldown_s < -1 ? -1 : p->cooldown_s > 1e12 ? (int64_t)1e12
									       : (int64_t)p->cooldown_s;
	}
	if (p->seen & RPC_P(REARM)) {
		sp->set |= TW_AS_REARM;
		sp->rearm_pct = p->rearm_pct;
	}
	if (p->seen & RPC_P(EXPIRES)) {
		sp->set |= TW_AS_EXPIRES;
		sp->expires_ms = (int64_t)p->expires_ms;
	}
	if (p->seen & RPC_P(ENABLED)) {
		sp->set |= TW_AS_ENABLED;
		sp->enabled = p->enabled;
	}
	return 0;
}

/* alert 0 is the users row: answered -32602 with the seed's method to use. @return 1 if so. */
static int first_alert(struct rpc_slot *s, const struct rpc_params *p, const char *use)
{
	char msg[160];

	if (p->id != 0)
		return 0;
	snprintf(msg, sizeof msg, "alert 0 is the user's first alert (the users row): %s", use);
	tw_rpc_respond_error(s, TW_RPC_INVALID_PARAMS, msg, "id");
	return 1;
}

static int bad_id(struct rpc_slot *s, const struct rpc_params *p)
{
	if (p->id >= 1 && p->id <= 9e15)
		return 0;
	tw_rpc_respond_error(s, TW_RPC_VALIDATION,
			     "id must be an alert id (a whole number >= 1, from alert.list)", "id");
	return 1;
}

int tw_rpc_run_alert_add(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = tw_rpc_idem_of(s, m, p);
	struct tw_alert_spec sp;

	if (spec_of(s, p, &sp) != 0)
		return RPC_DONE;
	return tw_rpc_started(s, tw_cqrs_add_alert(s->rpc->q, &s->op, p->email, &sp,
						   (long long)s->rpc->ag->cfg.limits.alerts_per_user,
						   &idem, &s->alert, alert_done, s));
}

int tw_rpc_run_alert_update(struct rpc_slot *s, const struct rpc_method *m,
			    const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = tw_rpc_idem_of(s, m, p);
	struct tw_alert_spec sp;

	if (first_alert(s, p, "change it with user.update_ticker / user.update_thresholds") ||
	    bad_id(s, p) || spec_of(s, p, &sp) != 0)
		return RPC_DONE;
	return tw_rpc_started(s, tw_cqrs_update_alert(s->rpc->q, &s->op, p->email,
						      (long long)p->id, &sp, &idem, &s->alert,
						      alert_done, s));
}

int tw_rpc_run_alert_remove(struct rpc_slot *s, const struct rpc_method *m,
			    const struct rpc_params *p)
{
	struct tw_cqrs_idem idem = tw_rpc_idem_of(s, m, p);

	if (first_alert(s, p, "it is removed only with its user, by user.delete") || bad_id(s, p))
		return RPC_DONE;
	return tw_rpc_started(s, tw_cqrs_remove_alert(s->rpc->q, &s->op, p->email,
						      (long long)p->id, &idem, &s->alert,
						      removed_done, s));
}

/* alert.list: the page is written into the slot's buffer as rows stream in. */
static int list_row(void *arg, const struct tw_alert_row *a)
{
	struct rpc_slot *s = arg;

	if (s->list_rows++)
		tw_jw_lit(&s->list, ",");
	write_alert(&s->list, a);
	if (s->list.overflow)
		return -1;
	snprintf(s->list_last, sizeof s->list_last, "%lld", a->id);
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
		tw_jw_str(&s->list, s->list_rows == s->list_limit ? s->list_last : NULL);
		tw_jw_lit(&s->list, "}");
		tw_rpc_result_close(s, &s->list, "page larger than the reply buffer");
	}
	tw_rpc_over(s);
}

int tw_rpc_run_alert_list(struct rpc_slot *s, const struct rpc_method *m,
			  const struct rpc_params *p)
{
	long long after = -1;
	char *end = NULL;

	(void)m;
	if (p->seen & RPC_P(AFTER)) {
		after = strtoll(p->after, &end, 10);
		if (p->after[0] == '\0' || *end != '\0' || after < 0) {
			tw_rpc_respond_error(s, TW_RPC_VALIDATION, "after must be the \"next\" of the "
					     "page before (an alert id)", "after");
			return RPC_DONE;
		}
	}
	tw_rpc_result_open(s, &s->list);
	tw_jw_lit(&s->list, "{\"alerts\":[");
	s->list_rows = 0;
	s->list_last[0] = '\0';
	s->list_limit = (p->seen & RPC_P(LIMIT)) ? (long long)p->limit : TW_CQRS_ALERT_LIST_MAX;
	return tw_rpc_started(s, tw_cqrs_list_alerts(s->rpc->q, &s->op, p->email, after,
						     s->list_limit, list_row, list_done, s));
}
