/* SPDX-License-Identifier: MIT */
/* ratelimit.c - the request-rate cap (ratelimit.h), GCRA on the monotonic clock. */
#include "quotes/ratelimit.h"

#include <string.h>

void tw_rate_init(struct tw_rate *r, unsigned per_s, unsigned burst)
{
	memset(r, 0, sizeof *r);
	if (per_s == 0)
		per_s = 1;
	if (burst == 0)
		burst = 1;
	r->step = (1000 * TW_MONO_PER_MS + per_s - 1) / per_s;
	r->tau = (tw_mono_t)(burst - 1) * r->step;
}

int64_t tw_rate_take(struct tw_rate *r, tw_mono_t now)
{
	tw_mono_t tat = r->tat > now ? r->tat : now;

	if (tat - now > r->tau) {
		tw_mono_t wait = tat - r->tau - now;

		r->waits++;
		return (wait + TW_MONO_PER_MS - 1) / TW_MONO_PER_MS;
	}
	r->tat = tat + r->step;
	r->taken++;
	return 0;
}
