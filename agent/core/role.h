/* SPDX-License-Identifier: MIT */
/* role.h - the task model: each role is a small state machine with start, step and stop. */
#ifndef TW_ROLE_H
#define TW_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "role_list.h"

struct tw_agent;
struct tw_config;
struct tw_metrics;

struct tw_role {
	const char *name;
	/** Bytes the role will carve from the arena for @p cfg (for the boot budget). */
	size_t (*budget)(const struct tw_config *cfg);
	/**
	 * Carve buffers, register fds and timers; never block.
	 * @return 0, or an error with text in @p err (the agent refuses to start).
	 */
	int (*start)(struct tw_agent *ag, void **state, char *err, size_t errlen);
	/**
	 * Advance the state machine; the agent calls it from the role's timer.
	 * @return ms until the next step, or TW_TIMER_STOP.
	 */
	int64_t (*step)(struct tw_agent *ag, void *state);
	/**
	 * Optional. Called when a stop is requested and then once per loop turn while
	 * the agent drains ([agent] stop_timeout at most): take no new work, let what
	 * has begun finish. @return 1 while such work is in flight, 0 when stop() may
	 * run without abandoning anything half done.
	 */
	int (*drain)(struct tw_agent *ag, void *state);
	/** Stop taking work, finish or abandon what is in flight within a bound. */
	void (*stop)(struct tw_agent *ag, void *state);
	/** One line of state for the console's status. */
	void (*status)(struct tw_agent *ag, void *state, char *buf, size_t len);
	/**
	 * Optional. The role's families for /metrics (core/metrics.h), names
	 * beginning "tickwatch_<role>_"; called on the loop, must not block.
	 */
	void (*metrics)(struct tw_agent *ag, void *state, struct tw_metrics *m);
};

#define TW_ROLE_COUNT_ONE(name) +1
/** Every role of TW_ROLE_LIST, built into this binary or not. */
#define TW_ROLES_ALL (0 TW_ROLE_LIST(TW_ROLE_COUNT_ONE))

/** One entry per TW_ROLE_LIST name, in its order; NULL where the role is not
 * built into this binary (agent/roles/roles.c). */
extern const struct tw_role *const tw_roles_all[TW_ROLES_ALL];

#endif
