/* SPDX-License-Identifier: MIT */
/* hal.h - the only door from the agent to the clock, the network, entropy and the console.
 *
 * Two implementations exist: hal/posix/ (the product) and tests/fakes/ (a
 * scripted clock and scripted peers for unit tests). Everything here is
 * non-blocking unless its name says otherwise, and every wait has a bound.
 *
 * Return convention: 0 (or a byte count) on success, a negative TW_ERR_* code
 * otherwise. TW_ERR_WOULD_BLOCK is the one would-block code shared by every
 * module: "nothing to do now, wait for readiness and call again".
 */
#ifndef TW_HAL_H
#define TW_HAL_H

#include <stddef.h>
#include <stdint.h>

/** Monotonic time in microseconds since an arbitrary origin; never jumps back. */
typedef int64_t tw_mono_t;

#define TW_MONO_PER_MS ((tw_mono_t)1000)
#define TW_MONO_PER_S ((tw_mono_t)1000000)

/* Error codes shared by the HAL and the agent. Modules add theirs below -100. */
enum {
	TW_OK = 0,
	TW_ERR_WOULD_BLOCK = -1, /**< try again when the fd is ready */
	TW_ERR_CLOSED = -2,      /**< the peer closed the stream in order */
	TW_ERR_RESET = -3,       /**< the peer reset the stream */
	TW_ERR_TIMEOUT = -4,     /**< a bounded wait ran out */
	TW_ERR_RESOLVE = -5,     /**< a host name did not resolve */
	TW_ERR_REFUSED = -6,     /**< connection refused or unreachable */
	TW_ERR_IO = -7,          /**< any other I/O failure (errno in the text) */
	TW_ERR_ARG = -8,         /**< bad argument from the caller */
	TW_ERR_NOMEM = -9,       /**< a fixed-size table or buffer is full */
	TW_ERR_INTR = -10,       /**< a wait was cut short by a signal */
};

/** Readiness interest and result bits for tw_hal_wait() and the event loop. */
enum {
	TW_HAL_READ = 1u << 0,
	TW_HAL_WRITE = 1u << 1,
	TW_HAL_ERROR = 1u << 2, /**< error or hang-up; only ever reported */
};

struct tw_hal_pollfd {
	int fd;
	unsigned events;  /**< TW_HAL_READ | TW_HAL_WRITE */
	unsigned revents; /**< filled by tw_hal_wait() */
};

/* ---- clocks ---- */

/** Monotonic clock, microseconds. */
tw_mono_t tw_hal_now(void);

/** Wall clock: milliseconds since the Unix epoch (UTC). */
int64_t tw_hal_wall_ms(void);

/* ---- readiness ---- */

/**
 * Wait until one of @p fds is ready or @p timeout_ms passes (-1: no bound is
 * not allowed; pass a real bound).
 * @return number of fds with revents set, 0 on time-out, TW_ERR_INTR if a
 *         signal arrived (the caller checks its flags), or another error.
 */
int tw_hal_wait(struct tw_hal_pollfd *fds, size_t n, int timeout_ms);

/**
 * Install @p handler for the @p n signals in @p signos and block them except
 * inside tw_hal_wait(), so a signal can only land while the loop waits and
 * never races the flag check before the wait. The handler must only set flags.
 * @return 0 or TW_ERR_IO.
 */
int tw_hal_signals_install(const int *signos, size_t n, void (*handler)(int));

/* ---- TCP ---- */

/**
 * Start a non-blocking TCP connect to @p host : @p port (name or literal).
 * @param fd_out receives the socket, also when the connect is in progress.
 * @return 0 when connected at once, TW_ERR_WOULD_BLOCK when in progress (wait
 *         for TW_HAL_WRITE, then call tw_hal_tcp_connect_finish()), or an
 *         error with text in @p err.
 */
int tw_hal_tcp_connect_start(const char *host, uint16_t port, int *fd_out, char *err,
			     size_t errlen);

/** @return 0 when the connect begun by tw_hal_tcp_connect_start() succeeded, or an error. */
int tw_hal_tcp_connect_finish(int fd, char *err, size_t errlen);

/**
 * Connect with a bound: start, wait for writability at most @p timeout_ms,
 * finish. Used by short-lived clients (tickwatch ctl), never by the loop.
 * @return 0 and a connected non-blocking socket in @p fd_out, or an error.
 */
int tw_hal_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out, char *err,
		       size_t errlen);

/** Listen on @p host : @p port (port 0 picks one; see tw_hal_local_port()). */
int tw_hal_tcp_listen(const char *host, uint16_t port, int backlog, int *fd_out, char *err,
		      size_t errlen);

/** @return the local port a socket is bound to, or a negative error. */
int tw_hal_local_port(int fd);

/**
 * Accept one pending connection as a non-blocking socket.
 * @return 0, TW_ERR_WOULD_BLOCK when none is pending, or an error.
 */
int tw_hal_tcp_accept(int listen_fd, int *fd_out, char *peer, size_t peerlen);

/**
 * Send at most @p len bytes.
 * @return bytes sent (> 0, possibly fewer than @p len), TW_ERR_WOULD_BLOCK,
 *         TW_ERR_RESET or TW_ERR_IO.
 */
long tw_hal_send(int fd, const void *buf, size_t len);

/**
 * Receive at most @p len bytes.
 * @return bytes received (> 0), TW_ERR_WOULD_BLOCK, TW_ERR_CLOSED on orderly
 *         end of stream, TW_ERR_RESET or TW_ERR_IO.
 */
long tw_hal_recv(int fd, void *buf, size_t len);

/** Close a socket or console fd; a negative fd is ignored. */
void tw_hal_close(int fd);

/* ---- entropy ---- */

/** Fill @p buf with @p len bytes from the system's CSPRNG. @return 0 or TW_ERR_IO. */
int tw_hal_entropy(void *buf, size_t len);

/* ---- console ---- */

struct tw_hal_console {
	int in_fd;
	int out_fd;
	int owns_fds; /**< 1 when the HAL opened a device and must close it */
	int is_tty;
};

/**
 * Open the console. @p dev NULL or "-" means standard input and output; a path
 * opens a serial device (raw mode, 8N1, @p baud set through termios).
 * Both fds are made non-blocking.
 * @return 0 or an error (unsupported baud rate, cannot open) with text.
 */
int tw_hal_console_open(const char *dev, unsigned baud, struct tw_hal_console *con, char *err,
			size_t errlen);

/** Restore and close what tw_hal_console_open() opened. Safe twice. */
void tw_hal_console_close(struct tw_hal_console *con);

/** Read from the console, same returns as tw_hal_recv(). */
long tw_hal_console_read(const struct tw_hal_console *con, void *buf, size_t len);

/** Write to the console, same returns as tw_hal_send(). */
long tw_hal_console_write(const struct tw_hal_console *con, const void *buf, size_t len);

#endif /* TW_HAL_H */
