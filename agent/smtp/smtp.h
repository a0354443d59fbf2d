/* SPDX-License-Identifier: MIT */
/* smtp.h - an SMTP submission client: one session per batch, an explicit state machine on the loop.
 *
 * A struct tw_smtp is made once at start (tw_smtp_init() carves its buffers
 * from the arena) and then runs one session at a time:
 *
 *   tw_smtp_send_batch(s, msgs, n, on_msg, on_done, arg)
 *
 * connects, (TLS | STARTTLS), EHLO (HELO fallback), AUTH, then sends each
 * message in turn (MAIL/RCPT/DATA pipelined when the server offers
 * PIPELINING, RSET after a failed transaction), then QUIT. Nothing blocks:
 * every wait is a state with its own time-out ([smtp] timeout) on a loop timer.
 *
 * Outcomes: on_msg is called for each message as soon as its outcome is known
 * (TW_SMTP_SENT after the 250 to the end of DATA, TW_SMTP_PERMANENT on a 5xx,
 * TW_SMTP_TRANSIENT on a 4xx). When the session itself fails (refused,
 * time-out, reset, 421, TLS or AUTH failure), every message without an outcome
 * gets TW_SMTP_TRANSIENT (attempted says whether its transaction had begun) and
 * on_done reports the session error -- except the one message whose whole end of
 * data was handed to the connection before the failure came while its reply was
 * awaited: that one gets TW_SMTP_AMBIGUOUS (it may have been delivered, exactly
 * as at a crash). An end of data still in the output buffer (a blocked write)
 * cannot have reached the server: transient.
 *
 * Writes: a write that would block is retried with the same buffer and length
 * (Mbed TLS' rule); bytes queued meanwhile (a released end of data) go out in
 * the next write. on_done is called exactly once per batch,
 * after the connection is closed; a new batch may be started from it.
 *
 * Holding the end of data (opts.on_before_dot): when set, the client never
 * sends a message's terminating "\r\n.\r\n" on its own. As soon as the
 * message's transaction is certain (the 354 to DATA after a positive MAIL and
 * RCPT) it queues the body without the terminator, calls on_before_dot(s, msg,
 * arg) and waits in state TW_SMTP_S_HOLD (with the per-state time-out) while
 * the body goes out, until the caller calls tw_smtp_release_dot(s, msg, ok):
 * ok = 1 sends the terminator (then TW_SMTP_S_BODY waits for the 250); ok = 0
 * fails the session with TW_ERR_SMTP_UNRECORDED (the message and the rest of the
 * batch: TW_SMTP_TRANSIENT), so nothing is delivered that the caller could not
 * record first. The release may come from inside on_before_dot or any time later.
 *
 * With PIPELINING, the released end of data is followed at once, in the same write, by
 * what comes after it (RFC 2920 section 3.1: the end of data may start a group): the next
 * message's MAIL/RCPT/DATA, or QUIT after the last one. So the 250 and the next message's
 * three replies (or the 221) come in one round trip. The end of data counts as gone (an
 * unanswered one is TW_SMTP_AMBIGUOUS) once the bytes up to and including it were written,
 * whatever follows it; the next message is attempted only from its own turn (its MAIL reply
 * awaited), so a session that fails while the end of data waits for its answer leaves it
 * not attempted, exactly as before.
 */
#ifndef TW_SMTP_H
#define TW_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/resolve.h"
#include "hal.h"
#include "tls/stream.h"

struct tw_arena;
struct tw_loop;
struct tw_tls_config;
struct tw_smtp;

/* Errors of the smtp module (-500..-599). */
enum {
	TW_ERR_SMTP_PROTO = -500,     /**< malformed or unexpected reply from the server */
	TW_ERR_SMTP_TOOLONG = -501,   /**< a reply longer than the reply buffer */
	TW_ERR_SMTP_REJECTED = -502,  /**< the server refused the session (greeting/EHLO/HELO) */
	TW_ERR_SMTP_AUTH = -503,      /**< AUTH failed or no mechanism we support */
	TW_ERR_SMTP_NOTLS = -504,     /**< starttls mode but the server does not offer STARTTLS */
	TW_ERR_SMTP_BUSY = -505,      /**< a batch is already running */
	TW_ERR_SMTP_MESSAGE = -506,   /**< a message cannot be formatted (address, size) */
	TW_ERR_SMTP_CLOSING = -507,   /**< the server said 421: closing */
	TW_ERR_SMTP_UNRECORDED = -508, /**< the caller refused the end of data (its record failed) */
};

enum tw_smtp_outcome {
	TW_SMTP_PENDING = 0,
	TW_SMTP_SENT,      /**< 250 after DATA: the server took responsibility */
	TW_SMTP_TRANSIENT, /**< 4xx, reset, time-out: try again later */
	TW_SMTP_PERMANENT, /**< 5xx (or unsendable): do not retry */
	TW_SMTP_AMBIGUOUS, /**< the end of data left, then no answer (time-out, reset, close): the
			    *   server may or may not have taken it; nothing can tell */
};

/* Capabilities learned from EHLO. */
enum {
	TW_SMTP_CAP_PIPELINING = 1u << 0,
	TW_SMTP_CAP_STARTTLS = 1u << 1,
	TW_SMTP_CAP_8BITMIME = 1u << 2,
	TW_SMTP_CAP_SIZE = 1u << 3,
	TW_SMTP_CAP_AUTH_PLAIN = 1u << 4,
	TW_SMTP_CAP_AUTH_LOGIN = 1u << 5,
	TW_SMTP_CAP_EHLO = 1u << 6, /**< EHLO was accepted (else HELO) */
};

#define TW_SMTP_REPLY_MAX 4096  /* a whole (multi-line) reply, bytes */
#define TW_SMTP_LINE_MAX 1000   /* one reply line incl. CRLF (RFC 5321 allows 512) */
#define TW_SMTP_RBUF 4096       /* bytes read from the socket per pass */
#define TW_SMTP_TEXT_MAX 200    /* reply text kept per message */
#define TW_SMTP_ADDR_MAX 254
#define TW_SMTP_ID_MAX 64
#define TW_SMTP_ERR_LEN 256

/** One e-mail of a batch. The caller owns the strings until its outcome is reported. */
#define TW_SMTP_UNSUB_URL_MAX 900 /* fits a header line under RFC 5322's 998 octets */

struct tw_smtp_msg {
	const char *id;      /**< notification id: Message-ID <id@tickwatch>; [A-Za-z0-9._-]{1,64} */
	const char *to;      /**< recipient address (ASCII, no angle brackets) */
	const char *subject; /**< UTF-8 */
	const char *body;    /**< UTF-8, LF or CRLF line ends */
	int64_t date_ms;     /**< Date header, ms since the epoch (0: the HAL's wall clock) */
	/** NULL, or the recipient's one-click unsubscribe link (http(s)://, printable ASCII, at
	 * most TW_SMTP_UNSUB_URL_MAX bytes): List-Unsubscribe and List-Unsubscribe-Post
	 * (RFC 8058) headers and a footer line with the link. */
	const char *unsub_url;
	/** 1: multipart/alternative, the text (quoted-printable) and a small HTML part. */
	int html;
	/* results, set by the client */
	int outcome;         /**< enum tw_smtp_outcome */
	int attempted;       /**< 1 when MAIL FROM for it was sent in this session */
	int code;            /**< the deciding reply code (0: none, e.g. a reset) */
	char text[TW_SMTP_TEXT_MAX]; /**< the deciding reply or error, for logs and dead letters */
};

struct tw_smtp_opts {
	const char *host;
	uint16_t port;
	int mode;                  /**< enum tw_smtp_mode (core/config.h, the [smtp] mode key) */
	const char *user;          /**< "" or NULL: no AUTH */
	const char *password;
	const char *from;          /**< "addr" or "Name <addr>" */
	const char *helo;          /**< name given in EHLO/HELO */
	struct tw_tls_config *tls; /**< required for tls and starttls modes */
	int64_t timeout_ms;        /**< bound of every wait */
	size_t out_bytes;          /**< output buffer: the largest formatted e-mail */
	/** NULL, or: hold each message's end of data until tw_smtp_release_dot() (see above).
	 * Called with the batch's arg. */
	void (*on_before_dot)(struct tw_smtp *s, struct tw_smtp_msg *m, void *arg);
};

typedef void (*tw_smtp_msg_fn)(struct tw_smtp *s, struct tw_smtp_msg *m, void *arg);
typedef void (*tw_smtp_done_fn)(struct tw_smtp *s, int rc, const char *err, void *arg);

/* ---- replies (exposed for tests) ---- */

/** An incremental SMTP reply parser over a bounded buffer. */
struct tw_smtp_reply {
	int code;       /**< 3-digit code once complete */
	int complete;   /**< a whole reply (last line "NNN ") has been seen */
	size_t nlines;
	size_t len;     /**< bytes of text in buf: each line's text after "NNN-", '\n'-joined */
	char buf[TW_SMTP_REPLY_MAX];
	/* the line being assembled */
	char line[TW_SMTP_LINE_MAX];
	size_t line_len;
};

void tw_smtp_reply_reset(struct tw_smtp_reply *r);

/**
 * Feed @p len bytes; stops after a complete reply.
 * @return bytes consumed (the rest belongs to the next reply), or
 *         TW_ERR_SMTP_PROTO (malformed line, codes that differ between lines)
 *         or TW_ERR_SMTP_TOOLONG (a line or the reply over its bound).
 */
long tw_smtp_reply_feed(struct tw_smtp_reply *r, const char *data, size_t len);

/** Capabilities (TW_SMTP_CAP_*) and the SIZE limit (0: none) from a complete EHLO reply. */
unsigned tw_smtp_parse_ehlo(const struct tw_smtp_reply *r, uint64_t *size_limit);

/* ---- message formatting (exposed for tests) ---- */

/** 1 when @p a is a usable envelope address: core/email.h's rule (dot-atom local part,
 * LDH domain, RFC 5321 lengths), the one the ledger and registration apply, so an address the
 * notifier takes can always be recorded. */
int tw_smtp_addr_ok(const char *a);

/**
 * Format @p m as an RFC 5322 message (headers, then the body as 8bit when
 * @p eightbit and its lines allow it, else quoted-printable), CRLF line ends,
 * dot-stuffed when @p stuff, followed by the ".\r\n" terminator when @p stuff.
 * @p out may be NULL to measure. @p used_8bit (may be NULL) says which encoding.
 * @return the length (possibly > @p cap: nothing past cap is written), or a
 *         negative TW_ERR_SMTP_MESSAGE with text in @p err.
 */
long tw_smtp_format(const struct tw_smtp_msg *m, const char *from, int eightbit, int stuff,
		    char *out, size_t cap, int *used_8bit, char *err, size_t errlen);

/** Base64 of @p len bytes into @p out (NUL-terminated). @return length or -1 when too small. */
long tw_smtp_b64(const void *in, size_t len, char *out, size_t cap);

/* ---- the client ---- */

enum tw_smtp_state {
	TW_SMTP_S_IDLE = 0,
	TW_SMTP_S_CONNECT,   /* TCP connect in progress */
	TW_SMTP_S_HANDSHAKE, /* TLS handshake (implicit TLS, or after STARTTLS) */
	TW_SMTP_S_GREETING,  /* waiting for 220 */
	TW_SMTP_S_EHLO,
	TW_SMTP_S_HELO,
	TW_SMTP_S_STARTTLS,  /* waiting for 220 to STARTTLS */
	TW_SMTP_S_AUTH,      /* AUTH PLAIN, waiting for 235 */
	TW_SMTP_S_AUTH_USER, /* AUTH LOGIN, waiting for the 334 user-name prompt */
	TW_SMTP_S_AUTH_PASS, /* AUTH LOGIN, waiting for the 334 password prompt */
	TW_SMTP_S_AUTH_DONE, /* AUTH LOGIN, waiting for 235 */
	TW_SMTP_S_MAIL,      /* waiting for the reply to MAIL FROM */
	TW_SMTP_S_RCPT,      /* ... RCPT TO */
	TW_SMTP_S_DATA,      /* ... DATA (354) */
	TW_SMTP_S_HOLD,      /* body going out, the end of data held for tw_smtp_release_dot() */
	TW_SMTP_S_BODY,      /* ... the end of data (250) */
	TW_SMTP_S_RSET,
	TW_SMTP_S_QUIT,
	TW_SMTP_S_COUNT
};

struct tw_smtp_stats {
	uint64_t sessions, session_failures, sent, transient, permanent;
};

struct tw_smtp {
	/* private */
	struct tw_loop *loop;
	struct tw_smtp_opts o;
	char host[256];
	char helo[256];
	char user[128];
	char password[128];
	char from[256];
	char from_addr[TW_SMTP_ADDR_MAX + 1];
	int state;
	int fd;
	struct tw_connect conn; /* resolves the relay and tries its addresses (core/resolve.h) */
	struct tw_stream stream; /* in clear, then TLS (implicit, or after STARTTLS); session carved */
	long long timer;
	unsigned caps;
	uint64_t size_limit;
	int after_starttls;
	/* the batch */
	struct tw_smtp_msg *msgs;
	size_t n, cur;
	int cur_failed;       /* the current transaction failed before DATA */
	int need_rset;
	int use_8bit;
	int in_hook;          /* inside on_before_dot */
	int release;          /* 0: none yet, 1: ok, -1: refused (while in_hook) */
	int dot_gone;         /* the current message's end of data was wholly written */
	size_t dot_end;       /* out offset just past the released end of data (0: none pending) */
	int pre;              /* sent right after the end of data (PIPELINING): 0 nothing, 1 the
			       * next message's MAIL/RCPT/DATA, 2 QUIT (the last message's) */
	int pre_8bit;         /* pre == 1: that message goes as 8BITMIME */
	size_t wblocked;      /* length of the write that would block, until it completes */
	tw_smtp_msg_fn on_msg;
	tw_smtp_done_fn on_done;
	void *arg;
	int rc;               /* session error once failed */
	char err[TW_SMTP_ERR_LEN];
	/* buffers carved at init */
	char *out;
	size_t out_cap, out_len, out_off;
	char *rbuf;
	size_t rlen, roff;
	struct tw_smtp_reply *reply;
	int in_pump;
	unsigned gen;         /* bumped per batch and by abort: a pump on the stack then stops */
	struct tw_smtp_stats stats;
};

/**
 * Carve the buffers (@p o->out_bytes + the reply and read buffers) from
 * @p a and copy the options. @return 0, TW_ERR_NOMEM (text names the
 * [limits] key) or TW_ERR_ARG (bad option).
 */
int tw_smtp_init(struct tw_smtp *s, struct tw_loop *loop, struct tw_arena *a,
		 const struct tw_smtp_opts *o, char *err, size_t errlen);

/** Bytes tw_smtp_init() carves for @p out_bytes (for a role's budget). */
size_t tw_smtp_budget(size_t out_bytes);

/**
 * Start one session that sends @p n messages (their outcome fields are reset).
 * @return 0 (callbacks follow from the loop, never from inside this call),
 *         TW_ERR_SMTP_BUSY, or TW_ERR_ARG.
 */
int tw_smtp_send_batch(struct tw_smtp *s, struct tw_smtp_msg *msgs, size_t n,
		       tw_smtp_msg_fn on_msg, tw_smtp_done_fn on_done, void *arg);

/**
 * Let the held message @p m (see on_before_dot) end: @p ok 1 sends its end of
 * data, 0 fails the session (TW_ERR_SMTP_UNRECORDED). May be called from inside
 * on_before_dot. @return 0, or TW_ERR_ARG when @p m is not the message held now
 * (a late release after a time-out or an abort: nothing happens).
 */
int tw_smtp_release_dot(struct tw_smtp *s, struct tw_smtp_msg *m, int ok);

/** @return the message whose end of data is held now, or NULL. */
struct tw_smtp_msg *tw_smtp_held(const struct tw_smtp *s);

/** Drop the session at once, without callbacks (stop, or an abandoned batch). Safe when idle. */
void tw_smtp_abort(struct tw_smtp *s);

/** @return 1 while a batch runs. */
int tw_smtp_busy(const struct tw_smtp *s);

/** Name of a state, for logs and status. */
const char *tw_smtp_state_name(int state);

/** "sent", "transient", "permanent", "ambiguous" or "pending". */
const char *tw_smtp_outcome_name(int outcome);

#endif
