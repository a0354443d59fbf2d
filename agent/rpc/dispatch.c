/* SPDX-License-Identifier: MIT */
/* dispatch.c - one JSON-RPC request line: envelope, auth and params checked, then its handler. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "rpc_int.h"

/* Answer an error: the request is over. @return RPC_DONE. */
static int reject(struct rpc_slot *s, int code, const char *msg, const char *field)
{
	tw_rpc_respond_error(s, code, msg, field);
	return RPC_DONE;
}

/* The same, for a step that returns 0 or -1. @return -1. */
static int bad(struct rpc_slot *s, int code, const char *msg, const char *field)
{
	tw_rpc_respond_error(s, code, msg, field);
	return -1;
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

/* "email ticker ..." of the params in @p mask ("none" when empty), for the unknown-param error. */
static void param_list(unsigned mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int pi = 0; pi < P_COUNT; pi++) {
		if (mask & (1u << pi)) {
			int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "",
					 tw_rpc_pnames[pi]);

			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
	}
	if (used == 0)
		snprintf(buf, len, "none");
}

/* A string param into @p dst (@p cap bytes: its limit + 2). @return 0, or answers and -1. */
static int take_string(struct rpc_slot *s, const struct tw_json *j, int v, int pi, char *dst,
		       size_t cap)
{
	char msg[160];
	int rc;

	if (j->t[v].type != TW_J_STRING) {
		snprintf(msg, sizeof msg, "%s must be a string", tw_rpc_pnames[pi]);
		return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
	}
	rc = tw_json_string(j, v, dst, cap);
	if (rc == TW_ERR_JSON_TOOLONG) {
		snprintf(msg, sizeof msg, "%s is longer than %zu characters", tw_rpc_pnames[pi],
			 cap - 2);
		return bad(s, TW_RPC_VALIDATION, msg, tw_rpc_pnames[pi]);
	}
	if (rc != 0) {
		snprintf(msg, sizeof msg, "%s has a bad escape, \\u0000 or a lone surrogate",
			 tw_rpc_pnames[pi]);
		return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
	}
	return 0;
}

/* The value @p v of param @p pi into @p p. @return 0, or answers and -1. */
static int take_value(struct rpc_slot *s, const struct tw_json *j, int v, int pi,
		      struct rpc_params *p)
{
	char msg[160];
	double *dst;

	switch (pi) {
	case P_EMAIL:
		return take_string(s, j, v, pi, p->email, sizeof p->email);
	case P_TICKER:
		return take_string(s, j, v, pi, p->ticker, sizeof p->ticker);
	case P_REQID:
		return take_string(s, j, v, pi, p->request_id, sizeof p->request_id);
	case P_AFTER:
		return take_string(s, j, v, pi, p->after, sizeof p->after);
	case P_HIGH:
	case P_LOW:
		dst = pi == P_HIGH ? &p->high : &p->low;
		if (tw_json_is_null(j, v)) {
			*dst = TW_CQRS_UNSET;
		} else if (tw_json_number(j, v, dst) != 0) {
			snprintf(msg, sizeof msg, "%s must be a number, or null / -1 to unset",
				 tw_rpc_pnames[pi]);
			return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
		}
		return 0;
	case P_KIND:
		return take_string(s, j, v, pi, p->kind, sizeof p->kind);
	case P_FREQUENCY:
		return take_string(s, j, v, pi, p->frequency, sizeof p->frequency);
	case P_LEVEL:
	case P_LEVEL2:
	case P_REARM:
		dst = pi == P_LEVEL ? &p->level : pi == P_LEVEL2 ? &p->level2 : &p->rearm_pct;
		if (tw_json_number(j, v, dst) != 0) {
			snprintf(msg, sizeof msg, "%s must be a number", tw_rpc_pnames[pi]);
			return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
		}
		return 0;
	case P_ENABLED:
		if (j->t[v].type != TW_J_PRIMITIVE ||
		    (!(p->enabled = (j->t[v].end - j->t[v].start == 4 &&
				     memcmp(j->js + j->t[v].start, "true", 4) == 0)) &&
		     !(j->t[v].end - j->t[v].start == 5 &&
		       memcmp(j->js + j->t[v].start, "false", 5) == 0)))
			return bad(s, TW_RPC_INVALID_PARAMS, "enabled must be true or false",
				   "enabled");
		return 0;
	case P_COOLDOWN:
	case P_EXPIRES:
		dst = pi == P_COOLDOWN ? &p->cooldown_s : &p->expires_ms;
		if (pi == P_EXPIRES && tw_json_is_null(j, v)) {
			*dst = 0;
			return 0;
		}
		if (tw_json_number(j, v, dst) != 0 || *dst != floor(*dst) || fabs(*dst) > 1e15) {
			snprintf(msg, sizeof msg, "%s must be a whole number%s", tw_rpc_pnames[pi],
				 pi == P_EXPIRES ? " (ms since the epoch) or null" : "");
			return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
		}
		return 0;
	default: /* n, limit, id: whole numbers */
		dst = pi == P_N ? &p->n : pi == P_ID ? &p->id : &p->limit;
		if (tw_json_number(j, v, dst) != 0 || *dst != floor(*dst) || fabs(*dst) > 1e15) {
			snprintf(msg, sizeof msg, "%s must be a whole number", tw_rpc_pnames[pi]);
			return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
		}
		return 0;
	}
}

/* Decode the params object @p obj for method @p m, then check the ones it needs.
 * @return 0, or answers and -1. */
static int take_params(struct rpc_slot *s, const struct tw_json *j, int obj,
		       const struct rpc_method *m, struct rpc_params *p)
{
	char msg[256], allowed[160];

	memset(p, 0, sizeof *p);
	p->high = p->low = TW_CQRS_UNSET;
	for (int i = obj + 1; obj >= 0 && i < j->n && j->t[i].start < j->t[obj].end;
	     i = tw_json_skip(j, i + 1)) {
		const char *k = j->js + j->t[i].start;
		size_t kl = (size_t)(j->t[i].end - j->t[i].start);
		int pi;

		for (pi = 0; pi < P_COUNT; pi++) {
			if (strlen(tw_rpc_pnames[pi]) == kl && memcmp(tw_rpc_pnames[pi], k, kl) == 0)
				break;
		}
		if (pi == P_COUNT || !(m->params & (1u << pi))) {
			param_list(m->params, allowed, sizeof allowed);
			snprintf(msg, sizeof msg, "unknown param '%.*s' (this method takes: %s)",
				 (int)(kl > 40 ? 40 : kl), k, allowed);
			return bad(s, TW_RPC_INVALID_PARAMS, msg, NULL);
		}
		if (p->seen & (1u << pi)) {
			snprintf(msg, sizeof msg, "param '%s' appears twice", tw_rpc_pnames[pi]);
			return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
		}
		p->seen |= 1u << pi;
		if (take_value(s, j, i + 1, pi, p) != 0)
			return -1;
	}
	for (int pi = 0; pi < P_COUNT; pi++) {
		if (!(m->required & (1u << pi)) || (p->seen & (1u << pi)))
			continue;
		if (pi == P_REQID)
			snprintf(msg, sizeof msg, "request_id is missing: every mutating call needs a "
				 "client-chosen request_id (e.g. a UUID)");
		else
			snprintf(msg, sizeof msg, "%s is missing", tw_rpc_pnames[pi]);
		return bad(s, TW_RPC_INVALID_PARAMS, msg, tw_rpc_pnames[pi]);
	}
	return 0;
}

/* A method another role offered with tw_agent_add_method(): synchronous. */
static int call_added(struct rpc_slot *s, const struct tw_agent_method *am,
		      const struct tw_json *j, int params)
{
	struct tw_rpc *r = s->rpc;
	const char *pt = params >= 0 ? j->js + j->t[params].start : "{}";
	size_t pl = params >= 0 ? (size_t)(j->t[params].end - j->t[params].start) : 2;
	int rc;

	r->method_out[0] = '\0';
	rc = am->fn(r->ag, pt, pl, r->method_out, sizeof r->method_out, am->arg);
	if (rc != TW_OK)
		return reject(s, rc == TW_ERR_WOULD_BLOCK ? TW_RPC_BUSY : TW_RPC_METHOD_FAILED,
			      r->method_out[0] ? r->method_out : "the method failed", NULL);
	tw_rpc_respond_result(s, r->method_out, strnlen(r->method_out, sizeof r->method_out));
	return RPC_DONE;
}

/* The request's "id", kept raw to echo it. @return 0, or answers and -1. */
static int take_id(struct rpc_slot *s, const struct tw_json *j, int id)
{
	const char *line = j->js;
	int st = j->t[id].start, en = j->t[id].end;
	size_t il;

	if (j->t[id].type == TW_J_STRING) {
		st--;
		en++;
	}
	il = (size_t)(en - st);
	if ((j->t[id].type != TW_J_STRING && j->t[id].type != TW_J_PRIMITIVE) ||
	    (j->t[id].type == TW_J_PRIMITIVE &&
	     (line[j->t[id].start] == 't' || line[j->t[id].start] == 'f')))
		return bad(s, TW_RPC_INVALID_REQUEST, "id must be a string, a number or null", NULL);
	if (il > TW_RPC_ID_MAX)
		return bad(s, TW_RPC_INVALID_REQUEST, "id longer than 96 characters", NULL);
	memcpy(s->id, line + st, il);
	s->id[il] = '\0';
	return 0;
}

/* Only the envelope's members, each once. @return 0, or answers and -1. */
static int check_members(struct rpc_slot *s, const struct tw_json *j, int root)
{
	static const char *const envelope[] = {"jsonrpc", "id", "method", "params", "token"};
	unsigned seen = 0;

	for (int i = root + 1; i < j->n && j->t[i].start < j->t[root].end;
	     i = tw_json_skip(j, i + 1)) {
		size_t k;

		for (k = 0; k < sizeof envelope / sizeof envelope[0]; k++) {
			if (tw_json_eq(j, i, envelope[k]))
				break;
		}
		if (k == sizeof envelope / sizeof envelope[0])
			return bad(s, TW_RPC_INVALID_REQUEST, "unknown member in the request "
				   "(allowed: jsonrpc, id, method, params, token)", NULL);
		if (seen & (1u << k))
			return bad(s, TW_RPC_INVALID_REQUEST, "a member of the request appears twice",
				   NULL);
		seen |= 1u << k;
	}
	return 0;
}

/* The request object @p j, its id taken: method, params, token, then the handler. */
static int run_request(struct rpc_slot *s, const struct tw_json *j, int root, int has_id)
{
	struct tw_rpc *r = s->rpc;
	const struct rpc_method *m = NULL;
	struct rpc_params p;
	char mname[64], msg[160];
	int meth, params;

	if (!tw_json_eq(j, tw_json_member(j, root, "jsonrpc"), "2.0"))
		return reject(s, TW_RPC_INVALID_REQUEST, "jsonrpc must be \"2.0\"", NULL);
	meth = tw_json_member(j, root, "method");
	if (meth < 0 || j->t[meth].type != TW_J_STRING ||
	    tw_json_string(j, meth, mname, sizeof mname) != 0)
		return reject(s, TW_RPC_INVALID_REQUEST,
			      "method must be a string of at most 63 characters", NULL);
	if (!has_id)
		s->notify = 1; /* a notification: run it, answer nothing */
	params = tw_json_member(j, root, "params");
	if (params >= 0 && j->t[params].type != TW_J_OBJECT)
		return reject(s, TW_RPC_INVALID_PARAMS, "params must be an object (by-name params)",
			      NULL);
	if (!s->console && !token_ok(r, j, root)) {
		tw_log(TW_LOG_WARN, "rpc", "%s: missing or wrong token", s->peer);
		tw_rpc_auth_failed(s); /* counted per address: enough of them ban it */
		return reject(s, TW_RPC_UNAUTHORISED,
			      "unauthorised: missing or wrong token ([rpc] token)", NULL);
	}
	for (size_t i = 0; i < tw_rpc_nmethods && m == NULL; i++) {
		if (strcmp(tw_rpc_methods[i].name, mname) == 0)
			m = &tw_rpc_methods[i];
	}
	if (m == NULL) {
		const struct tw_agent_method *am = tw_agent_find_method(r->ag, mname, strlen(mname));

		if (am)
			return call_added(s, am, j, params);
		if (strcmp(mname, "kafka.metadata") == 0)
			snprintf(msg, sizeof msg, "method 'kafka.metadata' needs the admin role, "
				 "which is not running here");
		else
			snprintf(msg, sizeof msg, "method '%.60s' not found", mname);
		return reject(s, TW_RPC_METHOD_NOT_FOUND, msg, NULL);
	}
	if (take_params(s, j, params, m, &p) != 0)
		return RPC_DONE;
	return m->run(s, m, &p);
}

int tw_rpc_dispatch(struct rpc_slot *s, const char *line, size_t len, tw_rpc_over_fn over)
{
	struct tw_json j;
	int n, root = 0, id;

	s->id[0] = '\0';
	s->notify = 0;
	s->over = over;
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0) { /* blank lines are ignored */
		s->notify = 1;
		return RPC_DONE;
	}
	if (!tw_json_utf8_ok(line, len))
		return reject(s, TW_RPC_PARSE_ERROR, "parse error: the line is not valid UTF-8 (or "
			      "holds a NUL byte)", NULL);
	n = tw_json_parse(&j, line, len, s->rpc->toks, TW_RPC_TOKENS);
	if (n == TW_ERR_JSON_TOKENS)
		return reject(s, TW_RPC_INVALID_REQUEST,
			      "request too complex (more than 128 JSON tokens)", NULL);
	if (n < 0)
		return reject(s, TW_RPC_PARSE_ERROR, "parse error: not one JSON value (NaN, "
			      "Infinity, comments and trailing data are not JSON)", NULL);
	if (j.t[root].type == TW_J_ARRAY)
		return reject(s, TW_RPC_INVALID_REQUEST, "batch requests are not supported: send "
			      "one request object per line", NULL);
	if (j.t[root].type != TW_J_OBJECT)
		return reject(s, TW_RPC_INVALID_REQUEST, "a request is a JSON object", NULL);
	/* the id first, so that later errors can echo it */
	id = tw_json_member(&j, root, "id");
	if (id >= 0 && take_id(s, &j, id) != 0)
		return RPC_DONE;
	if (check_members(s, &j, root) != 0)
		return RPC_DONE;
	return run_request(s, &j, root, id >= 0);
}
