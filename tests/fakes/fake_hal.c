/* SPDX-License-Identifier: MIT */
/* fake_hal.c - the scripted HAL behind fake_hal.h; links in place of hal/posix in unit tests. */
#include "fake_hal.h"

#include <stdio.h>
#include <string.h>

enum step_kind { STEP_DATA, STEP_BLOCK, STEP_RESET, STEP_CLOSE };

struct step {
	enum step_kind kind;
	unsigned char data[512];
	size_t len, off, chunk;
	tw_mono_t at;
};

struct peer {
	int used, closed;
	struct step steps[FAKE_MAX_STEPS];
	size_t head, n;
	size_t send_max;
	int send_block, send_reset;
	char sent[FAKE_SENT_MAX + 1];
	size_t sent_len;
	int recv_calls;
};

static struct {
	tw_mono_t now;
	int64_t wall_ms;
	struct peer peers[FAKE_MAX_PEERS];
	int connect_rc, connect_fd, finish_rc, have_connect;
	int accept_q[FAKE_MAX_PEERS];
	size_t accept_n;
	int last_timeout, waits;
	int con_in, con_out;
	void (*handler)(int);
	unsigned char entropy_ctr;
} F;

void fake_reset(void)
{
	memset(&F, 0, sizeof F);
	F.now = TW_MONO_PER_S;
	F.wall_ms = 1767225600000LL; /* 2026-01-01T00:00:00Z */
	F.con_in = F.con_out = -1;
}

void fake_clock_set(tw_mono_t t) { F.now = t; }
void fake_clock_advance_ms(int64_t ms) { F.now += ms * TW_MONO_PER_MS; F.wall_ms += ms; }
void fake_wall_set_ms(int64_t ms) { F.wall_ms = ms; }

static struct peer *peer_of(int fd)
{
	int i = fd - FAKE_FD_BASE;

	if (i < 0 || i >= FAKE_MAX_PEERS || !F.peers[i].used)
		return NULL;
	return &F.peers[i];
}

int fake_peer_new(void)
{
	for (int i = 0; i < FAKE_MAX_PEERS; i++) {
		if (!F.peers[i].used) {
			memset(&F.peers[i], 0, sizeof F.peers[i]);
			F.peers[i].used = 1;
			return FAKE_FD_BASE + i;
		}
	}
	return -1;
}

static struct step *push(int fd, enum step_kind kind)
{
	struct peer *p = peer_of(fd);
	struct step *s;

	if (p == NULL || p->n == FAKE_MAX_STEPS)
		return NULL;
	s = &p->steps[(p->head + p->n++) % FAKE_MAX_STEPS];
	memset(s, 0, sizeof *s);
	s->kind = kind;
	return s;
}

void fake_peer_data(int fd, const void *data, size_t len, size_t chunk, int64_t at_ms)
{
	/* Long data is split into several steps of the same chunking. */
	const unsigned char *d = data;

	do {
		struct step *s = push(fd, STEP_DATA);
		size_t take = len < sizeof s->data ? len : sizeof s->data;

		if (s == NULL)
			return;
		memcpy(s->data, d, take);
		s->len = take;
		s->chunk = chunk;
		s->at = at_ms ? at_ms * TW_MONO_PER_MS : 0;
		d += take;
		len -= take;
	} while (len > 0);
}

void fake_peer_would_block(int fd) { push(fd, STEP_BLOCK); }
void fake_peer_reset(int fd) { push(fd, STEP_RESET); }
void fake_peer_close(int fd) { push(fd, STEP_CLOSE); }

void fake_peer_send_max(int fd, size_t max)
{
	struct peer *p = peer_of(fd);

	if (p)
		p->send_max = max;
}

void fake_peer_send_block(int fd, int n)
{
	struct peer *p = peer_of(fd);

	if (p)
		p->send_block = n;
}

void fake_peer_send_reset(int fd)
{
	struct peer *p = peer_of(fd);

	if (p)
		p->send_reset = 1;
}

const char *fake_peer_sent(int fd, size_t *len)
{
	struct peer *p = peer_of(fd);

	if (p == NULL) {
		*len = 0;
		return "";
	}
	p->sent[p->sent_len] = '\0';
	*len = p->sent_len;
	return p->sent;
}

int fake_peer_recv_calls(int fd)
{
	struct peer *p = peer_of(fd);

	return p ? p->recv_calls : -1;
}

int fake_peer_closed(int fd)
{
	struct peer *p = peer_of(fd);

	return p ? p->closed : -1;
}

void fake_connect_next(int rc, int fd, int finish_rc)
{
	F.connect_rc = rc;
	F.connect_fd = fd;
	F.finish_rc = finish_rc;
	F.have_connect = 1;
}

void fake_accept_push(int fd)
{
	if (F.accept_n < FAKE_MAX_PEERS)
		F.accept_q[F.accept_n++] = fd;
}

int fake_last_wait_timeout(void) { return F.last_timeout; }
int fake_wait_calls(void) { return F.waits; }

void fake_console_peers(int in, int out)
{
	F.con_in = in;
	F.con_out = out;
}

void fake_raise(int sig)
{
	if (F.handler)
		F.handler(sig);
}

/* ---- the HAL itself ---- */

tw_mono_t tw_hal_now(void) { return F.now; }
int64_t tw_hal_wall_ms(void) { return F.wall_ms; }

int tw_hal_signals_install(const int *signos, size_t n, void (*handler)(int))
{
	(void)signos;
	(void)n;
	F.handler = handler;
	return TW_OK;
}

static unsigned readiness(int fd, unsigned want)
{
	struct peer *p = peer_of(fd);
	unsigned r = 0;

	if (p == NULL)
		return TW_HAL_ERROR;
	if ((want & TW_HAL_READ) && p->n > 0 && p->steps[p->head].at <= F.now)
		r |= TW_HAL_READ;
	if ((want & TW_HAL_WRITE) && p->send_block == 0)
		r |= TW_HAL_WRITE;
	return r;
}

/* Nothing ready: the fake clock jumps to the earliest scripted arrival or
 * to the end of the time-out, so timers are tested without sleeping. */
int tw_hal_wait(struct tw_hal_pollfd *fds, size_t n, int timeout_ms)
{
	int ready = 0;
	tw_mono_t deadline = F.now + (tw_mono_t)timeout_ms * TW_MONO_PER_MS;
	tw_mono_t next = deadline;

	F.waits++;
	F.last_timeout = timeout_ms;
	for (size_t i = 0; i < n; i++) {
		fds[i].revents = readiness(fds[i].fd, fds[i].events);
		ready += fds[i].revents != 0;
	}
	if (ready)
		return ready;
	for (size_t i = 0; i < n; i++) {
		struct peer *p = peer_of(fds[i].fd);

		if (p && (fds[i].events & TW_HAL_READ) && p->n > 0 && p->steps[p->head].at < next)
			next = p->steps[p->head].at;
	}
	F.wall_ms += (next - F.now) / TW_MONO_PER_MS;
	F.now = next;
	for (size_t i = 0; i < n; i++) {
		fds[i].revents = readiness(fds[i].fd, fds[i].events);
		ready += fds[i].revents != 0;
	}
	return ready;
}

int tw_hal_tcp_connect_start(const char *host, uint16_t port, int *fd_out, char *err,
			     size_t errlen)
{
	if (!F.have_connect) {
		snprintf(err, errlen, "fake: no connect scripted for %s:%u", host, (unsigned)port);
		return TW_ERR_REFUSED;
	}
	F.have_connect = 0;
	*fd_out = F.connect_rc == TW_OK || F.connect_rc == TW_ERR_WOULD_BLOCK ? F.connect_fd : -1;
	if (F.connect_rc < 0 && F.connect_rc != TW_ERR_WOULD_BLOCK)
		snprintf(err, errlen, "fake: connect to %s:%u refused", host, (unsigned)port);
	return F.connect_rc;
}

int tw_hal_tcp_connect_finish(int fd, char *err, size_t errlen)
{
	(void)fd;
	if (F.finish_rc != TW_OK)
		snprintf(err, errlen, "fake: connect failed");
	return F.finish_rc;
}

int tw_hal_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out, char *err,
		       size_t errlen)
{
	int rc = tw_hal_tcp_connect_start(host, port, fd_out, err, errlen);

	(void)timeout_ms;
	if (rc == TW_ERR_WOULD_BLOCK)
		rc = tw_hal_tcp_connect_finish(*fd_out, err, errlen);
	return rc;
}

int tw_hal_tcp_listen(const char *host, uint16_t port, int backlog, int *fd_out, char *err,
		      size_t errlen)
{
	(void)host;
	(void)port;
	(void)backlog;
	(void)err;
	(void)errlen;
	*fd_out = fake_peer_new();
	return *fd_out < 0 ? TW_ERR_NOMEM : TW_OK;
}

int tw_hal_local_port(int fd)
{
	return peer_of(fd) ? 7070 : TW_ERR_ARG;
}

int tw_hal_tcp_accept(int listen_fd, int *fd_out, char *peer, size_t peerlen)
{
	(void)listen_fd;
	if (F.accept_n == 0) {
		*fd_out = -1;
		return TW_ERR_WOULD_BLOCK;
	}
	*fd_out = F.accept_q[0];
	memmove(F.accept_q, F.accept_q + 1, --F.accept_n * sizeof F.accept_q[0]);
	snprintf(peer, peerlen, "fake:%d", *fd_out);
	return TW_OK;
}

long tw_hal_send(int fd, const void *buf, size_t len)
{
	struct peer *p = peer_of(fd);
	size_t take = len;

	if (p == NULL)
		return TW_ERR_IO;
	if (p->send_reset)
		return TW_ERR_RESET;
	if (p->send_block > 0) {
		p->send_block--;
		return TW_ERR_WOULD_BLOCK;
	}
	if (p->send_max && take > p->send_max)
		take = p->send_max;
	if (take > FAKE_SENT_MAX - p->sent_len)
		take = FAKE_SENT_MAX - p->sent_len;
	if (take == 0 && len > 0)
		return TW_ERR_WOULD_BLOCK;
	memcpy(p->sent + p->sent_len, buf, take);
	p->sent_len += take;
	return (long)take;
}

long tw_hal_recv(int fd, void *buf, size_t len)
{
	struct peer *p = peer_of(fd);
	struct step *s;
	size_t take;

	if (p == NULL)
		return TW_ERR_IO;
	p->recv_calls++;
	if (p->n == 0 || p->steps[p->head].at > F.now)
		return TW_ERR_WOULD_BLOCK;
	s = &p->steps[p->head];
	switch (s->kind) {
	case STEP_BLOCK:
		p->head = (p->head + 1) % FAKE_MAX_STEPS;
		p->n--;
		return TW_ERR_WOULD_BLOCK;
	case STEP_RESET:
		return TW_ERR_RESET; /* sticky, like a real reset socket */
	case STEP_CLOSE:
		return TW_ERR_CLOSED;
	case STEP_DATA:
		break;
	}
	take = s->len - s->off;
	if (s->chunk && take > s->chunk)
		take = s->chunk;
	if (take > len)
		take = len;
	memcpy(buf, s->data + s->off, take);
	s->off += take;
	if (s->off == s->len) {
		p->head = (p->head + 1) % FAKE_MAX_STEPS;
		p->n--;
	}
	return (long)take;
}

void tw_hal_close(int fd)
{
	struct peer *p = peer_of(fd);

	if (p)
		p->closed = 1;
}

int tw_hal_entropy(void *buf, size_t len)
{
	unsigned char *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = F.entropy_ctr++;
	return TW_OK;
}

int tw_hal_console_open(const char *dev, unsigned baud, struct tw_hal_console *con, char *err,
			size_t errlen)
{
	(void)dev;
	(void)baud;
	if (F.con_in < 0 || F.con_out < 0) {
		snprintf(err, errlen, "fake: no console peers");
		return TW_ERR_IO;
	}
	con->in_fd = F.con_in;
	con->out_fd = F.con_out;
	con->owns_fds = 0;
	con->is_tty = 0;
	return TW_OK;
}

void tw_hal_console_close(struct tw_hal_console *con)
{
	con->in_fd = con->out_fd = -1;
}

long tw_hal_console_read(const struct tw_hal_console *con, void *buf, size_t len)
{
	return tw_hal_recv(con->in_fd, buf, len);
}

long tw_hal_console_write(const struct tw_hal_console *con, const void *buf, size_t len)
{
	return tw_hal_send(con->out_fd, buf, len);
}
