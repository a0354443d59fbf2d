/* SPDX-License-Identifier: MIT */
/* metrics.h - a bounded writer of the Prometheus text exposition format (version 0.0.4).
 *
 * The http role's /metrics page is one call of each started role's optional
 * `metrics` callback (role.h) into one struct tw_metrics over a buffer carved
 * at start ([http] out_kb per slot). Every family is written as
 *
 *   # HELP <name> <help>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{<label>="<value>",...} <number>
 *
 * with the label values and help texts escaped as the format says (backslash,
 * double quote and line feed in label values; backslash and line feed in help).
 * Names and label names are the caller's constants and must match
 * [a-zA-Z_:][a-zA-Z0-9_:]* (checked: a bad one writes nothing and counts as an
 * error). When the buffer is full the writer stops at the last whole line and
 * sets `cut`: a scrape never sees half a sample. One family must be written
 * in one go (its samples right after its TYPE line).
 *
 * struct tw_hist is a histogram accumulator the roles keep in their state: at most
 * TW_HIST_BUCKETS fixed upper bounds (the caller's constant array, ascending), per-bucket
 * counts, the count and the sum; no allocation. tw_metrics_hist() writes it.
 */
#ifndef TW_METRICS_H
#define TW_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct tw_metrics {
	char *buf;
	size_t cap;
	size_t len;
	int cut;     /**< output stopped: the buffer was full */
	int errors;  /**< bad names refused */
};

/** Labels: pairs of name and value, ended by a NULL name; NULL for none. */
struct tw_metric_label {
	const char *name;
	const char *value;
};

void tw_metrics_init(struct tw_metrics *m, char *buf, size_t cap);

/** "# HELP" and "# TYPE" lines; @p type is "counter", "gauge" or "histogram". */
void tw_metrics_family(struct tw_metrics *m, const char *name, const char *type,
		       const char *help);

/** One integer sample of the family just begun (counters, most gauges). */
void tw_metrics_int(struct tw_metrics *m, const char *name, const struct tw_metric_label *labels,
		    int64_t value);

/** One floating-point sample (seconds, ratios); NaN and infinities as the format spells them. */
void tw_metrics_float(struct tw_metrics *m, const char *name,
		      const struct tw_metric_label *labels, double value);

/**
 * A whole histogram family's samples: <name>_bucket{...,le="b"} for each of the
 * @p n upper bounds (ascending) with the cumulative counts @p counts[0..n-1]
 * (counts[i] = observations <= bounds[i]), le="+Inf" with @p count, then
 * <name>_sum and <name>_count. Call tw_metrics_family(m, name, "histogram", ...) first.
 */
void tw_metrics_histogram(struct tw_metrics *m, const char *name,
			  const struct tw_metric_label *labels, const double *bounds,
			  const uint64_t *counts, size_t n, uint64_t count, double sum);

#define TW_HIST_BUCKETS 16 /* upper bounds a tw_hist holds, +Inf not counted */

struct tw_hist {
	const double *bounds; /**< ascending, finite; the caller's constant array */
	size_t n;             /**< 0 when init refused the bounds: then nothing is bucketed */
	uint64_t in[TW_HIST_BUCKETS]; /**< observations in (bounds[i-1], bounds[i]] */
	uint64_t count;       /**< every observation, the +Inf bucket */
	double sum;
};

/**
 * Start @p h empty over @p n bounds. @return 0, or -1 (and @p h with no buckets, count
 * and sum still kept) when @p n is 0 or over TW_HIST_BUCKETS, or the bounds are not
 * finite and strictly ascending.
 */
int tw_hist_init(struct tw_hist *h, const double *bounds, size_t n);

/** Count one observation @p v (NaN is ignored: it has no bucket and would poison the sum). */
void tw_hist_observe(struct tw_hist *h, double v);

/** tw_metrics_histogram() of @p h (cumulative counts); the family line is the caller's. */
void tw_metrics_hist(struct tw_metrics *m, const char *name, const struct tw_metric_label *labels,
		     const struct tw_hist *h);

/** @return 1 when @p s is a valid metric (or, with @p label, label) name. */
int tw_metrics_name_ok(const char *s, int label);

#endif
