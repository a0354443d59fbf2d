/* SPDX-License-Identifier: MIT */
/* clock.c - POSIX clocks and entropy for the HAL. */
#include "hal.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

tw_mono_t tw_hal_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (tw_mono_t)ts.tv_sec * TW_MONO_PER_S + ts.tv_nsec / 1000;
}

int64_t tw_hal_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tw_hal_entropy(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		/* GRND_NONBLOCK: at boot on a board without entropy yet we fail
		 * loudly instead of hanging the loop. */
		ssize_t n = getrandom(p, len, GRND_NONBLOCK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return TW_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return TW_OK;
}
