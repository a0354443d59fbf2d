/* SPDX-License-Identifier: MIT */
/* replay.c - the replay:FILE source: recorded quotes, one step per collection cycle.
 *
 * Format (docs/quotes.md): one quote per line, "TIME TICKER PRICE", then optionally
 * "prev=PREV_CLOSE", "currency=CUR" and "exchange=NAME" in any order, each at most once;
 * fields separated by blanks; TIME is Unix seconds, lines with the same TIME form one
 * step, steps in increasing TIME; '#' starts a comment; blank lines are skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quotes/quotes.h"

#define REPLAY_LINE_MAX 256
#define REPLAY_FIELDS 7 /* TIME TICKER PRICE and three named ones; one more to see too many */

int tw_quotes_check_ticker(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TW_QUOTES_TICKER_MAX)
		return TW_ERR_ARG;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)t[i]) && !strchr(".-^=", t[i]))
			return TW_ERR_ARG;
	}
	return TW_OK;
}

int tw_quotes_prev_ok(double v)
{
	return isfinite(v) && v > 0 && v <= TW_QUOTES_PREV_MAX;
}

int tw_quotes_currency_ok(const char *s)
{
	return s && strlen(s) == TW_QUOTES_CURRENCY_LEN && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
	       TW_QUOTES_CURRENCY_LEN;
}

int tw_quotes_exchange_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > TW_QUOTES_EXCHANGE_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* Split a line into at most REPLAY_FIELDS blank-separated fields; strips a comment.
 * @return field count. */
static int fields(char *line, char **f)
{
	int n = 0;
	char *hash = strchr(line, '#'), *save = NULL;

	if (hash)
		*hash = '\0';
	for (char *tok = strtok_r(line, " \t\r\n", &save); tok && n < REPLAY_FIELDS;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		f[n++] = tok;
	return n;
}

long tw_replay_count(const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char line[REPLAY_LINE_MAX], *f[REPLAY_FIELDS];
	long n = 0;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: cannot open the replay file: %s", path, strerror(errno));
		return TW_ERR_REPLAY_IO;
	}
	while (fgets(line, sizeof line, fp)) {
		if (fields(line, f) > 0)
			n++;
	}
	fclose(fp);
	return n;
}

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tw_replay_row *)a)->ticker,
		      ((const struct tw_replay_row *)b)->ticker);
}

static int syntax(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int syntax(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%d: %s", path, line, msg);
	return TW_ERR_REPLAY_SYNTAX;
}

/* Sort the rows of the step that ends at @p end and check for a ticker twice. */
static int close_step(struct tw_replay *r, const char *path, int line, char *err, size_t errlen)
{
	size_t first = r->steps[r->nsteps - 1];

	qsort(r->rows + first, r->nrows - first, sizeof r->rows[0], row_cmp);
	for (size_t i = first + 1; i < r->nrows; i++) {
		if (strcmp(r->rows[i].ticker, r->rows[i - 1].ticker) == 0)
			return syntax(err, errlen, path, line,
				      "ticker %s appears twice in the step ending here",
				      r->rows[i].ticker);
	}
	return TW_OK;
}

/* The named fields f[3..nf) into @p row: prev=, currency=, exchange=, each once and valid.
 * @return 0 or the syntax error. */
static int named(char **f, int nf, struct tw_replay_row *row, const char *path, int line,
		 char *err, size_t errlen)
{
	unsigned seen = 0;

	for (int i = 3; i < nf; i++) {
		const char *eq = strchr(f[i], '='), *v = eq ? eq + 1 : "";
		size_t kl = eq ? (size_t)(eq - f[i]) : 0;
		unsigned bit;
		char *end;

		bit = kl == 4 && strncmp(f[i], "prev", 4) == 0		? 1u
		      : kl == 8 && strncmp(f[i], "currency", 8) == 0	? 2u
		      : kl == 8 && strncmp(f[i], "exchange", 8) == 0	? 4u
									: 0u;
		if (bit == 0)
			return syntax(err, errlen, path, line,
				      "field '%.40s' is not prev=, currency= or exchange=", f[i]);
		if (seen & bit)
			return syntax(err, errlen, path, line, "field '%.*s' given twice", (int)kl,
				      f[i]);
		seen |= bit;
		if (bit == 1u) {
			row->prev_close = strtod(v, &end);
			if (*end != '\0' || end == v || !tw_quotes_prev_ok(row->prev_close))
				return syntax(err, errlen, path, line,
					      "prev '%.40s' is not a number > 0 and <= 1e9", v);
		} else if (bit == 2u) {
			if (!tw_quotes_currency_ok(v))
				return syntax(err, errlen, path, line,
					      "currency '%.40s' is not three of A-Z (USD)", v);
			memcpy(row->currency, v, TW_QUOTES_CURRENCY_LEN + 1);
		} else {
			if (!tw_quotes_exchange_ok(v))
				return syntax(err, errlen, path, line,
					      "exchange '%.40s' is not 1 to %d printable bytes", v,
					      TW_QUOTES_EXCHANGE_MAX);
			snprintf(row->exchange, sizeof row->exchange, "%s", v);
		}
	}
	return TW_OK;
}

int tw_replay_load(struct tw_replay *r, const char *path, struct tw_replay_row *rows,
		   size_t *steps, size_t cap, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char line[REPLAY_LINE_MAX], *f[REPLAY_FIELDS], *end;
	int lineno = 0, rc = TW_OK;

	memset(r, 0, sizeof *r);
	snprintf(r->path, sizeof r->path, "%s", path);
	r->rows = rows;
	r->steps = steps;
	r->cap = cap;
	if (fp == NULL) {
		snprintf(err, errlen, "%s: cannot open the replay file: %s", path, strerror(errno));
		return TW_ERR_REPLAY_IO;
	}
	while (rc == TW_OK && fgets(line, sizeof line, fp)) {
		long long t;
		double price;
		int nf;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			rc = syntax(err, errlen, path, lineno, "line longer than %d bytes",
				    REPLAY_LINE_MAX - 1);
			break;
		}
		nf = fields(line, f);
		if (nf == 0)
			continue;
		if (nf < 3 || nf == REPLAY_FIELDS) {
			rc = syntax(err, errlen, path, lineno,
				    "expected 'TIME TICKER PRICE [prev=P] [currency=C] "
				    "[exchange=E]', got %s field(s)",
				    nf == 1   ? "1"
				    : nf == 2 ? "2"
					      : "more than 6");
			break;
		}
		errno = 0;
		t = strtoll(f[0], &end, 10);
		if (*end != '\0' || errno || t <= 0 || t > 100000000000LL) {
			rc = syntax(err, errlen, path, lineno,
				    "time '%s' is not Unix seconds (a whole number > 0)", f[0]);
			break;
		}
		if (tw_quotes_check_ticker(f[1]) != TW_OK) {
			rc = syntax(err, errlen, path, lineno,
				    "ticker '%s' is not 1 to 15 of A-Z a-z 0-9 . - ^ =", f[1]);
			break;
		}
		price = strtod(f[2], &end);
		if (*end != '\0' || end == f[2] || !isfinite(price) || price <= 0) {
			rc = syntax(err, errlen, path, lineno, "price '%s' is not a positive number",
				    f[2]);
			break;
		}
		if (r->nrows == 0 || t != r->rows[r->nrows - 1].time_s) {
			if (r->nrows && t < r->rows[r->nrows - 1].time_s) {
				rc = syntax(err, errlen, path, lineno,
					    "time %s goes back: steps must come in increasing time",
					    f[0]);
				break;
			}
			if (r->nsteps && (rc = close_step(r, path, lineno - 1, err, errlen)) != 0)
				break;
			r->steps[r->nsteps++] = r->nrows;
		}
		if (r->nrows == r->cap) {
			rc = syntax(err, errlen, path, lineno,
				    "more quotes than [limits] replay_rows (%zu): raise it", r->cap);
			break;
		}
		memset(&r->rows[r->nrows], 0, sizeof r->rows[0]);
		if ((rc = named(f, nf, &r->rows[r->nrows], path, lineno, err, errlen)) != TW_OK)
			break;
		snprintf(r->rows[r->nrows].ticker, sizeof r->rows[0].ticker, "%s", f[1]);
		for (char *c = r->rows[r->nrows].ticker; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		r->rows[r->nrows].price = price;
		r->rows[r->nrows].time_s = t;
		r->nrows++;
	}
	fclose(fp);
	if (rc == TW_OK && r->nsteps)
		rc = close_step(r, path, lineno, err, errlen);
	if (rc == TW_OK && r->nrows == 0) {
		snprintf(err, errlen, "%s:%d: the replay file holds no quotes", path, lineno);
		rc = TW_ERR_REPLAY_SYNTAX;
	}
	if (rc != TW_OK)
		return rc;
	r->steps[r->nsteps] = r->nrows;
	return TW_OK;
}

int tw_replay_get(const struct tw_replay *r, const char *ticker, struct tw_quotes_item *out,
		  char *err, size_t errlen)
{
	struct tw_replay_row key = {0};
	const struct tw_replay_row *hit;
	size_t first, n;

	if (r->nsteps == 0) {
		snprintf(err, errlen, "%s: rejected: the replay holds no steps", ticker);
		return TW_ERR_QUOTES_REJECTED;
	}
	first = r->steps[r->step];
	n = r->steps[r->step + 1] - first;
	snprintf(key.ticker, sizeof key.ticker, "%s", ticker);
	for (char *c = key.ticker; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	hit = bsearch(&key, r->rows + first, n, sizeof key, row_cmp);
	if (hit == NULL) {
		snprintf(err, errlen, "%s: rejected: not in replay step %zu of %s", ticker,
			 r->step + 1, r->path);
		return TW_ERR_QUOTES_REJECTED;
	}
	snprintf(out->ticker, sizeof out->ticker, "%s", ticker);
	out->price = hit->price;
	out->time_s = hit->time_s;
	out->prev_close = hit->prev_close;
	memcpy(out->currency, hit->currency, sizeof out->currency);
	memcpy(out->exchange, hit->exchange, sizeof out->exchange);
	return TW_OK;
}
