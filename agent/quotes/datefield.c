/* SPDX-License-Identifier: MIT */
/* datefield.c - fixed-width digit fields and days from a civil date, for the date parsers of
 * http_date.c and stooq.c. */
#include "quotes/datefield.h"

int tw_quotes_digits(const char *p, size_t n)
{
	int v = 0;

	if (n == 0 || n > TW_QUOTES_DIGITS_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* not isdigit(): no locale may widen the set */
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

int64_t tw_quotes_civil_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}
