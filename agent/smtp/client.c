/* SPDX-License-Identifier: MIT */
/* client.c - the SMTP dialogue: one reply handler per state (greeting, EHLO/HELO, STARTTLS, AUTH,
 * MAIL/RCPT/DATA, the held end of data, RSET, QUIT) and what to send next. */
#include <stdio.h>
#include <string.h>

#include "smtp/smtp_int.h"

static int klass(int code) { return code / 100; }

/* Outcome of a failed reply to a message's transaction. */
static int outcome_of(int code) { return klass(code) == 5 ? TW_SMTP_PERMANENT : TW_SMTP_TRANSIENT; }

/* ---- what to send next ---- */

static void next_message(struct tw_smtp *s);

/* Output room that always holds MAIL FROM (8BITMIME, SIZE), RCPT TO and DATA, bytes. */
#define PRE_ROOM (2 * TW_SMTP_ADDR_MAX + 128)

/* MAIL FROM for @p m (formatted: @p len bytes, 8BITMIME when @p as8), and with PIPELINING its
 * RCPT TO and DATA too. @return 0, or TW_ERR_NOMEM after failing the session. */
static int queue_mail(struct tw_smtp *s, const struct tw_smtp_msg *m, long len, int as8)
{
	char size[40] = "";

	if (s->caps & TW_SMTP_CAP_SIZE)
		snprintf(size, sizeof size, " SIZE=%ld", len);
	if (tw_smtp_queue(s, "MAIL FROM:<%s>%s%s\r\n", s->from_addr, as8 ? " BODY=8BITMIME" : "",
			  size) != TW_OK)
		return TW_ERR_NOMEM;
	if ((s->caps & TW_SMTP_CAP_PIPELINING) &&
	    tw_smtp_queue(s, "RCPT TO:<%s>\r\nDATA\r\n", m->to) != TW_OK)
		return TW_ERR_NOMEM;
	return TW_OK;
}

/* PIPELINING: right behind a released end of data, what follows it whatever its reply says
 * (the transaction ends with that reply, so no RSET): the next message's MAIL/RCPT/DATA when
 * it can be sent, or QUIT after the last. Nothing when the next one needs a look first (it
 * cannot be formatted, or is too large: next_message() reports it in its turn). */
static void queue_after_dot(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];
	size_t next = s->cur + 1;

	s->pre = 0;
	/* (room for the longest MAIL/RCPT/DATA: else it goes in its turn, never a failure) */
	if (!(s->caps & TW_SMTP_CAP_PIPELINING) || s->out_cap - s->out_len < PRE_ROOM)
		return;
	if (next >= s->n) {
		if (tw_smtp_queue(s, "QUIT\r\n") == TW_OK)
			s->pre = 2;
		return;
	}
	{
		const struct tw_smtp_msg *m = &s->msgs[next];
		int as8 = 0;
		long len = tw_smtp_format(m, s->from, (s->caps & TW_SMTP_CAP_8BITMIME) != 0, 1, NULL,
					  0, &as8, err, sizeof err);

		if (len < 0 || (size_t)len > s->out_cap ||
		    (s->size_limit && (uint64_t)len > s->size_limit))
			return;
		if (queue_mail(s, m, len, as8) == TW_OK) {
			s->pre = 1;
			s->pre_8bit = as8;
		}
	}
}

void tw_smtp_stream_ready(struct tw_smtp *s)
{
	if (!s->after_starttls) {
		tw_smtp_enter(s, TW_SMTP_S_GREETING);
		return;
	}
	/* RFC 3207: forget what was learned in clear and say EHLO again. */
	if (tw_smtp_queue(s, "EHLO %s\r\n", s->helo) == TW_OK)
		tw_smtp_enter(s, TW_SMTP_S_EHLO);
}

static void after_hello(struct tw_smtp *s)
{
	if (s->o.mode == TW_SMTP_STARTTLS && !tw_stream_is_tls(&s->stream)) {
		if (!(s->caps & TW_SMTP_CAP_STARTTLS)) {
			tw_smtp_fail(s, TW_ERR_SMTP_NOTLS,
				     "%s does not offer STARTTLS ([smtp] mode = starttls never sends "
				     "in clear)",
				     s->host);
			return;
		}
		if (tw_smtp_queue(s, "STARTTLS\r\n") == TW_OK)
			tw_smtp_enter(s, TW_SMTP_S_STARTTLS);
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
			if (tw_smtp_queue(s, "AUTH PLAIN %s\r\n", b64) == TW_OK)
				tw_smtp_enter(s, TW_SMTP_S_AUTH);
			memset(b64, 0, sizeof b64);
		} else if (s->caps & TW_SMTP_CAP_AUTH_LOGIN) {
			if (tw_smtp_queue(s, "AUTH LOGIN\r\n") == TW_OK)
				tw_smtp_enter(s, TW_SMTP_S_AUTH_USER);
		} else {
			tw_smtp_fail(s, TW_ERR_SMTP_AUTH,
				     "%s offers neither AUTH PLAIN nor AUTH LOGIN but [smtp] user is set",
				     s->host);
		}
		return;
	}
	next_message(s);
}

static void msg_failed(struct tw_smtp *s, const struct tw_smtp_reply *r, const char *step)
{
	char text[TW_SMTP_TEXT_MAX];

	snprintf(text, sizeof text, "%s: %d %.150s", step, r->code, r->buf);
	s->cur_failed = 1;
	s->need_rset = 1;
	tw_smtp_report(s, &s->msgs[s->cur], outcome_of(r->code), r->code, text);
}

/* The transaction of the current message is over: go on with the next one. */
static void advance(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	int pre = s->pre;

	s->pre = 0;
	s->dot_end = 0;
	if (r->code == 421) {
		s->cur++;
		s->dot_gone = 0;
		tw_smtp_fail(s, TW_ERR_SMTP_CLOSING, "the server is closing: %d %.150s", r->code,
			     r->buf);
		return;
	}
	s->cur++;
	s->dot_gone = 0;
	if (pre == 1 && s->cur < s->n) {
		/* its MAIL/RCPT/DATA left behind the end of data: its turn starts now */
		s->msgs[s->cur].attempted = 1;
		s->cur_failed = 0;
		s->use_8bit = s->pre_8bit;
		tw_smtp_enter(s, TW_SMTP_S_MAIL);
		return;
	}
	if (pre == 2) {
		tw_smtp_enter(s, TW_SMTP_S_QUIT);
		return;
	}
	next_message(s);
}

static void next_message(struct tw_smtp *s)
{
	char err[TW_SMTP_ERR_LEN];

	if (s->need_rset) {
		if (tw_smtp_queue(s, "RSET\r\n") == TW_OK)
			tw_smtp_enter(s, TW_SMTP_S_RSET);
		return;
	}
	while (s->cur < s->n) {
		struct tw_smtp_msg *m = &s->msgs[s->cur];
		int eight = (s->caps & TW_SMTP_CAP_8BITMIME) != 0;
		int as8 = 0;
		long len = tw_smtp_format(m, s->from, eight, 1, NULL, 0, &as8, err, sizeof err);

		if (len < 0) {
			tw_smtp_report(s, m, TW_SMTP_PERMANENT, 0, err);
		} else if ((size_t)len > s->out_cap) {
			snprintf(err, sizeof err, "e-mail of %ld bytes exceeds [limits] smtp_buffer_kb",
				 len);
			tw_smtp_report(s, m, TW_SMTP_PERMANENT, 0, err);
		} else if (s->size_limit && (uint64_t)len > s->size_limit) {
			snprintf(err, sizeof err, "e-mail of %ld bytes exceeds the server's SIZE %llu",
				 len, (unsigned long long)s->size_limit);
			tw_smtp_report(s, m, TW_SMTP_PERMANENT, 0, err);
		} else {
			m->attempted = 1;
			s->cur_failed = 0;
			s->use_8bit = as8;
			if (queue_mail(s, m, len, as8) != TW_OK)
				return;
			tw_smtp_enter(s, TW_SMTP_S_MAIL);
			return;
		}
		s->cur++;
	}
	if (tw_smtp_queue(s, "QUIT\r\n") == TW_OK)
		tw_smtp_enter(s, TW_SMTP_S_QUIT);
}

/* ---- holding the end of data ---- */

/* The end of data: the ".\r\n" after the body's last CRLF (tw_smtp_format() ends with it). */
#define DOT_LEN 3

static void release_now(struct tw_smtp *s, int ok)
{
	if (!ok) {
		tw_smtp_fail(s, TW_ERR_SMTP_UNRECORDED,
			     "the end of data of %s was not released (its record could not be "
			     "written)",
			     s->msgs[s->cur].id);
		return;
	}
	/* The terminator was formatted in place and held back: the buffer has room for it. */
	memcpy(s->out + s->out_len, ".\r\n", DOT_LEN);
	s->out_len += DOT_LEN;
	s->dot_end = s->out_len;
	tw_smtp_enter(s, TW_SMTP_S_BODY);
	queue_after_dot(s);
}

/* The body (formatted with its terminator) is queued: take the terminator back, ask the caller,
 * and wait for tw_smtp_release_dot() while the body goes out. */
static void hold(struct tw_smtp *s)
{
	unsigned gen = s->gen;
	int rel;

	s->out_len -= DOT_LEN;
	s->release = 0;
	tw_smtp_enter(s, TW_SMTP_S_HOLD);
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
		tw_smtp_pump(s);
	return TW_OK;
}

struct tw_smtp_msg *tw_smtp_held(const struct tw_smtp *s)
{
	return s->state == TW_SMTP_S_HOLD ? &s->msgs[s->cur] : NULL;
}

/* ---- one handler per state: the reply that state waits for ---- */

static int pipelined(const struct tw_smtp *s) { return (s->caps & TW_SMTP_CAP_PIPELINING) != 0; }

static void on_greeting(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (klass(r->code) != 2) {
		tw_smtp_fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_REJECTED,
			     "greeting: %d %.150s", r->code, r->buf);
		return;
	}
	if (tw_smtp_queue(s, "EHLO %s\r\n", s->helo) == TW_OK)
		tw_smtp_enter(s, TW_SMTP_S_EHLO);
}

static void on_ehlo(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (klass(r->code) == 2) {
		s->caps = tw_smtp_parse_ehlo(r, &s->size_limit);
		after_hello(s);
	} else if (klass(r->code) == 5 && !tw_stream_is_tls(&s->stream)) {
		/* An old server: HELO, and no extensions. */
		if (tw_smtp_queue(s, "HELO %s\r\n", s->helo) == TW_OK)
			tw_smtp_enter(s, TW_SMTP_S_HELO);
	} else {
		tw_smtp_fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_REJECTED,
			     "EHLO: %d %.150s", r->code, r->buf);
	}
}

static void on_helo(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (klass(r->code) != 2) {
		tw_smtp_fail(s, TW_ERR_SMTP_REJECTED, "HELO: %d %.150s", r->code, r->buf);
		return;
	}
	s->caps = 0;
	s->size_limit = 0;
	after_hello(s);
}

static void on_starttls(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (r->code != 220) {
		tw_smtp_fail(s, TW_ERR_SMTP_NOTLS, "STARTTLS: %d %.150s", r->code, r->buf);
		return;
	}
	if (s->roff < s->rlen) {
		/* Bytes sent before the handshake would be trusted after it. */
		tw_smtp_fail(s, TW_ERR_SMTP_PROTO, "data after the STARTTLS reply (injection attempt?)");
		return;
	}
	s->after_starttls = 1;
	s->caps = 0;
	tw_smtp_start_tls(s);
}

/* AUTH PLAIN, and AUTH LOGIN after the password: 235 or the session ends. */
static void on_auth(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (r->code != 235) {
		tw_smtp_fail(s, TW_ERR_SMTP_AUTH, "AUTH: %d %.150s", r->code, r->buf);
		return;
	}
	next_message(s);
}

/* AUTH LOGIN: answer the 334 prompt with @p v in base64, then wait in @p next. */
static void login_answer(struct tw_smtp *s, const struct tw_smtp_reply *r, const char *v, int next)
{
	char b64[200];

	if (r->code != 334) {
		tw_smtp_fail(s, TW_ERR_SMTP_AUTH, "AUTH LOGIN: %d %.150s", r->code, r->buf);
		return;
	}
	tw_smtp_b64(v, strlen(v), b64, sizeof b64);
	if (tw_smtp_queue(s, "%s\r\n", b64) == TW_OK)
		tw_smtp_enter(s, next);
	memset(b64, 0, sizeof b64);
}

static void on_auth_user(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	login_answer(s, r, s->user, TW_SMTP_S_AUTH_PASS);
}

static void on_auth_pass(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	login_answer(s, r, s->password, TW_SMTP_S_AUTH_DONE);
}

static void on_mail(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (klass(r->code) != 2)
		msg_failed(s, r, "MAIL FROM");
	/* Pipelined: the RCPT reply is on the way, whatever this one said. */
	if (!pipelined(s) && s->cur_failed) {
		advance(s, r);
		return;
	}
	if (!pipelined(s) && tw_smtp_queue(s, "RCPT TO:<%s>\r\n", s->msgs[s->cur].to) != TW_OK)
		return;
	tw_smtp_enter(s, TW_SMTP_S_RCPT);
}

static void on_rcpt(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (klass(r->code) != 2 && !s->cur_failed)
		msg_failed(s, r, "RCPT TO");
	if (!pipelined(s) && s->cur_failed) {
		advance(s, r);
		return;
	}
	if (!pipelined(s) && tw_smtp_queue(s, "DATA\r\n") != TW_OK)
		return;
	tw_smtp_enter(s, TW_SMTP_S_DATA);
}

static void on_data(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	char err[TW_SMTP_ERR_LEN];
	long len;

	if (r->code != 354) {
		if (!s->cur_failed)
			msg_failed(s, r, "DATA");
		advance(s, r);
		return;
	}
	if (s->cur_failed) {
		/* DATA accepted although the transaction failed: end it empty. */
		if (tw_smtp_queue(s, ".\r\n") == TW_OK)
			tw_smtp_enter(s, TW_SMTP_S_BODY);
		return;
	}
	len = tw_smtp_format(&s->msgs[s->cur], s->from, s->use_8bit, 1, s->out + s->out_len,
			     s->out_cap - s->out_len, NULL, err, sizeof err);
	if (len < (long)DOT_LEN || (size_t)len > s->out_cap - s->out_len) {
		tw_smtp_fail(s, TW_ERR_SMTP_MESSAGE, "formatting the e-mail failed");
		return;
	}
	s->out_len += (size_t)len;
	if (s->o.on_before_dot) {
		hold(s);
	} else {
		s->dot_end = s->out_len;
		tw_smtp_enter(s, TW_SMTP_S_BODY);
		queue_after_dot(s);
	}
}

static void on_hold(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	/* Nothing is outstanding while the end of data is held: only a 421 is expected. */
	tw_smtp_fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_PROTO,
		     "reply %d %.150s while the end of data was held", r->code, r->buf);
}

static void on_body(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (!s->cur_failed) {
		if (klass(r->code) == 2) {
			char text[TW_SMTP_TEXT_MAX];

			snprintf(text, sizeof text, "%d %.150s", r->code, r->buf);
			tw_smtp_report(s, &s->msgs[s->cur], TW_SMTP_SENT, r->code, text);
		} else {
			msg_failed(s, r, "end of data");
			s->need_rset = 0; /* the transaction is over either way */
		}
	}
	advance(s, r);
}

static void on_rset(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (klass(r->code) != 2) {
		tw_smtp_fail(s, r->code == 421 ? TW_ERR_SMTP_CLOSING : TW_ERR_SMTP_PROTO,
			     "RSET: %d %.150s", r->code, r->buf);
		return;
	}
	s->need_rset = 0;
	next_message(s);
}

static void on_quit(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	(void)r;
	tw_smtp_finish(s);
}

/* Every state: its name, and the handler of the reply it waits for (NULL: none is expected). */
static const struct {
	const char *name;
	void (*on_reply)(struct tw_smtp *s, const struct tw_smtp_reply *r);
} states[TW_SMTP_S_COUNT] = {
	[TW_SMTP_S_IDLE] = {"idle", NULL},
	[TW_SMTP_S_CONNECT] = {"connect", NULL},
	[TW_SMTP_S_HANDSHAKE] = {"TLS handshake", NULL},
	[TW_SMTP_S_GREETING] = {"greeting", on_greeting},
	[TW_SMTP_S_EHLO] = {"EHLO", on_ehlo},
	[TW_SMTP_S_HELO] = {"HELO", on_helo},
	[TW_SMTP_S_STARTTLS] = {"STARTTLS", on_starttls},
	[TW_SMTP_S_AUTH] = {"AUTH PLAIN", on_auth},
	[TW_SMTP_S_AUTH_USER] = {"AUTH LOGIN user", on_auth_user},
	[TW_SMTP_S_AUTH_PASS] = {"AUTH LOGIN password", on_auth_pass},
	[TW_SMTP_S_AUTH_DONE] = {"AUTH LOGIN", on_auth},
	[TW_SMTP_S_MAIL] = {"MAIL FROM", on_mail},
	[TW_SMTP_S_RCPT] = {"RCPT TO", on_rcpt},
	[TW_SMTP_S_DATA] = {"DATA", on_data},
	[TW_SMTP_S_HOLD] = {"end of data held", on_hold},
	[TW_SMTP_S_BODY] = {"end of data", on_body},
	[TW_SMTP_S_RSET] = {"RSET", on_rset},
	[TW_SMTP_S_QUIT] = {"QUIT", on_quit},
};

const char *tw_smtp_state_name(int state)
{
	return state >= 0 && state < TW_SMTP_S_COUNT ? states[state].name : "?";
}

void tw_smtp_on_reply(struct tw_smtp *s, const struct tw_smtp_reply *r)
{
	if (s->state < 0 || s->state >= TW_SMTP_S_COUNT || states[s->state].on_reply == NULL) {
		tw_smtp_fail(s, TW_ERR_SMTP_PROTO, "unexpected reply %d in state %s", r->code,
			     tw_smtp_state_name(s->state));
		return;
	}
	states[s->state].on_reply(s, r);
}
