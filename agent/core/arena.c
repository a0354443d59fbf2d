/* SPDX-License-Identifier: MIT */
/* arena.c - bump allocator over one block reserved at start; nothing is freed piecemeal. */
#include "arena.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal.h"

int tw_arena_init(struct tw_arena *a, size_t size)
{
	memset(a, 0, sizeof *a);
	if (size == 0)
		return TW_ERR_ARG;
	a->base = malloc(size);
	if (a->base == NULL) {
		snprintf(a->err, sizeof a->err,
			 "cannot reserve the %zu KiB arena: lower [limits] arena_kb", size / 1024);
		return TW_ERR_NOMEM;
	}
	a->size = size;
	return TW_OK;
}

void tw_arena_free(struct tw_arena *a)
{
	free(a->base);
	a->base = NULL;
	a->size = a->used = 0;
	a->ncarves = 0;
}

void *tw_arena_carve(struct tw_arena *a, size_t bytes, const char *what, const char *limit_key)
{
	const size_t align = alignof(max_align_t);
	size_t start = (a->used + align - 1) & ~(align - 1);
	void *p;

	if (a->sealed) {
		snprintf(a->err, sizeof a->err, "arena: '%s' asked for memory after start-up", what);
		return NULL;
	}
	if (a->fail_after && a->ncarves + 1 >= a->fail_after) {
		snprintf(a->err, sizeof a->err,
			 "arena exhausted (test) carving %zu bytes for %s: raise [limits] %s",
			 bytes, what, limit_key ? limit_key : "arena_kb");
		return NULL;
	}
	if (bytes == 0 || start > a->size || bytes > a->size - start) {
		snprintf(a->err, sizeof a->err,
			 "memory budget exhausted carving %zu bytes for %s (%zu of %zu bytes "
			 "used): raise [limits] arena_kb or lower [limits] %s",
			 bytes, what, a->used, a->size, limit_key ? limit_key : "arena_kb");
		return NULL;
	}
	p = a->base + start;
	memset(p, 0, bytes);
	a->used = start + bytes;
	if (a->ncarves < TW_ARENA_MAX_CARVES) {
		a->carves[a->ncarves].what = what;
		a->carves[a->ncarves].limit_key = limit_key;
		a->carves[a->ncarves].bytes = bytes;
	}
	a->ncarves++;
	return p;
}

void tw_arena_seal(struct tw_arena *a)
{
	a->sealed = 1;
}

size_t tw_arena_report(const struct tw_arena *a, char *buf, size_t len)
{
	size_t off = 0;
	size_t shown = a->ncarves < TW_ARENA_MAX_CARVES ? a->ncarves : TW_ARENA_MAX_CARVES;

	if (len == 0)
		return 0;
	buf[0] = '\0';
#define APPEND(...)                                                                            \
	do {                                                                                   \
		int n_ = snprintf(buf + off, len - off, __VA_ARGS__);                          \
		if (n_ < 0)                                                                    \
			return off;                                                            \
		off += (size_t)n_ < len - off ? (size_t)n_ : len - off - 1;                    \
	} while (0)
	APPEND("memory budget: %zu KiB arena, %zu KiB used, %zu KiB free\n", a->size / 1024,
	       (a->used + 1023) / 1024, (a->size - a->used) / 1024);
	for (size_t i = 0; i < shown; i++)
		APPEND("  %-24s %8zu bytes  [limits] %s\n", a->carves[i].what, a->carves[i].bytes,
		       a->carves[i].limit_key ? a->carves[i].limit_key : "-");
#undef APPEND
	return off;
}
