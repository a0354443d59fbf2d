/* SPDX-License-Identifier: MIT */
/* http.c - the http role: the operators' HTTP endpoint, /healthz and /metrics (agent/httpd).
 *
 * Off unless [http] listen is set. /healthz answers 200 "ready" while no
 * dependency is in an outage (core/outage.h) and 503 "degraded" with the
 * outages otherwise; /metrics answers the Prometheus text format: the agent's
 * own families (build, uptime, arena, log ring, loop, roles, outages, the database
 * connections of every role (db/db.h), the librdkafka queue cap, this server's requests)
 * followed by each started role's `metrics` callback. A
 * page that does not fit [http] out_kb is answered 500 naming the key, never
 * served cut short. With [http] public_url set it also serves /unsubscribe?t=TOKEN
 * (RFC 8058): GET shows a confirmation page and changes nothing, POST with
 * List-Unsubscribe=One-Click checks the token (agent/notif, signed with the
 * notification key) and deletes that user, as user.delete does.
 */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/outage.h"
#include "cqrs/cqrs.h"
#include "db/db.h"
#include "httpd/httpd.h"
#include "notif/notif.h"

/* One pending unsubscribe per slot: its DeleteUser and the address it names. */
struct unsub {
	struct http_role *h;
	struct tw_httpd_ticket t;
	struct tw_cqrs_op op;
	char email[TW_CQRS_EMAIL_MAX + 1];
	int busy;
};

struct http_role {
	struct tw_agent *ag;
	struct tw_httpd *srv;
	struct tw_cqrs *q; /* opened when [http] public_url is set: /unsubscribe */
	struct unsub *unsubs;
	uint64_t unsubscribed, forged;
	struct tw_httpd_route routes[3];
};

static size_t budget(const struct tw_config *cfg)
{
	size_t b = sizeof(struct http_role) + 16;

	if (cfg->http.listen[0])
		b += tw_httpd_budget((int)cfg->http.slots, (size_t)cfg->http.out_kb * 1024) +
		     (size_t)cfg->http.slots * sizeof(struct unsub) + 16;
	return b;
}

static void outage_line(const char *name, const char *reason, long long seconds, void *arg)
{
	struct tw_httpd_resp *r = arg;
	int n = snprintf(r->body + r->len, r->cap - r->len, "outage: %s for %lld s: %s\n", name,
			 seconds, reason);

	if (n > 0)
		r->len += (size_t)n < r->cap - r->len ? (size_t)n : r->cap - r->len - 1;
}

static void healthz(void *arg, const struct tw_httpd_req *req, const char *body, size_t bodylen,
		    struct tw_httpd_resp *r)
{
	(void)arg;
	(void)req;
	(void)body;
	(void)bodylen;
	if (tw_outage_each(NULL, NULL) == 0) {
		r->status = 200;
		r->len = (size_t)snprintf(r->body, r->cap, "ready\n");
		return;
	}
	r->status = 503;
	r->len = (size_t)snprintf(r->body, r->cap, "degraded\n");
	tw_outage_each(outage_line, r);
}

static void outage_metric(const char *name, const char *reason, long long seconds, void *arg)
{
	struct tw_metric_label l[] = {{"dependency", name}, {NULL, NULL}};

	(void)reason;
	tw_metrics_int(arg, "tickwatch_outage_seconds", l, seconds);
}

static void agent_metrics(struct http_role *h, struct tw_metrics *m)
{
	struct tw_agent *ag = h->ag;
	struct tw_httpd_counts c;
	char roles[160] = "";
	static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};

	for (size_t i = 0; i < ag->nroles; i++) {
		size_t n = strlen(roles);

		snprintf(roles + n, sizeof roles - n, "%s%s", i ? "," : "", ag->roles[i]->name);
	}
	tw_metrics_family(m, "tickwatch_build_info", "gauge",
			  "the running build: version and the roles this agent runs");
	tw_metrics_int(m, "tickwatch_build_info",
		       (const struct tw_metric_label[]){{"version", TW_VERSION},
							{"name", ag->cfg.agent.name},
							{"roles", roles},
							{NULL, NULL}},
		       1);
	tw_metrics_family(m, "tickwatch_uptime_seconds", "gauge", "seconds since the agent started");
	tw_metrics_int(m, "tickwatch_uptime_seconds", NULL, tw_agent_uptime_s(ag));
	tw_metrics_family(m, "tickwatch_arena_bytes", "gauge",
			  "the fixed memory arena: its size and the bytes carved at start");
	tw_metrics_int(m, "tickwatch_arena_bytes",
		       (const struct tw_metric_label[]){{"kind", "size"}, {NULL, NULL}},
		       (int64_t)ag->arena.size);
	tw_metrics_int(m, "tickwatch_arena_bytes",
		       (const struct tw_metric_label[]){{"kind", "used"}, {NULL, NULL}},
		       (int64_t)ag->arena.used);
	tw_metrics_family(m, "tickwatch_log_dropped_total", "counter",
			  "log lines dropped because the log ring was full");
	tw_metrics_int(m, "tickwatch_log_dropped_total", NULL, (int64_t)tw_log_dropped());
	tw_metrics_family(m, "tickwatch_log_folded_total", "counter",
			  "repeated log lines folded into one");
	tw_metrics_int(m, "tickwatch_log_folded_total", NULL, (int64_t)tw_log_folded());
	tw_metrics_family(m, "tickwatch_loop_turns_total", "counter",
			  "turns of the event loop (wake-ups)");
	tw_metrics_int(m, "tickwatch_loop_turns_total", NULL, (int64_t)ag->loop.turns);
	tw_metrics_family(m, "tickwatch_role_up", "gauge", "1 for each role this agent started");
	for (size_t i = 0; i < ag->nroles; i++)
		tw_metrics_int(m, "tickwatch_role_up",
			       (const struct tw_metric_label[]){{"role", ag->roles[i]->name},
								{NULL, NULL}},
			       i < ag->nstarted);
	tw_metrics_family(m, "tickwatch_outage_seconds", "gauge",
			  "for each dependency in an outage now, how long it has lasted");
	tw_outage_each(outage_metric, m);
	tw_db_metrics(m);
	tw_metrics_family(m, "tickwatch_kafka_queue_cap_bytes", "gauge",
			  "the cap of each librdkafka client's local queue ([kafka] queue_kbytes: "
			  "queue.buffering.max.kbytes, queued.max.messages.kbytes)");
	tw_metrics_int(m, "tickwatch_kafka_queue_cap_bytes", NULL, ag->cfg.kafka.queue_kbytes * 1024);
	if (h->q) {
		tw_metrics_family(m, "tickwatch_http_unsubscribes_total", "counter",
				  "one-click unsubscribes that deleted a user");
		tw_metrics_int(m, "tickwatch_http_unsubscribes_total", NULL,
			       (int64_t)h->unsubscribed);
		tw_metrics_family(m, "tickwatch_http_unsubscribe_forged_total", "counter",
				  "unsubscribe links refused as not signed by this system");
		tw_metrics_int(m, "tickwatch_http_unsubscribe_forged_total", NULL,
			       (int64_t)h->forged);
	}
	tw_httpd_counts(h->srv, &c);
	tw_metrics_family(m, "tickwatch_http_responses_total", "counter",
			  "answers of this HTTP endpoint by status class");
	for (int k = 1; k <= 5; k++)
		tw_metrics_int(m, "tickwatch_http_responses_total",
			       (const struct tw_metric_label[]){{"class", classes[k]}, {NULL, NULL}},
			       (int64_t)c.by_class[k]);
	tw_metrics_family(m, "tickwatch_http_refused_total", "counter",
			  "connections of this HTTP endpoint closed unanswered");
	tw_metrics_int(m, "tickwatch_http_refused_total",
		       (const struct tw_metric_label[]){{"reason", "busy"}, {NULL, NULL}},
		       (int64_t)c.busy);
	tw_metrics_int(m, "tickwatch_http_refused_total",
		       (const struct tw_metric_label[]){{"reason", "timeout"}, {NULL, NULL}},
		       (int64_t)c.timeouts);
}

static void metrics(void *arg, const struct tw_httpd_req *req, const char *body, size_t bodylen,
		    struct tw_httpd_resp *r)
{
	struct http_role *h = arg;
	struct tw_agent *ag = h->ag;
	struct tw_metrics m;

	(void)req;
	(void)body;
	(void)bodylen;
	tw_metrics_init(&m, r->body, r->cap);
	agent_metrics(h, &m);
	for (size_t i = 0; i < ag->nstarted; i++) {
		if (ag->roles[i]->metrics)
			ag->roles[i]->metrics(ag, ag->role_state[i], &m);
	}
	if (m.cut || m.errors) {
		tw_log(TW_LOG_WARN, "http", "/metrics %s", m.cut ? "did not fit [http] out_kb" :
					       "refused a bad metric name (a bug)");
		r->status = 500;
		r->len = (size_t)snprintf(r->body, r->cap, "%s\n", m.cut ?
					  "the metrics page does not fit: raise [http] out_kb" :
					  "a metric name was refused: see the log");
		return;
	}
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	r->len = m.len;
}

/* The address as HTML text: & < > " ' escaped (an address may hold & and '). */
static void html_text(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 7 < len; in++) {
		const char *e = *in == '&' ? "&amp;" : *in == '<' ? "&lt;" : *in == '>' ? "&gt;" :
				*in == '"' ? "&quot;" : *in == '\'' ? "&#39;" : NULL;

		if (e) {
			memcpy(out + o, e, strlen(e));
			o += strlen(e);
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* The token of the request's query: @return 0 with the address it names, else the status. */
static int unsub_token(struct http_role *h, const struct tw_httpd_req *req, char *token,
		       size_t tlen, char email[TW_CQRS_EMAIL_MAX + 1], const char **why)
{
	const struct tw_notif_key *k = tw_notif_key_poll(h->q);
	int rc;

	if (tw_httpd_param(req->query, strlen(req->query), "t", token, tlen) <= 0) {
		*why = "this link has no token: open the whole link from the e-mail";
		return 400;
	}
	if (k == NULL) {
		*why = "not ready (the signing key is not loaded yet): try again in a minute";
		return 503;
	}
	rc = tw_notif_unsub_check(token, k, email);
	if (rc != TW_OK) {
		h->forged++;
		*why = "this link is not valid: it was changed or cut";
		return 403;
	}
	return 0;
}

static void unsub_done(void *arg, const struct tw_cqrs_result *res)
{
	struct unsub *u = arg;
	char text[TW_CQRS_EMAIL_MAX + 128];

	u->busy = 0;
	if (res->rc == TW_OK || res->rc == TW_ERR_CQRS_NOT_FOUND) {
		if (res->rc == TW_OK)
			u->h->unsubscribed++;
		tw_log(TW_LOG_INFO, "http", "unsubscribed %s (%s)", u->email,
		       res->rc == TW_OK ? "user deleted" : "already gone");
		snprintf(text, sizeof text, "unsubscribed: no further alerts will be sent to %s",
			 u->email);
		tw_httpd_complete(u->h->srv, u->t, 200, NULL, text);
		return;
	}
	tw_log(TW_LOG_WARN, "http", "unsubscribe %s failed: %s", u->email, res->msg);
	tw_httpd_complete(u->h->srv, u->t, 503, NULL,
			  "the unsubscribe could not be recorded now: try again in a minute");
}

static void unsubscribe(void *arg, const struct tw_httpd_req *req, const char *body,
			size_t bodylen, struct tw_httpd_resp *r)
{
	struct http_role *h = arg;
	char token[TW_NOTIF_UNSUB_TOKEN_MAX + 1], email[TW_CQRS_EMAIL_MAX + 1], one[32];
	const char *why = "";
	struct unsub *u;
	int st = unsub_token(h, req, token, sizeof token, email, &why);

	if (st != 0) {
		r->status = st;
		r->len = (size_t)snprintf(r->body, r->cap, "%s\n", why);
		return;
	}
	if (req->method != TW_HTTPD_POST) {
		/* GET shows a page and changes nothing: mail scanners open links (RFC 8058) */
		char shown[6 * TW_CQRS_EMAIL_MAX + 1];

		html_text(email, shown, sizeof shown);
		r->content_type = "text/html; charset=utf-8";
		r->len = (size_t)snprintf(
			r->body, r->cap,
			"<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe"
			"</title></head><body><p>Stop the tickwatch alerts sent to %s?</p>"
			"<form method=\"post\" action=\"/unsubscribe?t=%s\"><input type=\"hidden\" "
			"name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\">"
			"Unsubscribe</button></form></body></html>\n",
			shown, token);
		return;
	}
	if (tw_httpd_param(body, bodylen, "List-Unsubscribe", one, sizeof one) < 0 ||
	    strcmp(one, "One-Click") != 0) {
		r->status = 400;
		r->len = (size_t)snprintf(r->body, r->cap,
					  "the body must be List-Unsubscribe=One-Click\n");
		return;
	}
	u = &h->unsubs[r->ticket.slot];
	if (u->busy) { /* the slot's previous DeleteUser has not answered (its request timed out) */
		r->status = 503;
		r->len = (size_t)snprintf(r->body, r->cap, "busy: try again\n");
		return;
	}
	u->h = h;
	u->t = r->ticket;
	snprintf(u->email, sizeof u->email, "%s", email);
	if (tw_cqrs_delete_user(h->q, &u->op, u->email, NULL, unsub_done, u) != TW_OK) {
		/* refused before it was sent (not called back): answer now */
		tw_log(TW_LOG_WARN, "http", "unsubscribe %s refused: %s", u->email, u->op.msg);
		r->status = 503;
		r->len = (size_t)snprintf(r->body, r->cap,
					  "the unsubscribe could not be recorded now: try again\n");
		return;
	}
	u->busy = 1;
	r->pending = 1;
}

static int start(struct tw_agent *ag, void **state, char *err, size_t errlen)
{
	struct http_role *h = tw_arena_carve(&ag->arena, sizeof *h, "http role", "arena_kb");
	struct tw_httpd_opts o;
	int rc;

	if (h == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	h->ag = ag;
	*state = h;
	if (ag->cfg.http.listen[0] == '\0')
		return TW_OK; /* off */
	h->routes[0] = (struct tw_httpd_route){"/healthz", TW_HTTPD_GET, healthz, h};
	h->routes[1] = (struct tw_httpd_route){"/metrics", TW_HTTPD_GET, metrics, h};
	if (ag->cfg.http.public_url[0]) {
		h->q = tw_cqrs_open(ag, err, errlen);
		if (h->q == NULL)
			return TW_ERR_ARG;
		h->unsubs = tw_arena_carve(&ag->arena,
					   (size_t)ag->cfg.http.slots * sizeof *h->unsubs,
					   "http unsubscribes", "arena_kb");
		if (h->unsubs == NULL) {
			snprintf(err, errlen, "%s", ag->arena.err);
			return TW_ERR_NOMEM;
		}
		h->routes[2] = (struct tw_httpd_route){"/unsubscribe", TW_HTTPD_GET | TW_HTTPD_POST,
						       unsubscribe, h};
	}
	o = (struct tw_httpd_opts){.listen = ag->cfg.http.listen,
				   .slots = (int)ag->cfg.http.slots,
				   .timeout_ms = ag->cfg.http.timeout_ms,
				   .out_cap = (size_t)ag->cfg.http.out_kb * 1024,
				   .routes = h->routes,
				   .nroutes = h->q ? 3 : 2};
	rc = tw_httpd_start(&h->srv, &ag->arena, &ag->loop, &o, err, errlen);
	if (rc != TW_OK)
		return rc;
	tw_log(TW_LOG_INFO, "http", "serving /healthz, /metrics%s on %s (port %d)",
	       h->q ? " and /unsubscribe" : "", ag->cfg.http.listen, tw_httpd_port(h->srv));
	return TW_OK;
}

static int64_t step(struct tw_agent *ag, void *state)
{
	struct http_role *h = state;

	(void)ag;
	if (h->q)
		(void)tw_notif_key_poll(h->q); /* load the key before the first click */
	return h->srv ? tw_httpd_sweep(h->srv) : TW_TIMER_STOP;
}

static void stop(struct tw_agent *ag, void *state)
{
	struct http_role *h = state;

	(void)ag;
	if (h == NULL)
		return;
	tw_httpd_stop(h->srv);
	if (h->q)
		tw_cqrs_close(h->q);
	h->q = NULL;
}

static void status(struct tw_agent *ag, void *state, char *buf, size_t len)
{
	const struct http_role *h = state;

	(void)ag;
	if (h->srv == NULL)
		snprintf(buf, len, "off ([http] listen is empty)");
	else {
		size_t n;

		tw_httpd_status(h->srv, buf, len);
		n = strlen(buf);
		if (h->q)
			snprintf(buf + n, len - n, "; %llu unsubscribed, %llu forged links refused",
				 (unsigned long long)h->unsubscribed, (unsigned long long)h->forged);
	}
}

const struct tw_role tw_role_http = {
	.name = "http",
	.budget = budget,
	.start = start,
	.step = step,
	.stop = stop,
	.status = status,
};
