/* SPDX-License-Identifier: MIT */
/* kafka.c - librdkafka clients configured from [kafka] and served from the event loop. All
 * brokers down begins an outage (core/outage.h, one warn line); the next delivery, commit or
 * consumed message ends it (librdkafka reports no "brokers up" event).
 * Close: bounded flush or group leave, then the consumer queue is drained to empty (an op left
 * there pins a broker thread that rd_kafka_destroy() joins without a time-out), then the destroy
 * runs on a thread of its own (a static job: no heap at a stop), waited for at most
 * TW_KAFKA_DESTROY_MS: past that the client is left behind with an error line, so a stop is
 * always bounded (docs/kafka.md "Closing").
 * A held batch pauses its partitions only once it lasts TW_KAFKA_HOLD_PAUSE_MS (a pause makes
 * librdkafka drop what it fetched ahead); from then its keep-alive polls whatever its stash
 * holds; a message a full stash cannot take is freed and its (paused) partition rewound to it. */
#include "kafka/kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/metrics.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/outage.h"

static const char *const protocols[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
static const char *const mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

static int set(rd_kafka_conf_t *conf, const char *key, const char *value, const char *origin,
	       char *err, size_t errlen)
{
	char why[256];

	if (rd_kafka_conf_set(conf, key, value, why, sizeof why) == RD_KAFKA_CONF_OK)
		return TW_OK;
	/* The value is never printed: it may be a secret. */
	snprintf(err, errlen, "%s: librdkafka refused property '%s': %s", origin, key, why);
	return TW_ERR_KAFKA_CONFIG;
}

static int setn(rd_kafka_conf_t *conf, const char *key, long long v, char *err, size_t errlen)
{
	char num[32];

	snprintf(num, sizeof num, "%lld", v);
	return set(conf, key, num, "[kafka]", err, errlen);
}

/* librdkafka's syslog levels to ours. */
static int level_of(int syslog_level)
{
	if (syslog_level <= 3)
		return TW_LOG_ERROR;
	if (syslog_level == 4)
		return TW_LOG_WARN;
	if (syslog_level <= 6)
		return TW_LOG_INFO;
	return TW_LOG_DEBUG;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	const struct tw_kafka *k = rd_kafka_opaque(rk);

	tw_log(level_of(level), k ? k->role : "kafka", "librdkafka %s: %s", fac, buf);
}

/* The outage's name: one per client role ("kafka (collector)"). */
static const char *outage_name(const struct tw_kafka *k, char *buf, size_t len)
{
	snprintf(buf, len, "kafka (%.24s)", k->role);
	return buf;
}

static void kafka_works(const struct tw_kafka *k)
{
	char name[TW_OUTAGE_NAME];

	tw_outage_end(outage_name(k, name, sizeof name));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct tw_kafka *k = opaque;
	int fatal = err == RD_KAFKA_RESP_ERR__FATAL;
	char name[TW_OUTAGE_NAME];
	int level = fatal ? TW_LOG_ERROR : TW_LOG_WARN;

	(void)rk;
	outage_name(k, name, sizeof name);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		tw_outage_begin(name, "all brokers down");
	/* Transport errors are retried by librdkafka itself: a warning, not an error;
	 * and while the outage is on, its start line has said it: info. */
	if (!fatal && tw_outage_active(name) &&
	    (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT))
		level = TW_LOG_INFO;
	tw_log(level, k->role, "kafka %s: %s: %s", fatal ? "fatal error" : "error",
	       rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct tw_kafka *k = opaque;
	char err[TW_KAFKA_ERR_LEN];

	(void)rk;
	if (m->err) {
		k->failed++;
		snprintf(err, sizeof err, "delivery to %s failed: %s",
			 m->rkt ? rd_kafka_topic_name(m->rkt) : "?", rd_kafka_err2str(m->err));
	} else {
		k->delivered++;
		err[0] = '\0';
		kafka_works(k);
	}
	if (k->o.on_delivery)
		k->o.on_delivery(k, m->err ? TW_ERR_KAFKA_DELIVERY : TW_OK, err, m, m->_private,
				 k->o.arg);
	else if (m->err)
		tw_log(TW_LOG_ERROR, k->role, "%s", err);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t e,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct tw_kafka *k = opaque;
	char err[TW_KAFKA_ERR_LEN] = "";

	(void)rk;
	/* A commit of nothing new is not a failure. */
	if (e == RD_KAFKA_RESP_ERR__NO_OFFSET)
		e = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (int i = 0; !e && offsets && i < offsets->cnt; i++)
		e = offsets->elems[i].err;
	if (e)
		snprintf(err, sizeof err, "offset commit failed: %s", rd_kafka_err2str(e));
	else
		k->committed++;
	if (!e)
		kafka_works(k);
	if (k->o.on_commit)
		k->o.on_commit(k, e ? TW_ERR_KAFKA_COMMIT : TW_OK, err, k->o.arg);
	else if (e)
		tw_log(TW_LOG_ERROR, k->role, "%s", err);
}

/* Stashed messages of the partitions in @p parts are dropped (revoked: not ours to commit). */
static void unstash(struct tw_kafka *k, const rd_kafka_topic_partition_list_t *parts)
{
	size_t kept = 0;

	for (size_t i = 0; i < k->nstash; i++) {
		if (parts == NULL || tw_kafka_in_parts(parts, k->stash[i]))
			rd_kafka_message_destroy(k->stash[i]);
		else
			k->stash[kept++] = k->stash[i];
	}
	k->nstash = kept;
}

/* The consumer's partitions as the rebalances give them (for the lag: rd_kafka_assignment()
 * waits on librdkafka's main thread, which the loop never does). */
static void keep_assignment(struct tw_kafka *k, int assign, int coop,
			    const rd_kafka_topic_partition_list_t *parts)
{
	if (!coop || k->assigned == NULL) {
		if (k->assigned)
			rd_kafka_topic_partition_list_destroy(k->assigned);
		k->assigned = assign && parts ? rd_kafka_topic_partition_list_copy(parts)
					      : rd_kafka_topic_partition_list_new(0);
		return;
	}
	for (int i = 0; parts && i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];

		if (!assign)
			rd_kafka_topic_partition_list_del(k->assigned, p->topic, p->partition);
		else if (rd_kafka_topic_partition_list_find(k->assigned, p->topic, p->partition) ==
			 NULL)
			rd_kafka_topic_partition_list_add(k->assigned, p->topic, p->partition);
	}
}

/* Served from the consumer queue (a take, a keep-alive) or from the close: the role hears of a
 * revocation before the partitions go, and of an assignment after it; an assignment while the
 * assignment is paused is paused at once. Eager and cooperative protocols alike. */
static void rebalance(struct tw_kafka *k, rd_kafka_resp_err_t e,
		      rd_kafka_topic_partition_list_t *parts)
{
	int coop = strcmp(rd_kafka_rebalance_protocol(k->rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *er = NULL;
	rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;

	k->rebalances++;
	keep_assignment(k, e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, coop, parts);
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (coop)
			er = rd_kafka_incremental_assign(k->rk, parts);
		else
			re = rd_kafka_assign(k->rk, parts);
		if (k->paused && parts)
			rd_kafka_pause_partitions(k->rk, parts);
		tw_log(TW_LOG_INFO, k->role, "kafka: %d partition(s) assigned%s",
		       parts ? parts->cnt : 0, k->paused ? " (paused: a batch is held)" : "");
		if (k->o.on_rebalance && !k->closed)
			k->o.on_rebalance(k, 1, parts, k->o.arg);
	} else {
		k->revoked_parts += parts ? (uint64_t)parts->cnt : 0;
		tw_log(TW_LOG_INFO, k->role, "kafka: %d partition(s) revoked (%s)",
		       parts ? parts->cnt : 0, rd_kafka_err2name(e));
		if (k->o.on_rebalance && !k->closed)
			k->o.on_rebalance(k, 0, parts, k->o.arg);
		unstash(k, parts);
		/* librdkafka keeps a partition's pause across an unassign: cleared here, so
		 * the partition fetches when it comes back after tw_kafka_unhold() (and is
		 * paused again if it comes back while a batch is still held) */
		if (parts)
			rd_kafka_resume_partitions(k->rk, parts);
		if (coop)
			er = rd_kafka_incremental_unassign(k->rk, parts);
		else
			re = rd_kafka_assign(k->rk, NULL);
	}
	if (er) {
		tw_log(TW_LOG_WARN, k->role, "kafka: rebalance: %s", rd_kafka_error_string(er));
		rd_kafka_error_destroy(er);
	} else if (re) {
		tw_log(TW_LOG_WARN, k->role, "kafka: rebalance: %s", rd_kafka_err2str(re));
	}
}

static void on_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	(void)rk;
	rebalance(opaque, e, parts);
}

rd_kafka_conf_t *tw_kafka_conf(const struct tw_config *cfg, const struct tw_kafka_opts *o,
			       char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char id[128], group[128], extra_origin[64];
	int64_t fetch = cfg->kafka.fetch_max_bytes;
	int rc = 0;

	snprintf(id, sizeof id, "%s-%s", cfg->agent.name, o->role);
	rc |= set(conf, "bootstrap.servers", cfg->kafka.bootstrap, "[kafka] bootstrap", err,
		  errlen);
	rc |= set(conf, "client.id", id, "[agent] name", err, errlen);
	rc |= set(conf, "security.protocol", protocols[cfg->kafka.security], "[kafka] security",
		  err, errlen);
	if (cfg->kafka.security == TW_KAFKA_SASL_SSL ||
	    cfg->kafka.security == TW_KAFKA_SASL_PLAINTEXT) {
		rc |= set(conf, "sasl.mechanisms", mechanisms[cfg->kafka.sasl_mechanism],
			  "[kafka] sasl_mechanism", err, errlen);
		rc |= set(conf, "sasl.username", cfg->kafka.username, "[kafka] username", err,
			  errlen);
		rc |= set(conf, "sasl.password", cfg->kafka.password, "[kafka] password", err,
			  errlen);
	}
	if ((cfg->kafka.security == TW_KAFKA_SSL || cfg->kafka.security == TW_KAFKA_SASL_SSL) &&
	    cfg->kafka.ca_file[0])
		rc |= set(conf, "ssl.ca.location", cfg->kafka.ca_file, "[kafka] ca_file", err,
			  errlen);
	rc |= set(conf, "log.queue", "true", "[kafka]", err, errlen);
	/* Partitions added by the admin role ([kafka] partitions raised) are seen within 30 s,
	 * not librdkafka's default 5 min: consumers are assigned them, producers use them. */
	rc |= set(conf, "topic.metadata.refresh.interval.ms", "30000", "[kafka]", err, errlen);
	/* Memory caps: responses and fetches are bounded by fetch_max_bytes. */
	rc |= setn(conf, "receive.message.max.bytes", fetch + 65536, err, errlen);
	switch (o->kind) {
	case TW_KAFKA_PRODUCER:
	case TW_KAFKA_ADMIN:
		rc |= setn(conf, "queue.buffering.max.kbytes", cfg->kafka.queue_kbytes, err, errlen);
		rc |= set(conf, "acks", "all", "[kafka]", err, errlen);
		rc |= setn(conf, "max.in.flight.requests.per.connection", 1, err, errlen);
		rc |= setn(conf, "retries", 3, err, errlen);
		rc |= setn(conf, "linger.ms", o->linger_ms, err, errlen);
		/* Only the admin role makes the topics (replication, min.insync.replicas);
		 * a producer waits for them instead of having the broker auto-create them
		 * with the cluster's defaults. */
		rc |= set(conf, "allow.auto.create.topics", "false", "[kafka]", err, errlen);
		rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
		break;
	case TW_KAFKA_CONSUMER:
		if (o->group_id)
			snprintf(group, sizeof group, "%s", o->group_id);
		else
			snprintf(group, sizeof group, "tickwatch-%s", o->role);
		rc |= set(conf, "group.id", group, "[kafka]", err, errlen);
		rc |= set(conf, "auto.offset.reset", "earliest", "[kafka]", err, errlen);
		rc |= set(conf, "enable.auto.commit", "false", "[kafka]", err, errlen);
		rc |= setn(conf, "queued.max.messages.kbytes", cfg->kafka.queue_kbytes, err, errlen);
		rc |= setn(conf, "fetch.max.bytes", fetch, err, errlen);
		rc |= setn(conf, "max.partition.fetch.bytes", fetch < 1048576 ? fetch : 1048576,
			   err, errlen);
		rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
		rd_kafka_conf_set_rebalance_cb(conf, on_rebalance_cb);
		break;
	}
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_error_cb(conf, on_error);
	/* The operator's kafka.<property> lines come last and win. */
	for (size_t i = 0; rc == 0 && i < cfg->kafka.nextra; i++) {
		if (cfg->kafka.extra[i].line > 0)
			snprintf(extra_origin, sizeof extra_origin, "[kafka] line %d",
				 cfg->kafka.extra[i].line);
		else
			snprintf(extra_origin, sizeof extra_origin, "kafka.%.40s (console)",
				 cfg->kafka.extra[i].key);
		rc |= set(conf, cfg->kafka.extra[i].key, cfg->kafka.extra[i].value, extra_origin,
			  err, errlen);
	}
	if (rc != 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

int tw_kafka_conf_check(const struct tw_config *cfg, char *err, size_t errlen)
{
	static const enum tw_kafka_kind kinds[] = {TW_KAFKA_PRODUCER, TW_KAFKA_CONSUMER,
						   TW_KAFKA_ADMIN};

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		struct tw_kafka_opts o = {.kind = kinds[i], .role = "check"};
		rd_kafka_conf_t *conf = tw_kafka_conf(cfg, &o, err, errlen);

		if (conf == NULL)
			return TW_ERR_KAFKA_CONFIG;
		rd_kafka_conf_destroy(conf);
	}
	return TW_OK;
}

static void on_wake(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	(void)l;
	(void)fd;
	(void)ready;
	tw_kafka_serve(arg);
}

int tw_kafka_open(struct tw_kafka *k, const struct tw_config *cfg, struct tw_loop *loop,
		  const struct tw_kafka_opts *o, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf;
	char why[512];
	int fds[2];
	static const char one = 1;

	memset(k, 0, sizeof *k);
	k->pipe_rd = k->pipe_wr = -1;
	k->o = *o;
	k->loop = loop;
	snprintf(k->role, sizeof k->role, "%s", o->role);
	conf = tw_kafka_conf(cfg, o, err, errlen);
	if (conf == NULL)
		return TW_ERR_KAFKA_CONFIG;
	rd_kafka_conf_set_opaque(conf, k);
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errlen, "kafka %s: cannot make the wake-up pipe: %s", o->role,
			 strerror(errno));
		rd_kafka_conf_destroy(conf);
		return TW_ERR_KAFKA_PIPE;
	}
	k->pipe_rd = fds[0];
	k->pipe_wr = fds[1];
	k->rk = rd_kafka_new(o->kind == TW_KAFKA_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER,
			     conf, why, sizeof why);
	if (k->rk == NULL) {
		snprintf(err, errlen, "kafka %s: cannot create the client: %s", o->role, why);
		rd_kafka_conf_destroy(conf);
		close(fds[0]);
		close(fds[1]);
		k->pipe_rd = k->pipe_wr = -1;
		return TW_ERR_KAFKA_CREATE;
	}
	k->mainq = rd_kafka_queue_get_main(k->rk);
	k->logq = rd_kafka_queue_new(k->rk);
	rd_kafka_set_log_queue(k->rk, k->logq);
	rd_kafka_queue_io_event_enable(k->mainq, k->pipe_wr, &one, 1);
	rd_kafka_queue_io_event_enable(k->logq, k->pipe_wr, &one, 1);
	if (o->kind == TW_KAFKA_ADMIN) {
		k->adminq = rd_kafka_queue_new(k->rk);
		rd_kafka_queue_io_event_enable(k->adminq, k->pipe_wr, &one, 1);
	}
	if (o->kind == TW_KAFKA_CONSUMER) {
		rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
		rd_kafka_resp_err_t e;

		for (size_t i = 0; o->topics && o->topics[i]; i++)
			rd_kafka_topic_partition_list_add(subs, o->topics[i],
							  RD_KAFKA_PARTITION_UA);
		k->consumerq = rd_kafka_queue_get_consumer(k->rk);
		rd_kafka_queue_io_event_enable(k->consumerq, k->pipe_wr, &one, 1);
		e = rd_kafka_subscribe(k->rk, subs);
		rd_kafka_topic_partition_list_destroy(subs);
		if (e) {
			snprintf(err, errlen, "kafka %s: cannot subscribe: %s", o->role,
				 rd_kafka_err2str(e));
			tw_kafka_close(k, 0);
			return TW_ERR_KAFKA_CREATE;
		}
	}
	if (loop && tw_loop_add_fd(loop, k->pipe_rd, TW_HAL_READ, on_wake, k) != TW_OK) {
		snprintf(err, errlen, "kafka %s: no free loop slot: raise [limits] max_fds", o->role);
		tw_kafka_close(k, 0);
		return TW_ERR_NOMEM;
	}
	/* Anything queued before io events were enabled would never signal. */
	tw_kafka_serve(k);
	return TW_OK;
}

int tw_kafka_fd(const struct tw_kafka *k)
{
	return k->rk ? k->pipe_rd : -1;
}

int tw_kafka_serve(struct tw_kafka *k)
{
	char drain[64];
	int n = 0;
	rd_kafka_event_t *ev;

	if (k->rk == NULL)
		return 0;
	while (read(k->pipe_rd, drain, sizeof drain) > 0)
		;
	k->wakeups++;
	n += rd_kafka_queue_poll_callback(k->logq, 0);
	n += rd_kafka_poll(k->rk, 0);
	if (k->adminq) {
		while ((ev = rd_kafka_queue_poll(k->adminq, 0)) != NULL) {
			if (k->o.on_event)
				k->o.on_event(k, ev, k->o.arg);
			rd_kafka_event_destroy(ev);
			n++;
		}
	}
	if (k->consumerq && rd_kafka_queue_length(k->consumerq) > 0 && k->o.on_ready) {
		k->o.on_ready(k, k->o.arg);
		n++;
	}
	return n;
}

int tw_kafka_produce(struct tw_kafka *k, const char *topic, const void *key, size_t keylen,
		     const void *payload, size_t len, void *msg_opaque, char *err, size_t errlen)
{
	rd_kafka_resp_err_t e;

	if (k->rk == NULL || k->o.kind == TW_KAFKA_CONSUMER) {
		snprintf(err, errlen, "kafka %s: not a producer", k->role);
		return TW_ERR_KAFKA_PRODUCE;
	}
	e = rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			      RD_KAFKA_V_KEY(key, keylen),
			      RD_KAFKA_V_VALUE((void *)(uintptr_t)payload, len),
			      RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
	if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		snprintf(err, errlen,
			 "kafka %s: producer queue full (%d waiting): raise [kafka] queue_kbytes "
			 "or check the brokers",
			 k->role, rd_kafka_outq_len(k->rk));
		return TW_ERR_KAFKA_FULL;
	}
	if (e) {
		snprintf(err, errlen, "kafka %s: cannot queue a message to %s: %s", k->role, topic,
			 rd_kafka_err2str(e));
		return TW_ERR_KAFKA_PRODUCE;
	}
	return TW_OK;
}

int tw_kafka_outq_len(const struct tw_kafka *k)
{
	return k->rk ? rd_kafka_outq_len(k->rk) : 0;
}

static void pause_all(struct tw_kafka *k, int pause);

size_t tw_kafka_consume_batch(struct tw_kafka *k, rd_kafka_message_t **msgs, size_t max)
{
	ssize_t got;
	size_t kept = 0, fresh = 0;

	if (k->consumerq == NULL || max == 0)
		return 0;
	/* taking again outside a hold: a pause a full stash made ends here */
	if (k->paused && !k->held)
		pause_all(k, 0);
	/* what a keep-alive took first, in its order */
	while (kept < max && k->nstash > 0) {
		msgs[kept++] = k->stash[0];
		memmove(k->stash, k->stash + 1, (k->nstash - 1) * sizeof(rd_kafka_message_t *));
		k->nstash--;
	}
	if (kept == max)
		return kept;
	got = rd_kafka_consume_batch_queue(k->consumerq, 0, msgs + kept, max - kept);
	for (ssize_t i = 0; i < got; i++) {
		rd_kafka_message_t *m = msgs[kept + (size_t)i];

		if (m->err) {
			/* Partition EOF and transport errors come as messages: log, drop. */
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				tw_log(TW_LOG_WARN, k->role, "kafka consume: %s",
				       rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		msgs[kept + fresh++] = m;
	}
	if (fresh)
		kafka_works(k);
	return kept + fresh;
}

/* The current assignment, paused or resumed: the one rebalance() keeps (rd_kafka_assignment()
 * is a request to librdkafka's main thread waited for without a time-out: never on the loop). */
static void pause_all(struct tw_kafka *k, int pause)
{
	if (k->rk == NULL || k->consumerq == NULL)
		return;
	k->paused = pause; /* (partitions assigned meanwhile follow it: rebalance()) */
	k->pauses += pause != 0;
	if (k->assigned == NULL || k->assigned->cnt == 0)
		return;
	if (pause)
		rd_kafka_pause_partitions(k->rk, k->assigned);
	else
		rd_kafka_resume_partitions(k->rk, k->assigned);
}

void tw_kafka_hold(struct tw_kafka *k)
{
	if (k->held)
		return;
	k->held = 1;
	k->held_at = tw_hal_now(); /* paused by the keep-alive once it lasts */
}

void tw_kafka_unhold(struct tw_kafka *k)
{
	if (!k->held)
		return;
	k->held = 0;
	if (k->paused)
		pause_all(k, 0);
}

/* A message a full stash has no room for: given back (freed) and its partition set to fetch
 * it again after the unhold (a seek of the paused partition), so nothing is skipped. */
static void overflow(struct tw_kafka *k, const rd_kafka_message_t *m)
{
	rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *e;

	rd_kafka_topic_partition_list_add(at, rd_kafka_topic_name(m->rkt), m->partition)->offset =
		m->offset;
	e = rd_kafka_seek_partitions(k->rk, at, 0); /* 0 ms: asynchronous */
	if (e) {
		tw_log(TW_LOG_WARN, k->role, "kafka: cannot rewind partition %d to %lld: %s",
		       (int)m->partition, (long long)m->offset, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	rd_kafka_topic_partition_list_destroy(at);
	k->overflowed++;
}

void tw_kafka_keepalive(struct tw_kafka *k)
{
	ssize_t got;
	rd_kafka_event_t *ev;

	if (k->consumerq == NULL || k->closed)
		return;
	if (k->held && !k->paused) {
		if (tw_hal_now() - k->held_at < (tw_mono_t)TW_KAFKA_HOLD_PAUSE_MS * TW_MONO_PER_MS)
			return; /* a short hold: what was fetched ahead stays for the next batch */
		pause_all(k, 1);
	}
	k->keepalives++;
	if (k->nstash >= TW_KAFKA_STASH) {
		/* Full: still a poll (the group membership depends on it), but nothing is taken.
		 * A fresh pause first: what librdkafka fetched before it is dropped there and
		 * fetched again after the unhold; anything that still comes is rewound. */
		pause_all(k, 1);
		while ((ev = rd_kafka_queue_poll(k->consumerq, 0)) != NULL) {
			const rd_kafka_message_t *m;

			if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
				rebalance(k, rd_kafka_event_error(ev),
					  rd_kafka_event_topic_partition_list(ev));
			while ((m = rd_kafka_event_message_next(ev)) != NULL)
				if (!m->err)
					overflow(k, m);
			rd_kafka_event_destroy(ev);
		}
		return;
	}
	/* a poll of the consumer queue: rebalances are served here (the callback may drop
	 * stashed messages: the new ones are then placed after what it kept), and it counts
	 * as the application's poll for max.poll.interval.ms */
	got = rd_kafka_consume_batch_queue(k->consumerq, 0, k->take, TW_KAFKA_STASH - k->nstash);
	for (ssize_t i = 0; i < got; i++) {
		rd_kafka_message_t *m = k->take[i];

		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				tw_log(TW_LOG_WARN, k->role, "kafka consume: %s",
				       rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
		} else if (k->nstash < TW_KAFKA_STASH) {
			k->stash[k->nstash++] = m;
		} else {
			overflow(k, m);
			rd_kafka_message_destroy(m);
		}
	}
}

int tw_kafka_in_parts(const rd_kafka_topic_partition_list_t *parts, const rd_kafka_message_t *m)
{
	const char *t;

	if (parts == NULL || m == NULL || m->rkt == NULL)
		return 0;
	t = rd_kafka_topic_name(m->rkt);
	for (int i = 0; i < parts->cnt; i++) {
		if (parts->elems[i].partition == m->partition && strcmp(parts->elems[i].topic, t) == 0)
			return 1;
	}
	return 0;
}

int tw_kafka_commit_batch(struct tw_kafka *k, rd_kafka_message_t *const *msgs, size_t n,
			  char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *offs;
	rd_kafka_resp_err_t e;

	if (k->consumerq == NULL) {
		snprintf(err, errlen, "kafka %s: not a consumer", k->role);
		return TW_ERR_KAFKA_COMMIT;
	}
	if (n == 0)
		return TW_OK;
	offs = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++) {
		const char *t = rd_kafka_topic_name(msgs[i]->rkt);
		rd_kafka_topic_partition_t *p =
			rd_kafka_topic_partition_list_find(offs, t, msgs[i]->partition);

		if (p == NULL)
			p = rd_kafka_topic_partition_list_add(offs, t, msgs[i]->partition);
		if (msgs[i]->offset + 1 > p->offset)
			p->offset = msgs[i]->offset + 1;
	}
	e = rd_kafka_commit(k->rk, offs, 1);
	rd_kafka_topic_partition_list_destroy(offs);
	if (e) {
		snprintf(err, errlen, "kafka %s: cannot commit offsets: %s", k->role,
			 rd_kafka_err2str(e));
		return TW_ERR_KAFKA_COMMIT;
	}
	return TW_OK;
}

void tw_kafka_release(rd_kafka_message_t **msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rd_kafka_message_destroy(msgs[i]);
		msgs[i] = NULL;
	}
}

rd_kafka_queue_t *tw_kafka_admin_queue(struct tw_kafka *k)
{
	return k->adminq;
}

/* Serve every op left on the consumer queue, without waiting. The queue must be empty before
 * the destroy: each op left (a fetched message, and the version barrier that every pause,
 * resume, seek and fetch stop puts there) holds its partition, the partition holds its
 * broker, and rd_kafka_destroy() waits forever for that broker's thread. The close's last
 * unassign (on librdkafka's main thread) queues a barrier after the close loop's last poll
 * when the machine is busy. @return ops served. */
static int drain_consumer(struct tw_kafka *k)
{
	rd_kafka_event_t *ev;
	int n = 0;

	while ((ev = rd_kafka_queue_poll(k->consumerq, 0)) != NULL) {
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
			rebalance(k, rd_kafka_event_error(ev),
				  rd_kafka_event_topic_partition_list(ev));
		rd_kafka_event_destroy(ev);
		n++;
	}
	return n;
}

/* The destroy backstop's jobs: static (no heap at a stop), one per client being destroyed or
 * left behind; a slot is free again when its destroy ends, even after its waiter left. */
#define DESTROY_JOBS 16
enum { JOB_FREE, JOB_RUNNING, JOB_DONE, JOB_ABANDONED };
static struct destroy_job {
	rd_kafka_t *rk;
	int state; /* JOB_*, under destroy_mu */
} destroy_jobs[DESTROY_JOBS];
static pthread_mutex_t destroy_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t destroy_cv;
static pthread_once_t destroy_once = PTHREAD_ONCE_INIT;

static void destroy_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* a wall-clock step cannot stretch it */
	pthread_cond_init(&destroy_cv, &a);
	pthread_condattr_destroy(&a);
}

static void *destroy_thread(void *arg)
{
	struct destroy_job *j = arg;

	rd_kafka_destroy_flags(j->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	pthread_mutex_lock(&destroy_mu);
	j->state = j->state == JOB_ABANDONED ? JOB_FREE : JOB_DONE;
	pthread_cond_broadcast(&destroy_cv);
	pthread_mutex_unlock(&destroy_mu);
	return NULL;
}

/* rd_kafka_destroy() waits for every librdkafka thread without a time-out. The backstop: it
 * runs on a thread of its own and is waited for at most TW_KAFKA_DESTROY_MS; past that the
 * client is left behind (logged as an error) so the stop goes on. @return 1 when it finished. */
static int destroy_bounded(struct tw_kafka *k)
{
	struct destroy_job *j = NULL;
	struct timespec until;
	pthread_t t;
	int done;

	pthread_once(&destroy_once, destroy_init);
	pthread_mutex_lock(&destroy_mu);
	for (size_t i = 0; i < DESTROY_JOBS && j == NULL; i++)
		if (destroy_jobs[i].state == JOB_FREE)
			j = &destroy_jobs[i];
	if (j) {
		j->rk = k->rk;
		j->state = JOB_RUNNING;
	}
	pthread_mutex_unlock(&destroy_mu);
	if (j == NULL)
		return 0; /* every slot holds a client left behind: this one is left too */
	if (pthread_create(&t, NULL, destroy_thread, j) != 0) {
		pthread_mutex_lock(&destroy_mu);
		j->state = JOB_FREE;
		pthread_mutex_unlock(&destroy_mu);
		rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		return 1;
	}
	pthread_detach(t);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += TW_KAFKA_DESTROY_MS / 1000;
	until.tv_nsec += (long)(TW_KAFKA_DESTROY_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&destroy_mu);
	while (j->state == JOB_RUNNING &&
	       pthread_cond_timedwait(&destroy_cv, &destroy_mu, &until) == 0)
		;
	done = j->state == JOB_DONE;
	j->state = done ? JOB_FREE : JOB_ABANDONED;
	pthread_mutex_unlock(&destroy_mu);
	return done;
}

void tw_kafka_close(struct tw_kafka *k, int timeout_ms)
{
	tw_mono_t end = tw_hal_now() + (tw_mono_t)timeout_ms * TW_MONO_PER_MS;

	if (k->closed || k->rk == NULL)
		return;
	k->closed = 1; /* (no on_rebalance from here on: the role is stopping) */
	if (k->loop && k->pipe_rd >= 0)
		tw_loop_del_fd(k->loop, k->pipe_rd);
	if (k->o.kind != TW_KAFKA_CONSUMER && rd_kafka_outq_len(k->rk) > 0) {
		if (rd_kafka_flush(k->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			tw_log(TW_LOG_WARN, k->role,
			       "kafka: %d message(s) not delivered within %d ms at stop",
			       rd_kafka_outq_len(k->rk), timeout_ms);
			/* Drop what is left so the destroy below does not wait on it. */
			rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
						      RD_KAFKA_PURGE_F_NON_BLOCKING);
		}
	}
	if (k->consumerq) {
		rd_kafka_error_t *e = rd_kafka_consumer_close_queue(k->rk, k->consumerq);

		if (e) {
			tw_log(TW_LOG_WARN, k->role, "kafka: consumer close: %s",
			       rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
		/* Bounded: serve the close (rebalance) until done or out of time. */
		while (!rd_kafka_consumer_closed(k->rk) && tw_hal_now() < end) {
			rd_kafka_event_t *ev = rd_kafka_queue_poll(k->consumerq, 100);

			/* with a rebalance callback configured, the close's revocation comes
			 * as an event to answer (unassign) */
			if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
				rebalance(k, rd_kafka_event_error(ev),
					  rd_kafka_event_topic_partition_list(ev));
			if (ev)
				rd_kafka_event_destroy(ev);
		}
		unstash(k, NULL);
		drain_consumer(k);
		k->left_at_close = (uint64_t)rd_kafka_queue_length(k->consumerq);
		if (k->left_at_close)
			tw_log(TW_LOG_WARN, k->role, "kafka: %llu op(s) left on the consumer queue "
			       "at its destroy", (unsigned long long)k->left_at_close);
	}
	rd_kafka_queue_io_event_enable(k->mainq, -1, NULL, 0);
	rd_kafka_queue_io_event_enable(k->logq, -1, NULL, 0);
	rd_kafka_queue_poll_callback(k->logq, 0);
	rd_kafka_set_log_queue(k->rk, NULL);
	rd_kafka_queue_destroy(k->logq);
	rd_kafka_queue_destroy(k->mainq);
	if (k->adminq) {
		rd_kafka_queue_io_event_enable(k->adminq, -1, NULL, 0);
		rd_kafka_queue_destroy(k->adminq);
	}
	if (k->consumerq) {
		rd_kafka_queue_io_event_enable(k->consumerq, -1, NULL, 0);
		rd_kafka_queue_destroy(k->consumerq);
	}
	k->logq = k->mainq = k->adminq = k->consumerq = NULL;
	if (!destroy_bounded(k)) {
		k->abandoned = 1;
		tw_log(TW_LOG_ERROR, k->role,
		       "kafka: librdkafka's destroy did not finish within %d ms (one of its "
		       "threads is still held): the client is left behind so the stop goes on",
		       TW_KAFKA_DESTROY_MS);
	}
	k->rk = NULL;
	if (k->assigned)
		rd_kafka_topic_partition_list_destroy(k->assigned);
	k->assigned = NULL;
	close(k->pipe_rd);
	close(k->pipe_wr);
	k->pipe_rd = k->pipe_wr = -1;
}

int tw_kafka_lag_metrics(const struct tw_kafka *k, struct tw_metrics *m, const char *name)
{
	rd_kafka_topic_partition_list_t *at;
	int n = 0;

	tw_metrics_family(m, name, "gauge",
			  "messages behind the end of each assigned partition (high watermark - "
			  "the consumer's position), from librdkafka's caches");
	if (k->rk == NULL || k->closed || k->assigned == NULL || k->assigned->cnt == 0)
		return 0;
	at = rd_kafka_topic_partition_list_copy(k->assigned);
	if (at == NULL)
		return 0;
	if (rd_kafka_position(k->rk, at) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (int i = 0; i < at->cnt; i++) {
			const rd_kafka_topic_partition_t *p = &at->elems[i];
			int64_t lo = -1, hi = -1, pos = p->offset;
			char part[16];

			/* (no position: nothing taken from it since its assignment; where it
			 * starts is the group's commit, which only a request could tell) */
			if (pos < 0 ||
			    rd_kafka_get_watermark_offsets(k->rk, p->topic, p->partition, &lo,
							   &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
			    hi < 0)
				continue;
			snprintf(part, sizeof part, "%d", (int)p->partition);
			tw_metrics_int(m, name,
				       (const struct tw_metric_label[]){{"topic", p->topic},
									{"partition", part},
									{NULL, NULL}},
				       hi > pos ? hi - pos : 0);
			n++;
		}
	}
	rd_kafka_topic_partition_list_destroy(at);
	return n;
}

char *tw_kafka_status(const struct tw_kafka *k, char *buf, size_t len)
{
	snprintf(buf, len, "kafka: %llu delivered, %llu failed, %d queued, %llu commits",
		 (unsigned long long)k->delivered, (unsigned long long)k->failed,
		 tw_kafka_outq_len(k), (unsigned long long)k->committed);
	return buf;
}
