/* SPDX-License-Identifier: MIT */
/* console.h - line-oriented operator console over the HAL (stdin/stdout or a serial line).
 *
 * A pipe or file on stdin ends at its end ("console input closed"). A terminal
 * ends only on a hang-up; a serial device (a path) that hangs up (a USB-serial
 * adapter unplugged, a pty's master closed) is reopened on a loop timer with
 * bounded backoff (TW_CONSOLE_REOPEN_MIN_MS doubling to TW_CONSOLE_REOPEN_MAX_MS),
 * so the console never goes deaf; output queued meanwhile waits in the ring.
 *
 * Back-pressure: while the output ring is more than half full, no further input
 * line is taken (the rest of the bytes read wait in a small buffer, the tty
 * holds the rest), so a burst of commands whose answers outrun the line loses
 * nothing; a single answer larger than half the ring can still be cut (counted
 * in dropped_bytes). */
#ifndef TW_CONSOLE_H
#define TW_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"
#include "ring.h"

struct tw_arena;
struct tw_loop;
struct tw_console;

/** Called once per complete input line (without its newline). */
typedef void (*tw_console_fn)(struct tw_console *con, const char *line, void *arg);

#define TW_CONSOLE_REOPEN_MIN_MS 100
#define TW_CONSOLE_REOPEN_MAX_MS 5000

struct tw_console {
	struct tw_hal_console hc;
	char dev[128]; /* the device to reopen after a hang-up ("" for stdin) */
	unsigned baud;
	long long reopen_timer;
	int64_t reopen_ms; /* the next backoff */
	uint64_t hangups, reopens;
	struct tw_loop *loop;
	char *line;      /* the line being assembled */
	size_t line_max; /* bound from [limits] console_line */
	size_t line_len;
	int overlong; /* the current line passed line_max: it is dropped */
	unsigned char pend[256]; /* bytes read but not yet taken (back-pressure) */
	size_t pend_len, pend_off;
	int in_take;
	int out_watched; /* out_fd (apart from in_fd) is on the loop for writability */
	struct tw_ring out;
	uint64_t dropped_bytes; /* output lost because the ring was full */
	uint64_t lines_in;
	int open;  /* between init and close (the device may be down in between) */
	int eof;   /* stdin ended: nothing more is read */
	int down;  /* the device hung up and is not reopened yet */
	tw_console_fn fn;
	void *arg;
};

/**
 * Open the console on @p dev at @p baud and carve its buffers.
 * @return 0, or an error with text in @p err.
 */
int tw_console_init(struct tw_console *con, struct tw_arena *a, struct tw_loop *loop,
		    const char *dev, unsigned baud, size_t line_max, size_t out_bytes,
		    tw_console_fn fn, void *arg, char *err, size_t errlen);

/** Queue text for output; what does not fit is dropped and counted. */
void tw_console_write(struct tw_console *con, const char *data, size_t len);
void tw_console_printf(struct tw_console *con, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** Push queued output now (bounded: stops at would-block). */
void tw_console_flush(struct tw_console *con);

/** Stop watching and close. Safe twice. */
void tw_console_close(struct tw_console *con);

#endif
