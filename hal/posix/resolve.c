/* SPDX-License-Identifier: MIT */
/* resolve.c - name look-ups off the loop: one worker thread running getaddrinfo over a fixed
 * table of slots, waking the loop through an eventfd; literals parsed without it.
 *
 * Why a thread and not c-ares: the agent is one static binary for three
 * architectures, and getaddrinfo already honours /etc/hosts, nsswitch's files
 * and resolv.conf exactly as the rest of the system does; c-ares would be one
 * more cross-built static library with its own reading of those files. One
 * thread is enough: look-ups are rare (a connect, then the cache in
 * core/resolve.c answers for its TTL). A look-up the loop gave up on (its
 * time-out) still runs to its end in the thread, bounded by resolv.conf's
 * timeout and attempts; its result is taken and cached. */
#include "hal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum slot_state { S_FREE, S_QUEUED, S_RUNNING, S_DONE };

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;
	int efd;
	long next_ticket;
	struct slot {
		enum slot_state state;
		long ticket;
		char host[TW_HAL_HOST_MAX];
		struct tw_hal_resolved res;
	} slots[TW_HAL_RESOLVE_SLOTS];
} R = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, -1, 0, {{0}}};

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
	if (len == 0)
		return;
	if (inet_ntop(a->family == TW_HAL_INET6 ? AF_INET6 : AF_INET, a->bytes, buf,
		      (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

/* The blocking part, in the worker: at most TW_HAL_ADDRS_MAX distinct addresses, in
 * getaddrinfo's order (RFC 6724: the system's preference between IPv6 and IPv4). */
static void lookup(const char *host, struct tw_hal_resolved *res)
{
	struct addrinfo hints, *ai = NULL;
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	res->n = 0;
	rc = getaddrinfo(host, NULL, &hints, &ai);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA) {
		/* AI_ADDRCONFIG hides loopback-only answers on hosts without a
		 * configured address of that family: ask once more without it. */
		hints.ai_flags = 0;
		rc = getaddrinfo(host, NULL, &hints, &ai);
	}
	if (rc != 0) {
		res->rc = TW_ERR_RESOLVE;
		snprintf(res->err, sizeof res->err, "cannot resolve '%s': %s", host,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return;
	}
	for (struct addrinfo *p = ai; p && res->n < TW_HAL_ADDRS_MAX; p = p->ai_next) {
		struct tw_hal_addr a;
		int dup = 0;

		memset(&a, 0, sizeof a);
		if (p->ai_family == AF_INET) {
			a.family = TW_HAL_INET;
			memcpy(a.bytes, &((struct sockaddr_in *)p->ai_addr)->sin_addr, 4);
		} else if (p->ai_family == AF_INET6) {
			a.family = TW_HAL_INET6;
			memcpy(a.bytes, &((struct sockaddr_in6 *)p->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		for (size_t i = 0; i < res->n; i++)
			dup |= memcmp(&res->addrs[i], &a, sizeof a) == 0;
		if (!dup)
			res->addrs[res->n++] = a;
	}
	freeaddrinfo(ai);
	res->rc = res->n ? TW_OK : TW_ERR_RESOLVE;
	if (res->n == 0)
		snprintf(res->err, sizeof res->err, "'%s' has no IPv4 or IPv6 address", host);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&R.mu);
	for (;;) {
		struct slot *job = NULL;
		char host[TW_HAL_HOST_MAX];
		struct tw_hal_resolved res;
		uint64_t one = 1;

		for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS; i++) {
			struct slot *s = &R.slots[i];

			if (s->state == S_QUEUED && (job == NULL || s->ticket < job->ticket))
				job = s;
		}
		if (job == NULL) {
			pthread_cond_wait(&R.cv, &R.mu);
			continue;
		}
		job->state = S_RUNNING;
		memcpy(host, job->host, sizeof host);
		pthread_mutex_unlock(&R.mu);
		memset(&res, 0, sizeof res);
		lookup(host, &res);
		pthread_mutex_lock(&R.mu);
		res.ticket = job->ticket;
		job->res = res;
		job->state = S_DONE;
		if (write(R.efd, &one, sizeof one) < 0) {
			/* the counter cannot overflow at 16 slots; nothing else can fail */
		}
	}
	return NULL;
}

int tw_hal_resolver_start(char *err, size_t errlen)
{
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	pthread_mutex_lock(&R.mu);
	if (R.started) {
		pthread_mutex_unlock(&R.mu);
		return R.efd;
	}
	R.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (R.efd < 0) {
		pthread_mutex_unlock(&R.mu);
		snprintf(err, errlen, "resolver: eventfd: %s", strerror(errno));
		return TW_ERR_IO;
	}
	/* The thread inherits this mask: it never takes a signal meant for the loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, (size_t)256 * 1024); /* getaddrinfo needs a few pages */
	rc = pthread_create(&t, &attr, worker, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(R.efd);
		R.efd = -1;
		pthread_mutex_unlock(&R.mu);
		snprintf(err, errlen, "resolver: cannot start its thread: %s", strerror(rc));
		return TW_ERR_IO;
	}
	R.started = 1;
	pthread_mutex_unlock(&R.mu);
	return R.efd;
}

long tw_hal_resolve_submit(const char *host)
{
	long ticket = TW_ERR_NOMEM;

	if (strlen(host) >= TW_HAL_HOST_MAX)
		return TW_ERR_ARG;
	pthread_mutex_lock(&R.mu);
	for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS && R.started; i++) {
		struct slot *s = &R.slots[i];

		if (s->state == S_FREE) {
			s->state = S_QUEUED;
			s->ticket = ticket = ++R.next_ticket;
			snprintf(s->host, sizeof s->host, "%s", host);
			pthread_cond_signal(&R.cv);
			break;
		}
	}
	pthread_mutex_unlock(&R.mu);
	return ticket;
}

int tw_hal_resolve_take(struct tw_hal_resolved *out)
{
	int rc = TW_ERR_WOULD_BLOCK;
	uint64_t v;

	pthread_mutex_lock(&R.mu);
	for (size_t i = 0; i < TW_HAL_RESOLVE_SLOTS; i++) {
		struct slot *s = &R.slots[i];

		if (s->state == S_DONE) {
			*out = s->res;
			s->state = S_FREE;
			rc = TW_OK;
			break;
		}
	}
	if (rc != TW_OK && R.efd >= 0) {
		/* Nothing left: quiet the fd. A result finishing after this read
		 * writes again, so no wake-up is lost. */
		if (read(R.efd, &v, sizeof v) < 0) {
			/* EAGAIN: already quiet */
		}
	}
	pthread_mutex_unlock(&R.mu);
	return rc;
}
