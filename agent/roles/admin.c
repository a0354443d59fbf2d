/* SPDX-License-Identifier: MIT */
/* admin.c - the admin role: creates (or grows) the topics, then reports brokers and topic layouts.
 *
 * One report for the fleet: before each periodic report the role claims the admin report lock
 * (a session advisory lock, cqrs/buckets.h with one bucket, on a connection of its own to
 * [db] write_url). The agent holding it logs the report; the others stand by, and the first to
 * claim after the holder's session ends takes over. When the database cannot be asked, the
 * report is logged anyway (two reports beat none). The console's "kafka" and the RPC method
 * answer on every agent. Metrics (/metrics, docs/http.md): topic checks by result, topics
 * created and grown, reports made and stood by, topics ready and the brokers last seen. */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "core/metrics.h"
#include "cqrs/buckets.h"
#include "kafka/cluster.h"
#include "kafka/kafka.h"

#define ADMIN_TIMEOUT_MS 15000 /* bound of each admin request */
#define ADMIN_RETRY_MS 10000   /* wait before trying to create the topics again */
#define ADMIN_FRESH_MS 2000    /* a report younger than this is served as it is */
#define ADMIN_REPORT_MAX 8192

static const char *const topics[] = {TW_KAFKA_TOPIC_ALERT, TW_KAFKA_TOPIC_NOTIFIER};

enum phase { PH_START, PH_ENSURING, PH_WAIT_RETRY, PH_READY };

struct admin {
	struct tw_agent *ag;
	struct tw_kafka k;
	struct tw_kafka_cluster c;
	enum phase phase;
	int attempts;
	int console_waiting;
	long long retry_timer;
	struct tw_buckets lock; /* the fleet's one report */
	int lock_open;
	uint64_t reports, stood_by;
	uint64_t checks_ok, checks_failed, created, grown; /* topic ensures, since start */
	char last_err[512];
	char report[ADMIN_REPORT_MAX];
};

static size_t parts_cap(const struct tw_config *cfg)
{
	/* Room for the partitions we create, and a few more for a topic made by hand. */
	return (size_t)cfg->kafka.partitions + 16;
}

static size_t budget(const struct tw_config *cfg)
{
	return sizeof(struct admin) + 2 * parts_cap(cfg) * sizeof(struct tw_kafka_part);
}

static void log_report(struct admin *a, int to_console)
{
	char *line, *save = NULL;

	tw_kafka_meta_format(&a->c.meta, a->report, sizeof a->report);
	if (to_console)
		tw_agent_say(a->ag, "%s", a->report);
	for (line = strtok_r(a->report, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		tw_log(TW_LOG_INFO, "admin", "%s", line);
}

static void on_report(struct tw_kafka_cluster *c, int rc, const char *err, void *arg)
{
	struct admin *a = arg;
	int console = a->console_waiting;

	(void)c;
	a->console_waiting = 0;
	if (rc != TW_OK) {
		tw_log(TW_LOG_WARN, "admin", "cluster report failed: %s", err);
		if (console)
			tw_agent_say(a->ag, "error: cluster report failed: %s\n", err);
		return;
	}
	log_report(a, console);
}

static int64_t retry_ensure(struct tw_loop *l, void *arg)
{
	struct admin *a = arg;

	(void)l;
	a->retry_timer = 0;
	a->phase = PH_ENSURING;
	a->attempts++;
	tw_kafka_cluster_ensure(&a->c);
	return TW_TIMER_STOP;
}

static void on_ensured(struct tw_kafka_cluster *c, int rc, const char *err, void *arg)
{
	struct admin *a = arg;

	if (rc == TW_OK) {
		a->checks_ok++;
		a->created += (uint64_t)(c->created > 0 ? c->created : 0);
		a->grown += (uint64_t)(c->grown > 0 ? c->grown : 0);
		a->phase = PH_READY;
		a->last_err[0] = '\0';
		tw_log(TW_LOG_INFO, "admin", "topics ready (%d created, %d grown)", c->created,
		       c->grown);
		if (tw_kafka_cluster_refresh(c) != TW_OK)
			tw_log(TW_LOG_DEBUG, "admin", "report already running");
		return;
	}
	a->checks_failed++;
	snprintf(a->last_err, sizeof a->last_err, "%s", err);
	/* A topic just created and not in the metadata yet is how a fresh cluster
	 * behaves (kafka/cluster.c says "not visible yet"): info, not an error. */
	tw_log(strstr(err, "not visible yet") ? TW_LOG_INFO : TW_LOG_ERROR, "admin",
	       "%s; retrying in %d s (attempt %d)", err, ADMIN_RETRY_MS / 1000, a->attempts);
	a->phase = PH_WAIT_RETRY;
	a->retry_timer = tw_loop_add_timer(&a->ag->loop, ADMIN_RETRY_MS, retry_ensure, a);
	if (a->retry_timer < 0) {
		tw_log(TW_LOG_ERROR, "admin", "no free timer for the retry: raise [limits] max_timers");
		a->retry_timer = 0;
	}
}

static void cmd_kafka(struct tw_agent *ag, const char *args, void *arg)
{
	struct admin *a = arg;
	tw_mono_t at = a->c.meta.topics_at;

	(void)args;
	if (at && tw_hal_now() - at < ADMIN_FRESH_MS * TW_MONO_PER_MS) {
		tw_kafka_meta_format(&a->c.meta, a->report, sizeof a->report);
		tw_agent_say(ag, "%s", a->report);
		return;
	}
	a->console_waiting = 1;
	if (tw_kafka_cluster_refresh(&a->c) == TW_OK)
		tw_agent_say(ag, "asking the cluster...\n");
}

static int method_metadata(struct tw_agent *ag, const char *params, size_t params_len,
			   char *out, size_t outlen, void *arg)
{
	struct admin *a = arg;
	tw_mono_t at = a->c.meta.topics_at;
	size_t n;

	(void)ag;
	(void)params;
	(void)params_len;
	/* Answer from the last report at once; keep it fresh for the next call. */
	if (at == 0 || tw_hal_now() - at > ADMIN_FRESH_MS * TW_MONO_PER_MS)
		tw_kafka_cluster_refresh(&a->c);
	if (at == 0) {
		snprintf(out, outlen, "cluster metadata not fetched yet: try again in a few seconds");
		return TW_ERR_WOULD_BLOCK;
	}
	n = tw_kafka_meta_json(&a->c.meta, out, outlen);
	if (n == 0 || n + 32 >= outlen) {
		snprintf(out, outlen, "cluster report too large for the reply buffer");
		return TW_ERR_NOMEM;
	}
	/* Append the report's age inside the object. */
	snprintf(out + n - 1, outlen - n + 1, ",\"age_ms\":%lld}",
		 (long long)((tw_hal_now() - at) / TW_MONO_PER_MS));
	return TW_OK;
}

static int start(struct tw_agent *ag, void **state, char *err, size_t errlen)
{
	const struct tw_config *cfg = &ag->cfg;
	size_t cap = parts_cap(cfg);
	struct admin *a = tw_arena_carve(&ag->arena, sizeof *a, "admin role", "arena_kb");
	struct tw_kafka_part *parts =
		tw_arena_carve(&ag->arena, 2 * cap * sizeof *parts, "admin partition table",
			       "arena_kb");
	struct tw_kafka_opts o = {
		.kind = TW_KAFKA_ADMIN,
		.role = "admin",
		.on_event = tw_kafka_cluster_on_event,
	};
	int rc;

	if (a == NULL || parts == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	a->ag = ag;
	o.arg = &a->c;
	tw_kafka_cluster_init(&a->c, &a->k, topics, 2, (int)cfg->kafka.partitions,
			      (int)cfg->kafka.replication, ADMIN_TIMEOUT_MS, parts, (int)cap);
	a->c.on_ensured = on_ensured;
	a->c.on_report = on_report;
	a->c.arg = a;
	rc = tw_kafka_open(&a->k, cfg, &ag->loop, &o, err, errlen);
	if (rc != TW_OK)
		return rc;
	if (cfg->db.write_url[0]) {
		char why[256];

		if (tw_buckets_open(&a->lock, &ag->loop, cfg->db.write_url, cfg->db.connect_timeout_ms,
				    cfg->db.statement_timeout_ms, TW_BUCKETS_NS_ADMIN, 1, why,
				    sizeof why) == TW_OK)
			a->lock_open = 1;
		else
			tw_log(TW_LOG_WARN, "admin", "no report lock (%s): this agent always reports",
			       why);
	}
	if (tw_agent_add_command(ag, "kafka", "brokers and topic layouts of the Kafka cluster",
				 cmd_kafka, a) != TW_OK ||
	    tw_agent_add_method(ag, "kafka.metadata", method_metadata, a) != TW_OK) {
		snprintf(err, errlen, "admin: no room for its console command or RPC method");
		tw_kafka_close(&a->k, 0);
		return TW_ERR_NOMEM;
	}
	*state = a;
	tw_log(TW_LOG_INFO, "admin", "bootstrap %s, topics %s and %s (%lld partition(s), RF %lld)",
	       cfg->kafka.bootstrap, topics[0], topics[1], (long long)cfg->kafka.partitions,
	       (long long)cfg->kafka.replication);
	return TW_OK;
}

static void report_now(struct admin *a)
{
	a->reports++;
	if (tw_kafka_cluster_refresh(&a->c) != TW_OK)
		tw_log(TW_LOG_WARN, "admin", "previous cluster report still running");
}

static void on_lock(struct tw_buckets *b, int rc, void *arg)
{
	struct admin *a = arg;

	if (rc != TW_OK) {
		tw_log(TW_LOG_WARN, "admin", "report lock not claimed (%s): reporting anyway", b->err);
		report_now(a);
	} else if (tw_buckets_holds(b, 0)) {
		report_now(a);
	} else {
		a->stood_by++;
		tw_log(TW_LOG_DEBUG, "admin", "another agent reports the cluster (%d admins): "
		       "standing by", b->members);
	}
}

/* First call: ensure the topics. Then every report_interval: the cluster report, by the agent
 * holding the report lock. */
static int64_t step(struct tw_agent *ag, void *state)
{
	struct admin *a = state;

	if (a->phase == PH_START) {
		a->phase = PH_ENSURING;
		a->attempts = 1;
		tw_kafka_cluster_ensure(&a->c);
	} else if (!a->lock_open || tw_buckets_claim(&a->lock, on_lock, a) == TW_ERR_DB_UNAVAILABLE) {
		if (a->lock_open)
			tw_log(TW_LOG_WARN, "admin", "report lock: %s; reporting anyway", a->lock.err);
		report_now(a);
	}
	return ag->cfg.kafka.report_interval_ms;
}

static void stop(struct tw_agent *ag, void *state)
{
	struct admin *a = state;

	if (a->retry_timer > 0)
		tw_loop_del_timer(&ag->loop, a->retry_timer);
	if (a->lock_open)
		tw_buckets_close(&a->lock);
	a->lock_open = 0;
	tw_kafka_close(&a->k, 2000);
}

static void status(struct tw_agent *ag, void *state, char *buf, size_t len)
{
	struct admin *a = state;
	static const char *const names[] = {"starting", "creating topics", "waiting to retry",
					    "topics ready"};
	tw_mono_t at = a->c.meta.topics_at;
	char when[48];

	(void)ag;
	if (at)
		snprintf(when, sizeof when, "%llds ago",
			 (long long)((tw_hal_now() - at) / TW_MONO_PER_S));
	else
		snprintf(when, sizeof when, "never");
	snprintf(buf, len, "%s; %d broker(s); last report %s; report lock %s (%d admin(s)), "
		 "%llu reports, %llu stood by%s%s",
		 names[a->phase], a->c.meta.nbrokers, when,
		 !a->lock_open ? "off" : tw_buckets_holds(&a->lock, 0) ? "held" : "standing by",
		 a->lock.members, (unsigned long long)a->reports, (unsigned long long)a->stood_by,
		 a->last_err[0] ? "; last error: " : "", a->last_err);
}

static void metrics(struct tw_agent *ag, void *state, struct tw_metrics *m)
{
	const struct admin *a = state;

	(void)ag;
	tw_metrics_family(m, "tickwatch_admin_topic_checks_total", "counter",
			  "checks that the topics exist with [kafka] partitions, by result");
	tw_metrics_int(m, "tickwatch_admin_topic_checks_total",
		       (const struct tw_metric_label[]){{"result", "ok"}, {NULL, NULL}},
		       (int64_t)a->checks_ok);
	tw_metrics_int(m, "tickwatch_admin_topic_checks_total",
		       (const struct tw_metric_label[]){{"result", "failed"}, {NULL, NULL}},
		       (int64_t)a->checks_failed);
	tw_metrics_family(m, "tickwatch_admin_topics_changed_total", "counter",
			  "topics this agent created, or grew to [kafka] partitions");
	tw_metrics_int(m, "tickwatch_admin_topics_changed_total",
		       (const struct tw_metric_label[]){{"action", "created"}, {NULL, NULL}},
		       (int64_t)a->created);
	tw_metrics_int(m, "tickwatch_admin_topics_changed_total",
		       (const struct tw_metric_label[]){{"action", "grown"}, {NULL, NULL}},
		       (int64_t)a->grown);
	tw_metrics_family(m, "tickwatch_admin_topics_ready", "gauge",
			  "1 once the topics were checked ready");
	tw_metrics_int(m, "tickwatch_admin_topics_ready", NULL, a->phase == PH_READY);
	tw_metrics_family(m, "tickwatch_admin_cluster_reports_total", "counter",
			  "periodic cluster reports: made by this agent, or stood by for another");
	tw_metrics_int(m, "tickwatch_admin_cluster_reports_total",
		       (const struct tw_metric_label[]){{"result", "reported"}, {NULL, NULL}},
		       (int64_t)a->reports);
	tw_metrics_int(m, "tickwatch_admin_cluster_reports_total",
		       (const struct tw_metric_label[]){{"result", "stood_by"}, {NULL, NULL}},
		       (int64_t)a->stood_by);
	tw_metrics_family(m, "tickwatch_admin_brokers", "gauge",
			  "brokers in the last cluster metadata this agent read");
	tw_metrics_int(m, "tickwatch_admin_brokers", NULL, a->c.meta.nbrokers);
}

const struct tw_role tw_role_admin = {
	.name = "admin",
	.metrics = metrics,
	.budget = budget,
	.start = start,
	.step = step,
	.stop = stop,
	.status = status,
};
