/* SPDX-License-Identifier: MIT */
/* reply.c - SMTP replies: an incremental, bounded multi-line parser and EHLO capability parsing. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp.h"

void tw_smtp_reply_reset(struct tw_smtp_reply *r)
{
	r->code = 0;
	r->complete = 0;
	r->nlines = 0;
	r->len = 0;
	r->buf[0] = '\0';
	r->line_len = 0;
}

/* One complete line (CRLF stripped): "NNN-text" or "NNN text" or "NNN". */
static int take_line(struct tw_smtp_reply *r, const char *l, size_t n)
{
	int code;
	size_t tlen;

	if (n < 3 || !isdigit((unsigned char)l[0]) || !isdigit((unsigned char)l[1]) ||
	    !isdigit((unsigned char)l[2]) || l[0] < '2' || l[0] > '5')
		return TW_ERR_SMTP_PROTO;
	if (n > 3 && l[3] != ' ' && l[3] != '-')
		return TW_ERR_SMTP_PROTO;
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return TW_ERR_SMTP_PROTO;
	r->code = code;
	tlen = n > 4 ? n - 4 : 0;
	if (r->len + tlen + 2 > sizeof r->buf)
		return TW_ERR_SMTP_TOOLONG;
	if (r->nlines > 0)
		r->buf[r->len++] = '\n';
	if (tlen > 0)
		memcpy(r->buf + r->len, l + 4, tlen);
	r->len += tlen;
	r->buf[r->len] = '\0';
	r->nlines++;
	if (n == 3 || l[3] == ' ')
		r->complete = 1;
	return TW_OK;
}

long tw_smtp_reply_feed(struct tw_smtp_reply *r, const char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len && !r->complete; i++) {
		char c = data[i];

		if (c == '\n') {
			size_t n = r->line_len;
			int rc;

			/* CRLF is the rule; a bare LF is tolerated (some relays). */
			if (n > 0 && r->line[n - 1] == '\r')
				n--;
			rc = take_line(r, r->line, n);
			r->line_len = 0;
			if (rc != TW_OK)
				return rc;
			continue;
		}
		if (c == '\0')
			return TW_ERR_SMTP_PROTO;
		if (r->line_len + 1 >= sizeof r->line)
			return TW_ERR_SMTP_TOOLONG;
		r->line[r->line_len++] = c;
	}
	return (long)i;
}

/* The keyword of an EHLO line equals @p kw (case-insensitive), followed by end or space. */
static int kw_is(const char *line, size_t n, const char *kw, const char **args)
{
	size_t k = strlen(kw);

	if (n < k || strncasecmp(line, kw, k) != 0)
		return 0;
	if (n > k && line[k] != ' ' && line[k] != '=')
		return 0;
	*args = line + k;
	return 1;
}

static int has_word(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);
	size_t i = 0;

	while (i < n) {
		size_t j;

		while (i < n && (s[i] == ' ' || s[i] == '='))
			i++;
		j = i;
		while (j < n && s[j] != ' ')
			j++;
		if (j - i == k && strncasecmp(s + i, w, k) == 0)
			return 1;
		i = j;
	}
	return 0;
}

unsigned tw_smtp_parse_ehlo(const struct tw_smtp_reply *r, uint64_t *size_limit)
{
	unsigned caps = TW_SMTP_CAP_EHLO;
	const char *p = r->buf;
	const char *end = r->buf + r->len;
	int first = 1;

	*size_limit = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *args = NULL;

		/* The first line is the server's greeting name, not a capability. */
		if (!first) {
			if (kw_is(p, n, "PIPELINING", &args))
				caps |= TW_SMTP_CAP_PIPELINING;
			else if (kw_is(p, n, "STARTTLS", &args))
				caps |= TW_SMTP_CAP_STARTTLS;
			else if (kw_is(p, n, "8BITMIME", &args))
				caps |= TW_SMTP_CAP_8BITMIME;
			else if (kw_is(p, n, "SIZE", &args)) {
				char num[24];
				size_t an = (size_t)(p + n - args);

				caps |= TW_SMTP_CAP_SIZE;
				while (an > 0 && *args == ' ') {
					args++;
					an--;
				}
				if (an > 0 && an < sizeof num) {
					memcpy(num, args, an);
					num[an] = '\0';
					*size_limit = strtoull(num, NULL, 10);
				}
			} else if (kw_is(p, n, "AUTH", &args)) {
				size_t an = (size_t)(p + n - args);

				if (has_word(args, an, "PLAIN"))
					caps |= TW_SMTP_CAP_AUTH_PLAIN;
				if (has_word(args, an, "LOGIN"))
					caps |= TW_SMTP_CAP_AUTH_LOGIN;
			}
		}
		first = 0;
		p += n + (nl ? 1 : 0);
	}
	return caps;
}
