/* SPDX-License-Identifier: MIT */
/* stream.h - one byte stream over a connected or accepted HAL socket, in clear or through TLS, never blocking.
 *
 * The HTTP and SMTP clients speak to their peer through a struct tw_stream.
 * Its bytes go through one layer at a time, a table of callbacks over the
 * stream (as Mbed TLS' bio callbacks over their context): tw_stream_plain
 * (HAL send/recv) or tw_stream_tls (an agent/tls session over the same
 * socket). A stream starts in clear on tw_stream_open(); tw_stream_start_tls()
 * switches it to TLS, right away (https://, SMTP implicit TLS) or in the
 * middle of a session (the SMTP client after the 220 to STARTTLS). The socket
 * stays the caller's: tw_stream_close() ends the layer, never the fd.
 *
 *   tw_stream_init(&st, cfg, &tls_mem)     once (cfg NULL: clear only)
 *   tw_stream_open(&st, fd)                per connection, clear
 *   [tw_stream_start_tls(&st, host, ...)]  then tw_stream_handshake() until 0
 *   tw_stream_read/write ...
 *   tw_stream_close(&st)                   then close the fd
 *
 * A server (the rpc role's TLS port) inits the stream with a server
 * configuration (tw_tls_config_init_server()) and calls tw_stream_accept_tls()
 * on each accepted socket instead of tw_stream_start_tls(); the rest is the same.
 *
 * Would-block: every call that cannot finish returns TW_ERR_WOULD_BLOCK and
 * sets *want to TW_HAL_READ or TW_HAL_WRITE (a TLS read may need the socket
 * writable and a write readable): wait for that on the fd, then call again.
 *
 * Mbed TLS' rule for writes: a tw_stream_write() that returned
 * TW_ERR_WOULD_BLOCK must be called again with the same buffer and the same
 * length (the record is already built from them; only its flush is pending).
 * A caller whose buffer grew meanwhile may pass the longer length: the TLS
 * layer then still takes, and reports, only the length of the blocked call,
 * and the appended bytes go out in the next call. A shorter length or another
 * buffer is a caller bug.
 */
#ifndef TW_STREAM_H
#define TW_STREAM_H

#include <stddef.h>

struct tw_stream;
struct tw_tls;
struct tw_tls_config;

/** One layer: what the stream's calls do while it is the stream's current layer. */
struct tw_stream_ops {
	const char *name; /**< "plain" or "TLS", for logs */
	/** Take over the stream's socket for @p host. @return 0 or an error with text. */
	int (*start)(struct tw_stream *st, const char *host, char *err, size_t errlen);
	/** @return 0 when the layer is ready, TW_ERR_WOULD_BLOCK (see *want) or an error. */
	int (*handshake)(struct tw_stream *st, unsigned *want, char *err, size_t errlen);
	/** @return bytes (> 0), TW_ERR_WOULD_BLOCK, TW_ERR_CLOSED (orderly end) or an error. */
	long (*read)(struct tw_stream *st, void *buf, size_t len, unsigned *want);
	/** @return bytes taken (> 0, maybe fewer than @p len), TW_ERR_WOULD_BLOCK or an error. */
	long (*write)(struct tw_stream *st, const void *buf, size_t len, unsigned *want);
	/** End the layer's session (not the socket). Safe twice. */
	void (*close)(struct tw_stream *st);
};

/** Bytes in clear: HAL send/recv on the socket. */
extern const struct tw_stream_ops tw_stream_plain;
/** Bytes through an agent/tls session (tls.h) on the same socket. */
extern const struct tw_stream_ops tw_stream_tls;

struct tw_stream {
	/* private */
	const struct tw_stream_ops *ops; /* the current layer */
	int fd;                          /* the connected socket, -1 when none */
	struct tw_tls_config *cfg;       /* shared CA and policy; NULL: clear only */
	struct tw_tls *tls;              /* the caller's session storage (with cfg) */
	int tls_live;                    /* *tls holds a session to free */
};

/**
 * Set up once. @p cfg (CA, verification) and @p tls (storage for one
 * session, owned by the caller, e.g. carved) are both NULL for a stream that
 * never leaves clear text. The stream has no socket yet.
 */
void tw_stream_init(struct tw_stream *st, struct tw_tls_config *cfg, struct tw_tls *tls);

/** Begin on connected socket @p fd, in clear (any previous layer is closed first). */
void tw_stream_open(struct tw_stream *st, int fd);

/**
 * Switch the open stream to TLS for @p host (SNI and the name its certificate
 * must carry); drive tw_stream_handshake() next. Bytes already read in clear
 * are the caller's to judge (SMTP refuses any after the 220 to STARTTLS).
 * @return 0, TW_ERR_ARG when the stream has no TLS configuration, or a
 * tw_tls_init() error, with text in @p err.
 */
int tw_stream_start_tls(struct tw_stream *st, const char *host, char *err, size_t errlen);

/**
 * Switch the open stream to TLS as the server of its socket (its configuration
 * made by tw_tls_config_init_server()); drive tw_stream_handshake() next, which
 * answers the client's handshake. @return as tw_stream_start_tls().
 */
int tw_stream_accept_tls(struct tw_stream *st, char *err, size_t errlen);

/**
 * @return bytes the layer has already taken off the socket and holds, ready
 * to read (TLS: the rest of a decrypted record; clear: 0). A caller that
 * stops reading before TW_ERR_WOULD_BLOCK must read these before it waits on
 * the fd again: the socket will not become readable for them.
 */
size_t tw_stream_pending(const struct tw_stream *st);

/** 1 when the stream was set up with a TLS configuration (tw_stream_start_tls() can work). */
int tw_stream_can_tls(const struct tw_stream *st);

/** 1 when bytes go through TLS now (after tw_stream_start_tls(), until tw_stream_close()). */
int tw_stream_is_tls(const struct tw_stream *st);

/**
 * Drive the current layer's handshake (clear: nothing to do). @return 0 when
 * done, TW_ERR_WOULD_BLOCK (see *want), TW_ERR_TLS_VERIFY, TW_ERR_TLS_HANDSHAKE,
 * TW_ERR_CLOSED / TW_ERR_RESET, with text in @p err.
 */
int tw_stream_handshake(struct tw_stream *st, unsigned *want, char *err, size_t errlen);

/** Read. @return count (> 0), TW_ERR_WOULD_BLOCK (see *want), TW_ERR_CLOSED, or an error. */
long tw_stream_read(struct tw_stream *st, void *buf, size_t len, unsigned *want);

/**
 * Write. @return count taken (> 0, maybe fewer than @p len: call again with the
 * rest), TW_ERR_WOULD_BLOCK (see *want, and the retry rule above), or an error.
 */
long tw_stream_write(struct tw_stream *st, const void *buf, size_t len, unsigned *want);

/** End the layer (TLS: close_notify, best effort, and free the session), back in clear
 * with no socket. The socket itself is the caller's to close. Safe twice. */
void tw_stream_close(struct tw_stream *st);

#endif
