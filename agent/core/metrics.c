/* SPDX-License-Identifier: MIT */
/* metrics.c - the Prometheus text format writer behind /metrics (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tw_metrics_init(struct tw_metrics *m, char *buf, size_t cap)
{
	m->buf = buf;
	m->cap = cap;
	m->len = 0;
	m->cut = 0;
	m->errors = 0;
	if (cap)
		buf[0] = '\0';
}

int tw_metrics_name_ok(const char *s, int label)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			    (!label && c == ':');

		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return 0;
	}
	/* names beginning with __ are reserved for Prometheus' own labels */
	return !(label && s[0] == '_' && s[1] == '_');
}

/* A line under construction: appended to m->buf past m->len, kept only when whole. */
struct line {
	struct tw_metrics *m;
	size_t off;
	int over;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->over || l->m->cut)
		return;
	/* keep one byte for the terminating NUL */
	if (l->off + n + 1 > l->m->cap) {
		l->over = 1;
		return;
	}
	memcpy(l->m->buf + l->off, s, n);
	l->off += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* label values escape \ " and LF; help texts \ and LF */
static void put_escaped(struct line *l, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(l, "\\\\", 2);
		else if (*s == '\n')
			put(l, "\\n", 2);
		else if (quote && *s == '"')
			put(l, "\\\"", 2);
		else
			put(l, s, 1);
	}
}

static void begin(struct line *l, struct tw_metrics *m)
{
	l->m = m;
	l->off = m->len;
	l->over = 0;
}

static void end(struct line *l)
{
	struct tw_metrics *m = l->m;

	if (m->cut)
		return;
	put(l, "\n", 1);
	if (l->over) {
		m->cut = 1;
		m->buf[m->len] = '\0';
		return;
	}
	m->len = l->off;
	m->buf[m->len] = '\0';
}

void tw_metrics_family(struct tw_metrics *m, const char *name, const char *type,
		       const char *help)
{
	struct line l;

	if (!tw_metrics_name_ok(name, 0) ||
	    (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
	     strcmp(type, "histogram") != 0)) {
		m->errors++;
		return;
	}
	begin(&l, m);
	puts_(&l, "# HELP ");
	puts_(&l, name);
	puts_(&l, " ");
	put_escaped(&l, help ? help : "", 0);
	end(&l);
	begin(&l, m);
	puts_(&l, "# TYPE ");
	puts_(&l, name);
	puts_(&l, " ");
	puts_(&l, type);
	end(&l);
}

static int labels_ok(const struct tw_metric_label *labels)
{
	for (size_t i = 0; labels && labels[i].name; i++) {
		if (!tw_metrics_name_ok(labels[i].name, 1) || labels[i].value == NULL)
			return 0;
	}
	return 1;
}

/* name{labels[,extra="v"]} value */
static void sample(struct tw_metrics *m, const char *name, const char *suffix,
		   const struct tw_metric_label *labels, const char *extra, const char *extra_v,
		   const char *value)
{
	struct line l;
	int any = 0;

	if (!tw_metrics_name_ok(name, 0) || !labels_ok(labels)) {
		m->errors++;
		return;
	}
	begin(&l, m);
	puts_(&l, name);
	puts_(&l, suffix);
	for (size_t i = 0; labels && labels[i].name; i++) {
		puts_(&l, any ? "," : "{");
		puts_(&l, labels[i].name);
		puts_(&l, "=\"");
		put_escaped(&l, labels[i].value, 1);
		puts_(&l, "\"");
		any = 1;
	}
	if (extra) {
		puts_(&l, any ? "," : "{");
		puts_(&l, extra);
		puts_(&l, "=\"");
		puts_(&l, extra_v);
		puts_(&l, "\"");
		any = 1;
	}
	if (any)
		puts_(&l, "}");
	puts_(&l, " ");
	puts_(&l, value);
	end(&l);
}

static void fmt_float(char *out, size_t len, double v)
{
	if (isnan(v))
		snprintf(out, len, "NaN");
	else if (isinf(v))
		snprintf(out, len, "%s", v > 0 ? "+Inf" : "-Inf");
	else {
		/* the shortest of 15..17 significant digits that reads back as @p v: 0.05, not
		 * 0.050000000000000003 */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(out, len, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				break;
		}
	}
}

void tw_metrics_int(struct tw_metrics *m, const char *name, const struct tw_metric_label *labels,
		    int64_t value)
{
	char v[32];

	snprintf(v, sizeof v, "%lld", (long long)value);
	sample(m, name, "", labels, NULL, NULL, v);
}

void tw_metrics_float(struct tw_metrics *m, const char *name,
		      const struct tw_metric_label *labels, double value)
{
	char v[40];

	fmt_float(v, sizeof v, value);
	sample(m, name, "", labels, NULL, NULL, v);
}

void tw_metrics_histogram(struct tw_metrics *m, const char *name,
			  const struct tw_metric_label *labels, const double *bounds,
			  const uint64_t *counts, size_t n, uint64_t count, double sum)
{
	char le[40], v[40];

	for (size_t i = 0; i < n; i++) {
		fmt_float(le, sizeof le, bounds[i]);
		snprintf(v, sizeof v, "%llu", (unsigned long long)counts[i]);
		sample(m, name, "_bucket", labels, "le", le, v);
	}
	snprintf(v, sizeof v, "%llu", (unsigned long long)count);
	sample(m, name, "_bucket", labels, "le", "+Inf", v);
	fmt_float(v, sizeof v, sum);
	sample(m, name, "_sum", labels, NULL, NULL, v);
	snprintf(v, sizeof v, "%llu", (unsigned long long)count);
	sample(m, name, "_count", labels, NULL, NULL, v);
}

int tw_hist_init(struct tw_hist *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof *h);
	if (bounds == NULL || n == 0 || n > TW_HIST_BUCKETS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			return -1;
	}
	h->bounds = bounds;
	h->n = n;
	return 0;
}

void tw_hist_observe(struct tw_hist *h, double v)
{
	if (isnan(v))
		return;
	h->count++;
	h->sum += v;
	for (size_t i = 0; i < h->n; i++) {
		if (v <= h->bounds[i]) {
			h->in[i]++;
			return;
		}
	}
}

void tw_metrics_hist(struct tw_metrics *m, const char *name, const struct tw_metric_label *labels,
		     const struct tw_hist *h)
{
	uint64_t cum[TW_HIST_BUCKETS], run = 0;

	for (size_t i = 0; i < h->n; i++) {
		run += h->in[i];
		cum[i] = run;
	}
	tw_metrics_histogram(m, name, labels, h->bounds, cum, h->n, h->count, h->sum);
}
