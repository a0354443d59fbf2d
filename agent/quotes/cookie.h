/* SPDX-License-Identifier: MIT */
/* cookie.h - a small bounded cookie jar for one site (the quote source's session cookie, e.g.
 * Yahoo's A3), its slots carved from the arena at start.
 *
 * Set-Cookie is read as RFC 6265 section 5.2 says for the parts a one-site client needs: the
 * name=value pair, Max-Age (it wins) and Expires; Domain, Path, Secure, HttpOnly and SameSite
 * are accepted and not used (the jar serves the source's own hosts only). A cookie with the
 * name of one held replaces it; one that has expired (Max-Age <= 0, Expires past) deletes
 * it. A new name when every slot is taken is refused (counted), never grown.
 */
#ifndef TW_COOKIE_H
#define TW_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#define TW_COOKIE_NAME_MAX 64
#define TW_COOKIE_VALUE_MAX 512
#define TW_COOKIE_SLOTS 8 /* cookies a jar holds */

struct tw_cookie {
	char name[TW_COOKIE_NAME_MAX + 1];
	char value[TW_COOKIE_VALUE_MAX + 1];
	int64_t expires_s; /* Unix seconds; 0: a session cookie (kept until the jar is cleared) */
};

struct tw_cookie_jar {
	struct tw_cookie *slot;
	size_t cap, n;
	uint64_t refused; /* cookies not kept: bad syntax or no free slot */
};

/**
 * Parse one Set-Cookie value. @return 0 (a cookie to keep), 1 (a deletion: expired) or -1
 * (not a cookie: no name, a control byte, too long) with text in @p err.
 */
int tw_cookie_parse(const char *set_cookie, int64_t now_s, struct tw_cookie *out, char *err,
		    size_t errlen);

/** A jar over @p cap slots (the caller's, e.g. carved from the arena). */
void tw_cookie_jar_init(struct tw_cookie_jar *j, struct tw_cookie *slots, size_t cap);

/** Take a Set-Cookie value. @return 0 kept or deleted, -1 refused with text. */
int tw_cookie_jar_set(struct tw_cookie_jar *j, const char *set_cookie, int64_t now_s, char *err,
		      size_t errlen);

/**
 * The request's "Cookie: a=1; b=2\r\n" line of the cookies not expired at @p now_s ("" when
 * none). @return its length, or -1 when it does not fit @p len (nothing written).
 */
long tw_cookie_jar_header(const struct tw_cookie_jar *j, int64_t now_s, char *buf, size_t len);

/** The value of cookie @p name, or NULL. */
const char *tw_cookie_jar_get(const struct tw_cookie_jar *j, const char *name);

/** Forget every cookie. */
void tw_cookie_jar_clear(struct tw_cookie_jar *j);

#endif
