/* SPDX-License-Identifier: MIT */
/* fuzz_wakeup.c - the wake-up's "tw-partitions" header value (agent/kafka/wakeup_parse.c): on
 * any bytes it returns -1 or a P in 1..1000, and a P only for the value's exact decimal
 * spelling (digits, no leading zero), checked against an independent re-spelling. */
#include "fuzz_common.h"
#include "kafka/wakeup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = fz_exact(data, size);
	int p = tw_wakeup_parse_parts(v, size);

	FZ_CHECK(p == -1 || (p >= 1 && p <= TW_WAKEUP_PARTS_MAX), "P %d", p);
	if (p > 0) {
		char back[16];
		int n = snprintf(back, sizeof back, "%d", p);

		FZ_CHECK((size_t)n == size && memcmp(back, v, size) == 0, "P %d from %.*s", p,
			 (int)size, v);
	}
	free(v);
	return 0;
}
