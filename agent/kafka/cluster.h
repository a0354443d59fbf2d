/* SPDX-License-Identifier: MIT */
/* cluster.h - topic creation and cluster metadata through librdkafka's async Admin API.
 *
 * Works on a TW_KAFKA_ADMIN client: every request carries a time-out and its
 * result comes back as an event on the client's admin queue, handed to
 * tw_kafka_cluster_on_event() (wire it as the client's on_event). Nothing
 * waits. Brokers come from DescribeCluster, topic layouts from DescribeTopics.
 */
#ifndef TW_KAFKA_CLUSTER_H
#define TW_KAFKA_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"
#include "kafka/kafka.h"

#define TW_KAFKA_MAX_BROKERS 32
#define TW_KAFKA_MAX_RF 16
#define TW_KAFKA_MAX_TOPICS 4

struct tw_kafka_part {
	int32_t id, leader;
	int nrep, nisr;
	int32_t rep[TW_KAFKA_MAX_RF], isr[TW_KAFKA_MAX_RF];
};

struct tw_kafka_topic_info {
	const char *name;
	int exists;
	char err[128]; /* describe error other than "missing" */
	int npart;     /* partitions the cluster has */
	int kept;      /* partitions kept in parts (bounded by capacity) */
	struct tw_kafka_part *parts;
	int cap;
};

struct tw_kafka_broker {
	int32_t id;
	uint16_t port;
	char host[128];
};

struct tw_kafka_meta {
	struct tw_kafka_broker brokers[TW_KAFKA_MAX_BROKERS];
	int nbrokers;
	int32_t controller;
	char cluster_id[64];
	struct tw_kafka_topic_info topics[TW_KAFKA_MAX_TOPICS];
	int ntopics;
	tw_mono_t brokers_at, topics_at; /* 0: never */
};

struct tw_kafka_cluster;

/** The ensure sequence ended: @p rc 0 (every topic exists) or an error (text in @p err). */
typedef void (*tw_kafka_ensured_fn)(struct tw_kafka_cluster *c, int rc, const char *err,
				    void *arg);
/** A metadata refresh ended: @p rc 0 (c->meta is fresh) or an error (text in @p err). */
typedef void (*tw_kafka_report_fn)(struct tw_kafka_cluster *c, int rc, const char *err,
				   void *arg);

struct tw_kafka_cluster {
	struct tw_kafka *k;
	struct tw_kafka_meta meta;
	int partitions, replication, min_isr, timeout_ms;
	int ensuring, refreshing;
	int created; /* topics created by the ensure in progress, over its failed attempts */
	int grown;   /* topics grown to [kafka] partitions, the same way */
	/* Admin requests go to the controller; -1 keeps that. librdkafka's mock cluster
	 * names no controller, so its tests send them to a broker id instead. */
	int32_t via_broker;
	tw_kafka_ensured_fn on_ensured;
	tw_kafka_report_fn on_report;
	void *arg;
};

/**
 * Set up for @p ntopics topic names (kept by pointer), created with
 * @p partitions and @p replication and min.insync.replicas = min(2, replication).
 * @p parts is storage for @p parts_cap partitions per topic (ntopics * parts_cap).
 */
void tw_kafka_cluster_init(struct tw_kafka_cluster *c, struct tw_kafka *k,
			   const char *const *topics, int ntopics, int partitions, int replication,
			   int timeout_ms, struct tw_kafka_part *parts, int parts_cap);

/**
 * Create the topics that are missing: DescribeCluster (brokers), DescribeTopics,
 * then CreateTopics for the missing ones if there are enough brokers for the
 * replication factor, then CreatePartitions for those with fewer partitions than
 * asked (a topic with more is left as it is, warned: Kafka never shrinks one),
 * then DescribeTopics again. Ends in on_ensured.
 * @return 0 when started, TW_ERR_WOULD_BLOCK when one is already running.
 */
int tw_kafka_cluster_ensure(struct tw_kafka_cluster *c);

/** Refresh brokers and topic layouts; ends in on_report. @return 0 or TW_ERR_WOULD_BLOCK. */
int tw_kafka_cluster_refresh(struct tw_kafka_cluster *c);

/** Feed an admin result event (the client's on_event). */
void tw_kafka_cluster_on_event(struct tw_kafka *k, rd_kafka_event_t *ev, void *arg);

/** The report as text lines ("broker 1 127.0.0.1:19092", "topic t p0 leader 1 ..."). */
size_t tw_kafka_meta_format(const struct tw_kafka_meta *m, char *buf, size_t len);

/** The report as a JSON object {"brokers":[...],"topics":[...]}. @return bytes (< len). */
size_t tw_kafka_meta_json(const struct tw_kafka_meta *m, char *buf, size_t len);

#endif
