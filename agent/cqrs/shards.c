/* SPDX-License-Identifier: MIT */
/* shards.c - partitions to users.shard slot ranges (pure; the rule is in cqrs/shards.h). */
#include "cqrs/shards.h"

int tw_shard_range(int p, int parts, struct tw_shard_range *r)
{
	r->lo = r->hi = 0;
	if (parts < 1 || parts > TW_SHARD_SLOTS || p < 0 || p >= parts)
		return -1;
	/* the slots s with floor(s * parts / SLOTS) = p: [ceil(p * SLOTS / parts), ceil((p + 1) ...)) */
	r->lo = (int)(((long)p * TW_SHARD_SLOTS + parts - 1) / parts);
	r->hi = (int)(((long)(p + 1) * TW_SHARD_SLOTS + parts - 1) / parts);
	return 0;
}

int tw_shard_partition(int slot, int parts)
{
	if (parts < 1 || parts > TW_SHARD_SLOTS || slot < 0 || slot >= TW_SHARD_SLOTS)
		return -1;
	return (int)((long)slot * parts / TW_SHARD_SLOTS);
}

size_t tw_shard_merge(struct tw_shard_range *r, size_t n)
{
	size_t out = 0;

	for (size_t i = 1; i < n; i++) { /* insertion sort: a few dozen ranges at most */
		struct tw_shard_range t = r[i];
		size_t j = i;

		for (; j > 0 && r[j - 1].lo > t.lo; j--)
			r[j] = r[j - 1];
		r[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		if (r[i].hi <= r[i].lo)
			continue;
		if (out && r[i].lo <= r[out - 1].hi) {
			if (r[i].hi > r[out - 1].hi)
				r[out - 1].hi = r[i].hi;
			continue;
		}
		r[out++] = r[i];
	}
	return out;
}
