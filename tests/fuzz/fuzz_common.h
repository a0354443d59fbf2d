/* SPDX-License-Identifier: MIT */
/* fuzz_common.h - what every fuzz target shares: a property check that aborts (libFuzzer saves
 * the input as a crash), and a copy of the input in a buffer of exactly its size (so that ASan
 * sees a read one byte past it) or NUL-terminated for C-string parsers. */
#ifndef TW_FUZZ_COMMON_H
#define TW_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** A property that must hold: when it does not, say which and abort (a crash to libFuzzer). */
#define FZ_CHECK(cond, ...)                                                                   \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz property failed at %s:%d: %s: ", __FILE__,      \
				__LINE__, #cond);                                             \
			fprintf(stderr, __VA_ARGS__);                                         \
			fputc('\n', stderr);                                                  \
			abort();                                                              \
		}                                                                             \
	} while (0)

/** @p size bytes of @p data in a heap block of exactly that size (1 byte when empty). */
static inline char *fz_exact(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);

	if (p == NULL)
		abort();
	if (size)
		memcpy(p, data, size);
	return p;
}

/** @p data as a C string (cut at its first NUL), in a heap block of exactly its length + 1. */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *p = malloc(n + 1);

	if (p == NULL)
		abort();
	memcpy(p, data, n);
	p[n] = '\0';
	return p;
}

#endif
