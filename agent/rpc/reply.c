/* SPDX-License-Identifier: MIT */
/* reply.c - every JSON-RPC answer: the envelope, results, errors and the CQRS error mapping. */
#include <string.h>

#include "core/agent.h"
#include "rpc_int.h"

int tw_rpc_error_code(int rc)
{
	switch (rc) {
	case TW_ERR_CQRS_INVALID:
		return TW_RPC_VALIDATION;
	case TW_ERR_CQRS_NOT_FOUND:
		return TW_RPC_NOT_FOUND;
	case TW_ERR_CQRS_EXISTS:
		return TW_RPC_EXISTS;
	case TW_ERR_CQRS_REUSED:
		return TW_RPC_REQUEST_ID_REUSED;
	case TW_ERR_DB_UNAVAILABLE:
	case TW_ERR_DB_TIMEOUT:
		return TW_RPC_DB_UNAVAILABLE;
	case TW_ERR_DB_BUSY:
		return TW_RPC_BUSY;
	default:
		return TW_RPC_INTERNAL;
	}
}

static const char *code_text(int code)
{
	switch (code) {
	case TW_RPC_PARSE_ERROR: return "parse error";
	case TW_RPC_INVALID_REQUEST: return "invalid request";
	case TW_RPC_METHOD_NOT_FOUND: return "method not found";
	case TW_RPC_INVALID_PARAMS: return "invalid params";
	case TW_RPC_UNAUTHORISED: return "unauthorised";
	case TW_RPC_VALIDATION: return "validation failed";
	case TW_RPC_NOT_FOUND: return "not found";
	case TW_RPC_EXISTS: return "already exists";
	case TW_RPC_DB_UNAVAILABLE: return "database unavailable";
	case TW_RPC_REQUEST_ID_REUSED: return "request id reused";
	case TW_RPC_BUSY: return "busy";
	case TW_RPC_METHOD_FAILED: return "method failed";
	default: return "internal error";
	}
}

/* {"jsonrpc":"2.0","id":ID, -- what every answer starts with. */
static void envelope(struct tw_jw *w, const char *id)
{
	tw_jw_lit(w, "{\"jsonrpc\":\"2.0\",\"id\":");
	tw_jw_lit(w, id[0] ? id : "null");
	tw_jw_lit(w, ",");
}

/* "error":{"code":C,"message":M,"data":{"reason":R[,"field":F]}} */
static void error_member(struct tw_jw *w, int code, const char *msg, const char *field)
{
	tw_jw_printf(w, "\"error\":{\"code\":%d,\"message\":", code);
	tw_jw_str(w, msg && *msg ? msg : code_text(code));
	tw_jw_printf(w, ",\"data\":{\"reason\":");
	tw_jw_str(w, code_text(code));
	if (field) {
		tw_jw_lit(w, ",\"field\":");
		tw_jw_str(w, field);
	}
	tw_jw_lit(w, "}}");
}

/* Start an answer line of @p s in @p w. @return 0, or -1 when nothing is to be sent. */
static int line_open(struct rpc_slot *s, struct tw_jw *w)
{
	if (s->notify)
		return -1;
	if (s->console) {
		tw_jw_init(w, s->rpc->scratch, sizeof s->rpc->scratch);
	} else {
		if (s->fd < 0)
			return -1;
		tw_jw_init(w, s->out + s->out_len, sizeof s->out - s->out_len);
	}
	envelope(w, s->id);
	return 0;
}

/* The complete line in @p w: to the console, or queued behind what the slot holds. */
static void line_queue(struct rpc_slot *s, const struct tw_jw *w)
{
	if (s->console) {
		if (s->rpc->ag->console_on)
			tw_console_write(&s->rpc->ag->console, w->buf, w->len);
		return;
	}
	if (s->out_len == 0)
		s->write_started = tw_hal_now();
	s->out_len += w->len;
}

/* Close the line opened in @p w and queue it; one too large becomes an internal error. */
static void line_send(struct rpc_slot *s, struct tw_jw *w)
{
	tw_jw_lit(w, "}\n");
	if (w->overflow) {
		if (line_open(s, w) != 0)
			return;
		error_member(w, TW_RPC_INTERNAL, "response too large for the reply buffer", NULL);
		tw_jw_lit(w, "}\n");
		if (w->overflow)
			return;
	}
	line_queue(s, w);
}

void tw_rpc_respond_result(struct rpc_slot *s, const char *json, size_t len)
{
	struct tw_jw w;

	if (line_open(s, &w) != 0)
		return;
	tw_jw_lit(&w, "\"result\":");
	tw_jw_raw(&w, json, len);
	line_send(s, &w);
}

static void respond_error(struct rpc_slot *s, int code, const char *msg, const char *field,
			  int counted)
{
	struct tw_jw w;

	if (counted)
		s->rpc->errors++;
	if (line_open(s, &w) != 0)
		return;
	error_member(&w, code, msg, field);
	line_send(s, &w);
}

void tw_rpc_respond_error(struct rpc_slot *s, int code, const char *msg, const char *field)
{
	respond_error(s, code, msg, field, 1);
}

void tw_rpc_respond_failure(struct rpc_slot *s, const struct tw_cqrs_result *r)
{
	respond_error(s, tw_rpc_error_code(r->rc), r->msg, r->field, !r->replayed);
}

void tw_rpc_respond_stored(struct rpc_slot *s, const char *fragment)
{
	struct tw_jw w;

	if (line_open(s, &w) != 0)
		return;
	tw_jw_lit(&w, fragment);
	line_send(s, &w);
}

void tw_rpc_result_open(struct rpc_slot *s, struct tw_jw *w)
{
	/* the slot's own buffer, console or not: nothing else is queued while it runs */
	tw_jw_init(w, s->out, sizeof s->out);
	envelope(w, s->id);
	tw_jw_lit(w, "\"result\":");
}

void tw_rpc_result_close(struct rpc_slot *s, struct tw_jw *w, const char *too_big)
{
	tw_jw_lit(w, "}\n");
	if (w->overflow) {
		tw_rpc_respond_error(s, TW_RPC_INTERNAL, too_big, NULL);
		return;
	}
	if (s->notify)
		return;
	if (s->console) {
		line_queue(s, w);
		return;
	}
	if (s->fd < 0)
		return;
	s->write_started = tw_hal_now();
	s->out_off = 0;
	s->out_len = w->len;
}

size_t tw_rpc_refusal(char *buf, size_t len, const char *msg)
{
	struct tw_jw w;

	tw_jw_init(&w, buf, len);
	envelope(&w, "");
	tw_jw_printf(&w, "\"error\":{\"code\":%d,\"message\":", TW_RPC_BUSY);
	tw_jw_str(&w, msg);
	tw_jw_lit(&w, ",\"data\":{\"reason\":");
	tw_jw_str(&w, code_text(TW_RPC_BUSY));
	tw_jw_lit(&w, "}}}\n");
	return w.overflow ? 0 : w.len;
}
