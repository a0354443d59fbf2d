/* SPDX-License-Identifier: MIT */
/* fake_hal.h - a scripted HAL for unit tests: a clock that moves only when told or when the
 * loop waits, and peers whose reads and writes follow a script (would-block, short, reset). */
#ifndef TW_FAKE_HAL_H
#define TW_FAKE_HAL_H

#include <stddef.h>

#include "hal.h"

#define FAKE_FD_BASE 1000
#define FAKE_MAX_PEERS 32
#define FAKE_MAX_STEPS 64
#define FAKE_SENT_MAX 65536

/** Forget every peer, script and counter; the clock goes back to 1 s. */
void fake_reset(void);

void fake_clock_set(tw_mono_t t);
void fake_clock_advance_ms(int64_t ms);
void fake_wall_set_ms(int64_t ms);

/** A new scripted peer. @return its fd. */
int fake_peer_new(void);

/** Script what recv() returns next, in order. @p at_ms: fake time the step becomes readable
 *  (0: at once). Data is handed out at most @p chunk bytes per recv (0: all). */
void fake_peer_data(int fd, const void *data, size_t len, size_t chunk, int64_t at_ms);
void fake_peer_would_block(int fd);
void fake_peer_reset(int fd);
void fake_peer_close(int fd);

/** Each send() takes at most @p max bytes (0: all). */
void fake_peer_send_max(int fd, size_t max);
/** The next @p n sends return TW_ERR_WOULD_BLOCK. */
void fake_peer_send_block(int fd, int n);
/** Every send from now on returns TW_ERR_RESET. */
void fake_peer_send_reset(int fd);
/** What the code under test sent so far (NUL-terminated copy), and its length. */
const char *fake_peer_sent(int fd, size_t *len);
/** Number of recv() and send() calls the peer saw. */
int fake_peer_recv_calls(int fd);
int fake_peer_closed(int fd);

/** Queue what the next tw_hal_tcp_connect_addr() (or tw_hal_tcp_connect()) returns: @p rc
 *  with peer @p fd; its finish returns @p finish_rc. Up to FAKE_MAX_CONNECTS queue in order. */
void fake_connect_next(int rc, int fd, int finish_rc);
#define FAKE_MAX_CONNECTS 16
/** "ADDR:PORT ADDR:PORT ..." of every connect attempted since the reset. */
const char *fake_connect_log(void);

/* ---- the resolver ---- */
#define FAKE_RESOLVER_FD 999 /* the wake-up fd tw_hal_resolver_start() returns */
#define FAKE_STDERR_FD 998   /* tw_hal_log_fd() */
#define FAKE_RESOLVE_NEVER (-1)
/** The next look-up of @p host answers @p rc (0: the comma-separated literals in @p addrs)
 *  at fake time @p at_ms (0: at once; FAKE_RESOLVE_NEVER: never). Unscripted names answer
 *  192.0.2.1 at once. */
void fake_resolve_script(const char *host, int rc, const char *addrs, int64_t at_ms);
/** Look-ups submitted to the fake resolver since the reset (all names). */
int fake_resolve_calls(void);

/* ---- the log's stderr ---- */
/** While @p on, tw_hal_log_write() returns would-block and stderr polls unwritable. */
void fake_stderr_block(int on);
/** What reached the fake stderr so far (NUL-terminated), and its length. */
const char *fake_stderr_text(size_t *len);
/** Queue @p fd for the next tw_hal_tcp_accept(). */
void fake_accept_push(int fd);

/** The time-out of the last tw_hal_wait(), and how many waits ran. */
int fake_last_wait_timeout(void);
int fake_wait_calls(void);

/** Console fds for tw_hal_console_open(): reads come from peer @p in, writes go to @p out. */
void fake_console_peers(int in, int out);

/** Call the handler installed by tw_hal_signals_install() as if @p sig arrived. */
void fake_raise(int sig);

#endif
