/* SPDX-License-Identifier: MIT */
/* log.c - formats a log line once, folds repeats, queues it for stderr (drained by the loop,
 * never blocking), keeps it in the ring of recent lines, mirrors it to the console. */
#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hal.h"
#include "loop.h"
#include "ring.h"

int tw_log_threshold = TW_LOG_INFO;

static struct {
	char *storage;
	size_t lines, line_len;
	size_t next; /* slot the next line goes to */
	size_t count;
	void (*mirror)(const char *, size_t, void *);
	void *mirror_arg;
	int no_stderr;
	/* stderr output, once attached */
	struct tw_loop *loop;
	struct tw_ring out;
	int attached, watching;
	long long tick_timer;
	unsigned long long dropped, dropped_told, folded;
} lg;

/* One line being folded: printed at @c start, @c count copies suppressed since. */
struct fold {
	uint64_t hash; /* 0: free */
	tw_mono_t start;
	unsigned long long count;
	int printed; /* copies printed in this window (up to TW_LOG_FOLD_AFTER) */
	int level;
	char role[24];
	char text[TW_LOG_LINE_MAX];
};

static struct fold folds[TW_LOG_FOLD_SLOTS];

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
	memset(folds, 0, sizeof folds); /* a fresh ring starts a fresh log */
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

static void on_stderr(struct tw_loop *l, int fd, unsigned ready, void *arg);

/* Stop or start watching stderr as the ring empties or fills. */
static void watch(int want)
{
	if (!lg.attached || want == lg.watching)
		return;
	if (want) {
		if (tw_loop_add_fd(lg.loop, tw_hal_log_fd(), TW_HAL_WRITE, on_stderr, NULL) != TW_OK)
			return; /* loop full: retried at the next line or tick */
	} else {
		tw_loop_del_fd(lg.loop, tw_hal_log_fd());
	}
	lg.watching = want;
}

void tw_log_flush(void)
{
	const unsigned char *p;
	size_t n;

	if (!lg.attached)
		return;
	while ((n = tw_ring_readable(&lg.out, &p)) > 0) {
		long w = tw_hal_log_write(p, n);

		if (w == TW_ERR_IO) {
			/* stderr is gone: nobody reads what is held */
			tw_ring_pop(&lg.out, NULL, tw_ring_len(&lg.out));
			break;
		}
		if (w <= 0)
			break;
		tw_ring_pop(&lg.out, NULL, (size_t)w);
	}
	watch(tw_ring_len(&lg.out) > 0);
}

static void on_stderr(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	(void)l;
	(void)fd;
	(void)ready;
	(void)arg;
	tw_log_flush();
}

static int64_t on_tick(struct tw_loop *l, void *arg)
{
	(void)l;
	(void)arg;
	tw_log_tick();
	if (lg.attached && tw_ring_len(&lg.out))
		tw_log_flush();
	return 1000;
}

int tw_log_attach(struct tw_loop *loop, void *storage, size_t cap)
{
	tw_ring_init(&lg.out, storage, cap);
	lg.loop = loop;
	lg.watching = 0;
	lg.tick_timer = tw_loop_add_timer(loop, 1000, on_tick, NULL);
	if (lg.tick_timer < 0) {
		lg.tick_timer = 0;
		return TW_ERR_NOMEM;
	}
	lg.attached = 1;
	return TW_OK;
}

void tw_log_detach(int timeout_ms)
{
	tw_mono_t deadline = tw_hal_now() + (tw_mono_t)timeout_ms * TW_MONO_PER_MS;

	if (!lg.attached)
		return;
	tw_log_tick();
	for (;;) {
		struct tw_hal_pollfd p = {tw_hal_log_fd(), TW_HAL_WRITE, 0};
		tw_mono_t left;

		tw_log_flush();
		left = deadline - tw_hal_now();
		if (tw_ring_len(&lg.out) == 0 || left <= 0)
			break;
		if (tw_hal_wait(&p, 1, (int)((left + 999) / 1000)) < 0)
			break;
	}
	watch(0);
	if (lg.tick_timer > 0)
		tw_loop_del_timer(lg.loop, lg.tick_timer);
	lg.tick_timer = 0;
	lg.attached = 0;
	lg.loop = NULL;
}

unsigned long long tw_log_dropped(void)
{
	return lg.dropped;
}

unsigned long long tw_log_folded(void)
{
	return lg.folded;
}

size_t tw_log_pending(void)
{
	return lg.attached ? tw_ring_len(&lg.out) : 0;
}

static void to_stderr(const char *line, size_t len)
{
	if (!lg.attached) {
		ssize_t w = write(STDERR_FILENO, line, len);
		(void)w; /* before the loop exists: a tool's plain write; nowhere to report */
		return;
	}
	if (lg.dropped > lg.dropped_told) {
		char note[96];
		int n = snprintf(note, sizeof note,
				 "(log: %llu lines dropped: stderr was not writable)\n",
				 lg.dropped - lg.dropped_told);

		if (n > 0 && tw_ring_push(&lg.out, note, (size_t)n) == TW_OK)
			lg.dropped_told = lg.dropped;
	}
	if (lg.dropped > lg.dropped_told || tw_ring_push(&lg.out, line, len) != TW_OK)
		lg.dropped++;
	tw_log_flush();
}

/* Timestamp, level and role before @p text; then out to stderr, the ring and the mirror. */
static void deliver(int level, const char *role, const char *text)
{
	char line[TW_LOG_LINE_MAX + 64];
	int64_t ms = tw_hal_wall_ms();
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t off, tl = strlen(text);
	int n;

	gmtime_r(&secs, &tm);
	n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s [%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (int)(ms % 1000), tw_log_level_name(level), role ? role : "-");
	off = n < 0 ? 0 : (size_t)n;
	if (off > TW_LOG_LINE_MAX - 2)
		off = TW_LOG_LINE_MAX - 2;
	if (tl > TW_LOG_LINE_MAX - 2 - off)
		tl = TW_LOG_LINE_MAX - 2 - off;
	memcpy(line + off, text, tl);
	off += tl;
	line[off++] = '\n';
	line[off] = '\0';
	if (!lg.no_stderr)
		to_stderr(line, off);
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

/* The line standing for a fold's suppressed copies; frees the slot. */
static void fold_end(struct fold *f, tw_mono_t now)
{
	if (f->count > 0) {
		char text[TW_LOG_LINE_MAX + 64];
		long long secs = (long long)((now - f->start + TW_MONO_PER_S - 1) / TW_MONO_PER_S);
		unsigned long long count = f->count;

		if (secs > TW_LOG_FOLD_MS / 1000)
			secs = TW_LOG_FOLD_MS / 1000;
		if (secs < 1)
			secs = 1;
		f->hash = 0; /* before deliver: a mirror that logs must not find it */
		snprintf(text, sizeof text, "%.*s ... repeated %llu times in %lld s",
			 TW_LOG_LINE_MAX - 120, f->text, count, secs);
		deliver(f->level, f->role, text);
	}
	f->hash = 0;
}

void tw_log_tick(void)
{
	tw_mono_t now = tw_hal_now();

	for (size_t i = 0; i < TW_LOG_FOLD_SLOTS; i++) {
		/* (now < start: a test's clock went back to its origin) */
		if (folds[i].hash && (now < folds[i].start ||
				      now - folds[i].start >= TW_LOG_FOLD_MS * TW_MONO_PER_MS))
			fold_end(&folds[i], now);
	}
}

static uint64_t line_hash(int level, const char *role, const char *text)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(level + 1);

	for (const char *p = role ? role : "-"; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (const char *p = text; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h ? h : 1;
}

/* @return 1 when this line is a repeat to count, 0 when it is to be printed. */
static int fold(int level, const char *role, const char *text)
{
	tw_mono_t now = tw_hal_now();
	uint64_t h = line_hash(level, role, text);
	struct fold *free_slot = NULL, *oldest = NULL;

	tw_log_tick();
	for (size_t i = 0; i < TW_LOG_FOLD_SLOTS; i++) {
		struct fold *f = &folds[i];

		if (f->hash == h && f->level == level && strcmp(f->text, text) == 0) {
			if (f->printed < TW_LOG_FOLD_AFTER) {
				f->printed++; /* a line printed twice (two carves alike) is no flood */
				return 0;
			}
			f->count++;
			lg.folded++;
			return 1;
		}
		if (f->hash == 0) {
			if (free_slot == NULL)
				free_slot = f;
		} else if (oldest == NULL || f->start < oldest->start) {
			oldest = f;
		}
	}
	if (free_slot == NULL) {
		fold_end(oldest, now);
		free_slot = oldest;
	}
	free_slot->hash = h;
	free_slot->start = now;
	free_slot->count = 0;
	free_slot->printed = 1;
	free_slot->level = level;
	snprintf(free_slot->role, sizeof free_slot->role, "%s", role ? role : "-");
	snprintf(free_slot->text, sizeof free_slot->text, "%s", text);
	return 0;
}

void tw_log_emit(int level, const char *role, const char *fmt, ...)
{
	char text[TW_LOG_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		text[0] = '\0';
	/* One line per call: control characters from remote text cannot forge lines. */
	for (char *p = text; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t')
			*p = '?';
	}
	if (fold(level, role, text))
		return;
	deliver(level, role, text);
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
