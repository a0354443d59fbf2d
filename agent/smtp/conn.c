/* SPDX-License-Identifier: MIT */
/* conn.c - the SMTP session's plumbing: options and buffers, connect, the plain/TLS stream,
 * time-outs, the pump between the output buffer and the reply parser, a batch's start and end. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/outage.h"
#include "core/resolve.h"
#include "smtp/smtp_int.h"
#include "tls/tls.h"

#define QUIT_WAIT_MS 5000 /* the 221 to QUIT is a courtesy: never wait longer */

const char *tw_smtp_outcome_name(int outcome)
{
	switch (outcome) {
	case TW_SMTP_SENT: return "sent";
	case TW_SMTP_TRANSIENT: return "transient";
	case TW_SMTP_PERMANENT: return "permanent";
	case TW_SMTP_AMBIGUOUS: return "ambiguous";
	default: return "pending";
	}
}

size_t tw_smtp_budget(size_t out_bytes)
{
	return out_bytes + TW_SMTP_RBUF + sizeof(struct tw_smtp_reply) + sizeof(struct tw_tls) + 256;
}

static int copy_opt(char *dst, size_t cap, const char *src, const char *what, char *err,
		    size_t errlen)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap) {
		snprintf(err, errlen, "smtp: %s longer than %zu bytes", what, cap - 1);
		return TW_ERR_ARG;
	}
	memcpy(dst, src ? src : "", n + 1);
	return TW_OK;
}

/* The envelope address of "addr" or "Name <addr>". */
static int from_address(const char *from, char *out, size_t cap)
{
	const char *lt = strrchr(from, '<');
	const char *gt = lt ? strchr(lt, '>') : NULL;
	size_t n;

	if (lt && gt) {
		n = (size_t)(gt - lt - 1);
		from = lt + 1;
	} else {
		n = strlen(from);
	}
	if (n >= cap)
		return TW_ERR_ARG;
	memcpy(out, from, n);
	out[n] = '\0';
	return tw_smtp_addr_ok(out) ? TW_OK : TW_ERR_ARG;
}

int tw_smtp_init(struct tw_smtp *s, struct tw_loop *loop, struct tw_arena *a,
		 const struct tw_smtp_opts *o, char *err, size_t errlen)
{
	struct tw_tls *tls = NULL;

	memset(s, 0, sizeof *s);
	tw_stream_init(&s->stream, NULL, NULL);
	s->fd = -1;
	s->loop = loop;
	s->o = *o;
	if (copy_opt(s->host, sizeof s->host, o->host, "host", err, errlen) ||
	    copy_opt(s->helo, sizeof s->helo, o->helo && o->helo[0] ? o->helo : "tickwatch",
		     "EHLO name", err, errlen) ||
	    copy_opt(s->user, sizeof s->user, o->user, "user", err, errlen) ||
	    copy_opt(s->password, sizeof s->password, o->password, "password", err, errlen) ||
	    copy_opt(s->from, sizeof s->from, o->from, "from", err, errlen))
		return TW_ERR_ARG;
	if (from_address(s->from, s->from_addr, sizeof s->from_addr) != TW_OK) {
		snprintf(err, errlen, "[smtp] from: '%.100s' is not an address or 'Name <address>'",
			 s->from);
		return TW_ERR_ARG;
	}
	if (o->mode != TW_SMTP_PLAIN && o->tls == NULL) {
		snprintf(err, errlen, "smtp: tls and starttls modes need a TLS configuration");
		return TW_ERR_ARG;
	}
	if (o->timeout_ms <= 0 || o->out_bytes < 1024) {
		snprintf(err, errlen, "smtp: time-out and output buffer must be positive");
		return TW_ERR_ARG;
	}
	s->out = tw_arena_carve(a, o->out_bytes, "SMTP output buffer", "smtp_buffer_kb");
	s->rbuf = tw_arena_carve(a, TW_SMTP_RBUF, "SMTP read buffer", "arena_kb");
	s->reply = tw_arena_carve(a, sizeof *s->reply, "SMTP reply buffer", "arena_kb");
	if (o->mode != TW_SMTP_PLAIN)
		tls = tw_arena_carve(a, sizeof *tls, "SMTP TLS session", "arena_kb");
	if (s->out == NULL || s->rbuf == NULL || s->reply == NULL ||
	    (o->mode != TW_SMTP_PLAIN && tls == NULL)) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	/* plain mode: a stream without TLS, so nothing can switch it on by mistake */
	tw_stream_init(&s->stream, tls ? o->tls : NULL, tls);
	s->out_cap = o->out_bytes;
	return TW_OK;
}

int tw_smtp_busy(const struct tw_smtp *s) { return s->state != TW_SMTP_S_IDLE; }

/* ---- time-outs, the end of a session, outcomes ---- */

static int64_t on_timer(struct tw_loop *l, void *arg);
static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg);

static void arm(struct tw_smtp *s, int64_t ms)
{
	if (s->timer > 0)
		tw_loop_del_timer(s->loop, s->timer);
	s->timer = tw_loop_add_timer(s->loop, ms, on_timer, s);
	if (s->timer < 0) {
		tw_log(TW_LOG_ERROR, "smtp", "no free timer for the SMTP time-out: raise [limits] max_timers");
		s->timer = 0;
	}
}

void tw_smtp_enter(struct tw_smtp *s, int state)
{
	s->state = state;
	arm(s, state == TW_SMTP_S_QUIT && s->o.timeout_ms > QUIT_WAIT_MS ? QUIT_WAIT_MS
									  : s->o.timeout_ms);
}

static void close_conn(struct tw_smtp *s)
{
	tw_connect_cancel(&s->conn);
	if (s->timer > 0)
		tw_loop_del_timer(s->loop, s->timer);
	s->timer = 0;
	tw_stream_close(&s->stream); /* TLS: close_notify while the socket is still open */
	if (s->fd >= 0) {
		tw_loop_del_fd(s->loop, s->fd);
		tw_hal_close(s->fd);
	}
	s->fd = -1;
	s->out_len = s->out_off = 0;
	s->wblocked = 0;
	s->rlen = s->roff = 0;
}

void tw_smtp_finish(struct tw_smtp *s)
{
	tw_smtp_done_fn done = s->on_done;
	int rc = s->rc;

	close_conn(s);
	s->state = TW_SMTP_S_IDLE;
	if (rc != TW_OK)
		s->stats.session_failures++;
	if (done)
		done(s, rc, rc != TW_OK ? s->err : "", s->arg);
}

void tw_smtp_report(struct tw_smtp *s, struct tw_smtp_msg *m, int outcome, int code,
		    const char *text)
{
	if (m->outcome != TW_SMTP_PENDING)
		return;
	m->outcome = outcome;
	m->code = code;
	{
		size_t n = strnlen(text, sizeof m->text - 1); /* long texts are cut */

		memcpy(m->text, text, n);
		m->text[n] = '\0';
	}
	if (outcome == TW_SMTP_SENT)
		s->stats.sent++;
	else if (outcome == TW_SMTP_TRANSIENT || outcome == TW_SMTP_AMBIGUOUS)
		s->stats.transient++;
	else
		s->stats.permanent++;
	if (s->on_msg)
		s->on_msg(s, m, s->arg);
}

void tw_smtp_fail(struct tw_smtp *s, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	s->rc = rc;
	tw_log(TW_LOG_WARN, "smtp", "session with %s:%u failed: %s", s->host, (unsigned)s->o.port,
	       s->err);
	if (s->state == TW_SMTP_S_BODY && s->dot_gone && s->cur < s->n) {
		char text[TW_SMTP_TEXT_MAX];

		snprintf(text, sizeof text, "no answer to the end of data: %.150s", s->err);
		tw_smtp_report(s, &s->msgs[s->cur], TW_SMTP_AMBIGUOUS, 0, text);
	}
	for (size_t i = s->cur; i < s->n; i++)
		tw_smtp_report(s, &s->msgs[i], TW_SMTP_TRANSIENT, 0, s->err);
	tw_smtp_finish(s);
}

int tw_smtp_queue(struct tw_smtp *s, const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t room = s->out_cap - s->out_len;

	va_start(ap, fmt);
	n = vsnprintf(s->out + s->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		tw_smtp_fail(s, TW_ERR_NOMEM,
			     "command does not fit the output buffer ([limits] smtp_buffer_kb)");
		return TW_ERR_NOMEM;
	}
	s->out_len += (size_t)n;
	return TW_OK;
}

/* ---- the connection and its stream ---- */

static const char *io_error_text(long rc)
{
	switch (rc) {
	case TW_ERR_CLOSED: return "the server closed the connection";
	case TW_ERR_RESET: return "the connection was reset";
	case TW_ERR_TLS_IO: return "TLS record error";
	default: return "I/O error";
	}
}

static void drive_handshake(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];
	unsigned want = 0;
	int rc = tw_stream_handshake(&s->stream, &want, err, sizeof err);

	if (rc == TW_ERR_WOULD_BLOCK) {
		tw_loop_set_mask(s->loop, s->fd, want);
		return;
	}
	if (rc != TW_OK) {
		tw_smtp_fail(s, rc, "TLS with %s: %s", s->host, err);
		return;
	}
	tw_smtp_stream_ready(s);
	tw_smtp_pump(s);
}

void tw_smtp_start_tls(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];
	int rc = tw_stream_start_tls(&s->stream, s->host, err, sizeof err);

	if (rc != TW_OK) {
		tw_smtp_fail(s, rc, "%s", err);
		return;
	}
	tw_smtp_enter(s, TW_SMTP_S_HANDSHAKE);
	tw_loop_set_mask(s->loop, s->fd, TW_HAL_READ | TW_HAL_WRITE);
	drive_handshake(s);
}

static void connected(struct tw_smtp *s)
{
	if (s->o.mode == TW_SMTP_TLS) {
		tw_smtp_start_tls(s);
		return;
	}
	tw_smtp_stream_ready(s);
	tw_smtp_pump(s);
}

/* The connector resolved the relay's name off the loop and tried each address in turn. */
static void on_connected(struct tw_connect *cn, int rc, int fd, const char *err, void *arg)
{
	struct tw_smtp *s = arg;

	(void)cn;
	if (rc != TW_OK) {
		tw_outage_begin("smtp relay", err);
		tw_smtp_fail(s, rc, "connect to %s:%u: %s", s->host, (unsigned)s->o.port, err);
		return;
	}
	tw_outage_end("smtp relay");
	s->fd = fd;
	tw_stream_open(&s->stream, fd);
	if (tw_loop_add_fd(s->loop, fd, TW_HAL_READ, on_fd, s) != TW_OK) {
		tw_smtp_fail(s, TW_ERR_NOMEM,
			     "no free fd slot for the SMTP connection: raise [limits] max_fds");
		return;
	}
	tw_smtp_enter(s, TW_SMTP_S_CONNECT); /* the greeting's time-out starts now */
	connected(s);
}

static void start_connect(struct tw_smtp *s)
{
	int rc;

	tw_smtp_enter(s, TW_SMTP_S_CONNECT);
	/* The connector bounds the look-up and the connects with the same time-out. */
	if (s->timer > 0)
		tw_loop_del_timer(s->loop, s->timer);
	s->timer = 0;
	rc = tw_connect_start(&s->conn, NULL, s->loop, s->host, s->o.port, s->o.timeout_ms,
			      on_connected, s);
	if (rc != TW_OK)
		tw_smtp_fail(s, rc, "connect to %s:%u: %s", s->host, (unsigned)s->o.port,
			     s->conn.err);
}

/* ---- the pump ---- */

void tw_smtp_pump(struct tw_smtp *s)
{
	unsigned gen = s->gen;

	if (s->in_pump)
		return;
	s->in_pump = 1;
	while (s->state > TW_SMTP_S_HANDSHAKE && s->gen == gen) {
		unsigned want = 0;
		long n;

		if (s->out_off < s->out_len) {
			/* The end of data may be appended (tw_smtp_release_dot) while a write is
			 * blocked: its retry keeps the blocked call's length (Mbed TLS' rule), and
			 * the appended bytes go in the next call. */
			size_t len = s->out_len - s->out_off;

			if (s->wblocked && s->wblocked < len)
				len = s->wblocked;
			n = tw_stream_write(&s->stream, s->out + s->out_off, len, &want);
			if (n == TW_ERR_WOULD_BLOCK) {
				s->wblocked = len;
				tw_loop_set_mask(s->loop, s->fd, want);
				break;
			}
			s->wblocked = 0;
			if (n <= 0) {
				tw_smtp_fail(s, n < 0 ? (int)n : TW_ERR_IO, "sending in state %s: %s",
					     tw_smtp_state_name(s->state), io_error_text(n));
				break;
			}
			s->out_off += (size_t)n;
			/* The end of data and everything before it are out (what PIPELINING put
			 * behind it may not be): from now its fate is the server's. */
			if (s->state == TW_SMTP_S_BODY && !s->cur_failed && s->dot_end &&
			    s->out_off >= s->dot_end) {
				s->dot_gone = 1;
				s->dot_end = 0;
			}
			if (s->out_off == s->out_len) {
				s->out_off = s->out_len = 0;
				/* Everything queued is out, the end of data of the current message
				 * with it: from now its fate is the server's. */
				if (s->state == TW_SMTP_S_BODY && !s->cur_failed)
					s->dot_gone = 1;
				s->dot_end = 0;
			}
			continue;
		}
		if (s->roff < s->rlen) {
			long used = tw_smtp_reply_feed(s->reply, s->rbuf + s->roff, s->rlen - s->roff);

			if (used < 0) {
				tw_smtp_fail(s, (int)used, "%s reply in state %s",
					     used == TW_ERR_SMTP_TOOLONG ? "oversized" : "malformed",
					     tw_smtp_state_name(s->state));
				break;
			}
			s->roff += (size_t)used;
			if (s->reply->complete) {
				tw_smtp_on_reply(s, s->reply);
				tw_smtp_reply_reset(s->reply);
			}
			continue;
		}
		s->roff = s->rlen = 0;
		n = tw_stream_read(&s->stream, s->rbuf, TW_SMTP_RBUF, &want);
		if (n == TW_ERR_WOULD_BLOCK) {
			tw_loop_set_mask(s->loop, s->fd, want);
			break;
		}
		if (n <= 0) {
			if (s->state == TW_SMTP_S_QUIT) {
				tw_smtp_finish(s); /* the server closed after QUIT: fine */
				break;
			}
			tw_smtp_fail(s, n < 0 ? (int)n : TW_ERR_CLOSED, "waiting for %s reply: %s",
				     tw_smtp_state_name(s->state), io_error_text(n));
			break;
		}
		s->rlen = (size_t)n;
	}
	s->in_pump = 0;
}

static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_smtp *s = arg;

	(void)l;
	(void)ready;
	if (fd != s->fd)
		return;
	if (s->state == TW_SMTP_S_HANDSHAKE) {
		drive_handshake(s);
		return;
	}
	tw_smtp_pump(s);
}

static int64_t on_timer(struct tw_loop *l, void *arg)
{
	struct tw_smtp *s = arg;

	(void)l;
	s->timer = 0;
	if (s->state == TW_SMTP_S_CONNECT && s->fd < 0 && !tw_connect_busy(&s->conn)) {
		start_connect(s);
	} else if (s->state == TW_SMTP_S_QUIT) {
		tw_smtp_finish(s);
	} else if (s->state != TW_SMTP_S_IDLE) {
		tw_smtp_fail(s, TW_ERR_TIMEOUT, "no progress in state %s within %lld ms",
			     tw_smtp_state_name(s->state), (long long)s->o.timeout_ms);
	}
	return TW_TIMER_STOP;
}

/* ---- a batch ---- */

int tw_smtp_send_batch(struct tw_smtp *s, struct tw_smtp_msg *msgs, size_t n,
		       tw_smtp_msg_fn on_msg, tw_smtp_done_fn on_done, void *arg)
{
	if (s->state != TW_SMTP_S_IDLE)
		return TW_ERR_SMTP_BUSY;
	if (msgs == NULL || n == 0)
		return TW_ERR_ARG;
	for (size_t i = 0; i < n; i++) {
		msgs[i].outcome = TW_SMTP_PENDING;
		msgs[i].attempted = 0;
		msgs[i].code = 0;
		msgs[i].text[0] = '\0';
	}
	s->msgs = msgs;
	s->n = n;
	s->cur = 0;
	s->cur_failed = s->need_rset = 0;
	s->in_hook = s->release = 0;
	s->dot_gone = 0;
	s->dot_end = 0;
	s->pre = s->pre_8bit = 0;
	s->wblocked = 0;
	s->on_msg = on_msg;
	s->on_done = on_done;
	s->arg = arg;
	s->rc = TW_OK;
	s->err[0] = '\0';
	s->caps = 0;
	s->size_limit = 0;
	s->after_starttls = 0;
	s->out_len = s->out_off = 0;
	s->rlen = s->roff = 0;
	tw_smtp_reply_reset(s->reply);
	s->stats.sessions++;
	s->gen++;
	/* Connect from a 0 ms timer: callbacks never run inside this call. */
	s->state = TW_SMTP_S_CONNECT;
	s->fd = -1;
	arm(s, 0);
	return TW_OK;
}

void tw_smtp_abort(struct tw_smtp *s)
{
	if (s->state == TW_SMTP_S_IDLE)
		return;
	close_conn(s);
	s->state = TW_SMTP_S_IDLE;
	s->gen++; /* a pump still on the stack sees it and stops */
}
