/* SPDX-License-Identifier: MIT */
/* log.h - levelled, role-tagged logging with a ring of recent lines for the console, a bounded
 * output ring the event loop drains to stderr (a log write never blocks), and folding of
 * repeated lines.
 *
 * Repeats: once a line (level, role, text) was printed TW_LOG_FOLD_AFTER times
 * in a TW_LOG_FOLD_MS window, further copies in it are not printed, only
 * counted; when that window ends (at the
 * next log call or the loop's 1 s tick) one line "<text> ... repeated N times in
 * S s" stands for them, as syslog does. TW_LOG_FOLD_SLOTS different lines are
 * folded at once, so interleaved floods fold too.
 *
 * Output: until tw_log_attach() (and after tw_log_detach()) lines go straight to
 * stderr, as a command-line tool wants; once attached they go into the output
 * ring and out when stderr is writable, never waiting. A line that does not fit
 * is dropped and counted (tw_log_dropped(), shown by `status`), and a line
 * saying how many were lost follows once there is room. */
#ifndef TW_LOG_H
#define TW_LOG_H

#include <stddef.h>

enum tw_log_level { TW_LOG_ERROR = 0, TW_LOG_WARN, TW_LOG_INFO, TW_LOG_DEBUG };

#define TW_LOG_LINE_MAX 512 /* longest line formatted; longer text is cut */
#define TW_LOG_FOLD_MS 10000 /* repeats within this window are counted, not printed */
#define TW_LOG_FOLD_SLOTS 8  /* distinct lines folded at once */
#define TW_LOG_FOLD_AFTER 2  /* copies printed before the rest of the window is counted */
#define TW_LOG_OUT_BYTES 16384 /* the stderr output ring the agent carves */

struct tw_loop;

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
 * Send stderr output through @p storage (@p cap bytes, carved by the caller),
 * drained by @p loop whenever stderr is writable.
 * @return 0, or TW_ERR_NOMEM when the loop has no free timer.
 */
int tw_log_attach(struct tw_loop *loop, void *storage, size_t cap);

/**
 * Write out what the ring holds, waiting for stderr at most @p timeout_ms, then
 * go back to direct writes (before the ring's storage goes away).
 */
void tw_log_detach(int timeout_ms);

/** Push held output to stderr now, as far as it takes it without blocking. */
void tw_log_flush(void);

/** Emit the summary of every fold whose window has ended (the loop does it each second). */
void tw_log_tick(void);

/** @return lines lost because the output ring was full (since start). */
unsigned long long tw_log_dropped(void);

/** @return repeated lines folded away (since start). */
unsigned long long tw_log_folded(void);

/** @return bytes waiting in the output ring. */
size_t tw_log_pending(void);

/**
 * Copy a connection URL or key=value string with any password replaced by
 * "***", so it can be logged. @return @p out.
 */
char *tw_log_redact(const char *in, char *out, size_t len);

#endif
