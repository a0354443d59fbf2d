/* SPDX-License-Identifier: MIT */
/* history.c - alert.history (docs/rpc.md): a user's e-mails from the ledger, newest first.
 *
 * A page of agent/cqrs/history.c's rows, read-only. A deferred or dead entry's stored message
 * is read with agent/notif's verifying reader (tw_notif_parse(), under the process's signing
 * key) for its ticker, condition, value and alert (0: the user's first one); a message that
 * is absent, does not verify, or while the key is not loaded yet, gives null for the four. A
 * further alert past its expiry is an entry too ("expired", its alert id and ticker). Bounded: a page is at most
 * "limit" rows (1..TW_CQRS_HISTORY_MAX, default 20) and ends earlier when the next row would
 * not fit the slot's TW_RPC_OUT answer with its tail; "next" then names the last row written,
 * so the following page starts right after it and no row is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "notif/notif.h"
#include "rpc_int.h"

/* Bytes kept free for the tail: ],"next":<cursor, escaped>}} and the line end. */
#define TAIL_RESERVE (16 + 6 * TW_CQRS_HISTORY_CURSOR_MAX + 8)
/* One row, at most: id (128 characters) and reason (200) escaped, the rest short. */
#define ROW_MAX (6 * 128 + 6 * 200 + 512)

static struct tw_notif msg_read; /* one request runs at a time on the loop: no stack of 9 KiB */

static void write_entry(struct tw_jw *w, const struct tw_cqrs_history_row *h,
			const struct tw_notif_key *k)
{
	char err[128];

	if (h->state == TW_HS_EXPIRED) { /* a further alert past its expiry: no e-mail */
		tw_jw_lit(w, "{\"id\":null,\"state\":\"expired\"");
		tw_jw_printf(w, ",\"time_ms\":%lld,\"alert\":%lld,\"ticker\":",
			     (long long)h->time_ms, (long long)h->alert_id);
		tw_jw_str(w, h->ticker);
		tw_jw_lit(w, ",\"condition\":null,\"value\":null}");
		return;
	}
	tw_jw_lit(w, "{\"id\":");
	tw_jw_str(w, h->notification_id);
	tw_jw_lit(w, ",\"state\":");
	tw_jw_str(w, tw_cqrs_history_state_name(h->state));
	tw_jw_printf(w, ",\"time_ms\":%lld", (long long)h->time_ms);
	if (h->state == TW_HS_DEFERRED || h->state == TW_HS_DEAD) {
		tw_jw_printf(w, ",\"attempts\":%d", h->attempts);
		if (h->state == TW_HS_DEFERRED)
			tw_jw_printf(w, ",\"next_ms\":%lld", (long long)h->next_ms);
		tw_jw_lit(w, ",\"reason\":");
		tw_jw_str(w, h->reason);
	}
	if (h->message && k &&
	    tw_notif_parse(&msg_read, h->message, h->message_len, NULL, 0, k, err, sizeof err) ==
		    0) {
		tw_jw_lit(w, ",\"ticker\":");
		tw_jw_str(w, msg_read.ticker);
		tw_jw_lit(w, ",\"condition\":");
		tw_jw_str(w, msg_read.condition == TW_COND_HIGHER ? "higher" : "lower");
		tw_jw_lit(w, ",\"value\":");
		tw_jw_num(w, msg_read.value);
		tw_jw_printf(w, ",\"alert\":%lld", (long long)msg_read.alert_id);
	} else {
		tw_jw_lit(w, ",\"ticker\":null,\"condition\":null,\"value\":null,\"alert\":null");
	}
	tw_jw_lit(w, "}");
}

static int history_row(void *arg, const struct tw_cqrs_history_row *h)
{
	struct rpc_slot *s = arg;
	char row[ROW_MAX];
	struct tw_jw w;

	if (s->list_full)
		return 0; /* the page ended at the last row that fit: the rest drain unread */
	tw_jw_init(&w, row, sizeof row);
	write_entry(&w, h, h->message ? tw_notif_key_poll(s->rpc->q) : NULL);
	if (w.overflow || s->list.len + 1 + w.len + TAIL_RESERVE > s->list.cap) {
		s->list_full = 1;
		return 0;
	}
	if (s->list_rows++)
		tw_jw_lit(&s->list, ",");
	tw_jw_raw(&s->list, row, w.len);
	snprintf(s->list_last, sizeof s->list_last, "%s", h->cursor);
	return 0;
}

static void history_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;

	if (r->rc != TW_OK) {
		tw_rpc_respond_error(s, tw_rpc_error_code(r->rc),
				     r->rc == TW_ERR_ARG ? "page larger than the reply buffer" : r->msg,
				     r->field);
	} else {
		tw_jw_lit(&s->list, "],\"next\":");
		tw_jw_str(&s->list, s->list_rows && (s->list_full || s->list_rows == s->list_limit)
					    ? s->list_last
					    : NULL);
		tw_jw_lit(&s->list, "}");
		tw_rpc_result_close(s, &s->list, "page larger than the reply buffer");
	}
	tw_rpc_over(s);
}

int tw_rpc_run_alert_history(struct rpc_slot *s, const struct rpc_method *m,
			     const struct rpc_params *p)
{
	(void)m;
	if ((p->seen & RPC_P(AFTER)) && p->after[0] == '\0') {
		tw_rpc_respond_error(s, TW_RPC_VALIDATION,
				     "after must be the \"next\" of the page before", "after");
		return RPC_DONE;
	}
	tw_rpc_result_open(s, &s->list);
	tw_jw_lit(&s->list, "{\"history\":[");
	s->list_rows = 0;
	s->list_full = 0;
	s->list_last[0] = '\0';
	s->list_limit = (p->seen & RPC_P(LIMIT)) ? (long long)p->limit : TW_RPC_HISTORY_PAGE;
	return tw_rpc_started(s, tw_cqrs_list_history(s->rpc->q, &s->op, p->email,
						      (p->seen & RPC_P(AFTER)) ? p->after : NULL,
						      s->list_limit, history_row, history_done, s));
}
