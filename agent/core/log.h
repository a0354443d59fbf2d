/* SPDX-License-Identifier: MIT */
/* log.h - levelled, role-tagged logging with a ring of recent lines for the console. */
#ifndef TW_LOG_H
#define TW_LOG_H

#include <stddef.h>

enum tw_log_level { TW_LOG_ERROR = 0, TW_LOG_WARN, TW_LOG_INFO, TW_LOG_DEBUG };

#define TW_LOG_LINE_MAX 512 /* longest line formatted; longer text is cut */

extern int tw_log_threshold;

/* The level is checked before any argument is formatted. */
#define tw_log(level, role, ...)                                                               \
	do {                                                                                   \
		if ((int)(level) <= tw_log_threshold)                                          \
			tw_log_emit((level), (role), __VA_ARGS__);                             \
	} while (0)

void tw_log_emit(int level, const char *role, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Parse "error", "warn", "info" or "debug". @return the level or -1. */
int tw_log_level_parse(const char *s);
const char *tw_log_level_name(int level);

/** Keep the last @p lines lines (each cut at @p line_len) in @p storage (lines*line_len bytes). */
void tw_log_ring_init(void *storage, size_t lines, size_t line_len);

/** Detach the ring (before its storage goes away). */
void tw_log_ring_reset(void);

/** @return how many lines the ring holds. */
size_t tw_log_ring_count(void);

/** @return the @p i-th oldest line held (0 = oldest), or NULL. */
const char *tw_log_ring_line(size_t i);

/** Send every emitted line also to @p fn (the console), or stop with NULL. */
void tw_log_set_mirror(void (*fn)(const char *line, size_t len, void *arg), void *arg);

/** Write to stderr too (default on); tests turn it off. */
void tw_log_set_stderr(int on);

/**
 * Copy a connection URL or key=value string with any password replaced by
 * "***", so it can be logged. @return @p out.
 */
char *tw_log_redact(const char *in, char *out, size_t len);

#endif
