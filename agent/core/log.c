/* SPDX-License-Identifier: MIT */
/* log.c - formats a log line once, writes it to stderr, keeps it in the ring, mirrors it. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hal.h"

int tw_log_threshold = TW_LOG_INFO;

static struct {
	char *storage;
	size_t lines, line_len;
	size_t next; /* slot the next line goes to */
	size_t count;
	void (*mirror)(const char *, size_t, void *);
	void *mirror_arg;
	int no_stderr;
} lg;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int tw_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0)
			return i;
	}
	return -1;
}

const char *tw_log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

void tw_log_ring_init(void *storage, size_t lines, size_t line_len)
{
	lg.storage = storage;
	lg.lines = lines;
	lg.line_len = line_len;
	lg.next = lg.count = 0;
}

void tw_log_ring_reset(void)
{
	lg.storage = NULL;
	lg.lines = lg.count = lg.next = 0;
}

size_t tw_log_ring_count(void)
{
	return lg.count;
}

const char *tw_log_ring_line(size_t i)
{
	if (i >= lg.count)
		return NULL;
	return lg.storage + ((lg.next + lg.lines - lg.count + i) % lg.lines) * lg.line_len;
}

void tw_log_set_mirror(void (*fn)(const char *, size_t, void *), void *arg)
{
	lg.mirror = fn;
	lg.mirror_arg = arg;
}

void tw_log_set_stderr(int on)
{
	lg.no_stderr = !on;
}

void tw_log_emit(int level, const char *role, const char *fmt, ...)
{
	char line[TW_LOG_LINE_MAX];
	int64_t ms = tw_hal_wall_ms();
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t off;
	int n;
	va_list ap;

	gmtime_r(&secs, &tm);
	n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s [%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (int)(ms % 1000), tw_log_level_name(level), role ? role : "-");
	off = n < 0 ? 0 : (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof line - off - 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		off += (size_t)n < sizeof line - off - 1 ? (size_t)n : sizeof line - off - 2;
	/* One line per call: control characters from remote text cannot forge lines. */
	for (size_t i = 0; i < off; i++) {
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			line[i] = '?';
	}
	line[off++] = '\n';
	line[off] = '\0';
	if (!lg.no_stderr) {
		ssize_t w = write(STDERR_FILENO, line, off);
		(void)w; /* nowhere left to report a failing stderr */
	}
	if (lg.storage && lg.lines && lg.line_len) {
		char *slot = lg.storage + lg.next * lg.line_len;
		size_t keep = off - 1 < lg.line_len - 1 ? off - 1 : lg.line_len - 1;

		memcpy(slot, line, keep);
		slot[keep] = '\0';
		lg.next = (lg.next + 1) % lg.lines;
		if (lg.count < lg.lines)
			lg.count++;
	}
	if (lg.mirror)
		lg.mirror(line, off, lg.mirror_arg);
}

static size_t put(char *out, size_t o, size_t len, const char *s, size_t n)
{
	while (n-- && *s && o + 1 < len)
		out[o++] = *s++;
	return o;
}

char *tw_log_redact(const char *in, char *out, size_t len)
{
	const char *scheme = strstr(in, "://");
	const char *p = in;
	size_t o = 0;

	if (len == 0)
		return out;
	if (scheme) {
		/* scheme://user:PASSWORD@host/...: mask between the ':' and the '@' */
		const char *auth = scheme + 3;
		size_t authlen = strcspn(auth, "/?#");
		const char *at = memchr(auth, '@', authlen);
		const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;

		if (colon) {
			o = put(out, o, len, in, (size_t)(colon - in) + 1);
			o = put(out, o, len, "***", 3);
			p = at;
		}
	}
	while (*p && o + 1 < len) {
		/* password=SECRET in a key=value string or a URL query */
		if (strncmp(p, "password=", 9) == 0 &&
		    (p == in || p[-1] == ' ' || p[-1] == '&' || p[-1] == '?')) {
			o = put(out, o, len, "password=***", 12);
			p += 9 + strcspn(p + 9, " &");
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}
