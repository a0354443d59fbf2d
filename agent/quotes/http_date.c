/* SPDX-License-Identifier: MIT */
/* http_date.c - HTTP dates (and cookie Expires) by the RFC 6265 5.1.1 algorithm, and Retry-After
 * (delay-seconds or an HTTP date, RFC 9110 10.2.3); pure, no locale, no libc time zone. */
#include "quotes/http.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "quotes/datefield.h"

/* RFC 6265 5.1.1 delimiter: %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E */
static int is_delim(unsigned char c)
{
	return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
	       (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* min..max DIGIT at @p t, then a non-digit or the end. @return their value, or -1. */
static int digit_run(const char *t, size_t len, size_t min, size_t max, size_t *used)
{
	size_t i = 0;

	while (i < len && i <= max && isdigit((unsigned char)t[i]))
		i++;
	if (i < min || i > max)
		return -1;
	*used = i;
	return tw_quotes_digits(t, i);
}

static int time_token(const char *t, size_t len, int *h, int *m, int *s)
{
	size_t u, o = 0;
	int v[3];

	for (int k = 0; k < 3; k++) {
		v[k] = digit_run(t + o, len - o, 1, 2, &u);
		if (v[k] < 0)
			return -1;
		o += u;
		if (k < 2) {
			if (o >= len || t[o] != ':')
				return -1;
			o++;
		}
	}
	*h = v[0];
	*m = v[1];
	*s = v[2];
	return 0;
}

static int month_token(const char *t, size_t len)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";

	if (len < 3)
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(t, names + (size_t)i * 3, 3) == 0)
			return i + 1;
	}
	return -1;
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dm[m - 1];
}

int tw_http_date_parse(const char *s, int64_t *t)
{
	int have_time = 0, have_day = 0, have_month = 0, have_year = 0;
	int hh = 0, mi = 0, ss = 0, day = 0, month = 0, year = 0;
	size_t i = 0, n = strlen(s);

	if (n > 256)
		return -1;
	while (i < n) {
		size_t b, len, u;
		int v;

		while (i < n && is_delim((unsigned char)s[i]))
			i++;
		b = i;
		while (i < n && !is_delim((unsigned char)s[i]))
			i++;
		len = i - b;
		if (len == 0)
			continue;
		if (!have_time && time_token(s + b, len, &hh, &mi, &ss) == 0) {
			have_time = 1;
		} else if (!have_day && (v = digit_run(s + b, len, 1, 2, &u)) >= 0) {
			day = v;
			have_day = 1;
		} else if (!have_month && (v = month_token(s + b, len)) > 0) {
			month = v;
			have_month = 1;
		} else if (!have_year && (v = digit_run(s + b, len, 2, 4, &u)) >= 0) {
			year = v;
			have_year = 1;
		}
	}
	if (!have_time || !have_day || !have_month || !have_year)
		return -1;
	if (year >= 70 && year <= 99)
		year += 1900;
	else if (year >= 0 && year <= 69)
		year += 2000;
	if (year < 1601 || day < 1 || day > days_in_month(year, month) || hh > 23 || mi > 59 ||
	    ss > 59)
		return -1;
	*t = tw_quotes_civil_days(year, month, day) * 86400 + (int64_t)hh * 3600 +
	     (int64_t)mi * 60 + ss;
	return 0;
}

int tw_http_retry_after(const char *v, int64_t now_s, int64_t *delay_s)
{
	size_t n = strlen(v), i;
	int64_t d = 0, when;

	if (n == 0)
		return -1;
	for (i = 0; i < n && isdigit((unsigned char)v[i]); i++) {
		if (d < TW_HTTP_RETRY_AFTER_CAP_S)
			d = d * 10 + (v[i] - '0');
	}
	if (i == n) {
		*delay_s = d < TW_HTTP_RETRY_AFTER_CAP_S ? d : TW_HTTP_RETRY_AFTER_CAP_S;
		return 0;
	}
	if (isdigit((unsigned char)v[0]) || tw_http_date_parse(v, &when) != 0)
		return -1;
	d = when - now_s;
	*delay_s = d <= 0 ? 0 : d < TW_HTTP_RETRY_AFTER_CAP_S ? d : TW_HTTP_RETRY_AFTER_CAP_S;
	return 0;
}
