/* SPDX-License-Identifier: MIT */
/* fuzz_retry_after.c - Retry-After and HTTP dates (agent/quotes/http_date.c).
 *
 * Input: a header value. Properties: a wait taken is within [0, one day]; a date parsed is a
 * real calendar time from 1601 on, and formatting it back as an IMF-fixdate parses to the
 * same second (the round trip). */
#include <time.h>

#include "fuzz_common.h"
#include "quotes/http.h"

#define NOW 1767258000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const days[7] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char *in = fz_cstr(data, size), back[64];
	int64_t d, t, t2;

	if (tw_http_retry_after(in, NOW, &d) == 0)
		FZ_CHECK(d >= 0 && d <= TW_HTTP_RETRY_AFTER_CAP_S, "wait %lld", (long long)d);
	if (tw_http_date_parse(in, &t) == 0) {
		struct tm tm;
		time_t tt = (time_t)t;
		int64_t days_since = t >= 0 ? t / 86400 : (t - 86399) / 86400;

		FZ_CHECK(t >= -11644473600LL, "before 1601: %lld", (long long)t); /* 1601-01-01 */
		FZ_CHECK(gmtime_r(&tt, &tm) != NULL, "not a time");
		snprintf(back, sizeof back, "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 days[((days_since % 7) + 7) % 7], tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		FZ_CHECK(tw_http_date_parse(back, &t2) == 0 && t2 == t, "round trip of %s",
			 back);
	}
	free(in);
	return 0;
}
