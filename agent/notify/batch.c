/* SPDX-License-Identifier: MIT */
/* batch.c - the notifier's pure decisions: in-batch duplicates, what follows an outcome, backoff,
 * the retry schedule, whether a 'sending' record written ahead is still fresh, and the [smtp]
 * max_rate token bucket. */
#include "notify/batch.h"

#include <stdio.h>
#include <string.h>

#include "smtp/smtp.h"

size_t tw_notify_dedupe(const char *const *ids, size_t n, int *dup)
{
	size_t repeats = 0;

	for (size_t i = 0; i < n; i++) {
		dup[i] = -1;
		for (size_t j = 0; ids[i] && j < i; j++) {
			if (dup[j] < 0 && ids[j] && strcmp(ids[i], ids[j]) == 0) {
				dup[i] = (int)j;
				repeats++;
				break;
			}
		}
	}
	return repeats;
}

int64_t tw_notify_backoff_ms(int k, int64_t first, int64_t max)
{
	int64_t ms = first;

	for (int i = 1; i < k && ms < max; i++)
		ms *= 2;
	return ms < max ? ms : max;
}

static void dead(struct tw_notify_verdict *v, const char *what, int n, const char *text)
{
	v->next = TW_NOTIFY_DEAD;
	snprintf(v->reason, sizeof v->reason, "%s %d %s: %.200s", what, n,
		 n == 1 ? "time" : "times", text ? text : "");
}

void tw_notify_after(int outcome, int attempted, int rec, int marked, const char *text,
		     struct tw_notify_tries *t, struct tw_notify_verdict *v)
{
	memset(v, 0, sizeof *v);
	if (outcome == TW_SMTP_SENT) {
		v->next = TW_NOTIFY_RECORD;
		return;
	}
	if (outcome == TW_SMTP_AMBIGUOUS) {
		/* Maybe delivered: its 'sending' row stays (a restart sends it again too) and the
		 * retry carries the same Message-ID. Counted as an attempt: bounded like the rest. */
		t->ambiguous++;
		t->attempts++;
		v->ambiguous = 1;
		if (t->attempts >= TW_NOTIFY_ATTEMPTS_MAX) {
			dead(v, "gave up (the last without an answer to its end of data), attempted",
			     t->attempts, text);
			v->forget = 0;
			return;
		}
		v->next = TW_NOTIFY_RETRY;
		v->retry_ms = tw_notify_backoff_ms(t->attempts, TW_NOTIFY_BACKOFF_FIRST_MS,
						   TW_NOTIFY_BACKOFF_MAX_MS);
		return;
	}
	/* Not taken by the server: a 'sending' row must go before a retry or a dead letter. */
	v->forget = marked;
	if (rec == TW_NOTIFY_REC_OUTAGE) {
		/* The database, not the relay, failed: nothing counted, sessions wait for it. */
		v->next = TW_NOTIFY_RETRY;
		v->db_wait = 1;
		v->retry_ms = TW_NOTIFY_BACKOFF_FIRST_MS;
		return;
	}
	if (rec == TW_NOTIFY_REC_REFUSED) {
		if (++t->refused >= TW_NOTIFY_UNRECORDED_MAX) {
			dead(v, "the ledger refused its record", t->refused, text);
			return;
		}
		v->next = TW_NOTIFY_RETRY;
		v->retry_ms = tw_notify_backoff_ms(t->refused, TW_NOTIFY_BACKOFF_FIRST_MS,
						   TW_NOTIFY_BACKOFF_MAX_MS);
		return;
	}
	if (outcome == TW_SMTP_PERMANENT) {
		v->next = TW_NOTIFY_DEAD;
		snprintf(v->reason, sizeof v->reason, "permanent: %.200s", text ? text : "");
		return;
	}
	if (!attempted) {
		/* The session failed before its turn: the breaker counts that, not the e-mail. */
		v->next = TW_NOTIFY_RETRY;
		v->retry_ms = TW_NOTIFY_BACKOFF_FIRST_MS;
		return;
	}
	/* A transient refusal (4xx, greylisting): tried again once in the batch, then deferred
	 * into the persisted retry schedule, so it never holds the partition. */
	if (++t->attempts >= TW_NOTIFY_DEFER_AFTER) {
		v->next = TW_NOTIFY_DEFER;
		snprintf(v->reason, sizeof v->reason, "transient: %.200s", text ? text : "");
		return;
	}
	v->next = TW_NOTIFY_RETRY;
	v->retry_ms = tw_notify_backoff_ms(t->attempts, TW_NOTIFY_BACKOFF_FIRST_MS,
					   TW_NOTIFY_BACKOFF_MAX_MS);
}

void tw_notify_schedule(const struct tw_notify_sched_cfg *c, int attempts, int64_t first_ms,
			int64_t now_ms, struct tw_notify_sched *s)
{
	int64_t age = now_ms - first_ms, left, wait;
	int k = attempts - TW_NOTIFY_DEFER_AFTER + 1;

	memset(s, 0, sizeof *s);
	if (age < 0)
		age = 0; /* a clock step back: count from now */
	if (age >= c->max_age_ms) {
		s->dead = 1;
		return;
	}
	wait = tw_notify_backoff_ms(k < 1 ? 1 : k, c->interval_ms, c->max_interval_ms);
	left = c->max_age_ms - age;
	s->delay_ms = wait < left ? wait : left;
	if (s->delay_ms < 1)
		s->delay_ms = 1;
}

int tw_notify_premark_fresh(int64_t submitted_ms, int64_t now_ms, int64_t timeout_ms)
{
	int64_t age = now_ms - submitted_ms;

	return timeout_ms > 0 && age >= 0 && age <= timeout_ms;
}

char *tw_notify_ambiguous_line(char *buf, size_t len, const char *id, const char *email,
			       const char *window)
{
	snprintf(buf, len,
		 "ambiguous delivery id=%s to=%s window=%s: sent again with the same Message-ID", id,
		 email, window);
	return buf;
}

int64_t tw_notify_bucket_burst(int64_t rate, int64_t batch_max)
{
	if (rate < 1)
		return 1;
	return rate < batch_max ? rate : batch_max;
}

static void refill(struct tw_notify_bucket *b, int64_t now_ms)
{
	int64_t dt = now_ms - b->last_ms;

	if (dt <= 0) {
		if (dt < 0)
			b->last_ms = now_ms; /* a clock step back: count from now */
		return;
	}
	b->last_ms = now_ms;
	/* (a long idle time cannot overflow: capped before the multiply) */
	if (dt >= b->cap * 1000)
		b->milli = b->cap * 1000;
	else
		b->milli += dt * b->rate;
	if (b->milli > b->cap * 1000)
		b->milli = b->cap * 1000;
}

void tw_notify_bucket_init(struct tw_notify_bucket *b, int64_t rate, int64_t cap, int64_t now_ms)
{
	b->rate = rate > 0 ? rate : 0;
	b->cap = cap > 0 ? cap : 1;
	b->milli = b->cap * 1000;
	b->last_ms = now_ms;
}

int64_t tw_notify_bucket_wait_ms(struct tw_notify_bucket *b, int64_t n, int64_t now_ms)
{
	int64_t need;

	if (b->rate == 0)
		return 0;
	refill(b, now_ms);
	if (n > b->cap)
		n = b->cap;
	need = n * 1000 - b->milli;
	return need <= 0 ? 0 : (need + b->rate - 1) / b->rate;
}

void tw_notify_bucket_take(struct tw_notify_bucket *b, int64_t n, int64_t now_ms)
{
	if (b->rate == 0)
		return;
	refill(b, now_ms);
	b->milli -= n * 1000;
	if (b->milli < 0)
		b->milli = 0;
}
