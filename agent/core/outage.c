/* SPDX-License-Identifier: MIT */
/* outage.c - the table of current dependency outages and their start and end log lines. */
#include "outage.h"

#include <stdio.h>
#include <string.h>

#include "hal.h"
#include "log.h"

static struct outage {
	int used;
	tw_mono_t since;
	char name[TW_OUTAGE_NAME];
	char reason[TW_OUTAGE_REASON];
} table[TW_OUTAGE_MAX];

static struct outage *find(const char *name)
{
	for (size_t i = 0; i < TW_OUTAGE_MAX; i++) {
		if (table[i].used && strcmp(table[i].name, name) == 0)
			return &table[i];
	}
	return NULL;
}

int tw_outage_begin(const char *name, const char *reason)
{
	struct outage *o = find(name);

	if (o) {
		snprintf(o->reason, sizeof o->reason, "%s", reason ? reason : "");
		return 0;
	}
	for (size_t i = 0; i < TW_OUTAGE_MAX && o == NULL; i++) {
		if (!table[i].used)
			o = &table[i];
	}
	tw_log(TW_LOG_WARN, "outage", "outage: %s unreachable: %s", name, reason ? reason : "");
	if (o == NULL)
		return TW_ERR_NOMEM;
	o->used = 1;
	o->since = tw_hal_now();
	snprintf(o->name, sizeof o->name, "%s", name);
	snprintf(o->reason, sizeof o->reason, "%s", reason ? reason : "");
	return 1;
}

int tw_outage_end(const char *name)
{
	struct outage *o = find(name);

	if (o == NULL)
		return 0;
	tw_log(TW_LOG_WARN, "outage", "outage: %s reachable again after %lld s", name,
	       (long long)((tw_hal_now() - o->since) / TW_MONO_PER_S));
	o->used = 0;
	return 1;
}

int tw_outage_active(const char *name)
{
	return find(name) != NULL;
}

size_t tw_outage_report(char *buf, size_t len)
{
	size_t off = 0;
	int any = 0;
	tw_mono_t now = tw_hal_now();

	if (len < 32) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	off = (size_t)snprintf(buf, len, "outages:");
	for (size_t i = 0; i < TW_OUTAGE_MAX; i++) {
		const struct outage *o = &table[i];
		int n;

		if (!o->used)
			continue;
		n = snprintf(buf + off, len - off, "%s %s for %lld s (%s)", any ? ";" : "", o->name,
			     (long long)((now - o->since) / TW_MONO_PER_S), o->reason);
		any = 1;
		if (n < 0 || (size_t)n >= len - off - 1) {
			/* cut: say so rather than end mid-word without a sign */
			off = len - 5;
			memcpy(buf + off, "...\n", 5);
			return off + 4;
		}
		off += (size_t)n;
	}
	if (!any)
		off += (size_t)snprintf(buf + off, len - off, " none");
	off += (size_t)snprintf(buf + off, len - off, "\n");
	return off;
}

size_t tw_outage_each(void (*fn)(const char *name, const char *reason, long long seconds,
				 void *arg),
		      void *arg)
{
	tw_mono_t now = tw_hal_now();
	size_t n = 0;

	for (size_t i = 0; i < TW_OUTAGE_MAX; i++) {
		if (!table[i].used)
			continue;
		n++;
		if (fn)
			fn(table[i].name, table[i].reason,
			   (long long)((now - table[i].since) / TW_MONO_PER_S), arg);
	}
	return n;
}

void tw_outage_reset(void)
{
	memset(table, 0, sizeof table);
}
