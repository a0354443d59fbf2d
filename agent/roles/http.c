/* SPDX-License-Identifier: MIT */
/* http.c - the http role: the operators' HTTP endpoint, /healthz and /metrics (agent/httpd).
 *
 * Off unless [http] listen is set. /healthz answers 200 "ready" while no
 * dependency is in an outage (core/outage.h) and 503 "degraded" with the
 * outages otherwise; /metrics answers the Prometheus text format: the agent's
 * own families (build, uptime, arena, log ring, loop, roles, outages, this
 * server's requests) followed by each started role's `metrics` callback. A
 * page that does not fit [http] out_kb is answered 500 naming the key, never
 * served cut short.
 */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/outage.h"
#include "httpd/httpd.h"

struct http_role {
	struct tw_agent *ag;
	struct tw_httpd *srv;
	struct tw_httpd_route routes[2];
};

static size_t budget(const struct tw_config *cfg)
{
	size_t b = sizeof(struct http_role) + 16;

	if (cfg->http.listen[0])
		b += tw_httpd_budget((int)cfg->http.slots, (size_t)cfg->http.out_kb * 1024);
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
	o = (struct tw_httpd_opts){.listen = ag->cfg.http.listen,
				   .slots = (int)ag->cfg.http.slots,
				   .timeout_ms = ag->cfg.http.timeout_ms,
				   .out_cap = (size_t)ag->cfg.http.out_kb * 1024,
				   .routes = h->routes,
				   .nroutes = 2};
	rc = tw_httpd_start(&h->srv, &ag->arena, &ag->loop, &o, err, errlen);
	if (rc != TW_OK)
		return rc;
	tw_log(TW_LOG_INFO, "http", "serving /healthz and /metrics on %s (port %d)",
	       ag->cfg.http.listen, tw_httpd_port(h->srv));
	return TW_OK;
}

static int64_t step(struct tw_agent *ag, void *state)
{
	struct http_role *h = state;

	(void)ag;
	return h->srv ? tw_httpd_sweep(h->srv) : TW_TIMER_STOP;
}

static void stop(struct tw_agent *ag, void *state)
{
	struct http_role *h = state;

	(void)ag;
	if (h != NULL)
		tw_httpd_stop(h->srv);
}

static void status(struct tw_agent *ag, void *state, char *buf, size_t len)
{
	const struct http_role *h = state;

	(void)ag;
	if (h->srv == NULL)
		snprintf(buf, len, "off ([http] listen is empty)");
	else
		tw_httpd_status(h->srv, buf, len);
}

const struct tw_role tw_role_http = {
	.name = "http",
	.budget = budget,
	.start = start,
	.step = step,
	.stop = stop,
	.status = status,
};
