/* SPDX-License-Identifier: MIT */
/* test_kafka.c - the Kafka layer on librdkafka's mock cluster: configuration, topic ensure with
 * RF 3, the error when the cluster is too small, delivery failure, consume + commit, and a batch
 * held past max.poll.interval.ms (paused, kept alive) through a rebalance: no eviction, the
 * revocation reaches the role, and nothing uncommitted is lost; a close that leaves nothing on
 * the consumer queue (so librdkafka's destroy finishes), and a full keep-alive stash that still
 * keeps the member in its group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "fake_hal.h"
#include "kafka/cluster.h"
#include "kafka/kafka.h"
#include "log.h"
#include "metrics.h"

static struct tw_config cfg;
static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mc;

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on the client's wake-up fd (really: these are librdkafka threads) and serve it,
 * until *flag is set or @p ms pass. @return the number of wake-ups seen. */
static int serve_until(struct tw_kafka *k, const int *flag, int ms)
{
	int64_t end = real_ms() + ms;
	int wakes = 0;

	while (!*flag && real_ms() < end) {
		struct pollfd p = {.fd = tw_kafka_fd(k), .events = POLLIN};

		if (poll(&p, 1, 100) > 0) {
			wakes++;
			tw_kafka_serve(k);
		}
	}
	return wakes;
}

static void start_mock(int brokers)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
	mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	assert_non_null(mock_owner);
	mc = rd_kafka_mock_cluster_new(mock_owner, brokers);
	assert_non_null(mc);
	snprintf(cfg.kafka.bootstrap, sizeof cfg.kafka.bootstrap, "%s",
		 rd_kafka_mock_cluster_bootstraps(mc));
}

static int setup(void **state)
{
	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	tw_config_defaults(&cfg, NULL);
	snprintf(cfg.agent.name, sizeof cfg.agent.name, "unit");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (mc)
		rd_kafka_mock_cluster_destroy(mc);
	if (mock_owner)
		rd_kafka_destroy(mock_owner);
	mc = NULL;
	mock_owner = NULL;
	return 0;
}

static const char *get(rd_kafka_conf_t *c, const char *key, char *buf, size_t len)
{
	size_t n = len;

	assert_int_equal(rd_kafka_conf_get(c, key, buf, &n), RD_KAFKA_CONF_OK);
	return buf;
}

static void producer_and_consumer_defaults(void **state)
{
	struct tw_kafka_opts p = {.kind = TW_KAFKA_PRODUCER, .role = "collector", .linger_ms = 0};
	struct tw_kafka_opts a = {.kind = TW_KAFKA_PRODUCER, .role = "alert", .linger_ms = 500};
	struct tw_kafka_opts cons = {.kind = TW_KAFKA_CONSUMER, .role = "notifier"};
	char err[256], v[256];
	rd_kafka_conf_t *c;

	(void)state;
	c = tw_kafka_conf(&cfg, &p, err, sizeof err);
	assert_non_null(c);
	assert_string_equal(get(c, "acks", v, sizeof v), "-1"); /* all */
	assert_string_equal(get(c, "max.in.flight.requests.per.connection", v, sizeof v), "1");
	assert_string_equal(get(c, "retries", v, sizeof v), "3");
	assert_string_equal(get(c, "linger.ms", v, sizeof v), "0");
	assert_string_equal(get(c, "queue.buffering.max.kbytes", v, sizeof v), "4096");
	assert_string_equal(get(c, "client.id", v, sizeof v), "unit-collector");
	assert_string_equal(get(c, "security.protocol", v, sizeof v), "plaintext");
	rd_kafka_conf_destroy(c);
	c = tw_kafka_conf(&cfg, &a, err, sizeof err);
	assert_string_equal(get(c, "linger.ms", v, sizeof v), "500");
	rd_kafka_conf_destroy(c);
	c = tw_kafka_conf(&cfg, &cons, err, sizeof err);
	assert_non_null(c);
	assert_string_equal(get(c, "group.id", v, sizeof v), "tickwatch-notifier");
	assert_string_equal(get(c, "auto.offset.reset", v, sizeof v), "smallest");
	assert_string_equal(get(c, "enable.auto.commit", v, sizeof v), "false");
	assert_string_equal(get(c, "fetch.max.bytes", v, sizeof v), "1048576");
	assert_string_equal(get(c, "queued.max.messages.kbytes", v, sizeof v), "4096");
	rd_kafka_conf_destroy(c);
}

static void security_and_passthrough(void **state)
{
	struct tw_kafka_opts p = {.kind = TW_KAFKA_PRODUCER, .role = "collector"};
	char err[256], v[256];
	rd_kafka_conf_t *c;

	(void)state;
	cfg.kafka.security = TW_KAFKA_SASL_SSL;
	cfg.kafka.sasl_mechanism = TW_SASL_SCRAM_256;
	snprintf(cfg.kafka.username, sizeof cfg.kafka.username, "bob");
	snprintf(cfg.kafka.password, sizeof cfg.kafka.password, "s3cret");
	snprintf(cfg.kafka.ca_file, sizeof cfg.kafka.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	snprintf(cfg.kafka.extra[0].key, sizeof cfg.kafka.extra[0].key, "linger.ms");
	snprintf(cfg.kafka.extra[0].value, sizeof cfg.kafka.extra[0].value, "7");
	cfg.kafka.extra[0].line = 12;
	cfg.kafka.nextra = 1;
	c = tw_kafka_conf(&cfg, &p, err, sizeof err);
	assert_non_null(c);
	assert_string_equal(get(c, "security.protocol", v, sizeof v), "sasl_ssl");
	assert_string_equal(get(c, "sasl.mechanisms", v, sizeof v), "SCRAM-SHA-256");
	assert_string_equal(get(c, "sasl.username", v, sizeof v), "bob");
	assert_string_equal(get(c, "ssl.ca.location", v, sizeof v),
			    "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(get(c, "linger.ms", v, sizeof v), "7"); /* the operator wins */
	rd_kafka_conf_destroy(c);

	/* A refused property names its key and line, never its value. */
	snprintf(cfg.kafka.extra[1].key, sizeof cfg.kafka.extra[1].key, "no.such.property");
	snprintf(cfg.kafka.extra[1].value, sizeof cfg.kafka.extra[1].value, "hush-hush");
	cfg.kafka.extra[1].line = 14;
	cfg.kafka.nextra = 2;
	assert_null(tw_kafka_conf(&cfg, &p, err, sizeof err));
	assert_non_null(strstr(err, "[kafka] line 14"));
	assert_non_null(strstr(err, "'no.such.property'"));
	assert_null(strstr(err, "hush-hush"));
}

struct ensure_result {
	int done, rc;
	char err[512];
};

static void on_ensured(struct tw_kafka_cluster *c, int rc, const char *err, void *arg)
{
	struct ensure_result *r = arg;

	(void)c;
	r->done = 1;
	r->rc = rc;
	snprintf(r->err, sizeof r->err, "%s", err);
}

static const char *const topics[] = {TW_KAFKA_TOPIC_ALERT, TW_KAFKA_TOPIC_NOTIFIER};

static void ensure(int brokers, struct tw_kafka_cluster *c, struct tw_kafka_part *parts,
		   struct ensure_result *r)
{
	struct tw_kafka k;
	struct tw_kafka_opts o = {.kind = TW_KAFKA_ADMIN, .role = "admin",
				  .on_event = tw_kafka_cluster_on_event, .arg = c};
	char err[256];

	(void)brokers;
	tw_kafka_cluster_init(c, &k, topics, 2, 1, 3, 10000, parts, 4);
	c->on_ensured = on_ensured;
	c->via_broker = 1; /* the mock has no controller */
	c->arg = r;
	assert_int_equal(tw_kafka_open(&k, &cfg, NULL, &o, err, sizeof err), 0);
	assert_true(tw_kafka_fd(&k) >= 0);
	assert_int_equal(tw_kafka_cluster_ensure(c), 0);
	assert_int_equal(tw_kafka_cluster_ensure(c), TW_ERR_WOULD_BLOCK); /* one at a time */
	assert_true(serve_until(&k, &r->done, 20000) > 0);
	assert_true(r->done);
	tw_kafka_close(&k, 1000);
	tw_kafka_close(&k, 1000); /* safe twice */
}

static void topics_with_rf3_on_three_brokers(void **state)
{
	struct tw_kafka_cluster c;
	struct tw_kafka_part parts[8];
	struct ensure_result r = {0};
	char report[2048];

	(void)state;
	start_mock(3);
	/* The mock broker has no CreateTopics handler: the topics are made beside it with the
	 * layout CreateTopics would ask for; ensure then finds them and checks the layout. */
	assert_int_equal(rd_kafka_mock_topic_create(mc, TW_KAFKA_TOPIC_ALERT, 1, 3), 0);
	assert_int_equal(rd_kafka_mock_topic_create(mc, TW_KAFKA_TOPIC_NOTIFIER, 1, 3), 0);
	ensure(3, &c, parts, &r);
	if (r.rc != 0)
		fail_msg("ensure failed: %d %s", r.rc, r.err);
	assert_int_equal(c.meta.nbrokers, 3);
	for (int i = 0; i < 2; i++) {
		assert_true(c.meta.topics[i].exists);
		assert_int_equal(c.meta.topics[i].npart, 1);
		assert_int_equal(c.meta.topics[i].parts[0].nrep, 3);
		assert_int_equal(c.meta.topics[i].parts[0].nisr, 3);
	}
	assert_int_equal(c.created, 0); /* existing topics are left alone */
	tw_kafka_meta_format(&c.meta, report, sizeof report);
	assert_non_null(strstr(report, "3 broker(s)"));
	assert_non_null(strstr(report, "topic to-alert-system partition 0 leader "));
	assert_non_null(strstr(report, " replicas "));
	assert_non_null(strstr(report, " isr "));
	tw_kafka_meta_json(&c.meta, report, sizeof report);
	assert_non_null(strstr(report, "\"brokers\":[{\"id\":1,"));
	assert_non_null(strstr(report, "\"isr\":["));
}

static void missing_topics_on_three_brokers_go_to_create(void **state)
{
	struct tw_kafka_cluster c;
	struct tw_kafka_part parts[8];
	struct ensure_result r = {0};

	(void)state;
	start_mock(3);
	ensure(3, &c, parts, &r);
	print_message("ensure said: %s\n", r.err);
	/* Enough brokers: the RF check passes and CreateTopics is sent; the mock cannot
	 * serve it, so the answer is an admin error, never the RF error. */
	assert_int_not_equal(r.rc, TW_ERR_KAFKA_RF);
	assert_int_equal(c.meta.nbrokers, 3);
	assert_false(c.meta.topics[0].exists);
	assert_non_null(strstr(r.err, "create topics"));
}

static void rf3_cannot_be_met_on_two_brokers(void **state)
{
	struct tw_kafka_cluster c;
	struct tw_kafka_part parts[8];
	struct ensure_result r = {0};

	(void)state;
	start_mock(2);
	ensure(2, &c, parts, &r);
	if (r.rc != TW_ERR_KAFKA_RF)
		fail_msg("ensure: %d %s", r.rc, r.err);
	assert_non_null(strstr(r.err, "replication factor 3"));
	assert_non_null(strstr(r.err, "only 2 broker(s)"));
	assert_non_null(strstr(r.err, "[kafka] replication"));
}

struct dr {
	int n, failed, ok;
	char err[256];
	void *opaque;
};

static void on_dr(struct tw_kafka *k, int rc, const char *err, const rd_kafka_message_t *m,
		  void *msg_opaque, void *arg)
{
	struct dr *d = arg;

	(void)k;
	(void)m;
	d->n++;
	d->opaque = msg_opaque;
	if (rc) {
		d->failed++;
		snprintf(d->err, sizeof d->err, "%s", err);
	} else {
		d->ok++;
	}
}

static void delivery_failure_reaches_the_callback(void **state)
{
	struct tw_kafka k;
	struct dr d = {0};
	struct tw_kafka_opts o = {.kind = TW_KAFKA_PRODUCER, .role = "collector",
				  .on_delivery = on_dr, .arg = &d};
	rd_kafka_resp_err_t errs[4] = {
		RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
		RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS};
	char err[256];
	int one = 1;

	(void)state;
	start_mock(3);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "wake", 1, 3), 0);
	assert_int_equal(tw_kafka_open(&k, &cfg, NULL, &o, err, sizeof err), 0);
	/* retries=3: four refusals in a row exhaust them */
	rd_kafka_mock_push_request_errors_array(mc, 0 /* ApiKey Produce */, 4, errs);
	assert_int_equal(tw_kafka_produce(&k, "wake", "k", 1, "{\"cycle\":1}", 11, &one, err,
					  sizeof err),
			 0);
	assert_int_equal(tw_kafka_outq_len(&k), 1);
	serve_until(&k, &d.n, 20000);
	assert_int_equal(d.failed, 1);
	assert_ptr_equal(d.opaque, &one);
	assert_non_null(strstr(d.err, "delivery to wake failed"));
	assert_non_null(strstr(d.err, "replicas"));
	assert_int_equal(k.failed, 1);
	/* the next one goes through */
	memset(&d, 0, sizeof d);
	assert_int_equal(tw_kafka_produce(&k, "wake", "k", 1, "{\"cycle\":2}", 11, NULL, err,
					  sizeof err),
			 0);
	serve_until(&k, &d.n, 20000);
	assert_int_equal(d.ok, 1);
	tw_kafka_close(&k, 2000);
	/* a consumer cannot produce */
	assert_int_equal(tw_kafka_produce(&k, "wake", NULL, 0, "x", 1, NULL, err, sizeof err),
			 TW_ERR_KAFKA_PRODUCE);
}

struct consumer_state {
	int ready, committed, commit_rc;
};

static void on_ready(struct tw_kafka *k, void *arg)
{
	(void)k;
	((struct consumer_state *)arg)->ready = 1;
}

static void on_commit(struct tw_kafka *k, int rc, const char *err, void *arg)
{
	struct consumer_state *s = arg;

	(void)k;
	(void)err;
	s->committed = 1;
	s->commit_rc = rc;
}

static void consume_batch_then_commit(void **state)
{
	struct tw_kafka p, c;
	struct dr d = {0};
	struct consumer_state s = {0};
	static const char *const subs[] = {"alerts", NULL};
	struct tw_kafka_opts po = {.kind = TW_KAFKA_PRODUCER, .role = "alert", .linger_ms = 5,
				   .on_delivery = on_dr, .arg = &d};
	struct tw_kafka_opts co = {.kind = TW_KAFKA_CONSUMER, .role = "notifier", .topics = subs,
				   .on_ready = on_ready, .on_commit = on_commit, .arg = &s};
	rd_kafka_message_t *msgs[16];
	size_t got = 0;
	int64_t end;
	char err[256];

	(void)state;
	start_mock(1);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "alerts", 1, 1), 0);
	assert_int_equal(tw_kafka_open(&p, &cfg, NULL, &po, err, sizeof err), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tw_kafka_produce(&p, "alerts", NULL, 0, "m", 1, NULL, err,
						  sizeof err),
				 0);
	end = real_ms() + 20000;
	while (d.ok < 3 && real_ms() < end)
		serve_until(&p, &d.ok, 200);
	assert_int_equal(d.ok, 3);
	assert_int_equal(tw_kafka_open(&c, &cfg, NULL, &co, err, sizeof err), 0);
	end = real_ms() + 30000;
	while (got < 3 && real_ms() < end) {
		serve_until(&c, &s.ready, 500);
		s.ready = 0;
		got += tw_kafka_consume_batch(&c, msgs + got, 16 - got);
	}
	assert_int_equal(got, 3);
	assert_int_equal(tw_kafka_commit_batch(&c, msgs, got, err, sizeof err), 0);
	tw_kafka_release(msgs, got);
	serve_until(&c, &s.committed, 20000);
	assert_true(s.committed);
	assert_int_equal(s.commit_rc, 0);
	assert_int_equal(tw_kafka_produce(&c, "alerts", NULL, 0, "x", 1, NULL, err, sizeof err),
			 TW_ERR_KAFKA_PRODUCE);
	tw_kafka_close(&c, 5000);
	tw_kafka_close(&p, 2000);
}

/* ---- a held batch (issue 11, item 8) ---- */

struct held_state {
	int ready;
	int revoked, assigned; /* on_rebalance calls */
	int revoked_parts;
};

static void held_rebalance(struct tw_kafka *k, int assigned,
			   const rd_kafka_topic_partition_list_t *parts, void *arg)
{
	struct held_state *h = arg;

	(void)k;
	if (assigned) {
		h->assigned++;
	} else {
		h->revoked++;
		h->revoked_parts += parts ? parts->cnt : 0;
	}
}

static void held_ready(struct tw_kafka *k, void *arg)
{
	(void)k;
	((struct held_state *)arg)->ready = 1;
}

static void set_extra(const char *key, const char *value)
{
	snprintf(cfg.kafka.extra[cfg.kafka.nextra].key, sizeof cfg.kafka.extra[0].key, "%s", key);
	snprintf(cfg.kafka.extra[cfg.kafka.nextra].value, sizeof cfg.kafka.extra[0].value, "%s",
		 value);
	cfg.kafka.nextra++;
}

/* Serve @p k's wake-ups for @p ms, polling it as a held batch does (keepalive), or not. The
 * agent's clock (the fake HAL's) follows the real one meanwhile: a hold's age is read from it. */
static void serve_for(struct tw_kafka *k, int ms, int keepalive)
{
	int64_t end = real_ms() + ms, last = real_ms();

	while (real_ms() < end) {
		struct pollfd p = {.fd = tw_kafka_fd(k), .events = POLLIN};
		int64_t now;

		if (poll(&p, 1, 100) > 0)
			tw_kafka_serve(k);
		now = real_ms();
		fake_clock_advance_ms(now - last);
		last = now;
		if (keepalive)
			tw_kafka_keepalive(k);
	}
}

static void held_batch_survives_max_poll_and_a_rebalance(void **state)
{
	struct tw_kafka p, a, b;
	struct dr d = {0};
	struct held_state ha = {0}, hb = {0};
	static const char *const subs[] = {"held", NULL};
	struct tw_kafka_opts po = {.kind = TW_KAFKA_PRODUCER, .role = "alert", .linger_ms = 5,
				   .on_delivery = on_dr, .arg = &d};
	struct tw_kafka_opts ao = {.kind = TW_KAFKA_CONSUMER, .role = "notifier", .topics = subs,
				   .group_id = "held-group", .on_ready = held_ready,
				   .on_rebalance = held_rebalance, .arg = &ha};
	struct tw_kafka_opts bo = ao;
	rd_kafka_message_t *msgs[32];
	int seen[2][8] = {{0}};
	size_t got = 0, n;
	int64_t end;
	char err[256], key[2] = "a";

	(void)state;
	bo.arg = &hb;
	start_mock(1);
	rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "held", 2, 1), 0);
	/* a short max.poll.interval.ms: the held batch outlasts it several times over */
	set_extra("max.poll.interval.ms", "3000");
	set_extra("session.timeout.ms", "3000");
	set_extra("heartbeat.interval.ms", "500");
	assert_int_equal(tw_kafka_open(&p, &cfg, NULL, &po, err, sizeof err), 0);
	for (int i = 0; i < 8; i++) {
		key[0] = (char)('a' + i % 2);
		assert_int_equal(rd_kafka_producev(p.rk, RD_KAFKA_V_TOPIC("held"),
						   RD_KAFKA_V_PARTITION(i % 2),
						   RD_KAFKA_V_VALUE(key, 1),
						   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						   RD_KAFKA_V_END),
				 0);
	}
	end = real_ms() + 15000;
	while (d.ok < 8 && real_ms() < end)
		serve_for(&p, 200, 0);
	if (d.ok != 8)
		fprintf(stderr, "deliveries: %d ok, %d failed: %s\n", d.ok, d.failed, d.err);
	assert_int_equal(d.ok, 8);
	/* A takes a batch (both partitions are its) and holds it */
	assert_int_equal(tw_kafka_open(&a, &cfg, NULL, &ao, err, sizeof err), 0);
	end = real_ms() + 20000;
	while (got == 0 && real_ms() < end) {
		serve_until(&a, &ha.ready, 500);
		ha.ready = 0;
		got = tw_kafka_consume_batch(&a, msgs, 3);
	}
	assert_true(got > 0);
	assert_int_equal(ha.assigned, 1);
	tw_kafka_hold(&a);
	/* held three times max.poll.interval.ms: still a member (no revocation), and paused:
	 * nothing more is fetched meanwhile */
	serve_for(&a, 9000, 1);
	assert_int_equal(ha.revoked, 0);
	assert_int_equal(a.nstash, 0);
	assert_true(a.keepalives > 0);
	/* B joins: the rebalance is served inside A's keep-alive, the revocation reaches it */
	assert_int_equal(tw_kafka_open(&b, &cfg, NULL, &bo, err, sizeof err), 0);
	end = real_ms() + 20000;
	while ((ha.revoked == 0 || hb.assigned == 0) && real_ms() < end) {
		serve_for(&a, 200, 1);
		serve_for(&b, 200, 0);
		n = tw_kafka_consume_batch(&b, msgs + got, 32 - got); /* B polls as it always does */
		for (size_t i = got; i < got + n; i++)
			seen[msgs[i]->partition][msgs[i]->offset]++;
		tw_kafka_release(msgs + got, n);
	}
	assert_true(ha.revoked >= 1);
	assert_true(ha.revoked_parts >= 1);
	assert_true(hb.assigned >= 1);
	/* A abandons its batch uncommitted (as the notifier does) and lets go */
	tw_kafka_release(msgs, got);
	got = 0;
	tw_kafka_unhold(&a);
	/* every message is read again by whoever owns its partition now: none lost */
	end = real_ms() + 20000;
	for (;;) {
		int all = 1;

		for (int pt = 0; pt < 2; pt++)
			for (int o = 0; o < 4; o++)
				all &= seen[pt][o] > 0;
		if (all || real_ms() >= end)
			break;
		serve_for(&a, 100, 0);
		serve_for(&b, 100, 0);
		n = tw_kafka_consume_batch(&a, msgs, 16);
		n += tw_kafka_consume_batch(&b, msgs + n, 16);
		for (size_t i = 0; i < n; i++)
			if (msgs[i]->offset < 8)
				seen[msgs[i]->partition][msgs[i]->offset]++;
		tw_kafka_release(msgs, n);
	}
	for (int pt = 0; pt < 2; pt++)
		for (int o = 0; o < 4; o++)
			if (seen[pt][o] == 0)
				fprintf(stderr, "never read again: partition %d offset %d (A: %d "
					"assigned, %d revoked; B: %d assigned, %d revoked)\n", pt, o,
					ha.assigned, ha.revoked, hb.assigned, hb.revoked);
	for (int pt = 0; pt < 2; pt++)
		for (int o = 0; o < 4; o++)
			assert_true(seen[pt][o] > 0);
	tw_kafka_close(&b, 5000);
	tw_kafka_close(&a, 5000);
	tw_kafka_close(&p, 2000);
}

/* Produce @p n one-byte messages to @p topic, round-robin over @p parts partitions, and wait
 * for their delivery. */
static void produce_n(const char *topic, int n, int parts)
{
	struct tw_kafka p;
	struct dr d = {0};
	struct tw_kafka_opts po = {.kind = TW_KAFKA_PRODUCER, .role = "alert", .linger_ms = 5,
				   .on_delivery = on_dr, .arg = &d};
	char err[256];
	int64_t end;

	assert_int_equal(tw_kafka_open(&p, &cfg, NULL, &po, err, sizeof err), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(rd_kafka_producev(p.rk, RD_KAFKA_V_TOPIC(topic),
						   RD_KAFKA_V_PARTITION(i % parts),
						   RD_KAFKA_V_VALUE("m", 1),
						   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						   RD_KAFKA_V_END),
				 0);
	end = real_ms() + 20000;
	while (d.ok < n && real_ms() < end)
		serve_for(&p, 200, 0);
	assert_int_equal(d.ok, n);
	tw_kafka_close(&p, 2000);
}

/* Closing a consumer that paused, resumed and was unassigned: every pause, resume and fetch stop
 * leaves a version barrier on the consumer queue, and the close's last one may come after the
 * close loop's last poll. The queue is drained before the destroy, which then finishes (each
 * op left held a partition and so a broker thread: rd_kafka_destroy() waited for it forever). */
static void close_leaves_nothing_on_the_consumer_queue(void **state)
{
	static const char *const subs[] = {"closing", NULL};
	struct held_state h = {0};
	struct tw_kafka_opts co = {.kind = TW_KAFKA_CONSUMER, .role = "notifier", .topics = subs,
				   .on_ready = held_ready,
				   .on_rebalance = held_rebalance, .arg = &h};
	rd_kafka_message_t *msgs[16];
	char err[256];

	(void)state;
	start_mock(1);
	rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "closing", 2, 1), 0);
	produce_n("closing", 4, 2);
	for (int cycle = 0; cycle < 6; cycle++) {
		struct tw_kafka c;
		size_t got = 0;
		int64_t end = real_ms() + 30000;
		char group[32];

		/* a group of its own each time: no wait for the last member's departure */
		snprintf(group, sizeof group, "closing-%d", cycle);
		co.group_id = group;
		memset(&h, 0, sizeof h);
		assert_int_equal(tw_kafka_open(&c, &cfg, NULL, &co, err, sizeof err), 0);
		/* nothing is committed: every cycle reads the four again */
		while (got < 4 && real_ms() < end) {
			serve_until(&c, &h.ready, 200);
			h.ready = 0;
			got += tw_kafka_consume_batch(&c, msgs + got, 16 - got);
		}
		if (got != 4)
			fail_msg("cycle %d: %zu of 4 messages read (%d assigned)", cycle, got,
				 h.assigned);
		tw_kafka_hold(&c);
		serve_for(&c, 300, 1);
		tw_kafka_release(msgs, got);
		tw_kafka_unhold(&c);
		tw_kafka_hold(&c); /* barriers, again, right before the close */
		tw_kafka_close(&c, 5000);
		assert_int_equal(c.left_at_close, 0);
		assert_int_equal(c.abandoned, 0);
		assert_int_equal(tw_kafka_fd(&c), -1);
	}
}

/* A full stash (32 messages taken by keep-alives) must not stop the keep-alive's polls: the
 * member stays in its group past max.poll.interval.ms, and no message is lost. */
static void full_stash_still_keeps_the_member_alive(void **state)
{
	static const char *const subs[] = {"full", NULL};
	struct held_state h = {0};
	struct tw_kafka_opts co = {.kind = TW_KAFKA_CONSUMER, .role = "notifier", .topics = subs,
				   .group_id = "full-group", .on_ready = held_ready,
				   .on_rebalance = held_rebalance, .arg = &h};
	struct tw_kafka c;
	rd_kafka_message_t *msgs[64];
	int seen[48] = {0};
	size_t got = 0, n;
	int64_t end;
	char err[256];

	(void)state;
	start_mock(1);
	rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "full", 1, 1), 0);
	set_extra("max.poll.interval.ms", "3000");
	set_extra("session.timeout.ms", "3000");
	set_extra("heartbeat.interval.ms", "500");
	produce_n("full", 40, 1);
	assert_int_equal(tw_kafka_open(&c, &cfg, NULL, &co, err, sizeof err), 0);
	end = real_ms() + 30000;
	while (got < TW_KAFKA_STASH + 1 && real_ms() < end) {
		serve_until(&c, &h.ready, 200);
		h.ready = 0;
		got += tw_kafka_consume_batch(&c, msgs + got, TW_KAFKA_STASH + 1 - got);
	}
	assert_int_equal(got, TW_KAFKA_STASH + 1);
	/* the role holds one message; 32 more wait in the stash as keep-alives leave them */
	for (size_t i = 0; i < TW_KAFKA_STASH; i++)
		c.stash[i] = msgs[1 + i];
	c.nstash = TW_KAFKA_STASH;
	tw_kafka_hold(&c);
	serve_for(&c, 9000, 1); /* three times max.poll.interval.ms */
	assert_int_equal(h.revoked, 0);
	assert_int_equal(c.nstash, TW_KAFKA_STASH);
	/* the batch ends: the stash comes first, then the rest, each offset once at least */
	seen[msgs[0]->offset]++;
	tw_kafka_release(msgs, 1);
	tw_kafka_unhold(&c);
	end = real_ms() + 20000;
	for (;;) {
		int all = 1;

		for (int o = 0; o < 40; o++)
			all &= seen[o] > 0;
		if (all || real_ms() >= end)
			break;
		serve_for(&c, 100, 0);
		n = tw_kafka_consume_batch(&c, msgs, 64);
		for (size_t i = 0; i < n; i++)
			if (msgs[i]->offset < 48)
				seen[msgs[i]->offset]++;
		tw_kafka_release(msgs, n);
	}
	for (int o = 0; o < 40; o++)
		if (seen[o] == 0)
			fprintf(stderr, "offset %d never read\n", o);
	for (int o = 0; o < 40; o++)
		assert_true(seen[o] > 0);
	assert_int_equal(h.revoked, 0);
	tw_kafka_close(&c, 5000);
	assert_int_equal(c.left_at_close, 0);
	assert_int_equal(c.abandoned, 0);
}

/* A pause a full stash made outside a hold (the notifier keeps the member alive during a unit
 * of retries without holding) ends at the next take: the partition fetches again and every
 * offset is read (before, nothing resumed it: the consumer stayed paused for good). A hold
 * pauses only once it lasts TW_KAFKA_HOLD_PAUSE_MS (a pause drops what was fetched ahead). */
static void pauses_end_and_short_holds_do_not_pause(void **state)
{
	static const char *const subs[] = {"ahead", NULL};
	struct held_state h = {0};
	struct tw_kafka_opts co = {.kind = TW_KAFKA_CONSUMER, .role = "notifier", .topics = subs,
				   .group_id = "ahead-group", .on_ready = held_ready,
				   .on_rebalance = held_rebalance, .arg = &h};
	struct tw_kafka c;
	rd_kafka_message_t *msgs[64];
	int seen[48] = {0};
	size_t got = 0, n;
	uint64_t pauses;
	int64_t end;
	char err[256];

	(void)state;
	start_mock(1);
	rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "ahead", 1, 1), 0);
	produce_n("ahead", 40, 1);
	assert_int_equal(tw_kafka_open(&c, &cfg, NULL, &co, err, sizeof err), 0);
	end = real_ms() + 30000;
	while (got < TW_KAFKA_STASH + 1 && real_ms() < end) {
		serve_until(&c, &h.ready, 200);
		h.ready = 0;
		got += tw_kafka_consume_batch(&c, msgs + got, TW_KAFKA_STASH + 1 - got);
	}
	assert_int_equal(got, TW_KAFKA_STASH + 1);
	seen[msgs[0]->offset]++;
	tw_kafka_release(msgs, 1);
	for (size_t i = 0; i < TW_KAFKA_STASH; i++)
		c.stash[i] = msgs[1 + i];
	c.nstash = TW_KAFKA_STASH;
	tw_kafka_keepalive(&c); /* not held, stash full: paused */
	assert_int_equal(c.paused, 1);
	end = real_ms() + 20000;
	for (;;) {
		int all = 1;

		for (int o = 0; o < 40; o++)
			all &= seen[o] > 0;
		if (all || real_ms() >= end)
			break;
		n = tw_kafka_consume_batch(&c, msgs, 64);
		for (size_t i = 0; i < n; i++)
			if (msgs[i]->offset < 48)
				seen[msgs[i]->offset]++;
		tw_kafka_release(msgs, n);
		serve_for(&c, 100, 0);
	}
	for (int o = 0; o < 40; o++)
		assert_true(seen[o] > 0);
	assert_int_equal(c.paused, 0);
	/* a short hold: its keep-alives pause nothing; a long one pauses, its end resumes */
	pauses = c.pauses;
	tw_kafka_hold(&c);
	tw_kafka_keepalive(&c);
	fake_clock_advance_ms(TW_KAFKA_HOLD_PAUSE_MS - 1);
	tw_kafka_keepalive(&c);
	assert_int_equal(c.pauses, pauses);
	assert_int_equal(c.paused, 0);
	fake_clock_advance_ms(1);
	tw_kafka_keepalive(&c);
	assert_int_equal(c.pauses, pauses + 1);
	assert_int_equal(c.paused, 1);
	tw_kafka_unhold(&c);
	assert_int_equal(c.paused, 0);
	tw_kafka_close(&c, 5000);
	assert_int_equal(c.left_at_close, 0);
}

/* The lag on /metrics: high watermark minus the position, per assigned partition, from caches
 * (issue 18): 5 messages, 2 taken, lag 3; all taken, lag 0; a partition nothing was taken from
 * since its assignment has no sample. */
static void lag_is_the_end_minus_what_was_taken(void **state)
{
	struct tw_kafka c;
	struct consumer_state s = {0};
	static const char *const subs[] = {"lagt", NULL};
	struct tw_kafka_opts co = {.kind = TW_KAFKA_CONSUMER, .role = "notifier", .topics = subs,
				   .on_ready = on_ready, .arg = &s};
	rd_kafka_message_t *msgs[8];
	struct tw_metrics m;
	char out[1024], err[256];
	size_t got = 0;
	int64_t end;

	(void)state;
	start_mock(1);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "lagt", 2, 1), 0);
	produce_n("lagt", 5, 1); /* all on partition 0; partition 1 stays empty */
	assert_int_equal(tw_kafka_open(&c, &cfg, NULL, &co, err, sizeof err), 0);
	end = real_ms() + 30000;
	while (got < 2 && real_ms() < end) {
		serve_until(&c, &s.ready, 500);
		s.ready = 0;
		got += tw_kafka_consume_batch(&c, msgs + got, 2 - got);
	}
	assert_int_equal(got, 2);
	tw_metrics_init(&m, out, sizeof out);
	assert_int_equal(tw_kafka_lag_metrics(&c, &m, "tw_lag"), 1);
	assert_non_null(strstr(out, "# TYPE tw_lag gauge\n"));
	assert_non_null(strstr(out, "tw_lag{topic=\"lagt\",partition=\"0\"} 3\n"));
	assert_null(strstr(out, "partition=\"1\""));
	tw_kafka_release(msgs, got);
	got = 0;
	end = real_ms() + 30000;
	while (got < 3 && real_ms() < end) {
		serve_until(&c, &s.ready, 500);
		s.ready = 0;
		got += tw_kafka_consume_batch(&c, msgs + got, 3 - got);
	}
	assert_int_equal(got, 3);
	tw_metrics_init(&m, out, sizeof out);
	assert_int_equal(tw_kafka_lag_metrics(&c, &m, "tw_lag"), 1);
	assert_non_null(strstr(out, "tw_lag{topic=\"lagt\",partition=\"0\"} 0\n"));
	tw_kafka_release(msgs, got);
	tw_kafka_close(&c, 5000);
	tw_metrics_init(&m, out, sizeof out);
	assert_int_equal(tw_kafka_lag_metrics(&c, &m, "tw_lag"), 0); /* closed: the family only */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(producer_and_consumer_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(security_and_passthrough, setup, teardown),
		cmocka_unit_test_setup_teardown(topics_with_rf3_on_three_brokers, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_topics_on_three_brokers_go_to_create, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rf3_cannot_be_met_on_two_brokers, setup, teardown),
		cmocka_unit_test_setup_teardown(delivery_failure_reaches_the_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(consume_batch_then_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(held_batch_survives_max_poll_and_a_rebalance, setup,
						teardown),
		cmocka_unit_test_setup_teardown(close_leaves_nothing_on_the_consumer_queue, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lag_is_the_end_minus_what_was_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(pauses_end_and_short_holds_do_not_pause, setup,
						teardown),
		cmocka_unit_test_setup_teardown(full_stash_still_keeps_the_member_alive, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
