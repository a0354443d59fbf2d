/* SPDX-License-Identifier: MIT */
/* methods.c - one JSON-RPC request: envelope checks, auth, params, dispatch, responses. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "rpc_int.h"

enum method {
	M_REGISTER = 1,
	M_UPDATE_TICKER,
	M_UPDATE_THRESHOLDS,
	M_DELETE,
	M_GET,
	M_LAST,
	M_AVERAGE,
	M_LIST,
	M_STATUS,
};

/* Params each method accepts; a param not listed is an error (catches typos like "hihg"). */
static const struct {
	const char *name;
	int m;
	const char *params; /* space-separated */
} methods[] = {
	{"user.register", M_REGISTER, "email ticker high low request_id"},
	{"user.update_ticker", M_UPDATE_TICKER, "email ticker request_id"},
	{"user.update_thresholds", M_UPDATE_THRESHOLDS, "email high low request_id"},
	{"user.delete", M_DELETE, "email request_id"},
	{"user.get", M_GET, "email"},
	{"quote.last", M_LAST, "email ticker"},
	{"quote.average", M_AVERAGE, "email ticker n"},
	{"user.list", M_LIST, "after limit"},
	{"agent.status", M_STATUS, ""},
};

#define NMETHODS (sizeof methods / sizeof methods[0])

/* The params of any method, decoded. Strings get room for one byte past their limit. */
struct params {
	char email[TW_CQRS_EMAIL_MAX + 2];
	char ticker[TW_CQRS_TICKER_MAX + 2];
	char request_id[TW_CQRS_REQID_MAX + 2];
	char after[TW_CQRS_EMAIL_MAX + 2];
	double high, low, n, limit;
	unsigned seen; /* bit per param name */
};

static const char *const pnames[] = {"email", "ticker", "high", "low", "request_id",
				     "n", "after", "limit"};
enum { P_EMAIL, P_TICKER, P_HIGH, P_LOW, P_REQID, P_N, P_AFTER, P_LIMIT, P_COUNT };

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

void tw_rpc_error_fragment(struct tw_jw *w, int code, const char *msg, const char *field)
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

static void fail(struct rpc_slot *s, int code, const char *msg, const char *field)
{
	tw_rpc_respond_error(s, code, msg, field);
	tw_rpc_request_done(s);
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

/* The response fragment of a command's outcome (stored with its request id). */
static size_t format_outcome(void *arg, const struct tw_cqrs_result *r, char *out, size_t len)
{
	const struct rpc_slot *s = arg;
	struct tw_jw w;

	tw_jw_init(&w, out, len);
	if (r->rc != TW_OK) {
		tw_rpc_error_fragment(&w, tw_rpc_error_code(r->rc), r->msg, r->field);
	} else if (s->method == M_DELETE) {
		tw_jw_lit(&w, "\"result\":{\"deleted\":");
		tw_jw_str(&w, r->user ? r->user->email : "");
		tw_jw_lit(&w, "}");
	} else if (r->user) {
		tw_jw_lit(&w, "\"result\":");
		write_user(&w, r->user);
	} else {
		tw_jw_lit(&w, "\"result\":null");
	}
	return w.overflow ? 0 : w.len;
}

static void cmd_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;

	if (r->response) {
		if (r->replayed)
			tw_log(TW_LOG_DEBUG, "rpc", "%s: request_id %s replayed", s->peer,
			       s->op.reqid);
		if (r->rc != TW_OK)
			s->rpc->errors++;
		tw_rpc_respond(s, r->response, strlen(r->response));
	} else {
		tw_rpc_respond_error(s, tw_rpc_error_code(r->rc), r->msg, r->field);
	}
	tw_rpc_request_done(s);
}

static void query_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	char frag[TW_RPC_OUT / 2];
	struct tw_jw w;

	if (r->rc != TW_OK) {
		tw_rpc_respond_error(s, tw_rpc_error_code(r->rc), r->msg, r->field);
		tw_rpc_request_done(s);
		return;
	}
	tw_jw_init(&w, frag, sizeof frag);
	switch (s->method) {
	case M_GET:
		tw_jw_lit(&w, "\"result\":");
		if (r->user)
			write_user(&w, r->user);
		else
			tw_jw_lit(&w, "null");
		break;
	case M_LAST:
		tw_jw_lit(&w, "\"result\":{\"ticker\":");
		tw_jw_str(&w, r->quote ? r->quote->ticker : "");
		tw_jw_lit(&w, ",\"value\":");
		tw_jw_num(&w, r->quote ? r->quote->value : 0);
		tw_jw_printf(&w, ",\"time_ms\":%lld}", r->quote ? (long long)r->quote->time_ms : 0LL);
		break;
	case M_AVERAGE:
		tw_jw_lit(&w, "\"result\":{\"ticker\":");
		tw_jw_str(&w, r->quote ? r->quote->ticker : s->op.quote.ticker);
		tw_jw_lit(&w, ",\"average\":");
		tw_jw_num(&w, r->average);
		tw_jw_printf(&w, ",\"n\":%lld}", r->count);
		break;
	default:
		tw_jw_lit(&w, "\"result\":null");
		break;
	}
	tw_rpc_respond(s, frag, w.len);
	tw_rpc_request_done(s);
}

/* user.list: the response line is built in the slot's buffer as rows stream in. */
static int list_row(void *arg, const struct tw_user *u)
{
	struct rpc_slot *s = arg;
	struct tw_jw w;

	tw_jw_init(&w, s->out + s->list_mark, sizeof s->out - s->list_mark);
	if (s->list_rows++)
		tw_jw_lit(&w, ",");
	write_user(&w, u);
	if (w.overflow)
		return -1;
	s->list_mark += w.len;
	snprintf(s->list_last, sizeof s->list_last, "%s", u->email);
	return 0;
}

static void list_done(void *arg, const struct tw_cqrs_result *r)
{
	struct rpc_slot *s = arg;
	struct tw_jw w;

	if (r->rc != TW_OK) {
		tw_rpc_respond_error(s, tw_rpc_error_code(r->rc),
				     r->rc == TW_ERR_ARG ? "page larger than the reply buffer" : r->msg,
				     r->field);
		tw_rpc_request_done(s);
		return;
	}
	tw_jw_init(&w, s->out + s->list_mark, sizeof s->out - s->list_mark);
	tw_jw_lit(&w, "],\"next\":");
	/* a full page may have more after it: its last e-mail is the cursor of the next */
	tw_jw_str(&w, s->list_rows == s->list_limit ? s->list_last : NULL);
	tw_jw_lit(&w, "}}\n");
	if (w.overflow) {
		tw_rpc_respond_error(s, TW_RPC_INTERNAL, "page larger than the reply buffer", NULL);
		tw_rpc_request_done(s);
		return;
	}
	tw_rpc_respond_built(s, s->list_mark + w.len);
	tw_rpc_request_done(s);
}

static void agent_status(struct rpc_slot *s)
{
	struct tw_agent *ag = s->rpc->ag;
	char frag[4096], line[512];
	struct tw_jw w;

	tw_jw_init(&w, frag, sizeof frag);
	tw_jw_lit(&w, "\"result\":{\"version\":");
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
	if (w.overflow) {
		fail(s, TW_RPC_INTERNAL, "status larger than the reply buffer", NULL);
		return;
	}
	tw_rpc_respond(s, frag, w.len);
	tw_rpc_request_done(s);
}

static int token_ok(const struct tw_rpc *r, const struct tw_json *j, int root)
{
	char got[sizeof r->ag->cfg.rpc.token + 2];
	int t = tw_json_member(j, root, "token");
	size_t n, m;
	unsigned diff = 0;

	if (r->token[0] == '\0')
		return 1;
	if (t < 0 || tw_json_string(j, t, got, sizeof got) != 0)
		return 0;
	n = strlen(got);
	m = strlen(r->token);
	diff = (unsigned)(n ^ m);
	for (size_t i = 0; i < m; i++) /* constant time in the token's length */
		diff |= (unsigned)(unsigned char)got[i < n ? i : 0] ^ (unsigned char)r->token[i];
	return diff == 0;
}

static int word_in(const char *list, const char *w, size_t n)
{
	for (const char *p = list; *p;) {
		size_t l = strcspn(p, " ");

		if (l == n && memcmp(p, w, n) == 0)
			return 1;
		p += l;
		while (*p == ' ')
			p++;
	}
	return 0;
}

/* Decode the params object @p obj for @p allowed. @return 0, or responds and returns -1. */
static int take_params(struct rpc_slot *s, const struct tw_json *j, int obj, const char *allowed,
		       struct params *p)
{
	char msg[160];

	memset(p, 0, sizeof *p);
	p->high = p->low = TW_CQRS_UNSET;
	if (obj < 0)
		return 0;
	for (int i = obj + 1; i < j->n && j->t[i].start < j->t[obj].end; i = tw_json_skip(j, i + 1)) {
		const char *k = j->js + j->t[i].start;
		size_t kl = (size_t)(j->t[i].end - j->t[i].start);
		int v = i + 1, pi, rc;

		for (pi = 0; pi < P_COUNT; pi++) {
			if (strlen(pnames[pi]) == kl && memcmp(pnames[pi], k, kl) == 0)
				break;
		}
		if (pi == P_COUNT || !word_in(allowed, k, kl)) {
			snprintf(msg, sizeof msg, "unknown param '%.*s' (this method takes: %s)",
				 (int)(kl > 40 ? 40 : kl), k, *allowed ? allowed : "none");
			fail(s, TW_RPC_INVALID_PARAMS, msg, NULL);
			return -1;
		}
		if (p->seen & (1u << pi)) {
			snprintf(msg, sizeof msg, "param '%s' appears twice", pnames[pi]);
			fail(s, TW_RPC_INVALID_PARAMS, msg, pnames[pi]);
			return -1;
		}
		p->seen |= 1u << pi;
		switch (pi) {
		case P_EMAIL:
		case P_TICKER:
		case P_REQID:
		case P_AFTER: {
			char *dst = pi == P_EMAIL ? p->email : pi == P_TICKER ? p->ticker
							  : pi == P_REQID ? p->request_id : p->after;
			size_t cap = pi == P_EMAIL ? sizeof p->email : pi == P_TICKER ? sizeof p->ticker
								 : pi == P_REQID ? sizeof p->request_id
								 : sizeof p->after;

			if (j->t[v].type != TW_J_STRING) {
				snprintf(msg, sizeof msg, "%s must be a string", pnames[pi]);
				fail(s, TW_RPC_INVALID_PARAMS, msg, pnames[pi]);
				return -1;
			}
			rc = tw_json_string(j, v, dst, cap);
			if (rc == TW_ERR_JSON_TOOLONG) {
				snprintf(msg, sizeof msg, "%s is longer than %zu characters",
					 pnames[pi], cap - 2);
				fail(s, TW_RPC_VALIDATION, msg, pnames[pi]);
				return -1;
			}
			if (rc != 0) {
				snprintf(msg, sizeof msg, "%s has a bad escape, \\u0000 or a lone "
					 "surrogate", pnames[pi]);
				fail(s, TW_RPC_INVALID_PARAMS, msg, pnames[pi]);
				return -1;
			}
			break;
		}
		case P_HIGH:
		case P_LOW: {
			double *dst = pi == P_HIGH ? &p->high : &p->low;

			if (tw_json_is_null(j, v)) {
				*dst = TW_CQRS_UNSET;
			} else if (tw_json_number(j, v, dst) != 0) {
				snprintf(msg, sizeof msg, "%s must be a number, or null / -1 to unset",
					 pnames[pi]);
				fail(s, TW_RPC_INVALID_PARAMS, msg, pnames[pi]);
				return -1;
			}
			break;
		}
		default: { /* n, limit: whole numbers */
			double *dst = pi == P_N ? &p->n : &p->limit;

			if (tw_json_number(j, v, dst) != 0 || *dst != floor(*dst) ||
			    fabs(*dst) > 1e15) {
				snprintf(msg, sizeof msg, "%s must be a whole number", pnames[pi]);
				fail(s, TW_RPC_INVALID_PARAMS, msg, pnames[pi]);
				return -1;
			}
			break;
		}
		}
	}
	return 0;
}

static int need(struct rpc_slot *s, const struct params *p, int pi)
{
	char msg[128];

	if (p->seen & (1u << pi))
		return 0;
	if (pi == P_REQID)
		snprintf(msg, sizeof msg, "request_id is missing: every mutating call needs a "
			 "client-chosen request_id (e.g. a UUID)");
	else
		snprintf(msg, sizeof msg, "%s is missing", pnames[pi]);
	fail(s, TW_RPC_INVALID_PARAMS, msg, pnames[pi]);
	return -1;
}

static void started(struct rpc_slot *s, int rc)
{
	const struct tw_cqrs_result *r;

	if (rc == TW_OK)
		return; /* the callback answers */
	r = tw_cqrs_op_result(&s->op);
	fail(s, tw_rpc_error_code(r->rc), r->msg, r->field);
}

static void dispatch(struct rpc_slot *s, int m, const struct params *p)
{
	struct tw_rpc *r = s->rpc;
	struct tw_cqrs_idem *idem = &s->idem;
	const char *mname = "";

	for (size_t i = 0; i < NMETHODS; i++) {
		if (methods[i].m == m)
			mname = methods[i].name;
	}
	idem->request_id = p->request_id;
	idem->method = mname;
	idem->ttl_ms = r->ttl_ms;
	idem->format = format_outcome;
	idem->format_arg = s;
	switch (m) {
	case M_REGISTER:
		if (need(s, p, P_EMAIL) || need(s, p, P_TICKER) || need(s, p, P_REQID))
			return;
		started(s, tw_cqrs_register_user(r->q, &s->op, p->email, p->ticker, p->high, p->low,
						 idem, cmd_done, s));
		break;
	case M_UPDATE_TICKER:
		if (need(s, p, P_EMAIL) || need(s, p, P_TICKER) || need(s, p, P_REQID))
			return;
		started(s, tw_cqrs_update_ticker(r->q, &s->op, p->email, p->ticker, idem, cmd_done,
						 s));
		break;
	case M_UPDATE_THRESHOLDS:
		if (need(s, p, P_EMAIL) || need(s, p, P_REQID))
			return;
		started(s, tw_cqrs_update_thresholds(r->q, &s->op, p->email, p->high, p->low, idem,
						     cmd_done, s));
		break;
	case M_DELETE:
		if (need(s, p, P_EMAIL) || need(s, p, P_REQID))
			return;
		started(s, tw_cqrs_delete_user(r->q, &s->op, p->email, idem, cmd_done, s));
		break;
	case M_GET:
		if (need(s, p, P_EMAIL))
			return;
		started(s, tw_cqrs_get_user(r->q, &s->op, p->email, query_done, s));
		break;
	case M_LAST:
		started(s, tw_cqrs_last_value(r->q, &s->op, p->email, p->ticker[0] ? p->ticker : NULL,
					      query_done, s));
		break;
	case M_AVERAGE:
		if (need(s, p, P_N))
			return;
		started(s, tw_cqrs_average(r->q, &s->op, p->email, p->ticker[0] ? p->ticker : NULL,
					   (long long)p->n, query_done, s));
		break;
	case M_LIST: {
		struct tw_jw w;

		tw_jw_init(&w, s->out, sizeof s->out);
		tw_jw_lit(&w, "{\"jsonrpc\":\"2.0\",\"id\":");
		tw_jw_lit(&w, s->id[0] ? s->id : "null");
		tw_jw_lit(&w, ",\"result\":{\"users\":[");
		s->list_mark = w.len;
		s->list_rows = 0;
		s->list_last[0] = '\0';
		s->list_limit = (p->seen & (1u << P_LIMIT)) ? (long long)p->limit : TW_CQRS_LIST_MAX;
		started(s, tw_cqrs_list_users(r->q, &s->op, p->after, s->list_limit, list_row,
					      list_done, s));
		break;
	}
	default:
		agent_status(s);
		break;
	}
}

/* A method another role offered with tw_agent_add_method(). */
static void call_added(struct rpc_slot *s, const struct tw_agent_method *am, const struct tw_json *j,
		       int params)
{
	struct tw_rpc *r = s->rpc;
	const char *pt = params >= 0 ? j->js + j->t[params].start : "{}";
	size_t pl = params >= 0 ? (size_t)(j->t[params].end - j->t[params].start) : 2;
	int rc;

	r->method_out[0] = '\0';
	rc = am->fn(r->ag, pt, pl, r->method_out, sizeof r->method_out, am->arg);
	if (rc != TW_OK) {
		fail(s, rc == TW_ERR_WOULD_BLOCK ? TW_RPC_BUSY : TW_RPC_METHOD_FAILED,
		     r->method_out[0] ? r->method_out : "the method failed", NULL);
		return;
	}
	tw_rpc_respond_parts(s, "\"result\":", 9, r->method_out,
			     strnlen(r->method_out, sizeof r->method_out));
	tw_rpc_request_done(s);
}

void tw_rpc_handle_line(struct rpc_slot *s, const char *line, size_t len)
{
	struct tw_rpc *r = s->rpc;
	struct tw_json j;
	struct params p;
	char mname[64], msg[160];
	int n, root = 0, id, ver, meth, params, m = 0;
	unsigned seen = 0;
	static const char *const envelope[] = {"jsonrpc", "id", "method", "params", "token"};

	s->id[0] = '\0';
	s->notify = 0;
	s->method = 0;
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0) { /* blank lines are ignored */
		s->notify = 1;
		tw_rpc_request_done(s);
		return;
	}
	if (!tw_json_utf8_ok(line, len)) {
		fail(s, TW_RPC_PARSE_ERROR, "parse error: the line is not valid UTF-8 (or holds a NUL "
		     "byte)", NULL);
		return;
	}
	n = tw_json_parse(&j, line, len, r->toks, TW_RPC_TOKENS);
	if (n == TW_ERR_JSON_TOKENS) {
		fail(s, TW_RPC_INVALID_REQUEST, "request too complex (more than 128 JSON tokens)",
		     NULL);
		return;
	}
	if (n < 0) {
		fail(s, TW_RPC_PARSE_ERROR, "parse error: not one JSON value (NaN, Infinity, "
		     "comments and trailing data are not JSON)", NULL);
		return;
	}
	if (j.t[root].type == TW_J_ARRAY) {
		fail(s, TW_RPC_INVALID_REQUEST, "batch requests are not supported: send one request "
		     "object per line", NULL);
		return;
	}
	if (j.t[root].type != TW_J_OBJECT) {
		fail(s, TW_RPC_INVALID_REQUEST, "a request is a JSON object", NULL);
		return;
	}
	/* the id first, so that later errors can echo it */
	id = tw_json_member(&j, root, "id");
	if (id >= 0) {
		size_t il;
		int st = j.t[id].start, en = j.t[id].end;

		if (j.t[id].type == TW_J_STRING) {
			st--;
			en++;
		}
		il = (size_t)(en - st);
		if ((j.t[id].type != TW_J_STRING && j.t[id].type != TW_J_PRIMITIVE) ||
		    (j.t[id].type == TW_J_PRIMITIVE &&
		     (line[j.t[id].start] == 't' || line[j.t[id].start] == 'f'))) {
			fail(s, TW_RPC_INVALID_REQUEST, "id must be a string, a number or null", NULL);
			return;
		}
		if (il > TW_RPC_ID_MAX) {
			fail(s, TW_RPC_INVALID_REQUEST, "id longer than 96 characters", NULL);
			return;
		}
		memcpy(s->id, line + st, il);
		s->id[il] = '\0';
	}
	for (int i = root + 1; i < j.n && j.t[i].start < j.t[root].end; i = tw_json_skip(&j, i + 1)) {
		size_t k;

		for (k = 0; k < sizeof envelope / sizeof envelope[0]; k++) {
			if (tw_json_eq(&j, i, envelope[k]))
				break;
		}
		if (k == sizeof envelope / sizeof envelope[0]) {
			fail(s, TW_RPC_INVALID_REQUEST, "unknown member in the request (allowed: "
			     "jsonrpc, id, method, params, token)", NULL);
			return;
		}
		if (seen & (1u << k)) {
			fail(s, TW_RPC_INVALID_REQUEST, "a member of the request appears twice", NULL);
			return;
		}
		seen |= 1u << k;
	}
	ver = tw_json_member(&j, root, "jsonrpc");
	if (!tw_json_eq(&j, ver, "2.0")) {
		fail(s, TW_RPC_INVALID_REQUEST, "jsonrpc must be \"2.0\"", NULL);
		return;
	}
	meth = tw_json_member(&j, root, "method");
	if (meth < 0 || j.t[meth].type != TW_J_STRING ||
	    tw_json_string(&j, meth, mname, sizeof mname) != 0) {
		fail(s, TW_RPC_INVALID_REQUEST, "method must be a string of at most 63 characters",
		     NULL);
		return;
	}
	if (id < 0)
		s->notify = 1; /* a notification: run it, answer nothing */
	params = tw_json_member(&j, root, "params");
	if (params >= 0 && j.t[params].type != TW_J_OBJECT) {
		fail(s, TW_RPC_INVALID_PARAMS, "params must be an object (by-name params)", NULL);
		return;
	}
	if (!s->console && !token_ok(r, &j, root)) {
		tw_log(TW_LOG_WARN, "rpc", "%s: missing or wrong token", s->peer);
		fail(s, TW_RPC_UNAUTHORISED, "unauthorised: missing or wrong token ([rpc] token)",
		     NULL);
		return;
	}
	for (size_t i = 0; i < NMETHODS; i++) {
		if (strcmp(methods[i].name, mname) == 0) {
			m = methods[i].m;
			if (take_params(s, &j, params, methods[i].params, &p) != 0)
				return;
			break;
		}
	}
	if (m == 0) {
		const struct tw_agent_method *am = tw_agent_find_method(r->ag, mname, strlen(mname));

		if (am) {
			call_added(s, am, &j, params);
			return;
		}
		snprintf(msg, sizeof msg, "method '%.60s' not found", mname);
		fail(s, TW_RPC_METHOD_NOT_FOUND, msg, NULL);
		return;
	}
	s->method = m;
	dispatch(s, m, &p);
}
