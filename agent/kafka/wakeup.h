/* SPDX-License-Identifier: MIT */
/* wakeup.h - the collector's wake-up on to-alert-system, one per partition (docs/scale.md).
 *
 * A cycle's wake-up goes to EVERY partition 0..P-1 of to-alert-system, each carrying the
 * header "tw-partitions: P" (decimal). The alert instance that owns partition p then runs
 * the pass over the users of shard range p of P (cqrs/shards.h): the fleet covers every
 * user once per cycle, and one agent owning all partitions covers them all in one pass.
 * A wake-up without the header (a collector before this) asks for a full pass.
 */
#ifndef TW_KAFKA_WAKEUP_H
#define TW_KAFKA_WAKEUP_H

#include <stddef.h>
#include <stdint.h>

#include "kafka/kafka.h"

#define TW_WAKEUP_HEADER "tw-partitions"
#define TW_WAKEUP_PARTS_MAX 1000 /* [kafka] partitions' bound */

/**
 * The header's value: a decimal 1..TW_WAKEUP_PARTS_MAX, digits only, no leading zero.
 * Pure (agent/kafka/wakeup_parse.c; fuzzed by tests/fuzz/fuzz_wakeup.c).
 * @return P, or -1 when @p v is anything else.
 */
int tw_wakeup_parse_parts(const void *v, size_t len);

/**
 * The P a consumed wake-up was produced for. @return P; 0 when it has no header (a
 * full pass); -1 when the header is malformed.
 */
int tw_wakeup_parts(const rd_kafka_message_t *m);

/**
 * Queue one wake-up to @p partition of to-alert-system with the header for @p parts
 * (payload copied; the delivery report comes to the producer's on_delivery with
 * @p msg_opaque, and its message's partition says which one).
 * @return 0, TW_ERR_KAFKA_FULL or TW_ERR_KAFKA_PRODUCE with text in @p err.
 */
int tw_wakeup_produce(struct tw_kafka *k, int32_t partition, int parts, const void *key,
		      size_t keylen, const void *payload, size_t len, void *msg_opaque, char *err,
		      size_t errlen);

/**
 * One wake-up to each partition 0..@p parts-1 (tw_wakeup_produce each, same opaque).
 * @p *queued says how many were queued. @return 0 when all were, else the first error.
 */
int tw_wakeup_produce_all(struct tw_kafka *k, int parts, const void *key, size_t keylen,
			  const void *payload, size_t len, void *msg_opaque, size_t *queued,
			  char *err, size_t errlen);

/**
 * The partitions this consumer is assigned ("0,2,4", "none", or "?" when librdkafka
 * cannot tell), as a short list for status lines: the assignment the rebalance callback
 * keeps (k->assigned), never rd_kafka_assignment(), which waits on librdkafka's main thread
 * without a time-out. With several topics a partition number shows once. @return @p buf.
 */
char *tw_kafka_assignment_list(const struct tw_kafka *k, char *buf, size_t len);

#endif
