/* SPDX-License-Identifier: MIT */
/* fuzz_smtp_format.c - the e-mail formatter and dot-stuffer (agent/smtp/message.c) on any
 * subject and body.
 *
 * Input: byte 0 bit 0 offers 8BITMIME, bit 1 asks for the HTML alternative (multipart), bit 2
 * adds an unsubscribe link (headers and footer); the rest is SUBJECT NUL BODY. The message is formatted
 * dot-stuffed (as sent in DATA) and plain. Properties: CRLF line ends only; the stuffed text
 * ends with "\r\n.\r\n" and holds no "\r\n.\r\n" before that end; removing the stuffing dots
 * gives the plain text; no line longer than 998 octets (not counting a stuffing dot); the
 * head is 7-bit printable (RFC 2047 words for the rest), and so is a quoted-printable body;
 * measuring (no buffer) gives the same length. */
#include "fuzz_common.h"
#include "smtp/smtp.h"

#define CAP (1 << 17)

static char stuffed[CAP], plain[CAP], unstuffed[CAP];

static void check_lines(const char *s, size_t n, int stuff)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			FZ_CHECK(i + 1 < n && s[i + 1] == '\n', "bare CR at %zu", i);
			continue;
		}
		if (s[i] == '\n') {
			FZ_CHECK(i > 0 && s[i - 1] == '\r', "bare LF at %zu", i);
			col = 0;
			continue;
		}
		col++;
		FZ_CHECK(col <= 998 || (stuff && col == 999 && s[i - 998] == '.'),
			 "line longer than 998 octets at %zu", i);
	}
	FZ_CHECK(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n', "no CRLF at the end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *subject, *body;
	struct tw_smtp_msg m;
	int e8 = 0, p8 = 0;
	long ls, lp, lm;
	size_t o = 0, sub_n, head;
	const char *hend;

	if (size < 1 || size > 65536)
		return 0;
	subject = fz_cstr(data + 1, size - 1);
	sub_n = strlen(subject);
	body = sub_n + 2 <= size - 1 ? fz_cstr(data + 2 + sub_n, size - 2 - sub_n) : fz_cstr(data, 0);
	memset(&m, 0, sizeof m);
	m.id = "0123456789abcdef0123456789abcdef";
	m.to = "user@example.com";
	m.subject = subject;
	m.body = body;
	m.date_ms = 1764363600000LL;
	m.html = (data[0] >> 1) & 1;
	if (data[0] & 4)
		m.unsub_url = "https://alerts.example/unsubscribe?t=75736572.0123456789abcdef";
	ls = tw_smtp_format(&m, "tickwatch <alerts@example.com>", data[0] & 1, 1, stuffed, CAP,
			    &e8, err, sizeof err);
	lp = tw_smtp_format(&m, "tickwatch <alerts@example.com>", data[0] & 1, 0, plain, CAP, &p8,
			    err, sizeof err);
	lm = tw_smtp_format(&m, "tickwatch <alerts@example.com>", data[0] & 1, 1, NULL, 0, NULL,
			    err, sizeof err);
	FZ_CHECK(ls > 0 && lp > 0, "refused: %s", err);
	FZ_CHECK(lm == ls, "measured %ld, wrote %ld", lm, ls);
	FZ_CHECK(e8 == p8, "encoding depends on stuffing");
	if (ls > CAP || lp > CAP)
		goto out;
	check_lines(stuffed, (size_t)ls, 1);
	check_lines(plain, (size_t)lp, 0);
	FZ_CHECK(ls >= 5 && memcmp(stuffed + ls - 5, "\r\n.\r\n", 5) == 0, "no terminator");
	for (long i = 0; i + 5 < ls; i++)
		FZ_CHECK(memcmp(stuffed + i, "\r\n.\r\n", 5) != 0, "end of data at %ld of %ld", i, ls);
	FZ_CHECK(stuffed[0] != '.', "stuffed text starts with a dot");
	/* unstuff: drop the terminator, and the first dot of every line */
	for (long i = 0; i < ls - 3; i++) {
		if (stuffed[i] == '.' && (i == 0 || stuffed[i - 1] == '\n'))
			continue;
		unstuffed[o++] = stuffed[i];
	}
	FZ_CHECK(o == (size_t)lp && memcmp(unstuffed, plain, o) == 0, "unstuffed != plain");
	hend = memmem(plain, (size_t)lp, "\r\n\r\n", 4);
	FZ_CHECK(hend != NULL, "no end of head");
	head = (size_t)(hend - plain);
	for (size_t i = 0; i < (size_t)lp; i++) {
		unsigned char c = (unsigned char)plain[i];

		if (i >= head && e8)
			break;
		FZ_CHECK(c == '\r' || c == '\n' || (c >= 0x20 && c < 0x7f) || (c == '\t' && i > head),
			 "byte 0x%02x at %zu in the %s", c, i, i < head ? "head" : "QP body");
	}
	if (m.html) { /* the boundary opens two parts and closes once, nowhere else */
		static const char b[] = "\r\n--=_tw_0123456789abcdef0123456789abcdef";
		int opens = 0, closes = 0;

		FZ_CHECK(!e8, "a multipart message went 8bit");
		for (const char *q = plain; (q = memmem(q, (size_t)(plain + lp - q), b,
							 sizeof b - 1)) != NULL;
		     q += sizeof b - 1) {
			if (q + sizeof b + 1 < plain + lp && memcmp(q + sizeof b - 1, "--", 2) == 0)
				closes++;
			else
				opens++;
		}
		FZ_CHECK(opens == 2 && closes == 1, "boundary: %d opens, %d closes", opens, closes);
	}
out:
	free(subject);
	free(body);
	return 0;
}
