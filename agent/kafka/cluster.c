/* SPDX-License-Identifier: MIT */
/* cluster.c - ensure the topics exist with [kafka] partitions (created, or grown with
 * CreatePartitions; never shrunk: a topic with more is left as it is and warned about) and
 * describe the cluster, all through async admin events. */
#include "kafka/cluster.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* The event opaque says which step of which sequence a result belongs to. */
enum op {
	OP_ENSURE_CLUSTER = 1,
	OP_ENSURE_TOPICS,
	OP_CREATE,
	OP_GROW,
	OP_VERIFY,
	OP_REPORT_CLUSTER,
	OP_REPORT_TOPICS,
};

static char op_tags[OP_REPORT_TOPICS + 1]; /* stable addresses used as opaques */

void tw_kafka_cluster_init(struct tw_kafka_cluster *c, struct tw_kafka *k,
			   const char *const *topics, int ntopics, int partitions, int replication,
			   int timeout_ms, struct tw_kafka_part *parts, int parts_cap)
{
	memset(c, 0, sizeof *c);
	c->k = k;
	c->partitions = partitions;
	c->replication = replication;
	c->min_isr = replication < 2 ? replication : 2;
	c->via_broker = -1;
	c->timeout_ms = timeout_ms;
	if (ntopics > TW_KAFKA_MAX_TOPICS)
		ntopics = TW_KAFKA_MAX_TOPICS;
	c->meta.ntopics = ntopics;
	c->meta.controller = -1;
	for (int i = 0; i < ntopics; i++) {
		c->meta.topics[i].name = topics[i];
		c->meta.topics[i].parts = parts + (size_t)i * (size_t)parts_cap;
		c->meta.topics[i].cap = parts_cap;
	}
}

static rd_kafka_AdminOptions_t *options(struct tw_kafka_cluster *c, rd_kafka_admin_op_t api,
					enum op op)
{
	char why[256];
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(c->k->rk, api);

	rd_kafka_AdminOptions_set_request_timeout(o, c->timeout_ms, why, sizeof why);
	if (api == RD_KAFKA_ADMIN_OP_CREATETOPICS || api == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
		rd_kafka_AdminOptions_set_operation_timeout(o, c->timeout_ms, why, sizeof why);
	if (c->via_broker >= 0)
		rd_kafka_AdminOptions_set_broker(o, c->via_broker, why, sizeof why);
	rd_kafka_AdminOptions_set_opaque(o, &op_tags[op]);
	return o;
}

static void describe_cluster(struct tw_kafka_cluster *c, enum op op)
{
	rd_kafka_AdminOptions_t *o = options(c, RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER, op);

	rd_kafka_DescribeCluster(c->k->rk, o, tw_kafka_admin_queue(c->k));
	rd_kafka_AdminOptions_destroy(o);
}

static void describe_topics(struct tw_kafka_cluster *c, enum op op)
{
	const char *names[TW_KAFKA_MAX_TOPICS];
	rd_kafka_TopicCollection_t *tc;
	rd_kafka_AdminOptions_t *o = options(c, RD_KAFKA_ADMIN_OP_DESCRIBETOPICS, op);

	for (int i = 0; i < c->meta.ntopics; i++)
		names[i] = c->meta.topics[i].name;
	tc = rd_kafka_TopicCollection_of_topic_names(names, (size_t)c->meta.ntopics);
	rd_kafka_DescribeTopics(c->k->rk, tc, o, tw_kafka_admin_queue(c->k));
	rd_kafka_TopicCollection_destroy(tc);
	rd_kafka_AdminOptions_destroy(o);
}

int tw_kafka_cluster_ensure(struct tw_kafka_cluster *c)
{
	if (c->ensuring)
		return TW_ERR_WOULD_BLOCK;
	c->ensuring = 1; /* created and grown count on over failed attempts (ensured() resets) */
	describe_cluster(c, OP_ENSURE_CLUSTER);
	return TW_OK;
}

int tw_kafka_cluster_refresh(struct tw_kafka_cluster *c)
{
	if (c->refreshing)
		return TW_ERR_WOULD_BLOCK;
	c->refreshing = 1;
	describe_cluster(c, OP_REPORT_CLUSTER);
	return TW_OK;
}

static void ensured(struct tw_kafka_cluster *c, int rc, const char *err)
{
	c->ensuring = 0;
	if (c->on_ensured)
		c->on_ensured(c, rc, err, c->arg);
	/* A failed attempt keeps its counts: the grow may have succeeded and only its verify
	 * failed (partitions not visible yet), and the retry then finds nothing to grow; the
	 * success reports what all the attempts did. */
	if (rc == TW_OK)
		c->created = c->grown = 0;
}

static void reported(struct tw_kafka_cluster *c, int rc, const char *err)
{
	c->refreshing = 0;
	if (c->on_report)
		c->on_report(c, rc, err, c->arg);
}

static int take_cluster(struct tw_kafka_cluster *c, rd_kafka_event_t *ev, char *err,
			size_t errlen)
{
	const rd_kafka_DescribeCluster_result_t *res = rd_kafka_event_DescribeCluster_result(ev);
	const rd_kafka_Node_t **nodes, *ctl;
	size_t n;
	const char *id;

	if (rd_kafka_event_error(ev) || res == NULL) {
		snprintf(err, errlen, "describe cluster at %s failed: %s (check [kafka] bootstrap)",
			 c->k->rk ? rd_kafka_name(c->k->rk) : "?", rd_kafka_event_error_string(ev));
		return TW_ERR_KAFKA_ADMIN;
	}
	nodes = rd_kafka_DescribeCluster_result_nodes(res, &n);
	c->meta.nbrokers = 0;
	for (size_t i = 0; i < n && i < TW_KAFKA_MAX_BROKERS; i++) {
		struct tw_kafka_broker *b = &c->meta.brokers[c->meta.nbrokers++];

		b->id = rd_kafka_Node_id(nodes[i]);
		b->port = rd_kafka_Node_port(nodes[i]);
		snprintf(b->host, sizeof b->host, "%s", rd_kafka_Node_host(nodes[i]));
		/* From the network: keep it printable and JSON-safe. */
		for (char *h = b->host; *h; h++) {
			if (!isalnum((unsigned char)*h) && !strchr(".-_:[]", *h))
				*h = '?';
		}
	}
	/* Brokers sorted by id, so reports are stable. */
	for (int i = 1; i < c->meta.nbrokers; i++) {
		for (int j = i; j > 0 && c->meta.brokers[j - 1].id > c->meta.brokers[j].id; j--) {
			struct tw_kafka_broker t = c->meta.brokers[j];

			c->meta.brokers[j] = c->meta.brokers[j - 1];
			c->meta.brokers[j - 1] = t;
		}
	}
	ctl = rd_kafka_DescribeCluster_result_controller(res);
	c->meta.controller = ctl ? rd_kafka_Node_id(ctl) : -1;
	id = rd_kafka_DescribeCluster_result_cluster_id(res);
	snprintf(c->meta.cluster_id, sizeof c->meta.cluster_id, "%s", id ? id : "");
	c->meta.brokers_at = tw_hal_now();
	return TW_OK;
}

static struct tw_kafka_topic_info *topic_named(struct tw_kafka_cluster *c, const char *name)
{
	for (int i = 0; i < c->meta.ntopics; i++) {
		if (strcmp(c->meta.topics[i].name, name) == 0)
			return &c->meta.topics[i];
	}
	return NULL;
}

static int nodes_to_ids(const rd_kafka_Node_t **nodes, size_t n, int32_t *ids)
{
	int k = 0;

	for (size_t i = 0; i < n && i < TW_KAFKA_MAX_RF; i++)
		ids[k++] = rd_kafka_Node_id(nodes[i]);
	return k;
}

static int take_topics(struct tw_kafka_cluster *c, rd_kafka_event_t *ev, char *err,
		       size_t errlen)
{
	const rd_kafka_DescribeTopics_result_t *res = rd_kafka_event_DescribeTopics_result(ev);
	const rd_kafka_TopicDescription_t **tds;
	size_t n;

	if (rd_kafka_event_error(ev) || res == NULL) {
		snprintf(err, errlen, "describe topics failed: %s",
			 rd_kafka_event_error_string(ev));
		return TW_ERR_KAFKA_ADMIN;
	}
	tds = rd_kafka_DescribeTopics_result_topics(res, &n);
	for (size_t i = 0; i < n; i++) {
		struct tw_kafka_topic_info *t = topic_named(c, rd_kafka_TopicDescription_name(tds[i]));
		const rd_kafka_error_t *te = rd_kafka_TopicDescription_error(tds[i]);
		const rd_kafka_TopicPartitionInfo_t **ps;
		size_t np;

		if (t == NULL)
			continue;
		t->err[0] = '\0';
		t->npart = t->kept = 0;
		if (te && rd_kafka_error_code(te)) {
			t->exists = 0;
			if (rd_kafka_error_code(te) != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
				snprintf(t->err, sizeof t->err, "%s", rd_kafka_error_string(te));
			continue;
		}
		t->exists = 1;
		ps = rd_kafka_TopicDescription_partitions(tds[i], &np);
		t->npart = (int)np;
		for (size_t j = 0; j < np && (int)j < t->cap; j++) {
			struct tw_kafka_part *p = &t->parts[t->kept++];
			const rd_kafka_Node_t *leader = rd_kafka_TopicPartitionInfo_leader(ps[j]);
			const rd_kafka_Node_t **nodes;
			size_t nn;

			p->id = rd_kafka_TopicPartitionInfo_partition(ps[j]);
			p->leader = leader ? rd_kafka_Node_id(leader) : -1;
			nodes = rd_kafka_TopicPartitionInfo_replicas(ps[j], &nn);
			p->nrep = nodes_to_ids(nodes, nn, p->rep);
			nodes = rd_kafka_TopicPartitionInfo_isr(ps[j], &nn);
			p->nisr = nodes_to_ids(nodes, nn, p->isr);
		}
	}
	c->meta.topics_at = tw_hal_now();
	return TW_OK;
}

static void log_layout(struct tw_kafka_cluster *c, const struct tw_kafka_topic_info *t,
		       const char *how)
{
	char line[256];
	int off = 0;

	for (int j = 0; j < t->kept && off < (int)sizeof line - 32; j++) {
		const struct tw_kafka_part *p = &t->parts[j];

		off += snprintf(line + off, sizeof line - (size_t)off, "%sp%d:%d replicas",
				j ? ", " : "", (int)p->id, p->nrep);
	}
	tw_log(TW_LOG_INFO, c->k->role, "topic %s %s: %d partition(s) [%s]", t->name, how,
	       t->npart, off ? line : "");
}

static void create_missing(struct tw_kafka_cluster *c)
{
	rd_kafka_NewTopic_t *nts[TW_KAFKA_MAX_TOPICS];
	int n = 0;
	char why[256], isr[8];
	rd_kafka_AdminOptions_t *o;

	snprintf(isr, sizeof isr, "%d", c->min_isr);
	for (int i = 0; i < c->meta.ntopics; i++) {
		if (c->meta.topics[i].exists)
			continue;
		nts[n] = rd_kafka_NewTopic_new(c->meta.topics[i].name, c->partitions,
					       c->replication, why, sizeof why);
		if (nts[n] == NULL) {
			tw_log(TW_LOG_ERROR, c->k->role, "topic %s: %s", c->meta.topics[i].name, why);
			continue;
		}
		rd_kafka_NewTopic_set_config(nts[n], "min.insync.replicas", isr);
		tw_log(TW_LOG_INFO, c->k->role,
		       "creating topic %s: %d partition(s), replication factor %d, "
		       "min.insync.replicas %d",
		       c->meta.topics[i].name, c->partitions, c->replication, c->min_isr);
		n++;
	}
	o = options(c, RD_KAFKA_ADMIN_OP_CREATETOPICS, OP_CREATE);
	rd_kafka_CreateTopics(c->k->rk, nts, (size_t)n, o, tw_kafka_admin_queue(c->k));
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_NewTopic_destroy_array(nts, (size_t)n);
}

static int take_create(struct tw_kafka_cluster *c, rd_kafka_event_t *ev, char *err,
		       size_t errlen)
{
	const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
	const rd_kafka_topic_result_t **trs;
	size_t n;
	int rc = TW_OK;

	if (rd_kafka_event_error(ev) || res == NULL) {
		snprintf(err, errlen, "create topics failed: %s", rd_kafka_event_error_string(ev));
		return TW_ERR_KAFKA_ADMIN;
	}
	trs = rd_kafka_CreateTopics_result_topics(res, &n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(trs[i]);
		const char *name = rd_kafka_topic_result_name(trs[i]);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			c->created++;
			tw_log(TW_LOG_INFO, c->k->role, "topic %s created", name);
		} else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			tw_log(TW_LOG_INFO, c->k->role, "topic %s already exists (made meanwhile)",
			       name);
		} else if (e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR) {
			snprintf(err, errlen,
				 "topic %s: replication factor %d cannot be met: %s; start more "
				 "brokers or lower [kafka] replication",
				 name, c->replication, rd_kafka_topic_result_error_string(trs[i]));
			rc = TW_ERR_KAFKA_RF;
		} else if (rc == TW_OK) {
			snprintf(err, errlen, "topic %s: creation failed: %s (%s)", name,
				 rd_kafka_err2name(e), rd_kafka_topic_result_error_string(trs[i]));
			rc = TW_ERR_KAFKA_ADMIN;
		}
	}
	return rc;
}

/* Topics that exist with fewer partitions than [kafka] partitions. */
static int count_short(const struct tw_kafka_cluster *c)
{
	int n = 0;

	for (int i = 0; i < c->meta.ntopics; i++)
		n += c->meta.topics[i].exists && c->meta.topics[i].npart < c->partitions;
	return n;
}

/* CreatePartitions for the topics that have fewer than [kafka] partitions; a topic with more
 * is left as it is (Kafka cannot shrink a topic), with a warning. @return requests sent. */
static int grow_short(struct tw_kafka_cluster *c)
{
	rd_kafka_NewPartitions_t *nps[TW_KAFKA_MAX_TOPICS];
	int n = 0;
	char why[256];
	rd_kafka_AdminOptions_t *o;

	for (int i = 0; i < c->meta.ntopics; i++) {
		const struct tw_kafka_topic_info *t = &c->meta.topics[i];

		if (!t->exists)
			continue;
		if (t->npart >= c->partitions)
			continue;
		nps[n] = rd_kafka_NewPartitions_new(t->name, (size_t)c->partitions, why, sizeof why);
		if (nps[n] == NULL) {
			tw_log(TW_LOG_ERROR, c->k->role, "topic %s: %s", t->name, why);
			continue;
		}
		tw_log(TW_LOG_INFO, c->k->role, "growing topic %s from %d to %d partitions",
		       t->name, t->npart, c->partitions);
		n++;
	}
	if (n == 0)
		return 0;
	o = options(c, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, OP_GROW);
	rd_kafka_CreatePartitions(c->k->rk, nps, (size_t)n, o, tw_kafka_admin_queue(c->k));
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_NewPartitions_destroy_array(nps, (size_t)n);
	return n;
}

static int take_grow(struct tw_kafka_cluster *c, rd_kafka_event_t *ev, char *err,
		     size_t errlen)
{
	const rd_kafka_CreatePartitions_result_t *res = rd_kafka_event_CreatePartitions_result(ev);
	const rd_kafka_topic_result_t **trs;
	size_t n;
	int rc = TW_OK;

	if (rd_kafka_event_error(ev) || res == NULL) {
		snprintf(err, errlen, "create partitions failed: %s",
			 rd_kafka_event_error_string(ev));
		return TW_ERR_KAFKA_ADMIN;
	}
	trs = rd_kafka_CreatePartitions_result_topics(res, &n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(trs[i]);
		const char *name = rd_kafka_topic_result_name(trs[i]);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			c->grown++;
			tw_log(TW_LOG_INFO, c->k->role, "topic %s grown to %d partitions", name,
			       c->partitions);
		} else if (e == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS) {
			/* another agent grew it meanwhile (or beyond): the verify step judges */
			tw_log(TW_LOG_INFO, c->k->role, "topic %s not grown: %s", name,
			       rd_kafka_topic_result_error_string(trs[i]));
		} else if (rc == TW_OK) {
			snprintf(err, errlen, "topic %s: growing to %d partitions failed: %s (%s)",
				 name, c->partitions, rd_kafka_err2name(e),
				 rd_kafka_topic_result_error_string(trs[i]));
			rc = TW_ERR_KAFKA_ADMIN;
		}
	}
	return rc;
}

void tw_kafka_cluster_on_event(struct tw_kafka *k, rd_kafka_event_t *ev, void *arg)
{
	struct tw_kafka_cluster *c = arg;
	const char *tag = rd_kafka_event_opaque(ev);
	char err[512] = "";
	int rc, missing = 0, nshort;

	(void)k;
	if (tag == NULL || tag < op_tags || tag > &op_tags[OP_REPORT_TOPICS])
		return;
	switch ((enum op)(tag - op_tags)) {
	case OP_ENSURE_CLUSTER:
		rc = take_cluster(c, ev, err, sizeof err);
		if (rc != TW_OK)
			return ensured(c, rc, err);
		describe_topics(c, OP_ENSURE_TOPICS);
		return;
	case OP_ENSURE_TOPICS:
		rc = take_topics(c, ev, err, sizeof err);
		if (rc != TW_OK)
			return ensured(c, rc, err);
		for (int i = 0; i < c->meta.ntopics; i++) {
			const struct tw_kafka_topic_info *t = &c->meta.topics[i];

			if (t->err[0]) {
				snprintf(err, sizeof err, "topic %s: %s", t->name, t->err);
				return ensured(c, TW_ERR_KAFKA_ADMIN, err);
			}
			if (t->exists && t->npart > c->partitions)
				tw_log(TW_LOG_WARN, c->k->role,
				       "topic %s has %d partitions, more than [kafka] partitions %d: "
				       "left as it is (a topic never shrinks; set [kafka] partitions "
				       "to %d on every agent)",
				       t->name, t->npart, c->partitions, t->npart);
			if (t->exists && t->npart >= c->partitions)
				log_layout(c, t, "exists, left as it is");
			else if (!t->exists)
				missing++;
		}
		nshort = count_short(c);
		if (missing == 0 && nshort == 0)
			return ensured(c, TW_OK, "");
		if (missing == 0) {
			if (grow_short(c) == 0)
				return ensured(c, TW_ERR_KAFKA_ADMIN, "no partitions request could be made");
			return;
		}
		if (c->meta.nbrokers < c->replication) {
			snprintf(err, sizeof err,
				 "cannot create %d topic(s) with replication factor %d: the cluster "
				 "has only %d broker(s); start more brokers or lower [kafka] "
				 "replication",
				 missing, c->replication, c->meta.nbrokers);
			return ensured(c, TW_ERR_KAFKA_RF, err);
		}
		create_missing(c);
		return;
	case OP_CREATE:
		rc = take_create(c, ev, err, sizeof err);
		if (rc != TW_OK)
			return ensured(c, rc, err);
		if (count_short(c) && grow_short(c))
			return; /* the verify follows the grow */
		describe_topics(c, OP_VERIFY);
		return;
	case OP_GROW:
		rc = take_grow(c, ev, err, sizeof err);
		if (rc != TW_OK)
			return ensured(c, rc, err);
		describe_topics(c, OP_VERIFY);
		return;
	case OP_VERIFY:
		rc = take_topics(c, ev, err, sizeof err);
		if (rc != TW_OK)
			return ensured(c, rc, err);
		for (int i = 0; i < c->meta.ntopics; i++) {
			if (!c->meta.topics[i].exists) {
				snprintf(err, sizeof err,
					 "topic %s was created but is not visible yet",
					 c->meta.topics[i].name);
				return ensured(c, TW_ERR_KAFKA_ADMIN, err);
			}
			if (c->meta.topics[i].npart < c->partitions) {
				snprintf(err, sizeof err,
					 "topic %s was grown to %d partitions but shows %d: not "
					 "visible yet",
					 c->meta.topics[i].name, c->partitions,
					 c->meta.topics[i].npart);
				return ensured(c, TW_ERR_KAFKA_ADMIN, err);
			}
			log_layout(c, &c->meta.topics[i], "ready");
		}
		return ensured(c, TW_OK, "");
	case OP_REPORT_CLUSTER:
		rc = take_cluster(c, ev, err, sizeof err);
		if (rc != TW_OK)
			return reported(c, rc, err);
		describe_topics(c, OP_REPORT_TOPICS);
		return;
	case OP_REPORT_TOPICS:
		rc = take_topics(c, ev, err, sizeof err);
		return reported(c, rc, err);
	}
}

static size_t ids(char *buf, size_t len, const int32_t *v, int n)
{
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	for (int i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%d", i ? "," : "", (int)v[i]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
	return off < len ? off : len;
}

#define APPEND(...)                                                                            \
	do {                                                                                   \
		if (off < len) {                                                               \
			int w_ = snprintf(buf + off, len - off, __VA_ARGS__);                  \
			off += w_ > 0 ? (size_t)w_ : 0;                                        \
		}                                                                              \
	} while (0)

size_t tw_kafka_meta_format(const struct tw_kafka_meta *m, char *buf, size_t len)
{
	size_t off = 0;
	char rep[128], isr[128];

	if (len == 0)
		return 0;
	buf[0] = '\0';
	APPEND("cluster %s: %d broker(s), controller %d\n", m->cluster_id[0] ? m->cluster_id : "?",
	       m->nbrokers, (int)m->controller);
	for (int i = 0; i < m->nbrokers; i++)
		APPEND("broker %d %s:%u\n", (int)m->brokers[i].id, m->brokers[i].host,
		       (unsigned)m->brokers[i].port);
	for (int i = 0; i < m->ntopics; i++) {
		const struct tw_kafka_topic_info *t = &m->topics[i];

		if (!t->exists) {
			APPEND("topic %s: %s\n", t->name, t->err[0] ? t->err : "missing");
			continue;
		}
		APPEND("topic %s: %d partition(s)\n", t->name, t->npart);
		for (int j = 0; j < t->kept; j++) {
			const struct tw_kafka_part *p = &t->parts[j];

			ids(rep, sizeof rep, p->rep, p->nrep);
			ids(isr, sizeof isr, p->isr, p->nisr);
			APPEND("topic %s partition %d leader %d replicas %s isr %s\n", t->name,
			       (int)p->id, (int)p->leader, rep, isr);
		}
		if (t->kept < t->npart)
			APPEND("topic %s: %d more partition(s) not shown\n", t->name,
			       t->npart - t->kept);
	}
	if (off >= len)
		off = len - 1;
	return off;
}

size_t tw_kafka_meta_json(const struct tw_kafka_meta *m, char *buf, size_t len)
{
	size_t off = 0;
	char rep[128], isr[128];

	if (len == 0)
		return 0;
	buf[0] = '\0';
	APPEND("{\"cluster_id\":\"%s\",\"controller\":%d,\"brokers\":[", m->cluster_id,
	       (int)m->controller);
	for (int i = 0; i < m->nbrokers; i++)
		APPEND("%s{\"id\":%d,\"host\":\"%s\",\"port\":%u}", i ? "," : "",
		       (int)m->brokers[i].id, m->brokers[i].host, (unsigned)m->brokers[i].port);
	APPEND("],\"topics\":[");
	for (int i = 0; i < m->ntopics; i++) {
		const struct tw_kafka_topic_info *t = &m->topics[i];

		APPEND("%s{\"name\":\"%s\",\"exists\":%s,\"partitions\":[", i ? "," : "", t->name,
		       t->exists ? "true" : "false");
		for (int j = 0; j < t->kept; j++) {
			const struct tw_kafka_part *p = &t->parts[j];

			ids(rep, sizeof rep, p->rep, p->nrep);
			ids(isr, sizeof isr, p->isr, p->nisr);
			APPEND("%s{\"partition\":%d,\"leader\":%d,\"replicas\":[%s],\"isr\":[%s]}",
			       j ? "," : "", (int)p->id, (int)p->leader, rep, isr);
		}
		APPEND("]}");
	}
	APPEND("]}");
	if (off >= len) {
		/* Truncated JSON is worse than none. */
		buf[0] = '\0';
		return 0;
	}
	return off;
}
