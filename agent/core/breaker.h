/* SPDX-License-Identifier: MIT */
/* breaker.h - a circuit breaker on the HAL clock: closed, open after N failures, half-open trial.
 *
 * closed --(threshold consecutive failures)--> open --(recovery elapsed)--> half-open
 * half-open lets exactly one trial call through: success closes, failure re-opens
 * (and restarts the recovery wait), a call without a verdict (tw_breaker_release)
 * hands the trial to the next call. While open, callers skip the guarded work
 * at once instead of waiting on it.
 */
#ifndef TW_BREAKER_H
#define TW_BREAKER_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"

enum tw_breaker_state { TW_BREAKER_CLOSED, TW_BREAKER_OPEN, TW_BREAKER_HALF_OPEN };

struct tw_breaker {
	char name[32];
	enum tw_breaker_state state;
	unsigned failures;  /* consecutive, while closed */
	unsigned threshold; /* failures that open it (>= 1) */
	int64_t recovery_ms;
	int64_t wait_ms;    /* this opening's wait: recovery_ms, or tw_breaker_open_for()'s */
	tw_mono_t opened_at;
	int trial_out;      /* half-open: the one trial call is running */
	uint64_t trips;     /* times it opened */
	uint64_t rejected;  /* calls refused while open */
};

/** Start closed. @p threshold 0 is taken as 1. */
void tw_breaker_init(struct tw_breaker *b, const char *name, unsigned threshold,
		     int64_t recovery_ms);

/**
 * May a call go ahead now? Closed: yes. Open: no, until recovery_ms has
 * passed, then it turns half-open and lets one trial through. Half-open: no
 * while the trial runs. @return 1 to call, 0 to skip.
 */
int tw_breaker_allow(struct tw_breaker *b);

/** The call succeeded: close (and forget failures). */
void tw_breaker_success(struct tw_breaker *b);

/** The call failed: count it; open at the threshold, or re-open after a failed trial. */
void tw_breaker_failure(struct tw_breaker *b);

/**
 * The call ended without a verdict on the guarded service (it was cut short for a
 * reason of the caller's, e.g. its own database failed): nothing is counted. A
 * half-open breaker lets the next call through as the trial again; closed and open
 * are left as they are.
 */
void tw_breaker_release(struct tw_breaker *b);

/**
 * Open now for @p ms (a rate limit's Retry-After or back-off; at least 1 ms), whatever the
 * state, then half-open as after a failure. @p why is logged.
 */
void tw_breaker_open_for(struct tw_breaker *b, int64_t ms, const char *why);

/** @return ms until an open breaker lets a trial through (0 when not open). */
int64_t tw_breaker_retry_in_ms(const struct tw_breaker *b);

/** "closed", "open" or "half-open". */
const char *tw_breaker_state_name(enum tw_breaker_state s);

/** One line for a status: state, failures, trips, time to the next trial. @return @p buf. */
char *tw_breaker_status(const struct tw_breaker *b, char *buf, size_t len);

#endif
