/* SPDX-License-Identifier: MIT */
/* outage.h - dependency outages (Kafka, PostgreSQL, SMTP...): one warn line when one starts,
 * one when it ends, and the list of current outages for `status`.
 *
 * A role calls tw_outage_begin() each time it sees the dependency fail and
 * tw_outage_end() each time it sees it work: only the transitions are logged
 * (at warn, whatever the per-attempt lines say at info or debug), so an outage
 * is visible with log_level = warn and never floods. The table is bounded
 * (TW_OUTAGE_MAX names, static); names and reasons are copied. */
#ifndef TW_OUTAGE_H
#define TW_OUTAGE_H

#include <stddef.h>

#define TW_OUTAGE_MAX 8
#define TW_OUTAGE_NAME 48
#define TW_OUTAGE_REASON 160

/**
 * @p name (e.g. "kafka", "database", "smtp relay") is failing for @p reason.
 * Logs "outage: NAME unreachable: REASON" at warn the first time; later calls
 * only update the reason. @return 1 when this began an outage, 0 when one was
 * already on, TW_ERR_NOMEM when the table is full (then logged at warn anyway).
 */
int tw_outage_begin(const char *name, const char *reason);

/**
 * @p name works again. Logs "outage: NAME reachable again after N s" at warn
 * when an outage was on. @return 1 when this ended one, 0 otherwise.
 */
int tw_outage_end(const char *name);

/** @return 1 while @p name is in an outage. */
int tw_outage_active(const char *name);

/**
 * One line for `status`: "outages: none" or "outages: kafka for 12 s (all
 * brokers down); ...", newline-terminated. Never cut silently: what does not
 * fit ends in "...". @return the length written.
 */
size_t tw_outage_report(char *buf, size_t len);

/**
 * Call @p fn for each current outage with its name, reason and age in seconds
 * (the /metrics page). @return how many there are.
 */
size_t tw_outage_each(void (*fn)(const char *name, const char *reason, long long seconds,
				 void *arg),
		      void *arg);

/** Forget every outage (tests, agent stop). */
void tw_outage_reset(void);

#endif
