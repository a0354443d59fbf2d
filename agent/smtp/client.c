/* SPDX-License-Identifier: MIT */
/* client.c - the SMTP session state machine: connect, TLS/STARTTLS, EHLO/HELO, AUTH, a batch, QUIT. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/loop.h"
#include "smtp/smtp.h"
#include "tls/tls.h"

#define QUIT_WAIT_MS 5000 /* the 221 to QUIT is a courtesy: never wait longer */

static const char *const state_names[TW_SMTP_S_COUNT] = {
	"idle", "connect", "TLS handshake", "greeting", "EHLO", "HELO", "STARTTLS", "AUTH PLAIN",
	"AUTH LOGIN user", "AUTH LOGIN password", "AUTH LOGIN", "MAIL FROM", "RCPT TO", "DATA",
	"end of data held", "end of data", "RSET", "QUIT",
};

const char *tw_smtp_state_name(int state)
{
	return state >= 0 && state < TW_SMTP_S_COUNT ? state_names[state] : "?";
}

const char *tw_smtp_outcome_name(int outcome)
{
	switch (outcome) {
	case TW_SMTP_SENT: return "sent";
	case TW_SMTP_TRANSIENT: return "transient";
	case TW_SMTP_PERMANENT: return "permanent";
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
	memset(s, 0, sizeof *s);
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
		s->tls = tw_arena_carve(a, sizeof(struct tw_tls), "SMTP TLS session", "arena_kb");
	if (s->out == NULL || s->rbuf == NULL || s->reply == NULL ||
	    (o->mode != TW_SMTP_PLAIN && s->tls == NULL)) {
		snprintf(err, errlen, "%s", a->err);
		return TW_ERR_NOMEM;
	}
	s->out_cap = o->out_bytes;
	return TW_OK;
}

int tw_smtp_busy(const struct tw_smtp *s) { return s->state != TW_SMTP_S_IDLE; }

/* ---- connection plumbing ---- */

static int64_t on_timer(struct tw_loop *l, void *arg);
static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg);
static void pump(struct tw_smtp *s);

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

static void enter(struct tw_smtp *s, int state)
{
	s->state = state;
	arm(s, state == TW_SMTP_S_QUIT && s->o.timeout_ms > QUIT_WAIT_MS ? QUIT_WAIT_MS
									  : s->o.timeout_ms);
}

static void close_conn(struct tw_smtp *s)
{
	if (s->timer > 0)
		tw_loop_del_timer(s->loop, s->timer);
	s->timer = 0;
	if (s->tls_on || s->tls_started)
		tw_tls_free(s->tls);
	s->tls_on = 0;
	s->tls_started = 0;
	if (s->fd >= 0) {
		tw_loop_del_fd(s->loop, s->fd);
		tw_hal_close(s->fd);
	}
	s->fd = -1;
	s->out_len = s->out_off = 0;
	s->rlen = s->roff = 0;
}

/* Close and report the end of the batch. */
static void finish(struct tw_smtp *s)
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

static void report(struct tw_smtp *s, struct tw_smtp_msg *m, int outcome, int code,
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
	else if (outcome == TW_SMTP_TRANSIENT)
		s->stats.transient++;
	else
		s->stats.permanent++;
	if (s->on_msg)
		s->on_msg(s, m, s->arg);
}

/* The session failed: every message without an outcome is transient. */
static void fail(struct tw_smtp *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct tw_smtp *s, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	s->rc = rc;
	tw_log(TW_LOG_WARN, "smtp", "session with %s:%u failed: %s", s->host, (unsigned)s->o.port,
	       s->err);
	for (size_t i = s->cur; i < s->n; i++)
		report(s, &s->msgs[i], TW_SMTP_TRANSIENT, 0, s->err);
	finish(s);
}

static int queue(struct tw_smtp *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int queue(struct tw_smtp *s, const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t room = s->out_cap - s->out_len;

	va_start(ap, fmt);
	n = vsnprintf(s->out + s->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		fail(s, TW_ERR_NOMEM, "command does not fit the output buffer ([limits] smtp_buffer_kb)");
		return TW_ERR_NOMEM;
	}
	s->out_len += (size_t)n;
	return TW_OK;
}

static long io_read(struct tw_smtp *s, void *buf, size_t len, unsigned *want)
{
	long n;

	if (s->tls_on)
		return tw_tls_read(s->tls, buf, len, want);
	n = tw_hal_recv(s->fd, buf, len);
	*want = TW_HAL_READ;
	return n;
}

static long io_write(struct tw_smtp *s, const void *buf, size_t len, unsigned *want)
{
	long n;

	if (s->tls_on)
		return tw_tls_write(s->tls, buf, len, want);
	n = tw_hal_send(s->fd, buf, len);
	*want = TW_HAL_WRITE;
	return n;
}

static const char *io_error_text(long rc)
{
	switch (rc) {
	case TW_ERR_CLOSED: return "the server closed the connection";
	case TW_ERR_RESET: return "the connection was reset";
	case TW_ERR_TLS_IO: return "TLS record error";
	default: return "I/O error";
	}
}

/* ---- the protocol ---- */

static void next_message(struct tw_smtp *s);

static void start_tls(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];
	int rc = tw_tls_init(s->tls, s->o.tls, s->fd, s->host, err, sizeof err);

	if (rc != TW_OK) {
		fail(s, rc, "%s", err);
		return;
	}
	s->tls_started = 1;
	enter(s, TW_SMTP_S_HANDSHAKE);
	tw_loop_set_mask(s->loop, s->fd, TW_HAL_READ | TW_HAL_WRITE);
}

static void drive_handshake(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];
	unsigned want = 0;
	int rc = tw_tls_handshake(s->tls, &want, err, sizeof err);

	if (rc == TW_ERR_WOULD_BLOCK) {
		tw_loop_set_mask(s->loop, s->fd, want);
		return;
	}
	if (rc != TW_OK) {
		fail(s, rc, "TLS with %s: %s", s->host, err);
		return;
	}
	s->tls_on = 1;
	if (s->after_starttls) {
		queue(s, "EHLO %s\r\n", s->helo);
		enter(s, TW_SMTP_S_EHLO);
	} else {
		enter(s, TW_SMTP_S_GREETING);
	}
	pump(s);
}

static void connected(struct tw_smtp *s)
{
	if (s->o.mode == TW_SMTP_TLS) {
		start_tls(s);
		if (s->state == TW_SMTP_S_HANDSHAKE)
			drive_handshake(s);
		return;
	}
	enter(s, TW_SMTP_S_GREETING);
	pump(s);
}

static void start_connect(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];
	int fd = -1;
	int rc = tw_hal_tcp_connect_start(s->host, s->o.port, &fd, err, sizeof err);

	if (rc != TW_OK && rc != TW_ERR_WOULD_BLOCK) {
		if (fd >= 0)
			tw_hal_close(fd);
		fail(s, rc, "connect to %s:%u: %s", s->host, (unsigned)s->o.port, err);
		return;
	}
	s->fd = fd;
	if (tw_loop_add_fd(s->loop, fd, rc == TW_OK ? TW_HAL_READ : TW_HAL_WRITE, on_fd, s) !=
	    TW_OK) {
		fail(s, TW_ERR_NOMEM, "no free fd slot for the SMTP connection: raise [limits] max_fds");
		return;
	}
	enter(s, TW_SMTP_S_CONNECT);
	if (rc == TW_OK)
		connected(s);
}

static void after_hello(struct tw_smtp *s)
{
	if (s->o.mode == TW_SMTP_STARTTLS && !s->tls_on) {
		if (!(s->caps & TW_SMTP_CAP_STARTTLS)) {
			fail(s, TW_ERR_SMTP_NOTLS,
			     "%s does not offer STARTTLS ([smtp] mode = starttls never sends in clear)",
			     s->host);
			return;
		}
		if (queue(s, "STARTTLS\r\n") == TW_OK)
			enter(s, TW_SMTP_S_STARTTLS);
		return;
	}
	if (s->user[0]) {
		char raw[2 * 128 + 2], b64[sizeof raw * 4 / 3 + 8];
		size_t ul = strlen(s->user), pl = strlen(s->password);

		if (s->caps & TW_SMTP_CAP_AUTH_PLAIN) {
			raw[0] = '\0';
			memcpy(raw + 1, s->user, ul);
			raw[1 + ul] = '\0';
			memcpy(raw + 2 + ul, s->password, pl);
			tw_smtp_b64(raw, 2 + ul + pl, b64, sizeof b64);
			memset(raw, 0, sizeof raw);
			if (queue(s, "AUTH PLAIN %s\r\n", b64) == TW_OK)
				enter(s, TW_SMTP_S_AUTH);
			memset(b64, 0, sizeof b64);
		} else if (s->caps & TW_SMTP_CAP_AUTH_LOGIN) {
			if (queue(s, "AUTH LOGIN\r\n") == TW_OK)
				enter(s, TW_SMTP_S_AUTH_USER);
		} else {
			fail(s, TW_ERR_SMTP_AUTH,
			     "%s offers neither AUTH PLAIN nor AUTH LOGIN but [smtp] user is set",
			     s->host);
		}
		return;
	}
	next_message(s);
}

static int klass(int code) { return code / 100; }

/* Outcome of a failed reply to a message's transaction. */
static int outcome_of(int code) { return klass(code) == 5 ? TW_SMTP_PERMANENT : TW_SMTP_TRANSIENT; }

static void msg_failed(struct tw_smtp *s, const struct tw_smtp_reply *r, const char *step)
{
	char text[TW_SMTP_TEXT_MAX];

	snprintf(text, sizeof text, "%s: %d %.150s", step, r->code, r->buf);
	s->cur_failed = 1;
	s->need_rset = 1;
	report(s, &s->msgs[s->cur], outcome_of(r->code), r->code, text);
}

/* The transaction of the current message is over: go on with the next one. */
static void advance(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (r->code == 421) {
		s->cur++;
		fail(s, TW_ERR_SMTP_CLOSING, "the server is closing: %d %.150s", r->code, r->buf);
		return;
	}
	s->cur++;
	next_message(s);
}

static void next_message(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];

	if (s->need_rset) {
		if (queue(s, "RSET\r\n") == TW_OK)
			enter(s, TW_SMTP_S_RSET);
		return;
	}
	while (s->cur < s->n) {
		struct tw_smtp_msg *m = &s->msgs[s->cur];
		int eight = (s->caps & TW_SMTP_CAP_8BITMIME) != 0;
		int as8 = 0;
		long len = tw_smtp_format(m, s->from, eight, 1, NULL, 0, &as8, err, sizeof err);
		char size[40] = "";

		if (len < 0) {
			report(s, m, TW_SMTP_PERMANENT, 0, err);
		} else if ((size_t)len > s->out_cap) {
			snprintf(err, sizeof err, "e-mail of %ld bytes exceeds [limits] smtp_buffer_kb",
				 len);
			report(s, m, TW_SMTP_PERMANENT, 0, err);
		} else if (s->size_limit && (uint64_t)len > s->size_limit) {
			snprintf(err, sizeof err, "e-mail of %ld bytes exceeds the server's SIZE %llu",
				 len, (unsigned long long)s->size_limit);
			report(s, m, TW_SMTP_PERMANENT, 0, err);
		} else {
			m->attempted = 1;
			s->cur_failed = 0;
			s->use_8bit = as8;
			if (s->caps & TW_SMTP_CAP_SIZE)
				snprintf(size, sizeof size, " SIZE=%ld", len);
			if (queue(s, "MAIL FROM:<%s>%s%s\r\n", s->from_addr,
				  as8 ? " BODY=8BITMIME" : "", size) != TW_OK)
				return;
			if (s->caps & TW_SMTP_CAP_PIPELINING) {
				if (queue(s, "RCPT TO:<%s>\r\nDATA\r\n", m->to) != TW_OK)
					return;
			}
			enter(s, TW_SMTP_S_MAIL);
			return;
		}
		s->cur++;
	}
	if (queue(s, "QUIT\r\n") == TW_OK)
		enter(s, TW_SMTP_S_QUIT);
}

/* The end of data: the ".\r\n" after the body's last CRLF (tw_smtp_format() ends with it). */
#define DOT_LEN 3

static void release_now(struct tw_smtp *s, int ok)
{
	if (!ok) {
		fail(s, TW_ERR_SMTP_UNRECORDED, "the end of data of %s was not released (its record "
		     "could not be written)", s->msgs[s->cur].id);
		return;
	}
	/* The terminator was formatted in place and held back: the buffer has room for it. */
	memcpy(s->out + s->out_len, ".\r\n", DOT_LEN);
	s->out_len += DOT_LEN;
	enter(s, TW_SMTP_S_BODY);
}

/* The body (formatted with its terminator) is queued: take the terminator back, ask the caller,
 * and wait for tw_smtp_release_dot() while the body goes out. */
static void hold(struct tw_smtp *s)
{
	unsigned gen = s->gen;
	int rel;

	s->out_len -= DOT_LEN;
	s->release = 0;
	enter(s, TW_SMTP_S_HOLD);
	s->in_hook = 1;
	s->o.on_before_dot(s, &s->msgs[s->cur], s->arg);
	s->in_hook = 0;
	rel = s->release;
	s->release = 0;
	if (s->gen != gen || s->state != TW_SMTP_S_HOLD || rel == 0)
		return;
	release_now(s, rel > 0);
}

int tw_smtp_release_dot(struct tw_smtp *s, struct tw_smtp_msg *m, int ok)
{
	if (s->state != TW_SMTP_S_HOLD || m == NULL || m != &s->msgs[s->cur])
		return TW_ERR_ARG;
	if (s->in_hook) {
		s->release = ok ? 1 : -1;
		return TW_OK;
	}
	release_now(s, ok);
	if (s->state != TW_SMTP_S_IDLE)
		pump(s);
	return TW_OK;
}

struct tw_smtp_msg *tw_smtp_held(const struct tw_smtp *s)
{
	return s->state == TW_SMTP_S_HOLD ? &s->msgs[s->cur] : NULL;
}

static void on_reply(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	int pipelined = (s->caps & TW_SMTP_CAP_PIPELINING) != 0;
	char b64[200];

	switch (s->state) {
	case TW_SMTP_S_GREETING:
		if (klass(r->code) != 2) {
			fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_REJECTED,
			     "greeting: %d %.150s", r->code, r->buf);
			return;
		}
		if (queue(s, "EHLO %s\r\n", s->helo) == TW_OK)
			enter(s, TW_SMTP_S_EHLO);
		return;
	case TW_SMTP_S_EHLO:
		if (klass(r->code) == 2) {
			s->caps = tw_smtp_parse_ehlo(r, &s->size_limit);
			after_hello(s);
		} else if (klass(r->code) == 5 && !s->tls_on) {
			/* An old server: HELO, and no extensions. */
			if (queue(s, "HELO %s\r\n", s->helo) == TW_OK)
				enter(s, TW_SMTP_S_HELO);
		} else {
			fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_REJECTED,
			     "EHLO: %d %.150s", r->code, r->buf);
		}
		return;
	case TW_SMTP_S_HELO:
		if (klass(r->code) != 2) {
			fail(s, TW_ERR_SMTP_REJECTED, "HELO: %d %.150s", r->code, r->buf);
			return;
		}
		s->caps = 0;
		s->size_limit = 0;
		after_hello(s);
		return;
	case TW_SMTP_S_STARTTLS:
		if (r->code != 220) {
			fail(s, TW_ERR_SMTP_NOTLS, "STARTTLS: %d %.150s", r->code, r->buf);
			return;
		}
		if (s->roff < s->rlen) {
			/* Bytes sent before the handshake would be trusted after it. */
			fail(s, TW_ERR_SMTP_PROTO, "data after the STARTTLS reply (injection attempt?)");
			return;
		}
		s->after_starttls = 1;
		s->caps = 0;
		start_tls(s);
		if (s->state == TW_SMTP_S_HANDSHAKE)
			drive_handshake(s);
		return;
	case TW_SMTP_S_AUTH:
	case TW_SMTP_S_AUTH_DONE:
		if (r->code != 235) {
			fail(s, TW_ERR_SMTP_AUTH, "AUTH: %d %.150s", r->code, r->buf);
			return;
		}
		next_message(s);
		return;
	case TW_SMTP_S_AUTH_USER:
	case TW_SMTP_S_AUTH_PASS: {
		const char *v = s->state == TW_SMTP_S_AUTH_USER ? s->user : s->password;

		if (r->code != 334) {
			fail(s, TW_ERR_SMTP_AUTH, "AUTH LOGIN: %d %.150s", r->code, r->buf);
			return;
		}
		tw_smtp_b64(v, strlen(v), b64, sizeof b64);
		if (queue(s, "%s\r\n", b64) == TW_OK)
			enter(s, s->state == TW_SMTP_S_AUTH_USER ? TW_SMTP_S_AUTH_PASS
								 : TW_SMTP_S_AUTH_DONE);
		memset(b64, 0, sizeof b64);
		return;
	}
	case TW_SMTP_S_MAIL:
		if (klass(r->code) != 2)
			msg_failed(s, r, "MAIL FROM");
		/* Pipelined: the RCPT reply is on the way, whatever this one said. */
		if (!pipelined && s->cur_failed) {
			advance(s, r);
			return;
		}
		if (!pipelined && queue(s, "RCPT TO:<%s>\r\n", s->msgs[s->cur].to) != TW_OK)
			return;
		enter(s, TW_SMTP_S_RCPT);
		return;
	case TW_SMTP_S_RCPT:
		if (klass(r->code) != 2 && !s->cur_failed)
			msg_failed(s, r, "RCPT TO");
		if (!pipelined && s->cur_failed) {
			advance(s, r);
			return;
		}
		if (!pipelined && queue(s, "DATA\r\n") != TW_OK)
			return;
		enter(s, TW_SMTP_S_DATA);
		return;
	case TW_SMTP_S_DATA:
		if (r->code != 354) {
			if (!s->cur_failed)
				msg_failed(s, r, "DATA");
			advance(s, r);
			return;
		}
		if (s->cur_failed) {
			/* DATA accepted although the transaction failed: end it empty. */
			if (queue(s, ".\r\n") == TW_OK)
				enter(s, TW_SMTP_S_BODY);
			return;
		}
		{
			char err[TW_SMTP_ERR_LEN];
			long len = tw_smtp_format(&s->msgs[s->cur], s->from, s->use_8bit, 1,
						  s->out + s->out_len, s->out_cap - s->out_len,
						  NULL, err, sizeof err);

			if (len < (long)DOT_LEN || (size_t)len > s->out_cap - s->out_len) {
				fail(s, TW_ERR_SMTP_MESSAGE, "formatting the e-mail failed");
				return;
			}
			s->out_len += (size_t)len;
		}
		if (s->o.on_before_dot)
			hold(s);
		else
			enter(s, TW_SMTP_S_BODY);
		return;
	case TW_SMTP_S_BODY:
		if (!s->cur_failed) {
			if (klass(r->code) == 2) {
				char text[TW_SMTP_TEXT_MAX];

				snprintf(text, sizeof text, "%d %.150s", r->code, r->buf);
				report(s, &s->msgs[s->cur], TW_SMTP_SENT, r->code, text);
			} else {
				msg_failed(s, r, "end of data");
				s->need_rset = 0; /* the transaction is over either way */
			}
		}
		advance(s, r);
		return;
	case TW_SMTP_S_HOLD:
		/* Nothing is outstanding while the end of data is held: only a 421 is expected. */
		fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_PROTO,
		     "reply %d %.150s while the end of data was held", r->code, r->buf);
		return;
	case TW_SMTP_S_RSET:
		if (klass(r->code) != 2) {
			fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_PROTO,
			     "RSET: %d %.150s", r->code, r->buf);
			return;
		}
		s->need_rset = 0;
		next_message(s);
		return;
	case TW_SMTP_S_QUIT:
		finish(s);
		return;
	default:
		fail(s, TW_ERR_SMTP_PROTO, "unexpected reply %d in state %s", r->code,
		     tw_smtp_state_name(s->state));
		return;
	}
}

/* Write what is queued, read and dispatch replies, until the socket would block. */
static void pump(struct tw_smtp *s)
{
	unsigned gen = s->gen;

	if (s->in_pump)
		return;
	s->in_pump = 1;
	while (s->state > TW_SMTP_S_HANDSHAKE && s->gen == gen) {
		unsigned want = 0;
		long n;

		if (s->out_off < s->out_len) {
			n = io_write(s, s->out + s->out_off, s->out_len - s->out_off, &want);
			if (n == TW_ERR_WOULD_BLOCK) {
				tw_loop_set_mask(s->loop, s->fd, want);
				break;
			}
			if (n <= 0) {
				fail(s, n < 0 ? (int)n : TW_ERR_IO, "sending in state %s: %s",
				     tw_smtp_state_name(s->state), io_error_text(n));
				break;
			}
			s->out_off += (size_t)n;
			if (s->out_off == s->out_len)
				s->out_off = s->out_len = 0;
			continue;
		}
		if (s->roff < s->rlen) {
			long used = tw_smtp_reply_feed(s->reply, s->rbuf + s->roff, s->rlen - s->roff);

			if (used < 0) {
				fail(s, (int)used, "%s reply in state %s",
				     used == TW_ERR_SMTP_TOOLONG ? "oversized" : "malformed",
				     tw_smtp_state_name(s->state));
				break;
			}
			s->roff += (size_t)used;
			if (s->reply->complete) {
				on_reply(s, s->reply);
				tw_smtp_reply_reset(s->reply);
			}
			continue;
		}
		s->roff = s->rlen = 0;
		n = io_read(s, s->rbuf, TW_SMTP_RBUF, &want);
		if (n == TW_ERR_WOULD_BLOCK) {
			tw_loop_set_mask(s->loop, s->fd, want);
			break;
		}
		if (n <= 0) {
			if (s->state == TW_SMTP_S_QUIT) {
				finish(s); /* the server closed after QUIT: fine */
				break;
			}
			fail(s, n < 0 ? (int)n : TW_ERR_CLOSED, "waiting for %s reply: %s",
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
	char err[TW_SMTP_ERR_LEN];

	(void)l;
	if (fd != s->fd)
		return;
	if (s->state == TW_SMTP_S_CONNECT) {
		int rc;

		if (!(ready & (TW_HAL_WRITE | TW_HAL_ERROR)))
			return;
		rc = tw_hal_tcp_connect_finish(fd, err, sizeof err);
		if (rc != TW_OK) {
			fail(s, rc, "connect to %s:%u: %s", s->host, (unsigned)s->o.port, err);
			return;
		}
		tw_loop_set_mask(s->loop, fd, TW_HAL_READ);
		connected(s);
		return;
	}
	if (s->state == TW_SMTP_S_HANDSHAKE) {
		drive_handshake(s);
		return;
	}
	pump(s);
}

static int64_t on_timer(struct tw_loop *l, void *arg)
{
	struct tw_smtp *s = arg;

	(void)l;
	s->timer = 0;
	if (s->state == TW_SMTP_S_CONNECT && s->fd < 0) {
		start_connect(s);
	} else if (s->state == TW_SMTP_S_QUIT) {
		finish(s);
	} else if (s->state != TW_SMTP_S_IDLE) {
		fail(s, TW_ERR_TIMEOUT, "no progress in state %s within %lld ms",
		     tw_smtp_state_name(s->state), (long long)s->o.timeout_ms);
	}
	return TW_TIMER_STOP;
}

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
