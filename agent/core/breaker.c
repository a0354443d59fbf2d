/* SPDX-License-Identifier: MIT */
/* breaker.c - the circuit breaker's three states, timed on the HAL's monotonic clock. */
#include "breaker.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

void tw_breaker_init(struct tw_breaker *b, const char *name, unsigned threshold,
		     int64_t recovery_ms)
{
	memset(b, 0, sizeof *b);
	snprintf(b->name, sizeof b->name, "%s", name);
	b->threshold = threshold ? threshold : 1;
	b->recovery_ms = recovery_ms;
	b->state = TW_BREAKER_CLOSED;
}

static void open_now(struct tw_breaker *b, const char *why)
{
	b->state = TW_BREAKER_OPEN;
	b->opened_at = tw_hal_now();
	b->trial_out = 0;
	b->trips++;
	if (b->wait_ms <= 0)
		b->wait_ms = b->recovery_ms;
	tw_log(TW_LOG_WARN, "breaker", "%s: open (%s); next trial in %lld ms", b->name, why,
	       (long long)b->wait_ms);
}

void tw_breaker_open_for(struct tw_breaker *b, int64_t ms, const char *why)
{
	b->wait_ms = ms > 0 ? ms : 1;
	b->failures = 0;
	open_now(b, why);
}

int tw_breaker_allow(struct tw_breaker *b)
{
	switch (b->state) {
	case TW_BREAKER_CLOSED:
		return 1;
	case TW_BREAKER_OPEN:
		if (tw_hal_now() - b->opened_at < b->wait_ms * TW_MONO_PER_MS) {
			b->rejected++;
			return 0;
		}
		b->state = TW_BREAKER_HALF_OPEN;
		b->trial_out = 1;
		b->wait_ms = 0;
		tw_log(TW_LOG_INFO, "breaker", "%s: half-open, one trial call", b->name);
		return 1;
	case TW_BREAKER_HALF_OPEN:
		if (b->trial_out) {
			b->rejected++;
			return 0;
		}
		b->trial_out = 1;
		return 1;
	}
	return 0;
}

void tw_breaker_success(struct tw_breaker *b)
{
	if (b->state != TW_BREAKER_CLOSED)
		tw_log(TW_LOG_INFO, "breaker", "%s: closed again after a successful trial", b->name);
	b->state = TW_BREAKER_CLOSED;
	b->failures = 0;
	b->trial_out = 0;
}

void tw_breaker_failure(struct tw_breaker *b)
{
	switch (b->state) {
	case TW_BREAKER_CLOSED:
		if (++b->failures >= b->threshold)
			open_now(b, "consecutive failures reached the threshold");
		break;
	case TW_BREAKER_HALF_OPEN:
		open_now(b, "the trial call failed");
		break;
	case TW_BREAKER_OPEN:
		/* A late failure of a call let through before it opened: nothing new. */
		break;
	}
}

void tw_breaker_release(struct tw_breaker *b)
{
	if (b->state == TW_BREAKER_HALF_OPEN && b->trial_out) {
		b->trial_out = 0;
		tw_log(TW_LOG_INFO, "breaker", "%s: the trial ended without a verdict; the next call "
		       "is the trial", b->name);
	}
}

int64_t tw_breaker_retry_in_ms(const struct tw_breaker *b)
{
	int64_t left;

	if (b->state != TW_BREAKER_OPEN)
		return 0;
	left = b->wait_ms - (tw_hal_now() - b->opened_at) / TW_MONO_PER_MS;
	return left > 0 ? left : 0;
}

const char *tw_breaker_state_name(enum tw_breaker_state s)
{
	switch (s) {
	case TW_BREAKER_CLOSED:
		return "closed";
	case TW_BREAKER_OPEN:
		return "open";
	case TW_BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "?";
}

char *tw_breaker_status(const struct tw_breaker *b, char *buf, size_t len)
{
	if (b->state == TW_BREAKER_OPEN)
		snprintf(buf, len, "breaker %s open (trial in %lld s, %llu trips, %llu skipped)",
			 b->name, (long long)((tw_breaker_retry_in_ms(b) + 999) / 1000),
			 (unsigned long long)b->trips, (unsigned long long)b->rejected);
	else
		snprintf(buf, len, "breaker %s %s (%u/%u failures, %llu trips)", b->name,
			 tw_breaker_state_name(b->state), b->failures, b->threshold,
			 (unsigned long long)b->trips);
	return buf;
}
