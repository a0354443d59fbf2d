/* SPDX-License-Identifier: MIT */
/* shards.h - the alert pass's unit of work: users.shard slots, their ranges per partition, and
 * the sharded pages of the pass (RearmInsideBand, UsersCrossingThresholds).
 *
 * Every user has a stored, indexed slot (migration 8): users.shard (and alert_state.shard) =
 * the first 12 bits of md5(email), 0..TW_SHARD_SLOTS-1, a generated column, so it follows the
 * e-mail and never depends on the partition count P. Partition p of P covers the slots s with
 * floor(s * P / TW_SHARD_SLOTS) = p: one contiguous range each, every slot in exactly one, for
 * any P from 1 to TW_SHARD_SLOTS. Raising P (the admin grows the topics) moves users between
 * partitions without rewriting a row; the slot is right whatever P is (docs/scale.md).
 *
 * The sharded pages walk (shard, email) in index order from an (after_shard, after) keyset
 * within [lo, hi): one short statement per page, like the unsharded ones.
 */
#ifndef TW_CQRS_SHARDS_H
#define TW_CQRS_SHARDS_H

#include <stddef.h>

#include "cqrs/cqrs.h"

#define TW_SHARD_SLOTS 4096 /* slots of users.shard: 12 bits of md5(email) */
/* The slot of an e-mail, as migration 8 stores it (for SQL tests and docs). */
#define TW_SHARD_SQL(col) "(('x' || substr(md5(" col "), 1, 3))::bit(12)::integer)"

/** Slots [lo, hi). */
struct tw_shard_range {
	int lo, hi;
};

/**
 * The slots of partition @p p of @p parts (1..TW_SHARD_SLOTS; p in 0..parts-1).
 * @return 0, or -1 (r set to the empty range 0..0) when p or parts is out of range.
 */
int tw_shard_range(int p, int parts, struct tw_shard_range *r);

/** The partition of @p slot among @p parts. @return it, or -1 when out of range. */
int tw_shard_partition(int slot, int parts);

/** Sort @p r by lo and merge overlapping or touching ranges in place. @return ranges left. */
size_t tw_shard_merge(struct tw_shard_range *r, size_t n);

/**
 * RearmInsideBand over the slots [lo, hi): like tw_cqrs_rearm_page, walking the users not
 * armed in (shard, email) order after (@p after_shard, @p after). done: count = re-armed,
 * scanned = walked, last_key / last_shard = the last walked (walk on until scanned < limit).
 */
int tw_cqrs_rearm_shard_page(struct tw_cqrs *q, struct tw_cqrs_op *op, int lo, int hi,
			     int after_shard, const char *after, long long limit,
			     tw_cqrs_done_fn done, void *arg);

/**
 * UsersCrossingThresholds over the slots [lo, hi): like tw_cqrs_users_crossing_page, in
 * (shard, email) order after (@p after_shard, @p after); each row carries its shard.
 * done: count = rows streamed (a short page is the last one).
 */
int tw_cqrs_users_crossing_shard_page(struct tw_cqrs *q, struct tw_cqrs_op *op, int lo, int hi,
				      int after_shard, const char *after, long long limit,
				      tw_cqrs_crossing_fn row, tw_cqrs_done_fn done, void *arg);

/* internal (queries.c, pipeline.c): check a sharded page's bounds into the five parameters
 * lo, hi, after_shard, after, limit (text in @p b). @return 0 or the op's failure. */
int tw_cqrs_shard_args(struct tw_cqrs_op *op, int lo, int hi, int after_shard, const char *after,
		       long long limit, char (*b)[24], const char **p);

#endif
