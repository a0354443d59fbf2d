/* SPDX-License-Identifier: MIT */
/* stooq.c - the Stooq CSV quote source's pure parts: the ticker-to-symbol map, the CSV answer of
 * /q/l/?s=SYMBOL&f=sd2t2ohlcv&h&e=csv read into a quote, and Warsaw local time to UTC.
 *
 * The answer is a header line and one data line:
 *   Symbol,Date,Time,Open,High,Low,Close,Volume
 *   AAPL.US,2026-01-02,22:00:09,190.1,191.2,189.9,190.5,51234567
 * An unknown symbol has "N/D" in every field after the symbol. Columns are found by the
 * header's names (a first line with a Symbol field; else the f= order). Date and Time are Stooq's local
 * time, Europe/Warsaw: CET (UTC+1), CEST (UTC+2) from the last Sunday of March 01:00 UTC to
 * the last Sunday of October 01:00 UTC (the EU rule).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "quotes/datefield.h"
#include "quotes/quotes.h"

#define CSV_LINE_MAX 512
#define CSV_FIELDS 16

/* Unix seconds of the last Sunday of @p month (3 or 10) of @p y at 01:00 UTC. */
static int64_t last_sunday_0100(int64_t y, int month)
{
	int64_t d = tw_quotes_civil_days(y, month, 31);
	int64_t wd = ((d % 7) + 7 + 4) % 7; /* 1970-01-01 was a Thursday (4); 0 = Sunday */

	return (d - wd) * 86400 + 3600;
}

int64_t tw_stooq_warsaw_to_utc(int y, int mo, int d, int h, int mi, int s)
{
	int64_t local = tw_quotes_civil_days(y, mo, d) * 86400 + (int64_t)h * 3600 +
			(int64_t)mi * 60 + s;
	int64_t summer = local - 7200, begin = last_sunday_0100(y, 3), end = last_sunday_0100(y, 10);

	if (summer >= begin && summer < end)
		return summer;
	return local - 3600;
}

int tw_stooq_symbol(const char *ticker, const char *map, char *out, size_t len)
{
	size_t tl = strlen(ticker), n;
	const char *p = map ? map : "";

	/* the map: TICKER=symbol entries separated by commas */
	while (*p) {
		const char *e = strchr(p, ','), *eq;

		if (e == NULL)
			e = p + strlen(p);
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq && (size_t)(eq - p) == tl && strncasecmp(p, ticker, tl) == 0) {
			n = (size_t)(e - eq - 1);
			if (n == 0 || n >= len)
				return TW_ERR_ARG;
			for (size_t i = 0; i < n; i++)
				out[i] = (char)tolower((unsigned char)eq[1 + i]);
			out[n] = '\0';
			return TW_OK;
		}
		p = *e ? e + 1 : e;
	}
	if (tw_quotes_check_ticker(ticker) != TW_OK)
		return TW_ERR_ARG;
	n = tl + (strpbrk(ticker, ".^=") ? 0 : 3);
	if (n >= len)
		return TW_ERR_ARG;
	for (size_t i = 0; i < tl; i++)
		out[i] = (char)tolower((unsigned char)ticker[i]);
	memcpy(out + tl, strpbrk(ticker, ".^=") ? "" : ".us", n - tl + 1);
	return TW_OK;
}

int tw_stooq_check_map(const char *map, char *err, size_t errlen)
{
	const char *p = map;

	while (*p) {
		const char *e = strchr(p, ','), *eq;
		char t[TW_QUOTES_TICKER_MAX + 1];
		size_t tl;

		if (e == NULL)
			e = p + strlen(p);
		eq = memchr(p, '=', (size_t)(e - p));
		tl = eq ? (size_t)(eq - p) : 0;
		if (eq == NULL || tl == 0 || tl > TW_QUOTES_TICKER_MAX || e - eq - 1 < 1 ||
		    e - eq - 1 > 31) {
			snprintf(err, errlen,
				 "[quotes] stooq_map: '%.*s' is not TICKER=symbol (entries separated "
				 "by commas, e.g. ^GSPC=^spx,SAP.DE=sap.de; a symbol of 1 to 31 "
				 "characters)",
				 (int)(e - p > 40 ? 40 : e - p), p);
			return TW_ERR_ARG;
		}
		memcpy(t, p, tl);
		t[tl] = '\0';
		if (tw_quotes_check_ticker(t) != TW_OK) {
			snprintf(err, errlen, "[quotes] stooq_map: '%s' is not a ticker", t);
			return TW_ERR_ARG;
		}
		/* tw_stooq_symbol takes the first entry of a ticker: a second would be ignored */
		for (const char *q = map, *qe; q < p && (qe = strchr(q, ',')) != NULL; q = qe + 1) {
			const char *qq = memchr(q, '=', (size_t)(qe - q));

			if (qq && (size_t)(qq - q) == tl && strncasecmp(q, t, tl) == 0) {
				snprintf(err, errlen, "[quotes] stooq_map: %s is mapped twice", t);
				return TW_ERR_ARG;
			}
		}
		for (const char *c = eq + 1; c < e; c++) {
			if (!isalnum((unsigned char)*c) && !strchr(".-^_", *c)) {
				snprintf(err, errlen, "[quotes] stooq_map: symbol of %s has '%c' (letters, "
					 "digits, . - ^ _)", t, *c);
				return TW_ERR_ARG;
			}
		}
		p = *e ? e + 1 : e;
	}
	return TW_OK;
}

/* Split one line (NUL-terminated, no CR LF) at commas. @return the field count or -1. */
static int split(char *line, char **f)
{
	int n = 0;
	char *p = line;

	for (;;) {
		if (n == CSV_FIELDS)
			return -1;
		f[n++] = p;
		p = strchr(p, ',');
		if (p == NULL)
			return n;
		*p++ = '\0';
	}
}

/* Next line of @p csv from *@p off into @p buf. @return 1, 0 at the end, -1 too long/bad. */
static int next_line(const char *csv, size_t len, size_t *off, char *buf)
{
	size_t i = *off, n = 0;

	if (i >= len)
		return 0;
	while (i < len && csv[i] != '\n') {
		unsigned char c = (unsigned char)csv[i++];

		if (c == '\r' && (i == len || csv[i] == '\n'))
			continue;
		if (c < 0x20 || c >= 0x7f || c == '"' || n >= CSV_LINE_MAX - 1)
			return -1;
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	*off = i < len ? i + 1 : i;
	return 1;
}

static int is_number(const char *s, double *v)
{
	char *e;

	if (*s == '\0' || strspn(s, "0123456789.eE+-") != strlen(s))
		return 0;
	*v = strtod(s, &e);
	return *e == '\0' && isfinite(*v);
}

/* "YYYY-MM-DD" and "HH:MM:SS" (or "HHMMSS", Stooq's t format) to Unix seconds. */
static int when(const char *d, const char *t, int64_t *out)
{
	static const int dm[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, da, h, mi, s;

	if (strlen(d) != 10 || d[4] != '-' || d[7] != '-')
		return -1;
	y = tw_quotes_digits(d, 4);
	mo = tw_quotes_digits(d + 5, 2);
	da = tw_quotes_digits(d + 8, 2);
	if (y < 1970 || mo < 1 || mo > 12 || da < 1 || da > dm[mo - 1])
		return -1;
	if (mo == 2 && da == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	if (strlen(t) == 8 && t[2] == ':' && t[5] == ':') {
		h = tw_quotes_digits(t, 2);
		mi = tw_quotes_digits(t + 3, 2);
		s = tw_quotes_digits(t + 6, 2);
	} else if (strlen(t) == 6) {
		h = tw_quotes_digits(t, 2);
		mi = tw_quotes_digits(t + 2, 2);
		s = tw_quotes_digits(t + 4, 2);
	} else {
		return -1;
	}
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
		return -1;
	*out = tw_stooq_warsaw_to_utc(y, mo, da, h, mi, s);
	return 0;
}

int tw_stooq_extract(const char *csv, size_t len, const char *ticker, const char *symbol,
		     int64_t now_s, int64_t max_age_s, struct tw_quotes_item *out, char *err,
		     size_t errlen)
{
	char line[CSV_LINE_MAX], *f[CSV_FIELDS];
	int cs = 0, cd = 1, ct = 2, cc = 6, n, rc, need, hdr = 0;
	size_t off = 0;
	double price;
	int64_t t;

	rc = next_line(csv, len, &off, line);
	if (rc <= 0) {
		snprintf(err, errlen, "%s: %s", ticker,
			 rc == 0 ? "empty CSV answer" : "CSV line too long or with a control byte");
		return TW_ERR_QUOTES_BAD_CSV;
	}
	n = split(line, f);
	for (int i = 0; i < n; i++) {
		if (strcasecmp(f[i], "Symbol") == 0)
			hdr = 1;
	}
	if (hdr) {
		cs = cd = ct = cc = -1;
		for (int i = 0; i < n; i++) {
			if (strcasecmp(f[i], "Symbol") == 0)
				cs = i;
			else if (strcasecmp(f[i], "Date") == 0)
				cd = i;
			else if (strcasecmp(f[i], "Time") == 0)
				ct = i;
			else if (strcasecmp(f[i], "Close") == 0)
				cc = i;
		}
		if (cs < 0 || cd < 0 || ct < 0 || cc < 0) {
			snprintf(err, errlen, "%s: CSV header lacks Symbol, Date, Time or Close",
				 ticker);
			return TW_ERR_QUOTES_BAD_CSV;
		}
		rc = next_line(csv, len, &off, line);
		if (rc <= 0) {
			snprintf(err, errlen, "%s: %s", ticker,
				 rc == 0 ? "CSV answer has no data line" : "CSV line too long or bad");
			return TW_ERR_QUOTES_BAD_CSV;
		}
		n = split(line, f);
	}
	need = cs;
	if (cd > need)
		need = cd;
	if (ct > need)
		need = ct;
	if (cc > need)
		need = cc;
	if (n <= need) {
		snprintf(err, errlen, "%s: CSV data line has %d fields, not %d", ticker, n < 0 ? 0 : n,
			 need + 1);
		return TW_ERR_QUOTES_BAD_CSV;
	}
	if (strcasecmp(f[cs], symbol) != 0) {
		snprintf(err, errlen, "%s: rejected: the answer is for symbol %.31s, not %s", ticker,
			 f[cs], symbol);
		return TW_ERR_QUOTES_REJECTED;
	}
	if (strcmp(f[cc], "N/D") == 0 || strcmp(f[cd], "N/D") == 0) {
		snprintf(err, errlen, "%s: rejected: Stooq has no data for %s (N/D)", ticker, symbol);
		out->unknown = 1;
		return TW_ERR_QUOTES_REJECTED;
	}
	if (!is_number(f[cc], &price) || price <= 0) {
		snprintf(err, errlen, "%s: rejected: Close %.31s is not a positive number", ticker,
			 f[cc]);
		return TW_ERR_QUOTES_REJECTED;
	}
	if (when(f[cd], f[ct], &t) != 0) {
		snprintf(err, errlen, "%s: rejected: Date/Time %.15s %.15s is not a time", ticker,
			 f[cd], f[ct]);
		return TW_ERR_QUOTES_REJECTED;
	}
	if (t < now_s - max_age_s) {
		snprintf(err, errlen,
			 "%s: rejected: stale quote, market time %lld is %lld s old (more than "
			 "[quotes] max_age %lld s)",
			 ticker, (long long)t, (long long)(now_s - t), (long long)max_age_s);
		return TW_ERR_QUOTES_REJECTED;
	}
	if (t > now_s + 86400) {
		snprintf(err, errlen, "%s: rejected: market time %lld is in the future", ticker,
			 (long long)t);
		return TW_ERR_QUOTES_REJECTED;
	}
	if (out->ticker != ticker)
		snprintf(out->ticker, sizeof out->ticker, "%s", ticker);
	out->price = price;
	out->time_s = t;
	/* this CSV has no previous close, currency or exchange: not known */
	out->prev_close = 0;
	out->currency[0] = out->exchange[0] = '\0';
	return TW_OK;
}
