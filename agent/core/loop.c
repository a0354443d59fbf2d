/* SPDX-License-Identifier: MIT */
/* loop.c - fd + timer event loop in the style of Redis' ae: callbacks, a timer returns its next delay. */
#include "loop.h"

#include <string.h>

#include "arena.h"

int tw_loop_init(struct tw_loop *l, struct tw_arena *a, size_t max_fds, size_t max_timers)
{
	memset(l, 0, sizeof *l);
	l->fds = tw_arena_carve(a, max_fds * sizeof *l->fds, "loop fd table", "max_fds");
	l->pfds = l->fds ? tw_arena_carve(a, max_fds * sizeof *l->pfds, "loop wait set",
					  "max_fds")
			 : NULL;
	l->pslot = l->pfds ? tw_arena_carve(a, max_fds * sizeof *l->pslot, "loop wait slots",
					    "max_fds")
			   : NULL;
	l->pgen = l->pslot ? tw_arena_carve(a, max_fds * sizeof *l->pgen, "loop wait gens",
					    "max_fds")
			   : NULL;
	l->timers = l->pgen ? tw_arena_carve(a, max_timers * sizeof *l->timers, "loop timers",
					     "max_timers")
			    : NULL;
	if (l->timers == NULL)
		return TW_ERR_NOMEM;
	l->max_fds = max_fds;
	l->max_timers = max_timers;
	for (size_t i = 0; i < max_fds; i++)
		l->fds[i].fd = -1;
	return TW_OK;
}

static struct tw_loop_fd *find_fd(struct tw_loop *l, int fd)
{
	for (size_t i = 0; i < l->max_fds; i++) {
		if (l->fds[i].fd == fd)
			return &l->fds[i];
	}
	return NULL;
}

int tw_loop_add_fd(struct tw_loop *l, int fd, unsigned mask, tw_fd_fn fn, void *arg)
{
	struct tw_loop_fd *s = find_fd(l, fd);

	if (fd < 0 || fn == NULL)
		return TW_ERR_ARG;
	if (s == NULL) {
		s = find_fd(l, -1);
		if (s == NULL)
			return TW_ERR_NOMEM;
		s->gen++;
	}
	s->fd = fd;
	s->mask = mask & (TW_HAL_READ | TW_HAL_WRITE);
	s->fn = fn;
	s->arg = arg;
	return TW_OK;
}

int tw_loop_set_mask(struct tw_loop *l, int fd, unsigned mask)
{
	struct tw_loop_fd *s = fd < 0 ? NULL : find_fd(l, fd);

	if (s == NULL)
		return TW_ERR_ARG;
	s->mask = mask & (TW_HAL_READ | TW_HAL_WRITE);
	return TW_OK;
}

void tw_loop_del_fd(struct tw_loop *l, int fd)
{
	struct tw_loop_fd *s = fd < 0 ? NULL : find_fd(l, fd);

	if (s) {
		s->fd = -1;
		s->gen++; /* a wait set built before this sees a stale generation */
	}
}

long long tw_loop_add_timer(struct tw_loop *l, int64_t delay_ms, tw_timer_fn fn, void *arg)
{
	if (fn == NULL || delay_ms < 0)
		return TW_ERR_ARG;
	for (size_t i = 0; i < l->max_timers; i++) {
		struct tw_loop_timer *t = &l->timers[i];

		if (t->id == 0) {
			t->id = ++l->next_id;
			t->when = tw_hal_now() + delay_ms * TW_MONO_PER_MS;
			t->period_ms = delay_ms;
			t->fn = fn;
			t->arg = arg;
			return t->id;
		}
	}
	return TW_ERR_NOMEM;
}

void tw_loop_del_timer(struct tw_loop *l, long long id)
{
	for (size_t i = 0; id > 0 && i < l->max_timers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i].id = 0;
			return;
		}
	}
}

int tw_loop_next_timeout(const struct tw_loop *l, int cap_ms)
{
	tw_mono_t now = tw_hal_now();
	tw_mono_t best = (tw_mono_t)cap_ms * TW_MONO_PER_MS;

	for (size_t i = 0; i < l->max_timers; i++) {
		const struct tw_loop_timer *t = &l->timers[i];

		if (t->id != 0 && t->when - now < best)
			best = t->when - now;
	}
	if (best <= 0)
		return 0;
	/* Round up: waking a little late is harmless, waking early spins. */
	return (int)((best + TW_MONO_PER_MS - 1) / TW_MONO_PER_MS);
}

static int run_timers(struct tw_loop *l)
{
	tw_mono_t now = tw_hal_now();
	int ran = 0;

	for (size_t i = 0; i < l->max_timers; i++) {
		struct tw_loop_timer *t = &l->timers[i];
		long long id = t->id;
		int64_t next;

		if (id == 0 || t->when > now)
			continue;
		next = t->fn(l, t->arg);
		ran++;
		if (t->id != id) /* the callback deleted (and maybe reused) its slot */
			continue;
		if (next == TW_TIMER_STOP || next < 0) {
			t->id = 0;
			continue;
		}
		if (next == t->period_ms && next > 0) {
			/* Periodic: keep the phase (drift-free); skip whole missed periods
			 * rather than firing a burst to catch up. */
			tw_mono_t step = next * TW_MONO_PER_MS;

			t->when += step;
			if (t->when <= now)
				t->when += ((now - t->when) / step + 1) * step;
		} else {
			t->when = now + next * TW_MONO_PER_MS;
			t->period_ms = next;
		}
	}
	return ran;
}

int tw_loop_run_once(struct tw_loop *l, int cap_ms)
{
	size_t n = 0;
	int rc, ran = 0;

	for (size_t i = 0; i < l->max_fds; i++) {
		if (l->fds[i].fd >= 0 && l->fds[i].mask) {
			l->pfds[n].fd = l->fds[i].fd;
			l->pfds[n].events = l->fds[i].mask;
			l->pfds[n].revents = 0;
			l->pslot[n] = i;
			l->pgen[n] = l->fds[i].gen;
			n++;
		}
	}
	l->last_timeout_ms = tw_loop_next_timeout(l, cap_ms);
	rc = tw_hal_wait(l->pfds, n, l->last_timeout_ms);
	l->turns++;
	if (rc < 0 && rc != TW_ERR_INTR)
		return rc;
	for (size_t k = 0; rc > 0 && k < n; k++) {
		struct tw_loop_fd *s = &l->fds[l->pslot[k]];
		unsigned ready = l->pfds[k].revents;

		if (ready == 0 || s->gen != l->pgen[k] || s->fd != l->pfds[k].fd)
			continue;
		s->fn(l, s->fd, ready, s->arg);
		ran++;
	}
	return ran + run_timers(l);
}

void tw_loop_stop(struct tw_loop *l)
{
	l->stop = 1;
}

int tw_loop_run(struct tw_loop *l, int (*check)(void *), void *arg)
{
	l->stop = 0;
	while (!l->stop) {
		if (check && check(arg))
			break;
		/* The cap bounds the turn only when no timer is sooner; signals
		 * interrupt the wait, so this is not a polling interval. */
		int rc = tw_loop_run_once(l, 60000);

		if (rc < 0 && rc != TW_ERR_INTR)
			return rc;
	}
	return 0;
}
