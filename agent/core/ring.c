/* SPDX-License-Identifier: MIT */
/* ring.c - byte ring buffer over caller-owned storage. */
#include "ring.h"

#include <string.h>

#include "hal.h"

void tw_ring_init(struct tw_ring *r, void *storage, size_t cap)
{
	r->buf = storage;
	r->cap = cap;
	r->head = 0;
	r->len = 0;
}

int tw_ring_push(struct tw_ring *r, const void *data, size_t n)
{
	size_t tail, first;

	if (n > tw_ring_space(r))
		return TW_ERR_NOMEM;
	if (n == 0)
		return TW_OK;
	tail = (r->head + r->len) % r->cap;
	first = r->cap - tail < n ? r->cap - tail : n;
	memcpy(r->buf + tail, data, first);
	memcpy(r->buf, (const unsigned char *)data + first, n - first);
	r->len += n;
	return TW_OK;
}

size_t tw_ring_peek(const struct tw_ring *r, void *out, size_t n)
{
	size_t first;

	if (n > r->len)
		n = r->len;
	if (n == 0)
		return 0;
	first = r->cap - r->head < n ? r->cap - r->head : n;
	memcpy(out, r->buf + r->head, first);
	memcpy((unsigned char *)out + first, r->buf, n - first);
	return n;
}

size_t tw_ring_pop(struct tw_ring *r, void *out, size_t n)
{
	if (n > r->len)
		n = r->len;
	if (out)
		tw_ring_peek(r, out, n);
	if (n)
		r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
	return n;
}

size_t tw_ring_readable(const struct tw_ring *r, const unsigned char **p)
{
	*p = r->buf + r->head;
	if (r->len == 0)
		return 0;
	return r->cap - r->head < r->len ? r->cap - r->head : r->len;
}

long tw_ring_find(const struct tw_ring *r, unsigned char c)
{
	for (size_t i = 0; i < r->len; i++) {
		if (r->buf[(r->head + i) % r->cap] == c)
			return (long)i;
	}
	return -1;
}
