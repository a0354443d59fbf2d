/* SPDX-License-Identifier: MIT */
/* ring.h - fixed-capacity byte ring between producers and consumers in the loop. */
#ifndef TW_RING_H
#define TW_RING_H

#include <stddef.h>

struct tw_ring {
	unsigned char *buf;
	size_t cap;  /* bytes of storage */
	size_t head; /* next byte to read */
	size_t len;  /* bytes held */
};

/** Use @p storage of @p cap bytes (carved by the caller). */
void tw_ring_init(struct tw_ring *r, void *storage, size_t cap);

static inline size_t tw_ring_len(const struct tw_ring *r) { return r->len; }
static inline size_t tw_ring_space(const struct tw_ring *r) { return r->cap - r->len; }

/** Append all of @p n bytes or none. @return 0, or TW_ERR_NOMEM when they do not fit. */
int tw_ring_push(struct tw_ring *r, const void *data, size_t n);

/** Copy out up to @p n bytes without removing them. @return bytes copied. */
size_t tw_ring_peek(const struct tw_ring *r, void *out, size_t n);

/** Remove up to @p n bytes (copying them to @p out unless NULL). @return bytes removed. */
size_t tw_ring_pop(struct tw_ring *r, void *out, size_t n);

/**
 * The longest contiguous readable run, for zero-copy writes to a socket.
 * @return its length (0 when empty); *p points at it.
 */
size_t tw_ring_readable(const struct tw_ring *r, const unsigned char **p);

/** Offset of the first @p c in the ring, or -1. */
long tw_ring_find(const struct tw_ring *r, unsigned char c);

#endif
