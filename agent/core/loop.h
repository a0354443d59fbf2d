/* SPDX-License-Identifier: MIT */
/* loop.h - the agent's single event loop: fd callbacks and timers, tables sized once. */
#ifndef TW_LOOP_H
#define TW_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"

struct tw_arena;
struct tw_loop;

#define TW_TIMER_STOP ((int64_t)-1)

/** Called with the ready bits (TW_HAL_READ/WRITE/ERROR) of @p fd. */
typedef void (*tw_fd_fn)(struct tw_loop *l, int fd, unsigned ready, void *arg);

/** A timer: @return the delay in ms until it runs again, or TW_TIMER_STOP. */
typedef int64_t (*tw_timer_fn)(struct tw_loop *l, void *arg);

struct tw_loop_fd {
	int fd; /* -1: free slot */
	unsigned mask;
	unsigned gen;
	tw_fd_fn fn;
	void *arg;
};

struct tw_loop_timer {
	long long id; /* 0: free slot */
	tw_mono_t when;
	int64_t period_ms; /* last delay, to keep periodic timers drift-free */
	tw_timer_fn fn;
	void *arg;
};

struct tw_loop {
	struct tw_loop_fd *fds;
	size_t max_fds;
	struct tw_loop_timer *timers;
	size_t max_timers;
	struct tw_hal_pollfd *pfds; /* wait set, rebuilt each turn */
	size_t *pslot;              /* fd slot of each wait-set entry */
	unsigned *pgen;             /* its generation when the set was built */
	long long next_id;
	int stop;
	uint64_t turns;
	int last_timeout_ms; /* the time-out of the last wait (tests, status) */
};

/** Carve the tables for @p max_fds fds and @p max_timers timers. @return 0 or TW_ERR_NOMEM. */
int tw_loop_init(struct tw_loop *l, struct tw_arena *a, size_t max_fds, size_t max_timers);

/** Watch @p fd for @p mask, replacing any earlier interest. @return 0 or TW_ERR_NOMEM. */
int tw_loop_add_fd(struct tw_loop *l, int fd, unsigned mask, tw_fd_fn fn, void *arg);

/** Change the interest of a watched fd. @return 0 or TW_ERR_ARG when not watched. */
int tw_loop_set_mask(struct tw_loop *l, int fd, unsigned mask);

/** Stop watching @p fd (safe from inside a callback, safe when not watched). */
void tw_loop_del_fd(struct tw_loop *l, int fd);

/** Run @p fn after @p delay_ms. @return the timer id (> 0) or TW_ERR_NOMEM. */
long long tw_loop_add_timer(struct tw_loop *l, int64_t delay_ms, tw_timer_fn fn, void *arg);

/** Cancel a timer (safe when already gone). */
void tw_loop_del_timer(struct tw_loop *l, long long id);

/** @return ms until the nearest timer, capped at @p cap_ms (0 when one is due). */
int tw_loop_next_timeout(const struct tw_loop *l, int cap_ms);

/**
 * One turn: wait for readiness at most until the nearest timer (and at most
 * @p cap_ms), run the ready fds' callbacks, then the due timers.
 * @return number of callbacks run, or a negative HAL error from the wait.
 */
int tw_loop_run_once(struct tw_loop *l, int cap_ms);

/** Make tw_loop_run() return after the current turn. */
void tw_loop_stop(struct tw_loop *l);

/**
 * Turn until tw_loop_stop() or until @p check returns non-zero (checked each
 * turn; signals land here). @return 0.
 */
int tw_loop_run(struct tw_loop *l, int (*check)(void *), void *arg);

#endif
