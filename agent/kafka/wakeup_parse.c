/* SPDX-License-Identifier: MIT */
/* wakeup_parse.c - the wake-up's "tw-partitions" header value (pure, fuzzed: fuzz_wakeup.c). */
#include "kafka/wakeup.h"

int tw_wakeup_parse_parts(const void *v, size_t len)
{
	const unsigned char *s = v;
	int n = 0;

	if (s == NULL || len == 0 || len > 4 || s[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	return n <= TW_WAKEUP_PARTS_MAX ? n : -1;
}
