/* SPDX-License-Identifier: MIT */
/* console.c - reads console lines without blocking, bounds them, queues output in a ring, and
 * reopens a serial device that hung up. */
#include "console.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "log.h"
#include "loop.h"

/* @return 1 while the answers waiting fill more than half the output ring. */
static int output_full(const struct tw_console *con)
{
	return tw_ring_len(&con->out) > con->out.cap / 2;
}

static void take_byte(struct tw_console *con, char c);

/* Take pending input bytes while there is room for the answers. */
static void take_pending(struct tw_console *con)
{
	if (con->in_take)
		return;
	con->in_take = 1;
	while (con->open && con->pend_off < con->pend_len && !output_full(con))
		take_byte(con, (char)con->pend[con->pend_off++]);
	if (con->pend_off == con->pend_len)
		con->pend_off = con->pend_len = 0;
	con->in_take = 0;
}

static void on_out_ready(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	(void)l;
	(void)fd;
	(void)ready;
	tw_console_flush(arg);
}

static void update_interest(struct tw_console *con)
{
	unsigned mask = 0;

	if (!con->open || con->down)
		return;
	if (!con->eof && con->pend_len == 0 && !output_full(con))
		mask |= TW_HAL_READ;
	if (tw_ring_len(&con->out) && con->hc.out_fd == con->hc.in_fd)
		mask |= TW_HAL_WRITE;
	tw_loop_set_mask(con->loop, con->hc.in_fd, mask);
	if (con->hc.out_fd != con->hc.in_fd) {
		/* output on its own fd (stdout apart from stdin): watched while text waits */
		int want = tw_ring_len(&con->out) > 0;

		if (want && !con->out_watched)
			con->out_watched = tw_loop_add_fd(con->loop, con->hc.out_fd, TW_HAL_WRITE,
							  on_out_ready, con) == TW_OK;
		else if (!want && con->out_watched) {
			tw_loop_del_fd(con->loop, con->hc.out_fd);
			con->out_watched = 0;
		}
	}
}

void tw_console_flush(struct tw_console *con)
{
	const unsigned char *p;
	size_t n;

	while (con->open && !con->down && (n = tw_ring_readable(&con->out, &p)) > 0) {
		long w = tw_hal_console_write(&con->hc, p, n);

		if (w <= 0)
			break; /* would-block or closed: the rest waits for writability */
		tw_ring_pop(&con->out, NULL, (size_t)w);
	}
	if (con->pend_len && !output_full(con) && !con->in_take) {
		take_pending(con);
		if (con->open && !con->down && tw_ring_len(&con->out)) {
			tw_console_flush(con);
			return;
		}
	}
	update_interest(con);
}

void tw_console_write(struct tw_console *con, const char *data, size_t len)
{
	if (!con->open)
		return;
	if (tw_ring_push(&con->out, data, len) != TW_OK) {
		con->dropped_bytes += len;
		return;
	}
	tw_console_flush(con);
}

void tw_console_printf(struct tw_console *con, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	tw_console_write(con, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void take_byte(struct tw_console *con, char c)
{
	if (c == '\r')
		return;
	if (c != '\n') {
		if (con->line_len + 1 < con->line_max)
			con->line[con->line_len++] = c;
		else
			con->overlong = 1;
		return;
	}
	con->line[con->line_len] = '\0';
	if (con->overlong)
		tw_console_printf(con, "error: line longer than %zu bytes ignored "
				       "(raise [limits] console_line)\n",
				  con->line_max - 1);
	else if (memchr(con->line, '\0', con->line_len))
		tw_console_printf(con, "error: NUL byte in line ignored\n");
	else {
		con->lines_in++;
		con->fn(con, con->line, con->arg);
	}
	con->line_len = 0;
	con->overlong = 0;
}

static void on_ready(struct tw_loop *l, int fd, unsigned ready, void *arg);

static int64_t reopen_timer(struct tw_loop *l, void *arg)
{
	struct tw_console *con = arg;
	char err[200];
	int64_t wait = con->reopen_ms;

	(void)l;
	if (tw_hal_console_open(con->dev, con->baud, &con->hc, err, sizeof err) != TW_OK) {
		con->reopen_ms = wait * 2 > TW_CONSOLE_REOPEN_MAX_MS ? TW_CONSOLE_REOPEN_MAX_MS
								    : wait * 2;
		tw_log(TW_LOG_DEBUG, "console", "%s; again in %lld ms", err,
		       (long long)con->reopen_ms);
		return con->reopen_ms;
	}
	if (tw_loop_add_fd(con->loop, con->hc.in_fd, TW_HAL_READ, on_ready, con) != TW_OK) {
		tw_hal_console_close(&con->hc);
		tw_log(TW_LOG_ERROR, "console", "event loop full: raise [limits] max_fds");
		return TW_CONSOLE_REOPEN_MAX_MS;
	}
	con->reopen_timer = 0;
	con->down = 0;
	con->reopens++;
	con->line_len = 0;
	con->overlong = 0;
	con->pend_len = con->pend_off = 0;
	tw_log(TW_LOG_INFO, "console", "%s reopened", con->dev);
	tw_console_flush(con);
	return TW_TIMER_STOP;
}

/* A serial device hung up: close it and reopen it with backoff. */
static void hung_up(struct tw_console *con)
{
	con->hangups++;
	if (con->out_watched)
		tw_loop_del_fd(con->loop, con->hc.out_fd);
	con->out_watched = 0;
	tw_loop_del_fd(con->loop, con->hc.in_fd);
	tw_hal_console_close(&con->hc);
	con->down = 1;
	con->reopen_ms = TW_CONSOLE_REOPEN_MIN_MS;
	con->reopen_timer = tw_loop_add_timer(con->loop, con->reopen_ms, reopen_timer, con);
	if (con->reopen_timer < 0) {
		con->reopen_timer = 0;
		con->eof = 1;
		tw_log(TW_LOG_ERROR, "console", "%s hung up and no timer is free to reopen it: "
						"raise [limits] max_timers", con->dev);
		return;
	}
	tw_log(TW_LOG_WARN, "console", "%s hung up; reopening", con->dev);
}

static void on_ready(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_console *con = arg;

	(void)l;
	(void)fd;
	if (ready & (TW_HAL_READ | TW_HAL_ERROR)) {
		/* Bounded: a flood on the line cannot starve the other tasks. */
		take_pending(con);
		for (int rounds = 0; rounds < 16 && con->open && !con->eof && !con->down &&
				     con->pend_len == 0 && !output_full(con);
		     rounds++) {
			long n = tw_hal_console_read(&con->hc, con->pend, sizeof con->pend);

			if (n == TW_ERR_WOULD_BLOCK)
				break;
			if (n <= 0 && con->dev[0]) {
				hung_up(con);
				return;
			}
			if (n <= 0) {
				con->eof = 1;
				tw_log(TW_LOG_INFO, "console", "console input closed");
				break;
			}
			con->pend_off = 0;
			con->pend_len = (size_t)n;
			take_pending(con);
		}
	}
	if (con->open && !con->down)
		tw_console_flush(con);
	if (con->open && !con->down && con->eof && tw_ring_len(&con->out) == 0)
		tw_loop_set_mask(con->loop, con->hc.in_fd, 0);
}

int tw_console_init(struct tw_console *con, struct tw_arena *a, struct tw_loop *loop,
		    const char *dev, unsigned baud, size_t line_max, size_t out_bytes,
		    tw_console_fn fn, void *arg, char *err, size_t errlen)
{
	void *out;
	int rc;

	memset(con, 0, sizeof *con);
	con->hc.in_fd = con->hc.out_fd = -1;
	con->line = tw_arena_carve(a, line_max, "console line", "console_line");
	out = con->line ? tw_arena_carve(a, out_bytes, "console output", "console_out_kb") : NULL;
	if (out == NULL) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	tw_ring_init(&con->out, out, out_bytes);
	con->line_max = line_max;
	con->loop = loop;
	con->fn = fn;
	con->arg = arg;
	con->baud = baud;
	if (dev && strcmp(dev, "-") != 0) {
		if (strlen(dev) >= sizeof con->dev) {
			snprintf(err, errlen, "console: device path longer than %zu bytes",
				 sizeof con->dev - 1);
			return TW_ERR_ARG;
		}
		snprintf(con->dev, sizeof con->dev, "%s", dev);
	}
	rc = tw_hal_console_open(dev, baud, &con->hc, err, errlen);
	if (rc != TW_OK)
		return rc;
	rc = tw_loop_add_fd(loop, con->hc.in_fd, TW_HAL_READ, on_ready, con);
	if (rc != TW_OK) {
		snprintf(err, errlen, "console: event loop full: raise [limits] max_fds");
		tw_hal_console_close(&con->hc);
		return rc;
	}
	con->open = 1;
	return TW_OK;
}

void tw_console_close(struct tw_console *con)
{
	if (!con->open)
		return;
	if (con->reopen_timer > 0)
		tw_loop_del_timer(con->loop, con->reopen_timer);
	con->reopen_timer = 0;
	if (!con->down) {
		tw_console_flush(con);
		if (con->out_watched)
			tw_loop_del_fd(con->loop, con->hc.out_fd);
		con->out_watched = 0;
		tw_loop_del_fd(con->loop, con->hc.in_fd);
		tw_hal_console_close(&con->hc);
	}
	con->open = 0;
}
