/* SPDX-License-Identifier: MIT */
/* message.c - e-mail formatting: headers (RFC 5322, RFC 2047 subjects), QP or 8bit body, dot-stuffing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/email.h"
#include "json/json.h"
#include "smtp/smtp.h"

#define QP_LINE 76      /* RFC 2045: encoded lines at most 76 characters */
#define LINE_HARD 998   /* RFC 5322: no line longer than 998 octets */
#define SUBJ_PLAIN 78   /* a plain Subject line longer than this is encoded (and folded) */
#define EW_BYTES 39     /* bytes per encoded-word: "=?UTF-8?B?" + 52 + "?=" fits 76 after "Subject: " */

/* The e-mail being written: agent/json's bounded writer in bytes mode (it measures past its
 * capacity and flags overflow), dot-stuffing when asked. Raw appends only: they can fill the
 * buffer to its last byte. */
struct w {
	struct tw_jw jw;
	int stuff, bol;
};

static void put(struct w *w, const char *s, size_t n)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		if (w->stuff && w->bol && s[i] == '.') {
			tw_jw_raw(&w->jw, s + from, i - from);
			tw_jw_raw(&w->jw, ".", 1);
			from = i;
		}
		w->bol = s[i] == '\n';
	}
	tw_jw_raw(&w->jw, s + from, n - from);
}

static void puts_(struct w *w, const char *s) { put(w, s, strlen(s)); }

long tw_smtp_b64(const void *in, size_t len, char *out, size_t cap)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	size_t need = (len + 2) / 3 * 4, o = 0;

	if (need + 1 > cap)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = a[(v >> 18) & 63];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = i + 1 < len ? a[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? a[v & 63] : '=';
	}
	out[o] = '\0';
	return (long)o;
}

/* The one address rule of the product (core/email.h, which registration, the alert role and
 * the ledger apply through agent/cqrs): what the notifier accepts it can always record, and what it records it can
 * send. */
int tw_smtp_addr_ok(const char *a)
{
	return tw_email_check(a, NULL, 0) == 0;
}

static int id_ok(const char *id)
{
	size_t n = 0;

	if (id == NULL)
		return 0;
	for (; id[n]; n++) {
		unsigned char c = (unsigned char)id[n];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= TW_SMTP_ID_MAX;
}

static int header_text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static void date_header(struct w *w, int64_t ms)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	snprintf(buf, sizeof buf, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
		 days[tm.tm_wday % 7], tm.tm_mday, mons[tm.tm_mon % 12], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	puts_(w, buf);
}

/* Subject: as is when short printable ASCII, else RFC 2047 B encoded-words, folded. */
static void subject_header(struct w *w, const char *subj)
{
	size_t n = strlen(subj);
	int plain = n + 9 <= SUBJ_PLAIN && strstr(subj, "=?") == NULL;
	unsigned char chunk[EW_BYTES];
	char b64[80];
	size_t i = 0;

	for (size_t k = 0; plain && k < n; k++)
		if ((unsigned char)subj[k] < 0x20 || (unsigned char)subj[k] >= 0x7f)
			plain = 0;
	puts_(w, "Subject: ");
	if (plain || n == 0) {
		put(w, subj, n);
		puts_(w, "\r\n");
		return;
	}
	while (i < n) {
		size_t take = n - i < EW_BYTES ? n - i : EW_BYTES;

		/* Never split a UTF-8 sequence between two encoded-words. */
		if (i + take < n)
			while (take > 1 && ((unsigned char)subj[i + take] & 0xC0) == 0x80)
				take--;
		for (size_t k = 0; k < take; k++) {
			unsigned char c = (unsigned char)subj[i + k];

			chunk[k] = c < 0x20 || c == 0x7f ? ' ' : c; /* no control characters */
		}
		tw_smtp_b64(chunk, take, b64, sizeof b64);
		if (i > 0)
			puts_(w, "\r\n ");
		puts_(w, "=?UTF-8?B?");
		puts_(w, b64);
		puts_(w, "?=");
		i += take;
	}
	puts_(w, "\r\n");
}

/* One line of the body, without its line end (LF, CRLF or a bare CR). */
struct line {
	const char *p;
	size_t n;
};

static const char *next_line(const char *p, struct line *l)
{
	const char *s = p;

	while (*p && *p != '\r' && *p != '\n')
		p++;
	l->p = s;
	l->n = (size_t)(p - s);
	if (*p == '\r' && p[1] == '\n')
		return p + 2;
	if (*p)
		return p + 1;
	return p;
}

static int body_fits_8bit(const char *body)
{
	const char *p = body;
	struct line l;

	while (*p) {
		p = next_line(p, &l);
		if (l.n > LINE_HARD)
			return 0;
	}
	return 1;
}

/* One byte quoted-printable at column *col, with a soft break before it when the line is
 * full; @p last: the line's last byte (trailing white space must be encoded). */
static void qp_char(struct w *w, size_t *col, unsigned char c, int last)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[3];
	size_t elen;

	if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
		enc[0] = (char)c;
		elen = 1;
	} else {
		enc[0] = '=';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		elen = 3;
	}
	/* Room for the soft break "=" unless this is the line's last piece. */
	if (*col + elen > (last ? QP_LINE : QP_LINE - 1)) {
		puts_(w, "=\r\n");
		*col = 0;
	}
	put(w, enc, elen);
	*col += elen;
}

static void qp_line(struct w *w, const struct line *l)
{
	size_t col = 0;

	for (size_t i = 0; i < l->n; i++)
		qp_char(w, &col, (unsigned char)l->p[i], i + 1 == l->n);
	puts_(w, "\r\n");
}

/* Plain ASCII @p s quoted-printable, continuing at *col (never a line's last byte). */
static void qp_text(struct w *w, size_t *col, const char *s)
{
	for (; *s; s++)
		qp_char(w, col, (unsigned char)*s, 0);
}

/* One body line as HTML text (& < > " escaped) ending in <br>, quoted-printable. */
static void html_line(struct w *w, const struct line *l)
{
	size_t col = 0;

	for (size_t i = 0; i < l->n; i++) {
		char c = l->p[i];

		if (c == '&')
			qp_text(w, &col, "&amp;");
		else if (c == '<')
			qp_text(w, &col, "&lt;");
		else if (c == '>')
			qp_text(w, &col, "&gt;");
		else if (c == '"')
			qp_text(w, &col, "&quot;");
		else
			qp_char(w, &col, (unsigned char)c, 0);
	}
	qp_text(w, &col, "<br>");
	puts_(w, "\r\n");
}

/* The text part's lines (body, then the footer when there is a link). */
static void text_part(struct w *w, const struct tw_smtp_msg *m, int as8)
{
	static const char sep[] = "--";
	static const char say[] = "To stop these alerts, open: ";
	char foot[sizeof say + TW_SMTP_UNSUB_URL_MAX];
	const char *p;
	struct line l;

	for (p = m->body ? m->body : ""; *p;) {
		p = next_line(p, &l);
		if (as8) {
			put(w, l.p, l.n);
			puts_(w, "\r\n");
		} else {
			qp_line(w, &l);
		}
	}
	if (m->unsub_url == NULL)
		return;
	/* the footer: ASCII lines, as 8bit or as quoted-printable */
	snprintf(foot, sizeof foot, "%s%s", say, m->unsub_url);
	for (int i = 0; i < 2; i++) {
		l.p = i == 0 ? sep : foot;
		l.n = strlen(l.p);
		if (as8) {
			put(w, l.p, l.n);
			puts_(w, "\r\n");
		} else {
			qp_line(w, &l);
		}
	}
}

/* The HTML alternative: the body's lines, and the unsubscribe link as an anchor. */
static void html_part(struct w *w, const struct tw_smtp_msg *m)
{
	const char *p;
	struct line l;
	size_t col = 0;

	puts_(w, "<!doctype html><html><head><meta charset=3D\"utf-8\"></head><body><p>\r\n");
	for (p = m->body ? m->body : ""; *p;) {
		p = next_line(p, &l);
		html_line(w, &l);
	}
	puts_(w, "</p>\r\n");
	if (m->unsub_url) {
		/* the URL is printable ASCII without spaces, quotes or angle brackets (checked) */
		qp_text(w, &col, "<p style=\"font-size:small\"><a href=\"");
		qp_text(w, &col, m->unsub_url);
		qp_text(w, &col, "\">Stop these alerts</a></p>");
		puts_(w, "\r\n");
	}
	puts_(w, "</body></html>\r\n");
}

long tw_smtp_format(const struct tw_smtp_msg *m, const char *from, int eightbit, int stuff,
		    char *out, size_t cap, int *used_8bit, char *err, size_t errlen)
{
	struct w w = {.stuff = stuff, .bol = 1};
	int as8;

	if (!tw_smtp_addr_ok(m->to)) {
		snprintf(err, errlen, "recipient address '%.80s' is not a plain ASCII local@domain",
			 m->to ? m->to : "(null)");
		return TW_ERR_SMTP_MESSAGE;
	}
	if (!id_ok(m->id)) {
		snprintf(err, errlen, "notification id '%.80s' is not 1..64 of [A-Za-z0-9._-]",
			 m->id ? m->id : "(null)");
		return TW_ERR_SMTP_MESSAGE;
	}
	if (from == NULL || !header_text_ok(from) || strlen(from) > 255) {
		snprintf(err, errlen, "[smtp] from is not printable ASCII of at most 255 bytes");
		return TW_ERR_SMTP_MESSAGE;
	}
	if (m->unsub_url &&
	    ((strncmp(m->unsub_url, "https://", 8) != 0 && strncmp(m->unsub_url, "http://", 7) != 0) ||
	     !header_text_ok(m->unsub_url) || strpbrk(m->unsub_url, " \"<>") ||
	     strlen(m->unsub_url) > TW_SMTP_UNSUB_URL_MAX)) {
		snprintf(err, errlen, "unsubscribe link is not an http(s) URL of printable ASCII "
			 "without spaces, at most %d bytes", TW_SMTP_UNSUB_URL_MAX);
		return TW_ERR_SMTP_MESSAGE;
	}
	tw_jw_init_bytes(&w.jw, out, cap);
	as8 = !m->html && eightbit && body_fits_8bit(m->body ? m->body : "");
	if (used_8bit)
		*used_8bit = as8;
	date_header(&w, m->date_ms ? m->date_ms : tw_hal_wall_ms());
	/* Straight into the bounded writer, which measures what does not fit (the caller then
	 * refuses the e-mail): never through a local buffer that would cut it. Each header is one
	 * line under RFC 5322's 998 octets ([smtp] from is at most 255 bytes, an address 254),
	 * so no folding is needed. */
	puts_(&w, "From: ");
	puts_(&w, from);
	puts_(&w, "\r\nTo: ");
	puts_(&w, m->to);
	puts_(&w, "\r\n");
	subject_header(&w, m->subject ? m->subject : "");
	puts_(&w, "Message-ID: <");
	puts_(&w, m->id);
	puts_(&w, "@tickwatch>\r\n");
	if (m->unsub_url) {
		puts_(&w, "List-Unsubscribe: <");
		puts_(&w, m->unsub_url);
		puts_(&w, ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	}
	if (m->html) {
		/* "=_" never occurs in quoted-printable text: a boundary no part can contain */
		puts_(&w, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; "
			  "boundary=\"=_tw_");
		puts_(&w, m->id);
		puts_(&w, "\"\r\n\r\n--=_tw_");
		puts_(&w, m->id);
		puts_(&w, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
			  "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		text_part(&w, m, 0);
		puts_(&w, "--=_tw_");
		puts_(&w, m->id);
		puts_(&w, "\r\nContent-Type: text/html; charset=UTF-8\r\n"
			  "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		html_part(&w, m);
		puts_(&w, "--=_tw_");
		puts_(&w, m->id);
		puts_(&w, "--\r\n");
	} else {
		puts_(&w, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n");
		puts_(&w, as8 ? "Content-Transfer-Encoding: 8bit\r\n" :
				"Content-Transfer-Encoding: quoted-printable\r\n");
		puts_(&w, "\r\n");
		text_part(&w, m, as8);
	}
	if (stuff) {
		w.stuff = 0; /* the terminator itself is not stuffed */
		put(&w, ".\r\n", 3);
	}
	return (long)w.jw.need;
}
