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

/* ---- names and addresses ---- */

#define TW_HAL_ADDRS_MAX 8     /**< addresses kept per name (in getaddrinfo's order) */
#define TW_HAL_HOST_MAX 256    /**< longest host name + 1 */
#define TW_HAL_RESOLVE_SLOTS 16 /**< look-ups queued or running at once */
#define TW_HAL_ADDR_TEXT 48    /**< "[v6]" or v4 text + NUL */

enum { TW_HAL_INET = 4, TW_HAL_INET6 = 6 };

/** One IPv4 or IPv6 address, without a port. */
struct tw_hal_addr {
	int family; /**< TW_HAL_INET or TW_HAL_INET6 */
	unsigned char bytes[16];
};

/** A finished look-up, taken with tw_hal_resolve_take(). */
struct tw_hal_resolved {
	long ticket; /**< as returned by tw_hal_resolve_submit() */
	int rc;      /**< 0 or TW_ERR_RESOLVE */
	size_t n;    /**< addresses in @c addrs (> 0 when rc is 0) */
	struct tw_hal_addr addrs[TW_HAL_ADDRS_MAX];
	char err[320];
};

/**
 * Start the resolver: one worker thread, started once per process (later
 * calls return the same fd), that runs the system's blocking look-up
 * (getaddrinfo: /etc/hosts, DNS per resolv.conf) off the loop. The thread
 * blocks every signal, so signals still land only in tw_hal_wait().
 * @return an fd that turns readable when a look-up has finished (watch it for
 *         TW_HAL_READ and call tw_hal_resolve_take()), or an error with text.
 */
int tw_hal_resolver_start(char *err, size_t errlen);

/**
 * Queue a look-up of @p host (a name; literals are parsed with
 * tw_hal_addr_parse() and never queued). Never blocks.
 * @return a ticket (> 0), TW_ERR_NOMEM when TW_HAL_RESOLVE_SLOTS look-ups are
 *         queued, running or not yet taken, TW_ERR_ARG for a name too long.
 */
long tw_hal_resolve_submit(const char *host);

/**
 * Take one finished look-up into @p out. Never blocks.
 * @return 0, or TW_ERR_WOULD_BLOCK when none has finished (the wake-up fd is
 *         then quiet until the next one finishes).
 */
int tw_hal_resolve_take(struct tw_hal_resolved *out);

/** Parse an IPv4 or IPv6 literal (no brackets). @return 0 or TW_ERR_RESOLVE. */
int tw_hal_addr_parse(const char *literal, struct tw_hal_addr *out);

/** "192.0.2.1" or "2001:db8::1" into @p buf. */
void tw_hal_addr_format(const struct tw_hal_addr *a, char *buf, size_t len);

/* ---- TCP ---- */

/**
 * Start a non-blocking TCP connect to @p addr : @p port. Never blocks (no name
 * resolution here: the loop resolves through core/resolve.h).
 * @param fd_out receives the socket, also when the connect is in progress.
 * @return 0 when connected at once, TW_ERR_WOULD_BLOCK when in progress (wait
 *         for TW_HAL_WRITE, then call tw_hal_tcp_connect_finish()), or an
 *         error with text in @p err (no socket left open).
 */
int tw_hal_tcp_connect_addr(const struct tw_hal_addr *addr, uint16_t port, int *fd_out,
			    char *err, size_t errlen);

/** @return 0 when the connect begun by tw_hal_tcp_connect_addr() succeeded, or an error. */
int tw_hal_tcp_connect_finish(int fd, char *err, size_t errlen);

/**
 * Connect with a bound, BLOCKING: resolve @p host (name or literal), then try
 * every address in turn, each with what is left of @p timeout_ms. Used by
 * short-lived clients (tickwatch ctl), never by the loop.
 * @return 0 and a connected non-blocking socket in @p fd_out, or an error.
 */
int tw_hal_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out, char *err,
		       size_t errlen);

/**
 * Listen on @p host : @p port (port 0 picks one; see tw_hal_local_port()).
 * A literal is used as it is; a name is resolved here, synchronously: this is
 * called once at start, before the loop turns, and binds the first of the
 * name's addresses that takes the bind (every one is tried in turn).
 */
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
	int owns_fds;   /**< 1 when the HAL opened a device and must close it */
	int is_tty;
	int poll_first; /**< fds left blocking (shared descriptions): read/write only what a
			     zero-time poll says is ready */
};

/**
 * Open the console. @p dev NULL or "-" means standard input and output; a path
 * opens a serial device (raw mode, 8N1, @p baud set through termios).
 *
 * No open file description the agent shares with another fd is ever made
 * non-blocking: a terminal on standard input is reopened by name (its own
 * description, non-blocking, also used for output when standard output is
 * the same terminal), so stderr, which shares the shell's description of the
 * terminal, stays as it was; a pipe or file on standard input is left as it is
 * and read only after a zero-time poll says it is ready.
 * @return 0 or an error (unsupported baud rate, cannot open) with text.
 */
int tw_hal_console_open(const char *dev, unsigned baud, struct tw_hal_console *con, char *err,
			size_t errlen);

/** Restore and close what tw_hal_console_open() opened. Safe twice. */
void tw_hal_console_close(struct tw_hal_console *con);

/**
 * Read from the console, same returns as tw_hal_recv(). A terminal has no end
 * of input short of a hang-up: with VMIN=0 a tty read of 0 bytes means "no
 * data" (TW_ERR_WOULD_BLOCK); TW_ERR_CLOSED is returned on a hang-up (POLLHUP,
 * EIO) or, for a pipe or file, at its end.
 */
long tw_hal_console_read(const struct tw_hal_console *con, void *buf, size_t len);

/** Write to the console, same returns as tw_hal_send(). Never blocks. */
long tw_hal_console_write(const struct tw_hal_console *con, const void *buf, size_t len);

/* ---- the log's output ---- */

/**
 * Write at most @p len bytes of log text to standard error without blocking:
 * standard error is never made non-blocking (its description is usually the
 * shell's, shared with other processes); a zero-time poll decides, and at most
 * a pipe's atomic unit is written per call.
 * @return bytes written (> 0), TW_ERR_WOULD_BLOCK, or TW_ERR_IO (stderr gone).
 */
long tw_hal_log_write(const void *buf, size_t len);

/** @return the fd to watch for writability while log text waits (standard error). */
int tw_hal_log_fd(void);

#endif /* TW_HAL_H */
