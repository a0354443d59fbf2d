/* SPDX-License-Identifier: MIT */
/* fuzz_cookie.c - Set-Cookie values into the bounded jar (agent/quotes/cookie.c).
 *
 * Input: lines, each a Set-Cookie value. Properties: the jar never holds more than its slots;
 * every cookie kept has a non-empty name of token characters and a value of printable ASCII
 * without ';' (so the Cookie header built from it has no CR, LF or NUL: no header injection);
 * the header is "Cookie: ...\r\n" and its length is what the call returns. */
#include "fuzz_common.h"
#include "quotes/cookie.h"

#define NOW 1767258000LL

static struct tw_cookie slots[4];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tw_cookie_jar j;
	char *in = fz_cstr(data, size), *line, *save = NULL, err[128], hdr[4 * 600];
	long n;

	tw_cookie_jar_init(&j, slots, 4);
	for (line = strtok_r(in, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		(void)tw_cookie_jar_set(&j, line, NOW, err, sizeof err);
	FZ_CHECK(j.n <= 4, "jar holds %zu", j.n);
	for (size_t i = 0; i < j.n; i++) {
		FZ_CHECK(j.slot[i].name[0] != '\0', "empty name");
		for (const char *p = j.slot[i].name; *p; p++)
			FZ_CHECK(*p > ' ' && *p < 0x7f && *p != '=' && *p != ';', "name byte");
		for (const char *p = j.slot[i].value; *p; p++)
			FZ_CHECK(*p >= ' ' && *p < 0x7f && *p != ';', "value byte 0x%02x",
				 (unsigned char)*p);
	}
	n = tw_cookie_jar_header(&j, NOW, hdr, sizeof hdr);
	FZ_CHECK(n >= 0, "header does not fit %zu bytes", sizeof hdr);
	FZ_CHECK((size_t)n == strlen(hdr), "length %ld", n);
	if (n > 0) {
		FZ_CHECK(strncmp(hdr, "Cookie: ", 8) == 0, "header start");
		FZ_CHECK(strcmp(hdr + n - 2, "\r\n") == 0, "header end");
		FZ_CHECK(strpbrk(hdr, "\r\n") == hdr + n - 2, "CR or LF inside the header");
	}
	free(in);
	return 0;
}
