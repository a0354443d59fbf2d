/* SPDX-License-Identifier: MIT */
/* http_tls.c - the HTTP client's TLS transport: agent/tls sessions over the HAL socket. */
#include "quotes/http.h"
#include "quotes/http_tls.h"

void tw_http_tls_setup(struct tw_http_tls *t, struct tw_tls_config *cfg)
{
	t->cfg = cfg;
	t->active = 0;
}

static int tls_start(void *ctx, int fd, const char *host, char *err, size_t errlen)
{
	struct tw_http_tls *t = ctx;
	int rc;

	if (t->active)
		tw_tls_free(&t->s);
	t->active = 0;
	rc = tw_tls_init(&t->s, t->cfg, fd, host, err, errlen);
	if (rc == TW_OK)
		t->active = 1;
	return rc;
}

static int tls_handshake(void *ctx, unsigned *want, char *err, size_t errlen)
{
	return tw_tls_handshake(&((struct tw_http_tls *)ctx)->s, want, err, errlen);
}

static long tls_read(void *ctx, void *buf, size_t len, unsigned *want)
{
	return tw_tls_read(&((struct tw_http_tls *)ctx)->s, buf, len, want);
}

static long tls_write(void *ctx, const void *buf, size_t len, unsigned *want)
{
	return tw_tls_write(&((struct tw_http_tls *)ctx)->s, buf, len, want);
}

static void tls_close(void *ctx)
{
	struct tw_http_tls *t = ctx;

	if (t->active)
		tw_tls_free(&t->s);
	t->active = 0;
}

const struct tw_http_transport_ops tw_http_tls_ops = {
	tls_start, tls_handshake, tls_read, tls_write, tls_close,
};
