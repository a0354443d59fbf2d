/* SPDX-License-Identifier: MIT */
/* fuzz_replay.c - the replay file reader (agent/quotes/replay.c: "TIME TICKER PRICE" lines,
 * with the optional prev=, currency=, exchange=).
 *
 * Input: byte 0 picks the row capacity (1..64); the rest is the file (written to a memfd and
 * read through /proc/self/fd). A file loaded holds 1..cap rows, as many as tw_replay_count()
 * counts (it sizes the arena); times in (0, 1e11] and increasing from step to step; tickers
 * valid, upper-case, sorted and unique in their step; prices finite and > 0; a previous close
 * 0 or in (0, 1e9], a currency "" or three of A-Z, an exchange "" or 1..32 printable bytes; and
 * tw_replay_get() finds every row in its step. A refusal says FILE:LINE: what. */
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "quotes/quotes.h"

static struct tw_replay_row rows[64];
static size_t steps[65];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct tw_replay r;
	char err[512];
	size_t cap;
	long count;
	int rc;

	if (size < 1)
		return 0;
	if (fd < 0) {
		fd = memfd_create("fuzz_replay", 0);
		FZ_CHECK(fd >= 0, "memfd");
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	cap = (size_t)(data[0] & 63) + 1;
	FZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data + 1, size - 1, 0) == (ssize_t)(size - 1),
		 "memfd write");
	err[0] = '\0';
	rc = tw_replay_load(&r, path, rows, steps, cap, err, sizeof err);
	if (rc != TW_OK) {
		FZ_CHECK(rc == TW_ERR_REPLAY_SYNTAX, "rc %d: %s", rc, err);
		FZ_CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':',
			 "error not FILE:LINE: %s", err);
		return 0;
	}
	count = tw_replay_count(path, err, sizeof err);
	FZ_CHECK(r.nrows >= 1 && r.nrows <= cap, "%zu rows, cap %zu", r.nrows, cap);
	FZ_CHECK(count == (long)r.nrows, "tw_replay_count %ld, loaded %zu rows", count, r.nrows);
	FZ_CHECK(r.nsteps >= 1 && r.steps[0] == 0 && r.steps[r.nsteps] == r.nrows, "steps");
	for (size_t s = 0; s < r.nsteps; s++) {
		size_t a = r.steps[s], b = r.steps[s + 1];

		FZ_CHECK(a < b, "empty step %zu", s);
		for (size_t i = a; i < b; i++) {
			const struct tw_replay_row *w = &rows[i];
			struct tw_quotes_item q;

			FZ_CHECK(w->time_s > 0 && w->time_s <= 100000000000LL, "time %lld",
				 (long long)w->time_s);
			FZ_CHECK(w->time_s == rows[a].time_s, "two times in step %zu", s);
			FZ_CHECK(s == 0 || w->time_s > rows[r.steps[s - 1]].time_s, "time goes back");
			FZ_CHECK(isfinite(w->price) && w->price > 0, "price %g", w->price);
			FZ_CHECK(w->prev_close == 0 || tw_quotes_prev_ok(w->prev_close), "prev %g",
				 w->prev_close);
			FZ_CHECK(w->currency[0] == '\0' ||
					 (strlen(w->currency) == 3 &&
					  strspn(w->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3),
				 "currency %s", w->currency);
			FZ_CHECK(w->exchange[0] == '\0' ||
					 (strlen(w->exchange) <= 32 && strcspn(w->exchange, " \t\r\n#") ==
									       strlen(w->exchange)),
				 "exchange %s", w->exchange);
			FZ_CHECK(tw_quotes_check_ticker(w->ticker) == TW_OK, "ticker %s", w->ticker);
			for (const char *c = w->ticker; *c; c++)
				FZ_CHECK(!(*c >= 'a' && *c <= 'z'), "lower case ticker %s", w->ticker);
			FZ_CHECK(i == a || strcmp(rows[i - 1].ticker, w->ticker) < 0,
				 "step %zu not sorted / twice: %s", s, w->ticker);
			r.step = s;
			FZ_CHECK(tw_replay_get(&r, w->ticker, &q, err, sizeof err) == TW_OK &&
					 q.price == w->price && q.time_s == w->time_s &&
					 q.prev_close == w->prev_close &&
					 strcmp(q.currency, w->currency) == 0 &&
					 strcmp(q.exchange, w->exchange) == 0,
				 "get %s in step %zu", w->ticker, s);
		}
	}
	return 0;
}
