/* SPDX-License-Identifier: MIT */
/* authlimit.c - failed RPC authentications per peer address, and the bans they earn: a fixed table.
 *
 * An address that fails [rpc] auth_failures times within [rpc] auth_window of
 * its first failure is banned for [rpc] auth_ban: the server refuses its
 * connections and closes the ones it has open. The table has
 * TW_RPC_AUTH_PEERS entries carved at start. When it is full, a new address
 * takes the entry of the address that failed longest ago and is not banned;
 * when every entry is a live ban, the new address is not counted (and the
 * server logs that once per such episode): bans are never cut short to make room.
 * Time is the HAL's monotonic clock, passed in, so tests run it on the fake one.
 */
#include <stdio.h>
#include <string.h>

#include "rpc_int.h"

void tw_rpc_peer_addr(const char *peer, char *addr, size_t len)
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

	if (n >= len)
		n = len - 1;
	memcpy(addr, peer, n);
	addr[n] = '\0';
}

void tw_rpc_authlimit_init(struct tw_rpc_authlimit *l, struct tw_rpc_ban *table, size_t n,
			   int64_t failures, int64_t window_ms, int64_t ban_ms)
{
	memset(l, 0, sizeof *l);
	memset(table, 0, n * sizeof *table);
	l->t = table;
	l->n = n;
	l->failures = failures;
	l->window = window_ms * TW_MONO_PER_MS;
	l->ban = ban_ms * TW_MONO_PER_MS;
}

static struct tw_rpc_ban *find(struct tw_rpc_authlimit *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->t[i].used && strcmp(l->t[i].addr, addr) == 0)
			return &l->t[i];
	}
	return NULL;
}

static int live_ban(const struct tw_rpc_ban *b, tw_mono_t now)
{
	return b->used && b->until != 0 && now < b->until;
}

int64_t tw_rpc_authlimit_banned(struct tw_rpc_authlimit *l, const char *addr, tw_mono_t now)
{
	struct tw_rpc_ban *b = find(l, addr);

	if (b == NULL || !live_ban(b, now))
		return 0;
	return (int64_t)((b->until - now + TW_MONO_PER_MS - 1) / TW_MONO_PER_MS);
}

/* The entry a new address gets: a free one, else the non-banned one that failed longest ago. */
static struct tw_rpc_ban *take(struct tw_rpc_authlimit *l, tw_mono_t now)
{
	struct tw_rpc_ban *old = NULL;

	for (size_t i = 0; i < l->n; i++) {
		struct tw_rpc_ban *b = &l->t[i];

		if (!b->used)
			return b;
		if (!live_ban(b, now) && (old == NULL || b->last < old->last))
			old = b;
	}
	return old;
}

int tw_rpc_authlimit_fail(struct tw_rpc_authlimit *l, const char *addr, tw_mono_t now)
{
	struct tw_rpc_ban *b = find(l, addr);

	l->failures_seen++;
	if (b && b->until != 0 && now >= b->until) {
		b->until = 0; /* the ban is over: count afresh */
		b->fails = 0;
	}
	if (b == NULL) {
		b = take(l, now);
		if (b == NULL) {
			l->untracked++;
			return 0;
		}
		memset(b, 0, sizeof *b);
		b->used = 1;
		snprintf(b->addr, sizeof b->addr, "%s", addr);
	}
	if (b->fails == 0 || now - b->first > l->window) {
		b->first = now;
		b->fails = 0;
	}
	b->last = now;
	if (live_ban(b, now))
		return 1;
	if (++b->fails < l->failures)
		return 0;
	b->until = now + l->ban;
	if (b->until == 0)
		b->until = 1;
	l->bans++;
	return 1;
}

size_t tw_rpc_authlimit_list(const struct tw_rpc_authlimit *l, tw_mono_t now, char *buf, size_t len)
{
	size_t used = 0, count = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		const struct tw_rpc_ban *b = &l->t[i];
		int n;

		if (!live_ban(b, now))
			continue;
		count++;
		if (used >= len)
			continue;
		n = snprintf(buf + used, len - used, "%s%s (%lld s left)", used ? ", " : "",
			     b->addr,
			     (long long)((b->until - now + TW_MONO_PER_S - 1) / TW_MONO_PER_S));
		if (n < 0 || (size_t)n >= len - used) {
			buf[used] = '\0'; /* the rest is counted, not named */
			used = len;
			continue;
		}
		used += (size_t)n;
	}
	return count;
}
