/* SPDX-License-Identifier: MIT */
/* metrics.h - a bounded writer of the Prometheus text exposition format (version 0.0.4).
 *
 * The http role's /metrics page is one call of each started role's optional
 * `metrics` callback (role.h) into one struct tw_metrics over a buffer carved
 * at start ([http] metrics_kb). Every family is written as
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

/** @return 1 when @p s is a valid metric (or, with @p label, label) name. */
int tw_metrics_name_ok(const char *s, int label);

#endif
