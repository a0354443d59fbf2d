/* SPDX-License-Identifier: MIT */
/* ratelimit.h - a request-rate cap on the HAL clock: a token bucket kept as the generic cell
 * rate algorithm (one "theoretical arrival time", integer arithmetic, exact on the fake clock).
 *
 * @p per_s requests a second on average; up to @p burst of them back to back after a quiet
 * spell. Over any span of T ms from the first request, at most burst + T * per_s / 1000
 * requests pass.
 */
#ifndef TW_RATELIMIT_H
#define TW_RATELIMIT_H

#include <stdint.h>

#include "hal.h"

struct tw_rate {
	tw_mono_t step; /* clock units between two requests at the full rate */
	tw_mono_t tau;  /* (burst - 1) * step: how far ahead of the rate the bucket may run */
	tw_mono_t tat;  /* theoretical arrival time of the next request */
	uint64_t taken, waits;
};

/** @p per_s >= 1, @p burst >= 1 (0 is taken as 1). */
void tw_rate_init(struct tw_rate *r, unsigned per_s, unsigned burst);

/** May a request go at @p now? @return 0 (it is counted), or the ms to wait (nothing taken). */
int64_t tw_rate_take(struct tw_rate *r, tw_mono_t now);

#endif
