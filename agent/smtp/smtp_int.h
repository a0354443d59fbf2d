/* SPDX-License-Identifier: MIT */
/* smtp_int.h - what the session plumbing (conn.c) and the SMTP dialogue (client.c) share; not for
 * other modules.
 *
 * conn.c owns the socket, its stream, the time-outs, the pump that writes the
 * output buffer and feeds replies, and the batch's start and end. client.c owns
 * what is said: one reply handler per state, and what to send next.
 */
#ifndef TW_SMTP_INT_H
#define TW_SMTP_INT_H

#include "smtp/smtp.h"

/* ---- conn.c, for the dialogue ---- */

/** Be in @p state, with a fresh time-out (shorter for QUIT). */
void tw_smtp_enter(struct tw_smtp *s, int state);

/** Append a command to the output buffer. @return 0, or TW_ERR_NOMEM after failing the session. */
int tw_smtp_queue(struct tw_smtp *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** The session failed: every message without an outcome is transient, then on_done. */
void tw_smtp_fail(struct tw_smtp *s, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Close and report the end of the batch (s->rc). */
void tw_smtp_finish(struct tw_smtp *s);

/** Give @p m its outcome (once: a later call is ignored), count it, call on_msg. */
void tw_smtp_report(struct tw_smtp *s, struct tw_smtp_msg *m, int outcome, int code,
		    const char *text);

/** Switch the connection to TLS and drive the handshake (implicit TLS, or after STARTTLS). */
void tw_smtp_start_tls(struct tw_smtp *s);

/** Write what is queued, read and dispatch replies, until the socket would block. */
void tw_smtp_pump(struct tw_smtp *s);

/* ---- client.c, for the plumbing ---- */

/** The stream is ready for SMTP (connected in clear, or TLS up): greeting, or EHLO again. */
void tw_smtp_stream_ready(struct tw_smtp *s);

/** A complete reply @p r arrived in the current state: its handler decides what follows. */
void tw_smtp_on_reply(struct tw_smtp *s, const struct tw_smtp_reply *r);

#endif
