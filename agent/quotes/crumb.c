/* SPDX-License-Identifier: MIT */
/* crumb.c - Yahoo's session as yfinance's data.py gets it: a cookie (the answer of
 * [quotes] cookie_url, or of / on the base host), then GET {base}/v1/test/getcrumb with that
 * cookie; the crumb goes on every chart request (crumb=), the cookie in its Cookie header.
 * One auth at a time per source, on its own connection; the connections that need the crumb
 * wait for it (tw_yauth_need) and are sent, or failed, when it ends. A 401/403 on a chart
 * request asks for a new one once (tw_yauth_stale: only when the crumb it carried is still
 * the current one, so two connections refused together make one new crumb, not two). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "quotes/crumb.h"

int tw_yahoo_crumb_check(const char *body, size_t len, char *out, size_t outlen)
{
	size_t n = len;

	while (n && (body[n - 1] == '\n' || body[n - 1] == '\r'))
		n--;
	if (n >= 17 && strncasecmp(body, "Too Many Requests", 17) == 0)
		return TW_ERR_QUOTES_LIMITED;
	if (n == 0 || n > TW_QUOTES_CRUMB_MAX || n >= outlen)
		return TW_ERR_QUOTES_AUTH;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)body[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"')
			return TW_ERR_QUOTES_AUTH;
	}
	memcpy(out, body, n);
	out[n] = '\0';
	return TW_OK;
}

/* RFC 3986 unreserved characters stay, the rest is %XX. */
static void percent_encode(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void on_header(void *arg, const char *name, const char *value)
{
	struct tw_qsrc *src = arg;
	char err[128];

	if (strcasecmp(name, "Set-Cookie") != 0)
		return;
	if (tw_cookie_jar_set(&src->auth->jar, value, tw_hal_wall_ms() / 1000, err, sizeof err) !=
	    0)
		tw_log(TW_LOG_WARN, "quotes", "%s: cookie not kept: %s", src->name, err);
}

void tw_yauth_on_header(void *arg, const char *name, const char *value)
{
	on_header(arg, name, value);
}

/* Every connection waiting for the session: send it now (rc 0) or fail it. */
static void release_waiters(struct tw_qsrc *src, int rc, const char *err)
{
	for (unsigned i = 0; i < src->nconn; i++) {
		struct tw_qconn *c = &src->conn[i];

		if (!c->wait_auth)
			continue;
		c->wait_auth = 0;
		if (rc == TW_OK)
			tw_qconn_send(c);
		else
			tw_qconn_fail(c, rc, err);
	}
}

static void auth_end(struct tw_qsrc *src, int rc, const char *err)
{
	struct tw_yauth *a = src->auth;

	if (rc == TW_OK) {
		a->state = TW_AUTH_HAVE;
		a->crumbs++;
		tw_log(TW_LOG_INFO, "quotes", "%s: session cookie and crumb ready (crumb %u)", src->name,
		       a->gen);
	} else {
		a->state = TW_AUTH_NONE;
		a->failures++;
		snprintf(a->err, sizeof a->err, "%s", err);
		tw_log(TW_LOG_WARN, "quotes", "%s: no session: %s", src->name, err);
	}
	release_waiters(src, rc, err);
}

/* Point the auth client at @p url (base or cookie URL) unless it is there already. */
static int aim(struct tw_qsrc *src, const char *url, int base, char *err, size_t errlen)
{
	struct tw_yauth *a = src->auth;
	unsigned char *body = a->http.p.body, *rbuf = a->http.rbuf;
	size_t cap = a->http.p.body_cap, rcap = a->http.rbuf_cap;
	int64_t to = a->http.timeout_ms;
	struct tw_loop *loop = a->http.loop;
	int rc;

	if (a->on_base == base && a->http.loop)
		return TW_OK;
	tw_http_client_close(&a->http);
	rc = tw_http_client_init(&a->http, loop, url, &a->stream, body, cap, rbuf, rcap, to, err,
				 errlen);
	if (rc != TW_OK)
		return rc;
	tw_http_client_on_header(&a->http, on_header, src);
	a->on_base = base;
	return TW_OK;
}

static void limited(struct tw_qsrc *src, const char *retry_after, const char *what)
{
	char e[TW_QUOTES_ERR_LEN];

	tw_qsrc_limited(src, retry_after);
	snprintf(e, sizeof e, "%s: rate limited on %s (quiet for %lld ms)", src->name, what,
		 (long long)src->hold_ms);
	auth_end(src, TW_ERR_QUOTES_LIMITED, e);
}

static void on_crumb(void *arg, int rc, int status, const char *body, size_t len, const char *err)
{
	struct tw_qsrc *src = arg;
	struct tw_yauth *a = src->auth;
	char e[TW_QUOTES_ERR_LEN];

	if (rc != TW_OK) {
		snprintf(e, sizeof e, "getcrumb: %.200s", err);
		auth_end(src, TW_ERR_QUOTES_AUTH, e);
		return;
	}
	rc = status == 200 ? tw_yahoo_crumb_check(body, len, a->crumb, sizeof a->crumb)
			   : TW_ERR_QUOTES_STATUS;
	if (status == 429 || rc == TW_ERR_QUOTES_LIMITED) {
		limited(src, a->http.p.retry_after, "getcrumb");
		return;
	}
	if (rc != TW_OK) {
		snprintf(e, sizeof e, "getcrumb on %s: %s", a->http.host,
			 status != 200 ? "HTTP status other than 200" : "the answer is not a crumb");
		if (status != 200)
			snprintf(e, sizeof e, "getcrumb on %s: HTTP %d", a->http.host, status);
		auth_end(src, TW_ERR_QUOTES_AUTH, e);
		return;
	}
	percent_encode(a->crumb, a->crumb_q, sizeof a->crumb_q);
	auth_end(src, TW_OK, "");
}

static void ask_crumb(struct tw_qsrc *src)
{
	struct tw_yauth *a = src->auth;
	char hdr[TW_COOKIE_VALUE_MAX + 128], e[TW_QUOTES_ERR_LEN];
	int rc;

	a->state = TW_AUTH_CRUMB;
	if (tw_cookie_jar_header(&a->jar, tw_hal_wall_ms() / 1000, hdr, sizeof hdr) < 0) {
		auth_end(src, TW_ERR_QUOTES_AUTH, "the session cookies do not fit a request");
		return;
	}
	rc = aim(src, src->base, 1, e, sizeof e);
	if (rc == TW_OK) {
		src->requests++;
		rc = tw_http_get_with(&a->http, "/v1/test/getcrumb", hdr, on_crumb, src);
		if (rc != TW_OK)
			snprintf(e, sizeof e, "getcrumb: %.200s", a->http.err);
	}
	if (rc != TW_OK)
		auth_end(src, TW_ERR_QUOTES_AUTH, e);
}

static void on_cookie(void *arg, int rc, int status, const char *body, size_t len,
		      const char *err)
{
	struct tw_qsrc *src = arg;
	struct tw_yauth *a = src->auth;
	char e[TW_QUOTES_ERR_LEN];

	(void)body;
	(void)len;
	if (rc != TW_OK) {
		snprintf(e, sizeof e, "session cookie: %.200s", err);
		auth_end(src, TW_ERR_QUOTES_AUTH, e);
		return;
	}
	if (status == 429) {
		limited(src, a->http.p.retry_after, "the cookie request");
		return;
	}
	/* fc.yahoo.com answers 404 with the cookie: any status will do, a cookie must come. */
	if (a->jar.n == 0) {
		snprintf(e, sizeof e, "no cookie from %s (HTTP %d)", a->http.host, status);
		auth_end(src, TW_ERR_QUOTES_AUTH, e);
		return;
	}
	a->cookies++;
	ask_crumb(src);
}

static void start(struct tw_qsrc *src)
{
	struct tw_yauth *a = src->auth;
	char e[TW_QUOTES_ERR_LEN];
	const char *path = "/";
	int rc, base = a->cookie_url[0] == '\0';

	a->state = TW_AUTH_COOKIE;
	a->gen++;
	a->crumb[0] = a->crumb_q[0] = '\0';
	tw_cookie_jar_clear(&a->jar);
	rc = aim(src, base ? src->base : a->cookie_url, base, e, sizeof e);
	/* the client's prefix is the cookie URL's path: ask for "/" under it */
	if (rc == TW_OK) {
		src->requests++;
		rc = tw_http_get(&a->http, path, on_cookie, src);
		if (rc != TW_OK)
			snprintf(e, sizeof e, "session cookie: %.200s", a->http.err);
	}
	if (rc != TW_OK)
		auth_end(src, TW_ERR_QUOTES_AUTH, e);
}

int tw_yauth_need(struct tw_qconn *c)
{
	struct tw_yauth *a = c->src->auth;

	if (a->state == TW_AUTH_HAVE)
		return 0;
	c->wait_auth = 1;
	if (a->state == TW_AUTH_NONE)
		start(c->src);
	return 1;
}

void tw_yauth_stale(struct tw_qconn *c)
{
	struct tw_yauth *a = c->src->auth;

	if (a->state == TW_AUTH_HAVE && a->gen == c->gen) {
		tw_log(TW_LOG_INFO, "quotes", "%s: crumb %u refused: fetching a new cookie and crumb",
		       c->src->name, a->gen);
		a->state = TW_AUTH_NONE;
	}
}
