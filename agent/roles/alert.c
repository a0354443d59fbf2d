/* SPDX-License-Identifier: MIT */
/* alert.c - the alert role: on each wake-up, stream the users out of band, e-mail each change once.
 *
 * A pass, as a state machine (every state waits on a peer that has a bound:
 * the statement watchdog of agent/db, librdkafka's message.timeout.ms):
 *
 *   IDLE --wake-up--> REARM: stream DistinctTickers; for each ticker
 *                     RearmInsideBand (users back inside their band get a new episode)
 *        --> CROSS:   stream UsersCrossingThresholds; each row is checked, the
 *                     suppression rule decides, a message is produced to to-notifier;
 *                     on its delivery report AdvanceAlert records it as e-mailed
 *        --> COMMIT:  every produce acknowledged and every advance done: commit the
 *                     to-alert-system offsets the pass covered
 *        --> IDLE, or one more pass when wake-ups came in meanwhile (coalesced).
 *   Any failure (database, delivery, advance) lets what is in flight settle, then
 *   BACKOFF and the pass runs again; nothing is committed, and what was produced
 *   but not advanced is produced again with the same notification id, which the
 *   notifier skips when it already sent it.
 *
 * Memory: a fixed pool of [limits] alert_inflight records (one per message between
 * its produce and its advance), carved at start; the row stream is paused while
 * the pool is empty or the producer queue is full, so a pass over a million users
 * uses what a pass over one does.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alert/alert.h"
#include "core/agent.h"
#include "core/log.h"
#include "cqrs/cqrs.h"
#include "kafka/kafka.h"

#define ALERT_OPS 8                /* database commands in flight (re-arms, advances) */
#define ALERT_PARTS_EXTRA 16       /* partitions held beyond [kafka] partitions */
#define ALERT_TAKE 64              /* wake-ups taken per consume call */
#define ALERT_STEP_MS 1000         /* the step looks for wake-ups librdkafka did not signal */
#define ALERT_FULL_RETRY_MS 50     /* a full producer queue is tried again after this */
#define ALERT_BACKOFF_MIN_MS 1000  /* first wait before a failed pass runs again */
#define ALERT_BACKOFF_MAX_MS 30000 /* cap of that wait */
#define ALERT_CLOSE_MS 5000        /* bound of the producer flush and the group leave at stop */

enum phase { PH_IDLE, PH_REARM, PH_CROSS, PH_COMMIT, PH_BACKOFF, PH_STOPPED };
static const char *const phase_names[] = {"idle", "re-arming", "streaming", "committing",
					  "backoff", "stopped"};

enum rec_state { R_FREE, R_PRODUCED, R_DELIVERED, R_ADVANCING };

/* One notification between its produce and its advance. */
struct rec {
	char email[TW_CQRS_EMAIL_MAX + 1];
	char ticker[TW_CQRS_TICKER_MAX + 1];
	int64_t int_part;
	int cond;
	int state;
	uint32_t pass; /* the pass it belongs to: a late report of an older pass is ignored */
	int32_t next;  /* free list, or the FIFO of delivered records waiting for an op */
};

struct slot {
	struct tw_cqrs_op op;
	struct alert *a;
	struct rec *r; /* NULL: a re-arm */
	int busy;
};

/* Kafka messages a pass covers: the newest of each partition. */
struct held {
	rd_kafka_message_t **m;
	size_t n, cap;
};

struct counts {
	uint64_t rows, sent, suppressed, invalid, rearmed, tickers;
};

struct alert {
	struct tw_agent *ag;
	struct tw_cqrs *q;
	struct tw_kafka prod, cons;
	int prod_open, cons_open;
	enum phase phase;
	int stopping;
	int failed;       /* the running pass hit an error: retry it once it settled */
	int stream_on;    /* a query stream is running */
	int paused;       /* ... and its row callback asked to pause */
	int again;        /* wake-ups came during the pass */
	int committing;
	uint32_t pass;    /* number of the running (or last) pass */
	struct tw_cqrs_op stream;
	struct slot slots[ALERT_OPS];
	size_t slots_busy;
	struct rec *recs;
	size_t nrecs, recs_used;
	int32_t free_head;
	int32_t fifo_head, fifo_tail; /* delivered, waiting for a free slot */
	char *msg;                    /* scratch for one message value */
	struct rec *pending;          /* produced into a full queue: tried again */
	size_t pending_len;
	long long retry_timer, backoff_timer;
	int64_t backoff_ms;
	struct held inpass, waiting;
	tw_mono_t wake_at, pass_at, last_ack_at;
	struct counts now, last;
	int64_t last_ms; /* wake-up to last acknowledged produce, of the last good pass */
	uint64_t passes, good, failures, coalesced, wakeups, delivery_failed, advance_failed;
	char last_err[256];
};

static void next_step(struct alert *a);

static size_t parts_cap(const struct tw_config *cfg)
{
	return (size_t)cfg->kafka.partitions + ALERT_PARTS_EXTRA;
}

static size_t budget(const struct tw_config *cfg)
{
	return sizeof(struct alert) + (size_t)cfg->limits.alert_inflight * sizeof(struct rec) +
	       2 * parts_cap(cfg) * sizeof(rd_kafka_message_t *) + TW_ALERT_MSG_MAX + 256;
}

static void fail(struct alert *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Mark the running pass failed; it settles, then runs again after a backoff. */
static void fail(struct alert *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->last_err, sizeof a->last_err, fmt, ap);
	va_end(ap);
	if (!a->failed)
		tw_log(TW_LOG_WARN, "alert", "pass %" PRIu32 " failed: %s", a->pass, a->last_err);
	a->failed = 1;
}

/* ---- wake-ups held for the commit ---- */

static void held_add(struct held *h, rd_kafka_message_t *m)
{
	for (size_t i = 0; i < h->n; i++) {
		if (h->m[i]->partition != m->partition)
			continue;
		if (m->offset > h->m[i]->offset) {
			tw_kafka_release(&h->m[i], 1);
			h->m[i] = m;
		} else {
			tw_kafka_release(&m, 1);
		}
		return;
	}
	if (h->n == h->cap) {
		/* Not committed now, so it comes again later: one extra pass, nothing lost. */
		tw_log(TW_LOG_WARN, "alert", "more partitions than [kafka] partitions + %d: "
		       "offset %" PRId64 " of partition %" PRId32 " left uncommitted",
		       ALERT_PARTS_EXTRA, m->offset, m->partition);
		tw_kafka_release(&m, 1);
		return;
	}
	h->m[h->n++] = m;
}

static void held_release(struct held *h)
{
	tw_kafka_release(h->m, h->n);
	h->n = 0;
}

/* Take every waiting wake-up; one pass covers them all. @return how many were taken. */
static size_t take_wakeups(struct alert *a)
{
	rd_kafka_message_t *m[ALERT_TAKE];
	size_t got, total = 0;

	if (!a->cons_open || a->stopping)
		return 0;
	do {
		got = tw_kafka_consume_batch(&a->cons, m, ALERT_TAKE);
		for (size_t i = 0; i < got; i++)
			held_add(&a->waiting, m[i]);
		total += got;
	} while (got == ALERT_TAKE && total < 100000);
	if (total) {
		a->wakeups += total;
		if (a->wake_at == 0 || a->phase == PH_IDLE)
			a->wake_at = tw_hal_now();
	}
	return total;
}

/* ---- records ---- */

static struct rec *rec_get(struct alert *a)
{
	struct rec *r;

	if (a->free_head < 0)
		return NULL;
	r = &a->recs[a->free_head];
	a->free_head = r->next;
	r->next = -1;
	a->recs_used++;
	return r;
}

static void rec_put(struct alert *a, struct rec *r)
{
	r->state = R_FREE;
	r->next = a->free_head;
	a->free_head = (int32_t)(r - a->recs);
	a->recs_used--;
}

static struct slot *slot_get(struct alert *a)
{
	for (size_t i = 0; i < ALERT_OPS; i++) {
		if (!a->slots[i].busy) {
			a->slots[i].busy = 1;
			a->slots_busy++;
			return &a->slots[i];
		}
	}
	return NULL;
}

static void slot_put(struct alert *a, struct slot *s)
{
	s->busy = 0;
	s->r = NULL;
	a->slots_busy--;
}

/* Resume a paused stream when it can take a row again. */
static void maybe_resume(struct alert *a)
{
	if (!a->stream_on || !a->paused || a->pending || a->stopping)
		return;
	if (a->phase == PH_CROSS && a->free_head < 0)
		return;
	if (a->phase == PH_REARM && a->slots_busy == ALERT_OPS)
		return;
	a->paused = 0;
	tw_cqrs_resume(&a->stream);
}

/* ---- advancing the suppression state after the broker's acknowledgement ---- */

static void on_advanced(void *arg, const struct tw_cqrs_result *res);

static void start_advance(struct alert *a, struct slot *s, struct rec *r)
{
	s->r = r;
	r->state = R_ADVANCING;
	if (tw_cqrs_advance_alert(a->q, &s->op, r->email, r->ticker, r->cond, r->int_part,
				  on_advanced, s) != TW_OK) {
		a->advance_failed++;
		fail(a, "advance of %s: %s", r->email, tw_cqrs_op_result(&s->op)->msg);
		slot_put(a, s);
		rec_put(a, r);
	}
}

/* Give free slots to delivered records waiting in the FIFO. */
static void pump_fifo(struct alert *a)
{
	while (a->fifo_head >= 0) {
		struct slot *s = slot_get(a);
		struct rec *r;

		if (s == NULL)
			return;
		r = &a->recs[a->fifo_head];
		a->fifo_head = r->next;
		if (a->fifo_head < 0)
			a->fifo_tail = -1;
		r->next = -1;
		start_advance(a, s, r);
	}
}

static void on_advanced(void *arg, const struct tw_cqrs_result *res)
{
	struct slot *s = arg;
	struct alert *a = s->a;
	struct rec *r = s->r;

	if (a->stopping)
		return;
	if (res->rc != TW_OK) {
		a->advance_failed++;
		fail(a, "advance of %s: %s", r ? r->email : "?", res->msg);
	} else {
		a->now.sent++;
	}
	slot_put(a, s);
	if (r)
		rec_put(a, r);
	pump_fifo(a);
	maybe_resume(a);
	next_step(a);
}

static void on_delivery(struct tw_kafka *k, int rc, const char *err, const rd_kafka_message_t *msg,
			void *msg_opaque, void *arg)
{
	struct alert *a = arg;
	struct rec *r = msg_opaque;
	struct slot *s;

	(void)k;
	(void)msg;
	if (a->stopping || r == NULL || r->state != R_PRODUCED)
		return;
	if (rc != TW_OK) {
		a->delivery_failed++;
		fail(a, "to-notifier message for %s not acknowledged: %s", r->email, err);
		rec_put(a, r);
		maybe_resume(a);
		next_step(a);
		return;
	}
	a->last_ack_at = tw_hal_now();
	r->state = R_DELIVERED;
	s = a->fifo_head < 0 ? slot_get(a) : NULL;
	if (s) {
		start_advance(a, s, r);
	} else {
		r->next = -1;
		if (a->fifo_tail >= 0)
			a->recs[a->fifo_tail].next = (int32_t)(r - a->recs);
		else
			a->fifo_head = (int32_t)(r - a->recs);
		a->fifo_tail = (int32_t)(r - a->recs);
	}
	next_step(a);
}

/* ---- producing ---- */

/* @return 0 produced, TW_ERR_KAFKA_FULL (kept as pending), or another error (record freed). */
static int produce(struct alert *a, struct rec *r, size_t len)
{
	char err[TW_KAFKA_ERR_LEN];
	int rc = tw_kafka_produce(&a->prod, TW_KAFKA_TOPIC_NOTIFIER, r->email, strlen(r->email),
				  a->msg, len, r, err, sizeof err);

	if (rc == TW_OK) {
		r->state = R_PRODUCED;
		a->pending = NULL;
		return TW_OK;
	}
	if (rc == TW_ERR_KAFKA_FULL) {
		a->pending = r;
		a->pending_len = len;
		return rc;
	}
	a->pending = NULL;
	fail(a, "produce for %s: %s", r->email, err);
	rec_put(a, r);
	return rc;
}

static int64_t retry_pending(struct tw_loop *l, void *arg)
{
	struct alert *a = arg;

	(void)l;
	if (a->stopping || a->pending == NULL) {
		a->retry_timer = 0;
		return TW_TIMER_STOP;
	}
	if (produce(a, a->pending, a->pending_len) == TW_ERR_KAFKA_FULL)
		return ALERT_FULL_RETRY_MS;
	a->retry_timer = 0;
	maybe_resume(a);
	next_step(a);
	return TW_TIMER_STOP;
}

static int on_crossing(void *arg, const struct tw_crossing *c)
{
	struct alert *a = arg;
	char why[256];
	struct rec *r;
	long len;
	int rc;

	if (a->stopping)
		return -1;
	a->now.rows++;
	if (tw_alert_check_row(c, why, sizeof why) != TW_OK) {
		a->now.invalid++;
		tw_log(TW_LOG_WARN, "alert", "row skipped: %s", why);
		return 0;
	}
	if (tw_alert_decide(c) == TW_ALERT_SUPPRESS) {
		a->now.suppressed++;
		return 0;
	}
	r = rec_get(a);
	if (r == NULL) { /* cannot happen: the stream pauses before the pool runs dry */
		fail(a, "no free record: raise [limits] alert_inflight");
		return -1;
	}
	len = tw_alert_message(c, a->msg, TW_ALERT_MSG_MAX);
	if (len < 0) {
		a->now.invalid++;
		tw_log(TW_LOG_WARN, "alert", "message for %s does not fit in %d bytes", c->email,
		       TW_ALERT_MSG_MAX);
		rec_put(a, r);
		return 0;
	}
	snprintf(r->email, sizeof r->email, "%s", c->email);
	snprintf(r->ticker, sizeof r->ticker, "%s", c->ticker);
	r->cond = c->condition;
	r->int_part = tw_alert_int_part(c->value);
	r->pass = a->pass;
	rc = produce(a, r, (size_t)len);
	if (rc == TW_ERR_KAFKA_FULL) {
		/* Back-pressure: stop reading rows until the queue drains. */
		if (a->retry_timer == 0) {
			a->retry_timer = tw_loop_add_timer(&a->ag->loop, ALERT_FULL_RETRY_MS,
							   retry_pending, a);
			if (a->retry_timer < 0)
				a->retry_timer = 0;
		}
		a->paused = 1;
		return TW_CQRS_PAUSE;
	}
	if (rc != TW_OK)
		return -1;
	if (a->free_head < 0) {
		a->paused = 1;
		return TW_CQRS_PAUSE;
	}
	return 0;
}

static void on_crossing_done(void *arg, const struct tw_cqrs_result *res)
{
	struct alert *a = arg;

	a->stream_on = 0;
	a->paused = 0;
	if (a->stopping)
		return;
	if (res->rc != TW_OK)
		fail(a, "UsersCrossingThresholds: %s", res->msg);
	next_step(a);
}

/* ---- re-arming ---- */

static void on_rearmed(void *arg, const struct tw_cqrs_result *res)
{
	struct slot *s = arg;
	struct alert *a = s->a;

	if (a->stopping)
		return;
	if (res->rc != TW_OK)
		fail(a, "RearmInsideBand: %s", res->msg);
	else
		a->now.rearmed += (uint64_t)res->count;
	slot_put(a, s);
	maybe_resume(a);
	next_step(a);
}

static int on_ticker(void *arg, const char *ticker)
{
	struct alert *a = arg;
	struct slot *s;

	if (a->stopping)
		return -1;
	a->now.tickers++;
	s = slot_get(a);
	if (s == NULL) { /* cannot happen: the stream pauses while every slot is busy */
		fail(a, "no free database slot for the re-arm of %s", ticker);
		return -1;
	}
	s->r = NULL;
	if (tw_cqrs_rearm_inside_band(a->q, &s->op, ticker, on_rearmed, s) != TW_OK) {
		const struct tw_cqrs_result *res = tw_cqrs_op_result(&s->op);

		slot_put(a, s);
		if (res->rc == TW_ERR_CQRS_INVALID) { /* a ticker we could not re-arm by */
			tw_log(TW_LOG_WARN, "alert", "re-arm of %s skipped: %s", ticker, res->msg);
			return 0;
		}
		fail(a, "RearmInsideBand %s: %s", ticker, res->msg);
		return -1;
	}
	if (a->slots_busy == ALERT_OPS) {
		a->paused = 1;
		return TW_CQRS_PAUSE;
	}
	return 0;
}

static void on_tickers_done(void *arg, const struct tw_cqrs_result *res)
{
	struct alert *a = arg;

	a->stream_on = 0;
	a->paused = 0;
	if (a->stopping)
		return;
	if (res->rc != TW_OK)
		fail(a, "DistinctTickers: %s", res->msg);
	next_step(a);
}

/* ---- the pass ---- */

static int64_t on_backoff(struct tw_loop *l, void *arg);

static void start_pass(struct alert *a)
{
	/* Everything that came in so far is covered by this pass. */
	for (size_t i = 0; i < a->waiting.n; i++)
		held_add(&a->inpass, a->waiting.m[i]);
	a->waiting.n = 0;
	a->again = 0;
	a->failed = 0;
	a->pass++;
	a->passes++;
	memset(&a->now, 0, sizeof a->now);
	a->pass_at = tw_hal_now();
	a->last_ack_at = 0;
	if (a->wake_at == 0)
		a->wake_at = a->pass_at;
	a->phase = PH_REARM;
	a->stream_on = 1;
	a->paused = 0;
	if (tw_cqrs_distinct_tickers(a->q, &a->stream, on_ticker, on_tickers_done, a) != TW_OK) {
		a->stream_on = 0;
		fail(a, "DistinctTickers: %s", tw_cqrs_op_result(&a->stream)->msg);
	}
	next_step(a);
}

static void on_committed(struct tw_kafka *k, int rc, const char *err, void *arg)
{
	struct alert *a = arg;

	(void)k;
	if (!a->committing)
		return;
	a->committing = 0;
	if (rc != TW_OK) /* the wake-ups come again after a restart: one extra pass, no loss */
		tw_log(TW_LOG_WARN, "alert", "commit of to-alert-system offsets failed: %s", err);
	held_release(&a->inpass);
	if (a->stopping)
		return;
	a->phase = PH_IDLE;
	next_step(a);
}

static void finish_pass(struct alert *a)
{
	tw_mono_t end = a->last_ack_at ? a->last_ack_at : tw_hal_now();
	char err[TW_KAFKA_ERR_LEN];

	a->last = a->now;
	if (a->failed) {
		a->failures++;
		a->phase = PH_BACKOFF;
		a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : ALERT_BACKOFF_MIN_MS;
		if (a->backoff_ms > ALERT_BACKOFF_MAX_MS)
			a->backoff_ms = ALERT_BACKOFF_MAX_MS;
		tw_log(TW_LOG_WARN, "alert", "pass %" PRIu32 " runs again in %" PRId64 " ms (%s)",
		       a->pass, a->backoff_ms, a->last_err);
		a->backoff_timer = tw_loop_add_timer(&a->ag->loop, a->backoff_ms, on_backoff, a);
		if (a->backoff_timer < 0) {
			a->backoff_timer = 0;
			tw_log(TW_LOG_ERROR, "alert", "no free timer: raise [limits] max_timers");
		}
		return;
	}
	a->good++;
	a->backoff_ms = 0;
	a->last_ms = (end - a->wake_at) / TW_MONO_PER_MS;
	tw_log(TW_LOG_INFO, "alert",
	       "pass %" PRIu32 " done: %" PRIu64 " rows, %" PRIu64 " sent, %" PRIu64
	       " suppressed, %" PRIu64 " invalid, %" PRIu64 " re-armed over %" PRIu64
	       " tickers; wake-up to last ack %" PRId64 " ms",
	       a->pass, a->now.rows, a->now.sent, a->now.suppressed, a->now.invalid, a->now.rearmed,
	       a->now.tickers, a->last_ms);
	a->wake_at = 0;
	if (a->waiting.n)
		a->wake_at = tw_hal_now();
	if (a->inpass.n == 0) {
		a->phase = PH_IDLE;
		return;
	}
	a->phase = PH_COMMIT;
	a->committing = 1;
	if (tw_kafka_commit_batch(&a->cons, a->inpass.m, a->inpass.n, err, sizeof err) != TW_OK) {
		a->committing = 0;
		tw_log(TW_LOG_WARN, "alert", "commit of to-alert-system offsets not sent: %s", err);
		held_release(&a->inpass);
		a->phase = PH_IDLE;
	}
}

static int64_t on_backoff(struct tw_loop *l, void *arg)
{
	struct alert *a = arg;

	(void)l;
	a->backoff_timer = 0;
	if (!a->stopping)
		start_pass(a);
	return TW_TIMER_STOP;
}

/* Move the pass on when the state it waits for is reached. */
static void next_step(struct alert *a)
{
	if (a->stopping)
		return;
	switch (a->phase) {
	case PH_IDLE:
		if (a->waiting.n || a->again)
			start_pass(a);
		return;
	case PH_REARM:
		if (a->stream_on || a->slots_busy)
			return;
		if (a->failed) {
			finish_pass(a);
			return;
		}
		a->phase = PH_CROSS;
		a->stream_on = 1;
		a->paused = 0;
		if (tw_cqrs_users_crossing(a->q, &a->stream, NULL, on_crossing, on_crossing_done,
					   a) != TW_OK) {
			a->stream_on = 0;
			fail(a, "UsersCrossingThresholds: %s", tw_cqrs_op_result(&a->stream)->msg);
			finish_pass(a);
		}
		return;
	case PH_CROSS:
		if (a->stream_on || a->recs_used || a->pending || a->slots_busy)
			return;
		finish_pass(a);
		return;
	default:
		return;
	}
}

/* ---- the role ---- */

static void on_ready(struct tw_kafka *k, void *arg)
{
	struct alert *a = arg;

	size_t n;

	(void)k;
	n = take_wakeups(a);
	if (n == 0)
		return;
	if (a->phase != PH_IDLE) {
		a->again = 1; /* coalesced: the running pass is followed by exactly one more */
		a->coalesced += n;
	}
	next_step(a);
}

static int start(struct tw_agent *ag, void **state, char *err, size_t errlen)
{
	const struct tw_config *cfg = &ag->cfg;
	static const char *const topics[] = {TW_KAFKA_TOPIC_ALERT, NULL};
	struct tw_kafka_opts po = {0}, co = {0};
	struct alert *a;
	size_t cap = parts_cap(cfg);

	a = tw_arena_carve(&ag->arena, sizeof *a, "alert state", "arena_kb");
	if (a == NULL)
		goto nomem;
	a->ag = ag;
	a->nrecs = (size_t)cfg->limits.alert_inflight;
	a->recs = tw_arena_carve(&ag->arena, a->nrecs * sizeof *a->recs, "alert in-flight records",
				 "alert_inflight");
	a->msg = tw_arena_carve(&ag->arena, TW_ALERT_MSG_MAX, "alert message", "arena_kb");
	a->inpass.m = tw_arena_carve(&ag->arena, cap * sizeof(rd_kafka_message_t *),
				     "alert wake-ups in pass", "arena_kb");
	a->waiting.m = tw_arena_carve(&ag->arena, cap * sizeof(rd_kafka_message_t *),
				      "alert wake-ups waiting", "arena_kb");
	if (a->recs == NULL || a->msg == NULL || a->inpass.m == NULL || a->waiting.m == NULL)
		goto nomem;
	a->inpass.cap = a->waiting.cap = cap;
	for (size_t i = 0; i < a->nrecs; i++)
		a->recs[i].next = i + 1 < a->nrecs ? (int32_t)(i + 1) : -1;
	a->free_head = 0;
	a->fifo_head = a->fifo_tail = -1;
	for (size_t i = 0; i < ALERT_OPS; i++)
		a->slots[i].a = a;
	*state = a;

	a->q = tw_cqrs_open(ag, err, errlen);
	if (a->q == NULL)
		return TW_ERR_IO;
	po.kind = TW_KAFKA_PRODUCER;
	po.role = "alert";
	po.linger_ms = 500;
	po.on_delivery = on_delivery;
	po.arg = a;
	if (tw_kafka_open(&a->prod, cfg, &ag->loop, &po, err, errlen) != TW_OK)
		return TW_ERR_IO;
	a->prod_open = 1;
	co.kind = TW_KAFKA_CONSUMER;
	co.role = "alert";
	co.group_id = "tickwatch-alert";
	co.topics = topics;
	co.on_ready = on_ready;
	co.on_commit = on_committed;
	co.arg = a;
	if (tw_kafka_open(&a->cons, cfg, &ag->loop, &co, err, errlen) != TW_OK)
		return TW_ERR_IO;
	a->cons_open = 1;
	a->phase = PH_IDLE;
	tw_log(TW_LOG_INFO, "alert", "consuming %s as tickwatch-alert; %zu in-flight records",
	       TW_KAFKA_TOPIC_ALERT, a->nrecs);
	return TW_OK;
nomem:
	snprintf(err, errlen, "alert: %s", ag->arena.err);
	return TW_ERR_NOMEM;
}

static int64_t step(struct tw_agent *ag, void *state)
{
	struct alert *a = state;

	(void)ag;
	if (a->stopping)
		return TW_TIMER_STOP;
	/* librdkafka signals only an empty queue turning non-empty: look again now and then. */
	on_ready(&a->cons, a);
	next_step(a);
	return ALERT_STEP_MS;
}

static void stop(struct tw_agent *ag, void *state)
{
	struct alert *a = state;

	if (a == NULL)
		return;
	a->stopping = 1;
	if (a->retry_timer > 0)
		tw_loop_del_timer(&ag->loop, a->retry_timer);
	if (a->backoff_timer > 0)
		tw_loop_del_timer(&ag->loop, a->backoff_timer);
	a->retry_timer = a->backoff_timer = 0;
	/* Nothing uncommitted is committed: a pass cut short runs again at the next start. */
	held_release(&a->inpass);
	held_release(&a->waiting);
	if (a->cons_open)
		tw_kafka_close(&a->cons, ALERT_CLOSE_MS);
	if (a->prod_open)
		tw_kafka_close(&a->prod, ALERT_CLOSE_MS);
	a->cons_open = a->prod_open = 0;
	if (a->q)
		tw_cqrs_close(a->q);
	a->q = NULL;
	a->phase = PH_STOPPED;
	tw_log(TW_LOG_INFO, "alert", "stopped after %" PRIu64 " passes (%" PRIu64 " failed)",
	       a->passes, a->failures);
}

static void status(struct tw_agent *ag, void *state, char *buf, size_t len)
{
	struct alert *a = state;
	char ks[128];

	(void)ag;
	if (a == NULL) {
		snprintf(buf, len, "not started");
		return;
	}
	tw_kafka_status(&a->prod, ks, sizeof ks);
	snprintf(buf, len,
		 "%s, pass %" PRIu32 "; passes %" PRIu64 " ok %" PRIu64 " failed %" PRIu64
		 " coalesced %" PRIu64 ", wake-ups %" PRIu64 "; last pass: %" PRIu64 " rows %" PRIu64
		 " sent %" PRIu64 " suppressed %" PRIu64 " re-armed, %" PRId64
		 " ms; in flight %zu/%zu; %s%s%s",
		 phase_names[a->phase], a->pass, a->passes, a->good, a->failures, a->coalesced,
		 a->wakeups, a->last.rows, a->last.sent, a->last.suppressed, a->last.rearmed,
		 a->last_ms, a->recs_used, a->nrecs, ks, a->last_err[0] ? "; last error: " : "",
		 a->last_err);
}

const struct tw_role tw_role_alert = {
	.name = "alert",
	.budget = budget,
	.start = start,
	.stop = stop,
	.step = step,
	.status = status,
};
