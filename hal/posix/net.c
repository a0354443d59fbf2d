/* SPDX-License-Identifier: MIT */
/* net.c - POSIX sockets and readiness waits for the HAL (non-blocking TCP over poll). Nothing
 * here resolves a name except tw_hal_tcp_connect() (tools, never the loop) and
 * tw_hal_tcp_listen() (once at start); the loop's look-ups run in resolve.c's thread. */
#include "hal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The largest set tw_hal_wait() accepts; the loop's fd table is smaller. */
#define HAL_WAIT_MAX 256

static int errno_code(int e)
{
	switch (e) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
	case EINPROGRESS:
		return TW_ERR_WOULD_BLOCK;
	case ECONNRESET:
	case EPIPE:
		return TW_ERR_RESET;
	case ECONNREFUSED:
	case ENETUNREACH:
	case EHOSTUNREACH:
		return TW_ERR_REFUSED;
	case ETIMEDOUT:
		return TW_ERR_TIMEOUT;
	default:
		return TW_ERR_IO;
	}
}

/* "connect to HOST: reason" into the caller's buffer. @return @p code. */
static int set_err(char *err, size_t errlen, int code, const char *host, int e)
{
	if (err && errlen)
		snprintf(err, errlen, "connect to %s failed: %s", host,
			 e ? strerror(e) : "no usable address");
	return code;
}

/* The signal mask in force while waiting: the one from before
 * tw_hal_signals_install() blocked the agent's signals. */
static sigset_t wait_mask;
static int have_wait_mask;

int tw_hal_signals_install(const int *signos, size_t n, void (*handler)(int))
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	if (sigprocmask(SIG_SETMASK, NULL, &wait_mask) < 0)
		return TW_ERR_IO;
	for (size_t i = 0; i < n; i++) {
		if (sigaction(signos[i], &sa, NULL) < 0)
			return TW_ERR_IO;
		sigaddset(&block, signos[i]);
		sigdelset(&wait_mask, signos[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &block, NULL) < 0)
		return TW_ERR_IO;
	have_wait_mask = 1;
	return TW_OK;
}

int tw_hal_wait(struct tw_hal_pollfd *fds, size_t n, int timeout_ms)
{
	struct pollfd p[HAL_WAIT_MAX];
	struct timespec ts;
	int rc;

	if (n > HAL_WAIT_MAX || timeout_ms < 0)
		return TW_ERR_ARG;
	for (size_t i = 0; i < n; i++) {
		p[i].fd = fds[i].fd;
		p[i].events = (short)(((fds[i].events & TW_HAL_READ) ? POLLIN : 0) |
				      ((fds[i].events & TW_HAL_WRITE) ? POLLOUT : 0));
		p[i].revents = 0;
	}
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
	rc = ppoll(p, (nfds_t)n, &ts, have_wait_mask ? &wait_mask : NULL);
	if (rc < 0)
		return errno == EINTR ? TW_ERR_INTR : TW_ERR_IO;
	for (size_t i = 0; i < n; i++) {
		unsigned r = 0;

		if (p[i].revents & POLLIN)
			r |= TW_HAL_READ;
		if (p[i].revents & POLLOUT)
			r |= TW_HAL_WRITE;
		if (p[i].revents & (POLLERR | POLLHUP | POLLNVAL))
			r |= TW_HAL_ERROR;
		fds[i].revents = r;
	}
	return rc;
}

static int nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Resolve numerically first; only names go through the resolver, which is
 * the one step here that can block (bounded by resolv.conf's timeout). */
static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **res, char *err,
		   size_t errlen)
{
	struct addrinfo hints;
	char service[8];
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(service, sizeof service, "%u", (unsigned)port);
	hints.ai_flags |= AI_NUMERICHOST;
	rc = getaddrinfo(host, service, &hints, res);
	if (rc == EAI_NONAME) {
		hints.ai_flags &= ~AI_NUMERICHOST;
		rc = getaddrinfo(host, service, &hints, res);
	}
	if (rc != 0) {
		if (err && errlen)
			snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return TW_ERR_RESOLVE;
	}
	return TW_OK;
}

static void to_sockaddr(const struct tw_hal_addr *a, uint16_t port, struct sockaddr_storage *ss,
			socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == TW_HAL_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->bytes, 16);
		*len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a->bytes, 4);
		*len = sizeof *s4;
	}
}

int tw_hal_tcp_connect_addr(const struct tw_hal_addr *addr, uint16_t port, int *fd_out,
			    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char text[TW_HAL_ADDR_TEXT];
	int fd, one = 1, e, rc;

	*fd_out = -1;
	tw_hal_addr_format(addr, text, sizeof text);
	to_sockaddr(addr, port, &ss, &sl);
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || nonblock_cloexec(fd) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		return set_err(err, errlen, TW_ERR_IO, text, e);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		*fd_out = fd;
		return TW_OK;
	}
	e = errno;
	if (e == EINPROGRESS) {
		*fd_out = fd;
		return TW_ERR_WOULD_BLOCK;
	}
	close(fd);
	rc = errno_code(e);
	return set_err(err, errlen, rc == TW_ERR_WOULD_BLOCK ? TW_ERR_IO : rc, text, e);
}

int tw_hal_tcp_connect_finish(int fd, char *err, size_t errlen)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == 0)
		return TW_OK;
	return set_err(err, errlen,
		       errno_code(soerr) == TW_ERR_WOULD_BLOCK ? TW_ERR_IO : errno_code(soerr),
		       "peer", soerr);
}

/* One address, blocking up to @p deadline. */
static int connect_one(const struct tw_hal_addr *a, uint16_t port, tw_mono_t deadline, int *fd_out,
		       char *err, size_t errlen)
{
	struct tw_hal_pollfd p;
	int rc = tw_hal_tcp_connect_addr(a, port, fd_out, err, errlen);

	if (rc != TW_ERR_WOULD_BLOCK)
		return rc;
	for (;;) {
		tw_mono_t left = deadline - tw_hal_now();

		if (left <= 0) {
			rc = TW_ERR_TIMEOUT;
			if (err && errlen)
				snprintf(err, errlen, "timed out");
			break;
		}
		p.fd = *fd_out;
		p.events = TW_HAL_WRITE;
		rc = tw_hal_wait(&p, 1, (int)((left + 999) / 1000));
		if (rc == TW_ERR_INTR || rc == 0)
			continue;
		if (rc < 0)
			break;
		rc = tw_hal_tcp_connect_finish(*fd_out, err, errlen);
		break;
	}
	if (rc != TW_OK) {
		close(*fd_out);
		*fd_out = -1;
	}
	return rc;
}

int tw_hal_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out, char *err,
		       size_t errlen)
{
	struct addrinfo *res = NULL;
	struct tw_hal_addr addrs[TW_HAL_ADDRS_MAX];
	size_t n = 0;
	tw_mono_t deadline = tw_hal_now() + (tw_mono_t)timeout_ms * TW_MONO_PER_MS;
	char why[160] = "", text[TW_HAL_ADDR_TEXT];
	int rc = resolve(host, port, 0, &res, err, errlen);

	*fd_out = -1;
	if (rc != TW_OK)
		return rc;
	for (struct addrinfo *ai = res; ai && n < TW_HAL_ADDRS_MAX; ai = ai->ai_next) {
		memset(&addrs[n], 0, sizeof addrs[n]);
		if (ai->ai_family == AF_INET) {
			addrs[n].family = TW_HAL_INET;
			memcpy(addrs[n++].bytes, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		} else if (ai->ai_family == AF_INET6) {
			addrs[n].family = TW_HAL_INET6;
			memcpy(addrs[n++].bytes, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
			       16);
		}
	}
	freeaddrinfo(res);
	rc = TW_ERR_RESOLVE;
	/* Every address in turn, each with its share of what is left of the bound. */
	for (size_t i = 0; i < n; i++) {
		tw_mono_t left = deadline - tw_hal_now();

		rc = connect_one(&addrs[i], port, tw_hal_now() + left / (tw_mono_t)(n - i), fd_out,
				 why, sizeof why);
		if (rc == TW_OK)
			return TW_OK;
		tw_hal_addr_format(&addrs[i], text, sizeof text);
	}
	if (err && errlen)
		snprintf(err, errlen, "connect to '%s' port %u failed (%zu address%s, last %s): %s",
			 host, (unsigned)port, n, n == 1 ? "" : "es", n ? text : "-",
			 n ? why : "no address");
	return rc;
}

int tw_hal_tcp_listen(const char *host, uint16_t port, int backlog, int *fd_out, char *err,
		      size_t errlen)
{
	struct addrinfo *res = NULL;
	int rc, fd = -1, one = 1;

	*fd_out = -1;
	rc = resolve(host, port, 1, &res, err, errlen);
	if (rc != TW_OK)
		return rc;
	rc = TW_ERR_IO;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int e;

		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && nonblock_cloexec(fd) == 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
			rc = TW_OK;
			break;
		}
		e = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (err && errlen)
			snprintf(err, errlen, "cannot listen on %s:%u: %s", host, (unsigned)port,
				 strerror(e));
	}
	freeaddrinfo(res);
	if (rc != TW_OK)
		return rc;
	*fd_out = fd;
	return TW_OK;
}

int tw_hal_local_port(int fd)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return TW_ERR_IO;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return TW_ERR_ARG;
}

int tw_hal_tcp_accept(int listen_fd, int *fd_out, char *peer, size_t peerlen)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof ss;
	int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

	*fd_out = -1;
	if (fd < 0)
		return errno_code(errno);
	if (peer && peerlen) {
		char host[64] = "?";
		unsigned port = 0;

		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof host);
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		snprintf(peer, peerlen, "%s:%u", host, port);
	}
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*fd_out = fd;
	return TW_OK;
}

long tw_hal_send(int fd, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n >= 0)
			return n == 0 && len > 0 ? TW_ERR_WOULD_BLOCK : (long)n;
		if (errno != EINTR)
			return errno_code(errno);
	}
}

long tw_hal_recv(int fd, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n > 0)
			return (long)n;
		if (n == 0)
			return TW_ERR_CLOSED;
		if (errno != EINTR)
			return errno_code(errno);
	}
}

void tw_hal_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
