/* SPDX-License-Identifier: MIT */
/* fake_hal.c - the scripted HAL behind fake_hal.h; links in place of hal/posix in unit tests:
 * peers, connects in a queue, a resolver whose answers arrive on the fake clock, a stderr that
 * can be made unwritable. */
#include "fake_hal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
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
	struct {
		int rc, fd, finish_rc;
	} connects[FAKE_MAX_CONNECTS];
	size_t nconnects;
	int finish_rc; /* of the last connect handed out */
	char connect_log[1024];
	struct {
		int used;
		char host[TW_HAL_HOST_MAX];
		int rc;
		char addrs[256];
		int64_t at_ms;
	} rscripts[16];
	struct {
		int used;
		long ticket;
		tw_mono_t at; /* -1: never */
		struct tw_hal_resolved res;
	} rjobs[TW_HAL_RESOLVE_SLOTS];
	long next_ticket;
	int resolve_calls;
	int stderr_blocked;
	char stderr_buf[FAKE_SENT_MAX + 1];
	size_t stderr_len;
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
	if (F.nconnects == FAKE_MAX_CONNECTS)
		return;
	F.connects[F.nconnects].rc = rc;
	F.connects[F.nconnects].fd = fd;
	F.connects[F.nconnects].finish_rc = finish_rc;
	F.nconnects++;
}

const char *fake_connect_log(void)
{
	return F.connect_log;
}

void fake_resolve_script(const char *host, int rc, const char *addrs, int64_t at_ms)
{
	for (size_t i = 0; i < sizeof F.rscripts / sizeof F.rscripts[0]; i++) {
		if (!F.rscripts[i].used) {
			F.rscripts[i].used = 1;
			snprintf(F.rscripts[i].host, sizeof F.rscripts[i].host, "%s", host);
			F.rscripts[i].rc = rc;
			snprintf(F.rscripts[i].addrs, sizeof F.rscripts[i].addrs, "%s",
				 addrs ? addrs : "");
			F.rscripts[i].at_ms = at_ms;
			return;
		}
	}
}

int fake_resolve_calls(void)
{
	return F.resolve_calls;
}

void fake_stderr_block(int on)
{
	F.stderr_blocked = on;
}

const char *fake_stderr_text(size_t *len)
{
	F.stderr_buf[F.stderr_len] = '\0';
	*len = F.stderr_len;
	return F.stderr_buf;
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

	if (fd == FAKE_RESOLVER_FD) {
		for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS; i++) {
			if (F.rjobs[i].used && F.rjobs[i].at >= 0 && F.rjobs[i].at <= F.now)
				r = want & TW_HAL_READ;
		}
		return r;
	}
	if (fd == FAKE_STDERR_FD)
		return F.stderr_blocked ? 0 : (want & TW_HAL_WRITE);
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
		if (fds[i].fd == FAKE_RESOLVER_FD && (fds[i].events & TW_HAL_READ)) {
			for (size_t j = 0; j < TW_HAL_RESOLVE_SLOTS; j++) {
				if (F.rjobs[j].used && F.rjobs[j].at >= 0 && F.rjobs[j].at < next)
					next = F.rjobs[j].at;
			}
		}
	}
	F.wall_ms += (next - F.now) / TW_MONO_PER_MS;
	F.now = next;
	for (size_t i = 0; i < n; i++) {
		fds[i].revents = readiness(fds[i].fd, fds[i].events);
		ready += fds[i].revents != 0;
	}
	return ready;
}

int tw_hal_addr_parse(const char *literal, struct tw_hal_addr *out)
{
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, literal, out->bytes) == 1) {
		out->family = TW_HAL_INET;
		return TW_OK;
	}
	if (inet_pton(AF_INET6, literal, out->bytes) == 1) {
		out->family = TW_HAL_INET6;
		return TW_OK;
	}
	return TW_ERR_RESOLVE;
}

void tw_hal_addr_format(const struct tw_hal_addr *a, char *buf, size_t len)
{
	if (inet_ntop(a->family == TW_HAL_INET6 ? AF_INET6 : AF_INET, a->bytes, buf,
		      (socklen_t)len) == NULL && len)
		snprintf(buf, len, "?");
}

int tw_hal_resolver_start(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return FAKE_RESOLVER_FD;
}

long tw_hal_resolve_submit(const char *host)
{
	size_t slot = TW_HAL_RESOLVE_SLOTS;
	struct tw_hal_resolved *res;
	const char *addrs = "192.0.2.1";
	int rc = TW_OK;
	int64_t at_ms = 0;

	for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS && slot == TW_HAL_RESOLVE_SLOTS; i++) {
		if (!F.rjobs[i].used)
			slot = i;
	}
	if (slot == TW_HAL_RESOLVE_SLOTS)
		return TW_ERR_NOMEM;
	F.resolve_calls++;
	for (size_t i = 0; i < sizeof F.rscripts / sizeof F.rscripts[0]; i++) {
		if (F.rscripts[i].used && strcmp(F.rscripts[i].host, host) == 0) {
			F.rscripts[i].used = 0;
			rc = F.rscripts[i].rc;
			addrs = F.rscripts[i].addrs;
			at_ms = F.rscripts[i].at_ms;
			break;
		}
	}
	F.rjobs[slot].used = 1;
	F.rjobs[slot].ticket = ++F.next_ticket;
	F.rjobs[slot].at = at_ms < 0 ? -1 : F.now + at_ms * TW_MONO_PER_MS;
	res = &F.rjobs[slot].res;
	memset(res, 0, sizeof *res);
	res->ticket = F.next_ticket;
	res->rc = rc;
	if (rc != TW_OK) {
		snprintf(res->err, sizeof res->err, "fake: cannot resolve '%s'", host);
	} else {
		char copy[256], *tok, *save = NULL;

		snprintf(copy, sizeof copy, "%s", addrs);
		for (tok = strtok_r(copy, ",", &save); tok && res->n < TW_HAL_ADDRS_MAX;
		     tok = strtok_r(NULL, ",", &save)) {
			if (tw_hal_addr_parse(tok, &res->addrs[res->n]) == TW_OK)
				res->n++;
		}
	}
	return F.next_ticket;
}

int tw_hal_resolve_take(struct tw_hal_resolved *out)
{
	for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS; i++) {
		if (F.rjobs[i].used && F.rjobs[i].at >= 0 && F.rjobs[i].at <= F.now) {
			*out = F.rjobs[i].res;
			F.rjobs[i].used = 0;
			return TW_OK;
		}
	}
	return TW_ERR_WOULD_BLOCK;
}

static int next_connect(const char *what, uint16_t port, int *fd_out, char *err, size_t errlen)
{
	size_t n = strlen(F.connect_log);
	int rc;

	snprintf(F.connect_log + n, sizeof F.connect_log - n, "%s%s:%u", n ? " " : "", what,
		 (unsigned)port);
	*fd_out = -1;
	if (F.nconnects == 0) {
		snprintf(err, errlen, "fake: no connect scripted for %s:%u", what, (unsigned)port);
		return TW_ERR_REFUSED;
	}
	rc = F.connects[0].rc;
	if (rc == TW_OK || rc == TW_ERR_WOULD_BLOCK)
		*fd_out = F.connects[0].fd;
	F.finish_rc = F.connects[0].finish_rc;
	memmove(F.connects, F.connects + 1, --F.nconnects * sizeof F.connects[0]);
	if (rc < 0 && rc != TW_ERR_WOULD_BLOCK)
		snprintf(err, errlen, "fake: connect to %s:%u refused", what, (unsigned)port);
	return rc;
}

int tw_hal_tcp_connect_addr(const struct tw_hal_addr *addr, uint16_t port, int *fd_out,
			    char *err, size_t errlen)
{
	char text[TW_HAL_ADDR_TEXT];

	tw_hal_addr_format(addr, text, sizeof text);
	return next_connect(text, port, fd_out, err, errlen);
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
	int rc = next_connect(host, port, fd_out, err, errlen);

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

long tw_hal_log_write(const void *buf, size_t len)
{
	size_t take = len;

	if (F.stderr_blocked)
		return TW_ERR_WOULD_BLOCK;
	if (take > FAKE_SENT_MAX - F.stderr_len)
		take = FAKE_SENT_MAX - F.stderr_len;
	if (take == 0)
		return len ? TW_ERR_WOULD_BLOCK : 0;
	memcpy(F.stderr_buf + F.stderr_len, buf, take);
	F.stderr_len += take;
	return (long)take;
}

int tw_hal_log_fd(void)
{
	return FAKE_STDERR_FD;
}
