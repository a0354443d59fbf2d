/* SPDX-License-Identifier: MIT */
/* stream.c - the byte stream's two layers (clear HAL sockets, TLS client or server sessions) and its dispatch. */
#include "stream.h"

#include <stdio.h>
#include <string.h>

#include "hal.h"
#include "tls.h"

/* ---- plain layer ---- */

static int plain_start(struct tw_stream *st, const char *host, char *err, size_t errlen)
{
	(void)st;
	(void)host;
	(void)err;
	(void)errlen;
	return TW_OK;
}

static int plain_handshake(struct tw_stream *st, unsigned *want, char *err, size_t errlen)
{
	(void)st;
	(void)err;
	(void)errlen;
	*want = 0;
	return TW_OK;
}

static long plain_read(struct tw_stream *st, void *buf, size_t len, unsigned *want)
{
	long n = tw_hal_recv(st->fd, buf, len);

	if (n == TW_ERR_WOULD_BLOCK)
		*want = TW_HAL_READ;
	return n;
}

static long plain_write(struct tw_stream *st, const void *buf, size_t len, unsigned *want)
{
	long n = tw_hal_send(st->fd, buf, len);

	if (n == TW_ERR_WOULD_BLOCK)
		*want = TW_HAL_WRITE;
	return n;
}

static void plain_close(struct tw_stream *st) { (void)st; }

const struct tw_stream_ops tw_stream_plain = {
	"plain", plain_start, plain_handshake, plain_read, plain_write, plain_close,
};

/* ---- TLS layer ---- */

static void tls_close(struct tw_stream *st)
{
	if (st->tls_live)
		tw_tls_free(st->tls);
	st->tls_live = 0;
}

static int tls_start(struct tw_stream *st, const char *host, char *err, size_t errlen)
{
	tls_close(st);
	/* Live even when the setup fails: tw_tls_free() releases what it allocated. */
	st->tls_live = 1;
	return tw_tls_init(st->tls, st->cfg, st->fd, host, err, errlen);
}

static int tls_handshake(struct tw_stream *st, unsigned *want, char *err, size_t errlen)
{
	return tw_tls_handshake(st->tls, want, err, errlen);
}

static long tls_read(struct tw_stream *st, void *buf, size_t len, unsigned *want)
{
	return tw_tls_read(st->tls, buf, len, want);
}

static long tls_write(struct tw_stream *st, const void *buf, size_t len, unsigned *want)
{
	return tw_tls_write(st->tls, buf, len, want);
}

const struct tw_stream_ops tw_stream_tls = {
	"TLS", tls_start, tls_handshake, tls_read, tls_write, tls_close,
};

/* ---- the stream ---- */

void tw_stream_init(struct tw_stream *st, struct tw_tls_config *cfg, struct tw_tls *tls)
{
	memset(st, 0, sizeof *st);
	st->ops = &tw_stream_plain;
	st->fd = -1;
	st->cfg = cfg;
	st->tls = tls;
}

void tw_stream_open(struct tw_stream *st, int fd)
{
	tw_stream_close(st);
	st->fd = fd;
	(void)tw_stream_plain.start(st, NULL, NULL, 0);
}

int tw_stream_start_tls(struct tw_stream *st, const char *host, char *err, size_t errlen)
{
	if (!tw_stream_can_tls(st)) {
		snprintf(err, errlen, "TLS asked for on a stream without a TLS configuration");
		return TW_ERR_ARG;
	}
	/* The layer is TLS from here on, even if its start fails: never back to clear. */
	st->ops->close(st);
	st->ops = &tw_stream_tls;
	return st->ops->start(st, host, err, errlen);
}

int tw_stream_accept_tls(struct tw_stream *st, char *err, size_t errlen)
{
	/* A server session takes no host name: tw_tls_init() ignores it for a server config. */
	return tw_stream_start_tls(st, "", err, errlen);
}

size_t tw_stream_pending(const struct tw_stream *st)
{
	return st->tls_live && st->ops == &tw_stream_tls ? tw_tls_pending(st->tls) : 0;
}

int tw_stream_can_tls(const struct tw_stream *st) { return st->cfg != NULL && st->tls != NULL; }

int tw_stream_is_tls(const struct tw_stream *st) { return st->ops == &tw_stream_tls; }

int tw_stream_handshake(struct tw_stream *st, unsigned *want, char *err, size_t errlen)
{
	return st->ops->handshake(st, want, err, errlen);
}

long tw_stream_read(struct tw_stream *st, void *buf, size_t len, unsigned *want)
{
	return st->ops->read(st, buf, len, want);
}

long tw_stream_write(struct tw_stream *st, const void *buf, size_t len, unsigned *want)
{
	return st->ops->write(st, buf, len, want);
}

void tw_stream_close(struct tw_stream *st)
{
	st->ops->close(st);
	st->ops = &tw_stream_plain;
	st->fd = -1;
}
