/* SPDX-License-Identifier: MIT */
/* kafka.h - librdkafka producers, consumers and admin clients woken by the event loop.
 *
 * One struct tw_kafka wraps one rd_kafka_t. Every librdkafka queue it reads
 * (main queue, log queue, consumer queue, admin result queue) is tied with
 * rd_kafka_queue_io_event_enable() to one non-blocking pipe watched by the
 * loop; when the pipe is readable tw_kafka_serve() drains it and serves the
 * queues without waiting (all polls use a 0 ms time-out). Nothing here
 * blocks the loop except tw_kafka_close(), which is bounded and runs at stop.
 *
 * librdkafka's log lines and errors go to tw_log() tagged with the role.
 *
 * Producer: tw_kafka_produce() copies the payload and returns at once; the
 * delivery report arrives later through the on_delivery callback with the
 * caller's opaque pointer.
 * Consumer: on_ready says "messages are waiting"; the role takes them with
 * tw_kafka_consume_batch() when it can, does its work, then commits with
 * tw_kafka_commit_batch() (enable.auto.commit=false) and releases them.
 * Because librdkafka only signals an empty queue becoming non-empty, a role
 * that stops taking messages must call tw_kafka_consume_batch() again later
 * (it returns 0 when the queue is empty), and within max.poll.interval.ms.
 *
 * Holding a batch: a role whose work on a batch may outlast max.poll.interval.ms
 * (an SMTP outage) calls tw_kafka_hold() when it takes the batch: every assigned
 * partition is paused (and any assigned while held), and tw_kafka_keepalive(),
 * called at least every second meanwhile, keeps polling the consumer so the
 * member stays in its group and rebalances are served. tw_kafka_unhold() after
 * the commit resumes fetching where the batch ended. A consumer always has a
 * rebalance callback: on_rebalance tells the role which partitions were revoked
 * (before they go: drop the work of those, commit none of their offsets) and
 * assigned (fetched from the committed offset; paused at once while held).
 */
#ifndef TW_KAFKA_H
#define TW_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

struct tw_config;
struct tw_loop;

enum {
	TW_ERR_KAFKA_CONFIG = -300,  /**< a property was refused (its key is in the text) */
	TW_ERR_KAFKA_CREATE = -301,  /**< rd_kafka_new() failed */
	TW_ERR_KAFKA_PRODUCE = -302, /**< a message could not be queued */
	TW_ERR_KAFKA_FULL = -303,    /**< the producer queue is full (queue_kbytes): retry later */
	TW_ERR_KAFKA_DELIVERY = -304, /**< a delivery report carried an error */
	TW_ERR_KAFKA_COMMIT = -305,  /**< an offset commit failed */
	TW_ERR_KAFKA_ADMIN = -306,   /**< an admin request failed */
	TW_ERR_KAFKA_RF = -307,      /**< fewer brokers than the replication factor */
	TW_ERR_KAFKA_PIPE = -308,    /**< the wake-up pipe could not be made */
};

/* The two topics of the system (created by the admin role). */
#define TW_KAFKA_TOPIC_ALERT "to-alert-system"
#define TW_KAFKA_TOPIC_NOTIFIER "to-notifier"

enum tw_kafka_kind { TW_KAFKA_PRODUCER, TW_KAFKA_CONSUMER, TW_KAFKA_ADMIN };

#define TW_KAFKA_ERR_LEN 256

struct tw_kafka;

/** A delivery report: @p rc 0 or TW_ERR_KAFKA_DELIVERY (text in @p err). */
typedef void (*tw_kafka_delivery_fn)(struct tw_kafka *k, int rc, const char *err,
				     const rd_kafka_message_t *msg, void *msg_opaque, void *arg);
/** Messages are waiting on a consumer (take them with tw_kafka_consume_batch()). */
typedef void (*tw_kafka_ready_fn)(struct tw_kafka *k, void *arg);
/** An async commit finished: @p rc 0 or TW_ERR_KAFKA_COMMIT. */
typedef void (*tw_kafka_commit_fn)(struct tw_kafka *k, int rc, const char *err, void *arg);
/** A rebalance: @p assigned 1 (partitions given to this member) or 0 (revoked: stop work on
 *  them and commit none of their offsets; called before they are taken away). */
typedef void (*tw_kafka_rebalance_fn)(struct tw_kafka *k, int assigned,
				      const rd_kafka_topic_partition_list_t *parts, void *arg);
/** An admin result event (CreateTopics, DescribeTopics...); the callee must not destroy it. */
typedef void (*tw_kafka_event_fn)(struct tw_kafka *k, rd_kafka_event_t *ev, void *arg);

struct tw_kafka_opts {
	enum tw_kafka_kind kind;
	const char *role;     /**< log tag and client.id suffix */
	int linger_ms;        /**< producer: linger.ms (0 collector, 500 alert) */
	const char *group_id; /**< consumer: group.id (NULL: "tickwatch-<role>") */
	const char *const *topics; /**< consumer: topics to subscribe, NULL-terminated */
	tw_kafka_delivery_fn on_delivery;
	tw_kafka_ready_fn on_ready;
	tw_kafka_commit_fn on_commit;
	tw_kafka_event_fn on_event;
	tw_kafka_rebalance_fn on_rebalance; /**< consumer: optional */
	void *arg; /**< passed to every callback */
};

#define TW_KAFKA_STASH 32 /* messages a keep-alive poll may have to keep for the next take */
#define TW_KAFKA_DESTROY_MS 5000 /* longest wait for librdkafka's destroy at a close */
/* A hold pauses the partitions only once it lasts this long: a pause makes librdkafka drop what
 * it fetched ahead (fetched again after the resume, up to ~1 s later), which short batches
 * should not pay; the group only needs the keep-alive after max.poll.interval.ms (minutes). */
#define TW_KAFKA_HOLD_PAUSE_MS 1000

struct tw_kafka {
	rd_kafka_t *rk;
	rd_kafka_queue_t *mainq, *logq, *consumerq, *adminq;
	int pipe_rd, pipe_wr;
	struct tw_loop *loop;
	struct tw_kafka_opts o;
	char role[32];
	uint64_t wakeups, delivered, failed, committed;
	uint64_t rebalances, revoked_parts, keepalives;
	int closed;
	int held; /* tw_kafka_hold(): assigned partitions paused */
	rd_kafka_message_t *stash[TW_KAFKA_STASH]; /* taken by a keep-alive, handed out first */
	size_t nstash;
	rd_kafka_message_t *take[TW_KAFKA_STASH]; /* a keep-alive's poll lands here first */
	uint64_t overflowed;    /* messages a full stash gave back (fetched again later) */
	uint64_t left_at_close; /* consumer-queue ops still there at the destroy (0 expected) */
	int abandoned;          /* the destroy outlasted TW_KAFKA_DESTROY_MS (the client leaked) */
	rd_kafka_topic_partition_list_t *assigned; /* a consumer's partitions, kept by rebalance() */
	int paused;         /* the assignment is paused (a long hold, or a full stash) */
	int64_t held_at;    /* tw_kafka_hold() began (tw_hal_now()) */
	uint64_t pauses;    /* times the assignment was paused */
};

/**
 * Build a librdkafka configuration from [kafka] for @p o: bootstrap,
 * security, memory caps, the role's defaults, then every kafka.<property>
 * passed through (which may override a default).
 * @return the conf, or NULL with text naming the refused key in @p err.
 */
rd_kafka_conf_t *tw_kafka_conf(const struct tw_config *cfg, const struct tw_kafka_opts *o,
			       char *err, size_t errlen);

/**
 * Build (and drop) the configuration of each kind of client, without connecting:
 * librdkafka's own rd_kafka_conf_set judges every key, the kafka.* pass-through
 * ones included. "config check", "run" before start and the console's "config set
 * kafka.*" use it. @return 0 or TW_ERR_KAFKA_CONFIG with text in @p err.
 */
int tw_kafka_conf_check(const struct tw_config *cfg, char *err, size_t errlen);

/**
 * Make the client, its wake-up pipe (registered on @p loop when not NULL) and
 * its queues; a consumer also subscribes. @p k must be zeroed storage owned by
 * the caller (carved from the arena). Never blocks.
 * @return 0, or a negative TW_ERR_KAFKA_* with text in @p err.
 */
int tw_kafka_open(struct tw_kafka *k, const struct tw_config *cfg, struct tw_loop *loop,
		  const struct tw_kafka_opts *o, char *err, size_t errlen);

/** The wake-up fd (readable when a queue needs serving); -1 when closed. */
int tw_kafka_fd(const struct tw_kafka *k);

/**
 * Drain the wake-up pipe and serve every queue without waiting: log lines,
 * delivery reports, errors, commit results, admin events; consumers get
 * on_ready when messages wait. The loop calls it; tests may too.
 * @return number of items served.
 */
int tw_kafka_serve(struct tw_kafka *k);

/**
 * Queue one message to @p topic (payload copied; partition chosen by key).
 * @return 0, TW_ERR_KAFKA_FULL (queue_kbytes reached: try again after
 *         deliveries) or TW_ERR_KAFKA_PRODUCE, with text in @p err.
 */
int tw_kafka_produce(struct tw_kafka *k, const char *topic, const void *key, size_t keylen,
		     const void *payload, size_t len, void *msg_opaque, char *err, size_t errlen);

/** Messages queued or in flight, not yet reported. */
int tw_kafka_outq_len(const struct tw_kafka *k);

/**
 * Take up to @p max messages without waiting (errors are logged and skipped).
 * @return how many were put in @p msgs (0: none waiting). Each must be given
 *         back with tw_kafka_release() after tw_kafka_commit_batch().
 */
size_t tw_kafka_consume_batch(struct tw_kafka *k, rd_kafka_message_t **msgs, size_t max);

/**
 * Commit, asynchronously, the offsets after the @p n messages (the highest
 * offset + 1 of each partition). The result arrives through on_commit.
 * @return 0 when the commit was sent, or TW_ERR_KAFKA_COMMIT.
 */
int tw_kafka_commit_batch(struct tw_kafka *k, rd_kafka_message_t *const *msgs, size_t n,
			  char *err, size_t errlen);

/**
 * A batch is held (taken, not yet committed). Nothing is paused at first: what librdkafka
 * fetched ahead stays in its queue (bounded by [kafka] queue_kbytes) for the next batch. Once
 * the hold lasts TW_KAFKA_HOLD_PAUSE_MS, the first keep-alive pauses every assigned partition
 * (and those assigned later), so the keep-alive's polls take nothing new.
 */
void tw_kafka_hold(struct tw_kafka *k);

/** The batch is over (committed or abandoned): paused partitions resume. */
void tw_kafka_unhold(struct tw_kafka *k);

/**
 * Poll the consumer without waiting, so the member stays in its group (max.poll.interval.ms)
 * and rebalance callbacks run, while the role is busy. In a hold younger than
 * TW_KAFKA_HOLD_PAUSE_MS it does nothing; then it pauses the assignment and polls. A message
 * that still arrives is kept for the next tw_kafka_consume_batch(). A full stash does not stop
 * the polls: the partitions are paused and a message that still comes is freed and its
 * partition rewound to it; the next tw_kafka_consume_batch() outside a hold resumes them.
 */
void tw_kafka_keepalive(struct tw_kafka *k);

/** @return 1 when @p m's topic and partition are in @p parts. */
int tw_kafka_in_parts(const rd_kafka_topic_partition_list_t *parts, const rd_kafka_message_t *m);

/** Give back messages from tw_kafka_consume_batch(). */
void tw_kafka_release(rd_kafka_message_t **msgs, size_t n);

/** The admin result queue to pass to rd_kafka_CreateTopics() and friends. */
rd_kafka_queue_t *tw_kafka_admin_queue(struct tw_kafka *k);

/**
 * Stop: a producer flushes for at most @p timeout_ms, a consumer leaves its
 * group (bounded by @p timeout_ms) and its queue is drained; then everything is
 * freed, the librdkafka destroy waited for at most TW_KAFKA_DESTROY_MS (past it
 * the client is left behind: k->abandoned, an error line). Safe twice.
 */
void tw_kafka_close(struct tw_kafka *k, int timeout_ms);

/** One line: deliveries, failures, queue length. @return @p buf. */
char *tw_kafka_status(const struct tw_kafka *k, char *buf, size_t len);

struct tw_metrics;
/**
 * A consumer's lag for /metrics: one gauge family @p name (the caller's, e.g.
 * tickwatch_notifier_consumer_lag) with a sample {topic, partition} per assigned
 * partition = its high watermark minus the consumer's position (the next offset
 * the role will take), both read from librdkafka's caches without a request or a
 * wait. A partition the role has taken nothing from since its assignment (no
 * position yet) or whose end is not known yet is left out.
 * @return the samples written.
 */
int tw_kafka_lag_metrics(const struct tw_kafka *k, struct tw_metrics *m, const char *name);

#endif
