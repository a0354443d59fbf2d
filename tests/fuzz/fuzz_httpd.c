/* SPDX-License-Identifier: MIT */
/* fuzz_httpd.c - the HTTP endpoint's request head parser and form decoder (agent/httpd/request.c).
 *
 * Properties: a head that parses has the length returned, fits TW_HTTPD_HEAD_MAX, an
 * origin-form path and a query inside their bounds, one method bit, a Content-Length within
 * TW_HTTPD_BODY_MAX; every shorter prefix of it needs more bytes (0), and the head alone parses
 * the same. A refusal is one of the statuses the parser documents. A decoded form parameter
 * fits its buffer and holds no NUL. */
#include "fuzz_common.h"
#include "httpd/httpd.h"

static int documented(int rc)
{
	return rc == -400 || rc == -413 || rc == -414 || rc == -431 || rc == -501 || rc == -505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tw_httpd_req r, again;
	char *in = fz_exact(data, size);
	char out[64];
	int rc = tw_httpd_parse(in, size, &r);

	FZ_CHECK(rc >= 0 || documented(rc), "undocumented refusal %d", rc);
	if (rc > 0) {
		unsigned m = r.method;

		FZ_CHECK((size_t)rc == r.head_len && r.head_len <= size &&
				 r.head_len <= TW_HTTPD_HEAD_MAX,
			 "head %d/%zu of %zu", rc, r.head_len, size);
		FZ_CHECK(r.path[0] == '/' && strlen(r.path) < TW_HTTPD_PATH_MAX, "path '%s'", r.path);
		FZ_CHECK(strlen(r.query) < TW_HTTPD_QUERY_MAX, "query of %zu", strlen(r.query));
		FZ_CHECK(m != 0 && (m & (m - 1)) == 0, "method bits %x", m);
		FZ_CHECK(r.content_length <= TW_HTTPD_BODY_MAX, "length %zu", r.content_length);
		FZ_CHECK(r.minor >= 0 && r.minor <= 9, "minor %d", r.minor);
		FZ_CHECK(tw_httpd_parse(in, r.head_len - 1, &again) == 0, "a prefix did not wait");
		FZ_CHECK(tw_httpd_parse(in, r.head_len / 2, &again) == 0, "half did not wait");
		FZ_CHECK(tw_httpd_parse(in, r.head_len, &again) == rc, "the head alone differs");
		int n = tw_httpd_param(r.query, strlen(r.query), "t", out, sizeof out);

		FZ_CHECK(n >= -2 && n < (int)sizeof out, "param length %d", n);
		if (n >= 0)
			FZ_CHECK(strlen(out) == (size_t)n, "a NUL inside a decoded value");
	}
	free(in);
	return 0;
}
