/* SPDX-License-Identifier: MIT */
/* arena.h - the one block all of the agent's own buffers are carved from at start. */
#ifndef TW_ARENA_H
#define TW_ARENA_H

#include <stddef.h>

#define TW_ARENA_MAX_CARVES 64 /* named carves kept for the budget report */
#define TW_ARENA_ERR_LEN 256

struct tw_arena_carve {
	const char *what;      /* e.g. "log ring" */
	const char *limit_key; /* the [limits] key that sizes it */
	size_t bytes;
};

struct tw_arena {
	unsigned char *base;
	size_t size;
	size_t used;
	size_t ncarves;
	size_t fail_after; /* tests: fail the Nth carve (0: never) */
	int sealed;        /* after start-up no carve is allowed */
	struct tw_arena_carve carves[TW_ARENA_MAX_CARVES];
	char err[TW_ARENA_ERR_LEN];
};

/** Reserve @p size bytes (the one malloc of the agent). @return 0 or TW_ERR_NOMEM. */
int tw_arena_init(struct tw_arena *a, size_t size);

/** Release the block. Safe twice. */
void tw_arena_free(struct tw_arena *a);

/**
 * Carve @p bytes (zeroed, aligned to max_align_t) for @p what, sized by the
 * [limits] key @p limit_key. @return the memory, or NULL with a message in
 * a->err naming the key to raise ("arena_kb" when the arena itself is short).
 */
void *tw_arena_carve(struct tw_arena *a, size_t bytes, const char *what, const char *limit_key);

/** No carving after this: start-up is over. */
void tw_arena_seal(struct tw_arena *a);

/** Write the budget, one carve a line, into @p buf. @return bytes written (truncated safely). */
size_t tw_arena_report(const struct tw_arena *a, char *buf, size_t len);

#endif
