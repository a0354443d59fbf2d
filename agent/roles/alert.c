/* SPDX-License-Identifier: MIT */
/* alert.c - the alert role: on each wake-up, stream the users out of band, e-mail each change once.
 *
 * A pass, as a state machine (every state waits on a peer that has a bound:
 * the statement watchdog of agent/db, librdkafka's message.timeout.ms):
 *
 *   (no pass starts before the to-notifier signing key is loaded: tw_notif_key_poll())
 *   IDLE --wake-up--> REARM: RearmInsideBand page by page (users not armed whose
 *                     latest quote is back inside their band get a new episode)
 *        --> CROSS:   UsersCrossingThresholds page by page (keyset on the e-mail,
 *                     [limits] alert_page rows each, one short statement per page);
 *                     each row is checked, the suppression rule decides, a message is
 *                     produced to to-notifier (signed); the delivery reports gather in
 *                     a FIFO, and one batched AdvanceAlert at a time records what they
 *                     acknowledged as e-mailed, compare-and-set on the episode and
 *                     generation each was decided at: a user re-armed (threshold or
 *                     ticker change), deleted or registered again meanwhile is left as
 *                     it is ("superseded"), and the next pass decides again
 *        --> ALERTS:  the same over the further alerts (the alerts table, cqrs/alertpass.c):
 *                     AlertPassPage page by page (the enabled alerts with their ticker's
 *                     latest quote), tw_alert_evaluate() per row, an e-mail produced as
 *                     above (its id ends |a<id>), and one batched AdvanceAlertRows at a time
 *                     (compare-and-set on the episode) for e-mails acknowledged and state
 *                     changes (re-arm, cross side, once / expired disable) alike
 *        --> COMMIT:  every produce acknowledged and every advance done: commit the
 *                     to-alert-system offsets the pass covered
 *        --> IDLE, or one more pass when wake-ups came in meanwhile (coalesced).
 *   Any failure (database, delivery, advance) lets what is in flight settle, then
 *   BACKOFF and the pass runs again; nothing is committed, and what was produced
 *   but not advanced is produced again with the same notification id, which the
 *   notifier skips when it already sent it.
 *
 * Sharding (docs/scale.md): each collector cycle wakes every partition of to-alert-system,
 * and a pass covers only the users of the partitions its wake-ups came from: partition p of
 * P (the wake-up's "tw-partitions" header) is the users.shard range p of P (cqrs/shards.h).
 * The ranges of the wake-ups a pass holds are merged and walked one after the other, each in
 * (shard, email) keyset pages; an agent owning every partition walks [0, 4096) in one go, as
 * one unsharded pass did. A wake-up without the header asks for every shard. What a pass
 * decides and the notification ids it produces depend only on the rows, never on who runs it.
 *
 * Memory: a fixed pool of [limits] alert_inflight records (one per message between
 * its produce and its advance), carved at start; a page is only asked for when
 * the pool has room for all its rows, so no statement waits on Kafka, and a pass
 * over a million users uses what a pass over one does.
 *
 * Metrics (/metrics, docs/http.md): the passes by kind (full: every shard slot; sharded) and
 * result, their duration histogram, rows checked, re-arms, notifications produced and
 * acknowledged, advances, errors, wake-ups and the in-flight pool, all counted in this
 * state (no allocation) as they happen.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alert/alert.h"
#include "core/agent.h"
#include "core/log.h"
#include "core/metrics.h"
#include "cqrs/cqrs.h"
#include "cqrs/shards.h"
#include "kafka/kafka.h"
#include "kafka/wakeup.h"
#include "notif/notif.h"

#define ALERT_ADV_BUF_MAX ((size_t)128 * 1024) /* advance batch arrays: ~2,000 typical e-mails */
#define ALERT_PARTS_EXTRA 16       /* partitions held beyond [kafka] partitions */
#define ALERT_TAKE 64              /* wake-ups taken per consume call */
#define ALERT_STEP_MS 1000         /* the step looks for wake-ups librdkafka did not signal */
#define ALERT_FULL_RETRY_MS 50     /* a full producer queue is tried again after this */
#define ALERT_BACKOFF_MIN_MS 1000  /* first wait before a failed pass runs again */
#define ALERT_BACKOFF_MAX_MS 30000 /* cap of that wait */
#define ALERT_CLOSE_MS 5000        /* bound of the producer flush and the group leave at stop */

enum phase { PH_IDLE, PH_REARM, PH_CROSS, PH_ALERTS, PH_COMMIT, PH_BACKOFF, PH_STOPPED };
static const char *const phase_names[] = {"idle", "re-arming", "streaming", "further alerts",
					  "committing", "backoff", "stopped"};

enum rec_state { R_FREE, R_PRODUCED, R_DELIVERED, R_ADVANCING };

/* One notification between its produce and its advance. */
struct rec {
	char email[TW_CQRS_EMAIL_MAX + 1];
	char ticker[TW_CQRS_TICKER_MAX + 1];
	int64_t int_part;
	int64_t episode, generation; /* the state the decision was made at (compare-and-set) */
	int cond;
	int state;
	/* a further alert (alert_id >= 1; 0: the users row): what its evaluation decided */
	int64_t alert_id, sent_ms;
	int sent, side, rearm, disable;
	uint32_t pass; /* the pass it belongs to: a late report of an older pass is ignored */
	int32_t next;  /* free list, or the FIFO of delivered records waiting for an op */
};

/* Kafka messages a pass covers: the newest of each partition. */
struct held {
	rd_kafka_message_t **m;
	size_t n, cap;
};

struct counts {
	uint64_t rows, sent, suppressed, invalid, rearmed, pages, batches, superseded;
	uint64_t arows, asent, astate, aquiet, ainvalid, apages; /* further alerts (alerts table) */
};

enum { KIND_FULL, KIND_SHARDED, KINDS };
enum { RES_OK, RES_FAILED, RESULTS };

/* Upper bounds of the pass duration histogram, seconds. */
static const double pass_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
				     300, 600};

struct alert {
	struct tw_agent *ag;
	struct tw_cqrs *q;
	struct tw_kafka prod, cons;
	int prod_open, cons_open;
	enum phase phase;
	int stopping;
	int failed;       /* the running pass hit an error: retry it once it settled */
	int stream_on;    /* a page (re-arm or crossing) is running */
	int paused;       /* ... and its row callback asked to pause */
	int more;         /* pages remain in the current phase */
	size_t page;      /* rows per page: [limits] alert_page, at most half the pool */
	long long page_limit, page_rows;
	char after[TW_CQRS_EMAIL_MAX + 1]; /* keyset: the last e-mail of the previous page */
	int after_shard;                   /* ... and its shard */
	int64_t after_id;                  /* ... and (further alerts) its alert id */
	struct tw_shard_range *ranges;     /* the slots of this pass, merged (parts_cap + 1) */
	size_t nranges, range_i;
	int covered;                       /* slots the last pass covered */
	int again;        /* wake-ups came during the pass */
	int committing;
	uint32_t pass;    /* number of the running (or last) pass */
	struct tw_cqrs_op stream;
	struct tw_cqrs_op adv;            /* the batched AdvanceAlert in flight */
	int adv_on;
	long long adv_timer;              /* 0 ms: lets a burst of delivery reports gather */
	int32_t batch_head;               /* its records, chained by next */
	size_t batch_n, batch_max, batch_sends;
	struct tw_cqrs_advance *items;    /* batch_max */
	struct tw_cqrs_alert_advance *aitems; /* batch_max: a batch of further alerts */
	char *advbuf;
	size_t advbuf_len;
	struct rec *recs;
	size_t nrecs, recs_used;
	int32_t free_head;
	int32_t fifo_head, fifo_tail; /* delivered, waiting for the next advance batch */
	char *msg;                    /* scratch for one message value */
	struct rec *pending;          /* produced into a full queue: tried again */
	size_t pending_len;
	long long retry_timer, backoff_timer;
	int64_t backoff_ms;
	struct held inpass, waiting;
	tw_mono_t wake_at, pass_at, last_ack_at;
	struct counts now, last, all; /* this pass, the last one, since start */
	uint64_t by_kind[KINDS][RESULTS]; /* passes ended */
	struct tw_hist pass_s;            /* their durations */
	uint64_t produced, acked, produce_failed;
	int64_t last_ms; /* wake-up to last acknowledged produce, of the last good pass */
	uint64_t passes, good, failures, coalesced, wakeups, delivery_failed, advance_failed;
	char last_err[256];
};

static void next_step(struct alert *a);

static size_t parts_cap(const struct tw_config *cfg)
{
	return (size_t)cfg->kafka.partitions + ALERT_PARTS_EXTRA;
}

/* Worst-case items fit min(page, 229) a batch; typical e-mails fill alert_page. */
static size_t advbuf_size(const struct tw_config *cfg)
{
	size_t n = (size_t)cfg->limits.alert_page * TW_CQRS_ADVANCE_ITEM_MAX;

	if (n > ALERT_ADV_BUF_MAX)
		n = ALERT_ADV_BUF_MAX;
	return n + TW_CQRS_ADVANCE_FIXED;
}

static size_t budget(const struct tw_config *cfg)
{
	return sizeof(struct alert) + (size_t)cfg->limits.alert_inflight * sizeof(struct rec) +
	       2 * parts_cap(cfg) * sizeof(rd_kafka_message_t *) + TW_NOTIF_MAX_BYTES + 256 +
	       (parts_cap(cfg) + 1) * sizeof(struct tw_shard_range) +
	       (size_t)cfg->limits.alert_page * sizeof(struct tw_cqrs_advance) +
	       (size_t)cfg->limits.alert_page * sizeof(struct tw_cqrs_alert_advance) +
	       advbuf_size(cfg);
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

/* Resume a paused stream when it can take a row again. */
static void maybe_resume(struct alert *a)
{
	if (!a->stream_on || !a->paused || a->pending || a->stopping)
		return;
	if ((a->phase == PH_CROSS || a->phase == PH_ALERTS) && a->free_head < 0)
		return;
	a->paused = 0;
	tw_cqrs_resume(&a->stream);
}

/* ---- advancing the suppression state after the broker's acknowledgement ---- */

static void on_advanced(void *arg, const struct tw_cqrs_result *res);

/* Free the records of the batch that was in flight. */
static void batch_release(struct alert *a)
{
	int32_t i = a->batch_head;

	while (i >= 0) {
		struct rec *r = &a->recs[i];

		i = r->next;
		rec_put(a, r);
	}
	a->batch_head = -1;
	a->batch_n = 0;
}

/* Take the FIFO's records up to @p last (and the one after it, @p i) as the batch. */
static void batch_take(struct alert *a, int32_t last, int32_t i, size_t n)
{
	a->batch_head = a->fifo_head;
	a->batch_n = n;
	a->recs[last].next = -1;
	a->fifo_head = i;
	if (i < 0)
		a->fifo_tail = -1;
}

/* A batch of further alerts' records: one AdvanceAlertRows (e-mails acknowledged and state
 * changes alike), as many as the buffer holds. */
static void start_alert_batch(struct alert *a)
{
	size_t n = 0, sends = 0;
	size_t cap = (a->advbuf_len - TW_CQRS_ALERT_ADVANCE_FIXED) / TW_CQRS_ALERT_ADVANCE_ITEM_MAX;
	int32_t i = a->fifo_head, last = -1;

	if (cap > a->batch_max)
		cap = a->batch_max;
	while (i >= 0 && n < cap && a->recs[i].alert_id > 0) {
		struct rec *r = &a->recs[i];
		struct tw_cqrs_alert_advance *it = &a->aitems[n];

		it->id = r->alert_id;
		it->episode = r->episode;
		it->sent = r->sent;
		it->condition = r->cond;
		it->int_part = r->int_part;
		it->sent_ms = r->sent_ms;
		it->side = r->side;
		it->rearm = r->rearm;
		it->disable = r->disable;
		sends += (size_t)r->sent;
		r->state = R_ADVANCING;
		n++;
		last = i;
		i = r->next;
	}
	batch_take(a, last, i, n);
	a->batch_sends = sends;
	if (tw_cqrs_alert_advance_rows(a->q, &a->adv, a->aitems, n, a->advbuf, a->advbuf_len,
				       on_advanced, a) != TW_OK) {
		a->advance_failed++;
		fail(a, "advance of %zu alerts: %s", n, tw_cqrs_op_result(&a->adv)->msg);
		batch_release(a);
		return;
	}
	a->adv_on = 1;
}

/* One batched AdvanceAlert of the delivered records at the FIFO's head, as many as the
 * batch holds (at least one: the buffer fits the largest item). */
static void start_batch(struct alert *a)
{
	size_t bytes = TW_CQRS_ADVANCE_FIXED, n = 0;
	int32_t i = a->fifo_head, last = -1;

	if (a->adv_on || a->fifo_head < 0 || a->stopping)
		return;
	if (a->recs[i].alert_id > 0) {
		start_alert_batch(a);
		return;
	}
	while (i >= 0 && n < a->batch_max && a->recs[i].alert_id == 0) {
		struct rec *r = &a->recs[i];
		struct tw_cqrs_advance *it = &a->items[n];

		it->email = r->email;
		it->ticker = r->ticker;
		it->condition = r->cond;
		it->int_part = r->int_part;
		it->episode = r->episode;
		it->generation = r->generation;
		if (bytes + tw_cqrs_advance_size(it) > a->advbuf_len)
			break;
		bytes += tw_cqrs_advance_size(it);
		r->state = R_ADVANCING;
		n++;
		last = i;
		i = r->next;
	}
	batch_take(a, last, i, n);
	a->batch_sends = n;
	if (tw_cqrs_advance_alerts(a->q, &a->adv, a->items, n, a->advbuf, a->advbuf_len,
				   on_advanced, a) != TW_OK) {
		a->advance_failed++;
		fail(a, "advance of %zu users: %s", n, tw_cqrs_op_result(&a->adv)->msg);
		batch_release(a);
		return;
	}
	a->adv_on = 1;
}

static int64_t on_adv_timer(struct tw_loop *l, void *arg)
{
	struct alert *a = arg;

	(void)l;
	a->adv_timer = 0;
	if (!a->stopping) {
		start_batch(a);
		next_step(a);
	}
	return TW_TIMER_STOP;
}

/* Start a batch on the next turn of the loop, after the reports of this one. */
static void schedule_batch(struct alert *a)
{
	long long id;

	if (a->adv_on || a->adv_timer || a->fifo_head < 0)
		return;
	id = tw_loop_add_timer(&a->ag->loop, 0, on_adv_timer, a);
	if (id > 0)
		a->adv_timer = id;
	else
		start_batch(a); /* no free timer: a smaller batch, at once */
}

static void on_advanced(void *arg, const struct tw_cqrs_result *res)
{
	struct alert *a = arg;

	a->adv_on = 0;
	if (a->stopping)
		return;
	if (res->rc != TW_OK) {
		a->advance_failed++;
		fail(a, "advance of %zu users: %s", a->batch_n, res->msg);
	} else if (a->recs[a->batch_head].alert_id > 0) {
		a->now.asent += a->batch_sends;
		a->all.asent += a->batch_sends;
		a->now.batches++;
		a->all.batches++;
		if ((size_t)res->count < a->batch_n) {
			/* an alert.update / remove / disable landed meanwhile: its state stands */
			a->now.superseded += a->batch_n - (size_t)res->count;
			a->all.superseded += a->batch_n - (size_t)res->count;
			tw_log(TW_LOG_INFO, "alert", "advance: %zu of %zu alerts were changed or "
			       "removed meanwhile: their new state kept",
			       a->batch_n - (size_t)res->count, a->batch_n);
		}
	} else {
		a->now.sent += a->batch_n;
		a->all.sent += a->batch_n;
		a->now.batches++;
		a->all.batches++;
		if ((size_t)res->count < a->batch_n) {
			/* produced (and so mailed), but the user was re-armed, deleted or registered
			 * again since the decision: that state stands, the next pass decides again */
			a->now.superseded += a->batch_n - (size_t)res->count;
			a->all.superseded += a->batch_n - (size_t)res->count;
			tw_log(TW_LOG_INFO, "alert", "advance: %zu of %zu users were re-armed, deleted "
			       "or registered again meanwhile: their new state kept",
			       a->batch_n - (size_t)res->count, a->batch_n);
		}
	}
	batch_release(a);
	start_batch(a); /* the reports that came in meanwhile */
	maybe_resume(a);
	next_step(a);
}

/* A record whose advance may go: at the FIFO's tail, and a batch on the next turn. */
static void fifo_push(struct alert *a, struct rec *r)
{
	r->state = R_DELIVERED;
	r->next = -1;
	if (a->fifo_tail >= 0)
		a->recs[a->fifo_tail].next = (int32_t)(r - a->recs);
	else
		a->fifo_head = (int32_t)(r - a->recs);
	a->fifo_tail = (int32_t)(r - a->recs);
	schedule_batch(a);
}

static void on_delivery(struct tw_kafka *k, int rc, const char *err, const rd_kafka_message_t *msg,
			void *msg_opaque, void *arg)
{
	struct alert *a = arg;
	struct rec *r = msg_opaque;

	(void)k;
	(void)msg;
	if (a->stopping || r == NULL || r->state != R_PRODUCED)
		return;
	if (rc != TW_OK) {
		/* not acknowledged: never advanced; the pass fails and produces it again */
		a->delivery_failed++;
		fail(a, "to-notifier message for %s not acknowledged: %s", r->email, err);
		rec_put(a, r);
		maybe_resume(a);
		next_step(a);
		return;
	}
	a->last_ack_at = tw_hal_now();
	a->acked++;
	fifo_push(a, r);
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
		a->produced++;
		return TW_OK;
	}
	if (rc == TW_ERR_KAFKA_FULL) {
		a->pending = r;
		a->pending_len = len;
		return rc;
	}
	a->pending = NULL;
	a->produce_failed++;
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

/* The page is read on the write connection, where the advances that free records queue
 * behind it: never pause at a page's last row (its LIMIT ends the stream), or the stream
 * would wait for an advance that waits for the stream. A page only starts with room for all
 * its rows, so the pool cannot run dry before that row. @return what a row callback does. */
static int pause_if_dry(struct alert *a)
{
	if (a->free_head < 0 && a->page_rows < a->page_limit) {
		a->paused = 1;
		return TW_CQRS_PAUSE;
	}
	return 0;
}

/* Produce record @p r (its message in a->msg) from a row callback. @return what it returns. */
static int produce_row(struct alert *a, struct rec *r, size_t len)
{
	int rc = produce(a, r, len);

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
	return pause_if_dry(a);
}

static int on_crossing(void *arg, const struct tw_crossing *c)
{
	struct alert *a = arg;
	char why[256];
	struct rec *r;
	long len;

	if (a->stopping)
		return -1;
	if (strlen(c->email) > TW_CQRS_EMAIL_MAX) { /* the schema forbids it: the key would break */
		fail(a, "UsersCrossingThresholds gave an e-mail longer than %d bytes",
		     TW_CQRS_EMAIL_MAX);
		return -1;
	}
	memcpy(a->after, c->email, strlen(c->email) + 1);
	a->after_shard = c->shard;
	a->page_rows++;
	a->now.rows++;
	a->all.rows++;
	if (tw_alert_check_row(c, why, sizeof why) != TW_OK ||
	    tw_cqrs_check_email(c->email, why, sizeof why) != TW_OK) {
		/* (an e-mail AdvanceAlert would refuse could never be advanced: skip it) */
		a->now.invalid++;
		a->all.invalid++;
		tw_log(TW_LOG_WARN, "alert", "row skipped: %s", why);
		return 0;
	}
	if (tw_alert_decide(c) == TW_ALERT_SUPPRESS) {
		a->now.suppressed++;
		a->all.suppressed++;
		return 0;
	}
	r = rec_get(a);
	if (r == NULL) { /* cannot happen: the stream pauses before the pool runs dry */
		fail(a, "no free record: raise [limits] alert_inflight");
		return -1;
	}
	len = tw_notif_build(c, tw_alert_int_part(c->value), tw_notif_key_poll(a->q), a->msg,
			     TW_NOTIF_MAX_BYTES);
	if (len == TW_ERR_NOTIF_KEY) { /* cannot happen: no pass starts without the key */
		fail(a, "no to-notifier signing key");
		rec_put(a, r);
		return -1;
	}
	if (len < 0) {
		a->now.invalid++;
		a->all.invalid++;
		tw_log(TW_LOG_WARN, "alert", "message for %s does not fit in %d bytes", c->email,
		       TW_NOTIF_MAX_BYTES);
		rec_put(a, r);
		return 0;
	}
	snprintf(r->email, sizeof r->email, "%s", c->email);
	snprintf(r->ticker, sizeof r->ticker, "%s", c->ticker);
	r->cond = c->condition;
	r->int_part = tw_alert_int_part(c->value);
	r->episode = c->episode;
	r->generation = c->generation;
	r->alert_id = 0;
	r->pass = a->pass;
	return produce_row(a, r, (size_t)len);
}

/* ---- the shard ranges of a pass ---- */

static void range_start(struct alert *a, size_t i)
{
	a->range_i = i;
	a->after[0] = '\0';
	a->after_id = 0;
	a->after_shard = i < a->nranges ? a->ranges[i].lo : 0;
}

/* The current range is walked: start the next one. @return 0 when none is left. */
static int range_next(struct alert *a)
{
	if (a->range_i + 1 >= a->nranges)
		return 0;
	range_start(a, a->range_i + 1);
	return 1;
}

/* The slots the pass covers: the shard range of each held wake-up's partition, merged. */
static void pass_ranges(struct alert *a)
{
	size_t n = 0;
	int full = a->inpass.n == 0;

	for (size_t i = 0; i < a->inpass.n && !full; i++) {
		const rd_kafka_message_t *m = a->inpass.m[i];
		int parts = tw_wakeup_parts(m);

		if (parts < 0)
			tw_log(TW_LOG_WARN, "alert", "wake-up at partition %" PRId32 " offset %" PRId64
			       " has a malformed %s header: a full pass", m->partition, m->offset,
			       TW_WAKEUP_HEADER);
		if (parts <= 0 || tw_shard_range((int)m->partition, parts, &a->ranges[n]) != 0) {
			full = 1; /* more work than needed, never less */
			break;
		}
		n++;
	}
	if (full) {
		a->ranges[0].lo = 0;
		a->ranges[0].hi = TW_SHARD_SLOTS;
		n = 1;
	}
	a->nranges = tw_shard_merge(a->ranges, n);
	a->covered = 0;
	for (size_t i = 0; i < a->nranges; i++)
		a->covered += a->ranges[i].hi - a->ranges[i].lo;
	range_start(a, 0);
}

static void on_crossing_done(void *arg, const struct tw_cqrs_result *res)
{
	struct alert *a = arg;

	a->stream_on = 0;
	a->paused = 0;
	if (a->stopping)
		return;
	if (res->rc != TW_OK) {
		fail(a, "UsersCrossingThresholds: %s", res->msg);
	} else {
		a->now.pages++;
		a->all.pages++;
		if (a->page_rows < a->page_limit && !range_next(a))
			a->more = 0; /* a short page of the last range: the last one */
	}
	next_step(a);
}

static void start_cross_page(struct alert *a)
{
	a->page_rows = 0;
	a->page_limit = (long long)a->page;
	a->stream_on = 1;
	a->paused = 0;
	if (tw_cqrs_users_crossing_shard_page(a->q, &a->stream, a->ranges[a->range_i].lo,
					      a->ranges[a->range_i].hi, a->after_shard, a->after,
					      a->page_limit, on_crossing, on_crossing_done,
					      a) != TW_OK) {
		a->stream_on = 0;
		fail(a, "UsersCrossingThresholds: %s", tw_cqrs_op_result(&a->stream)->msg);
	}
}

/* ---- re-arming ---- */

static void on_rearmed(void *arg, const struct tw_cqrs_result *res)
{
	struct alert *a = arg;

	a->stream_on = 0;
	if (a->stopping)
		return;
	if (res->rc != TW_OK) {
		fail(a, "RearmInsideBand: %s", res->msg);
	} else {
		a->now.rearmed += (uint64_t)res->count;
		a->all.rearmed += (uint64_t)res->count;
		if (res->scanned < (long long)a->page || res->last_key == NULL) {
			if (!range_next(a))
				a->more = 0;
		} else {
			snprintf(a->after, sizeof a->after, "%s", res->last_key);
			a->after_shard = res->last_shard;
		}
	}
	next_step(a);
}

static void start_rearm_page(struct alert *a)
{
	a->stream_on = 1;
	if (tw_cqrs_rearm_shard_page(a->q, &a->stream, a->ranges[a->range_i].lo,
				     a->ranges[a->range_i].hi, a->after_shard, a->after,
				     (long long)a->page, on_rearmed, a) != TW_OK) {
		a->stream_on = 0;
		fail(a, "RearmInsideBand: %s", tw_cqrs_op_result(&a->stream)->msg);
	}
}

/* ---- further alerts: the alerts table (docs/alerts.md, Alerts as objects) ---- */

/* One enabled alert with its ticker's latest quote: tw_alert_evaluate() decides; an e-mail
 * is produced like a users row's (its id ends "|a<id>", its message names the alert), and
 * whatever changes its state (the e-mail, a re-arm, a side, a disable) is advanced once
 * acknowledged (a state change alone: at once, in the same batches). */
static int on_alert_row(void *arg, const struct tw_alert_pass_row *p)
{
	struct alert *a = arg;
	struct tw_alert_eval e;
	struct tw_alert_outcome o;
	struct tw_crossing c;
	char why[256];
	struct rec *r;
	int side;
	long len;

	if (a->stopping)
		return -1;
	if (strlen(p->email) > TW_CQRS_EMAIL_MAX || strlen(p->ticker) > TW_CQRS_TICKER_MAX) {
		fail(a, "AlertPassPage gave an e-mail or ticker longer than the schema allows");
		return -1;
	}
	memcpy(a->after, p->email, strlen(p->email) + 1);
	a->after_shard = p->shard;
	a->after_id = p->id;
	a->page_rows++;
	a->now.arows++;
	a->all.arows++;
	if (p->kind <= TW_AK_NONE || p->frequency < 0 || !(p->value > 0) ||
	    p->value > TW_ALERT_VALUE_MAX || p->id < 1) {
		a->now.ainvalid++;
		a->all.ainvalid++;
		tw_log(TW_LOG_WARN, "alert", "alert %" PRId64 " skipped: a kind or frequency this "
		       "build does not know, or a quote out of (0, 1e9]", p->id);
		return 0;
	}
	memset(&e, 0, sizeof e);
	e.kind = p->kind;
	e.level = p->level;
	e.level2 = p->level2;
	e.frequency = p->frequency;
	e.cooldown_s = p->cooldown_s;
	e.rearm_pct = p->rearm_pct;
	e.expires_ms = p->expires_ms;
	e.enabled = 1;
	e.value = p->value;
	e.quote_ms = p->quote_ms;
	e.prev_close = p->prev_close;
	e.now_ms = p->now_ms;
	e.has_last = p->has_last;
	e.last_condition = p->last_condition;
	e.last_int = p->last_int;
	e.last_sent_ms = p->last_sent_ms;
	e.last_side = p->last_side;
	tw_alert_evaluate(&e, &o);
	side = o.side != 0 && o.side != p->last_side ? o.side : 0;
	if (!o.send && !o.rearm && o.disable == TW_ALERT_KEEP && side == 0) {
		a->now.aquiet++;
		a->all.aquiet++;
		return 0;
	}
	memset(&c, 0, sizeof c);
	if (o.send) {
		c.email = p->email;
		c.ticker = p->ticker;
		c.value = p->value;
		c.quote_ms = p->quote_ms;
		c.condition = o.condition;
		c.threshold = o.threshold;
		c.last_ticker = "";
		c.episode = p->episode;
		c.shard = p->shard;
		c.alert_id = p->id;
		c.currency = p->currency;
		c.exchange = p->exchange;
		if (tw_alert_check_row(&c, why, sizeof why) != TW_OK ||
		    tw_cqrs_check_email(p->email, why, sizeof why) != TW_OK) {
			a->now.ainvalid++;
			a->all.ainvalid++;
			tw_log(TW_LOG_WARN, "alert", "alert %" PRId64 " skipped: %s", p->id, why);
			return 0;
		}
	}
	r = rec_get(a);
	if (r == NULL) { /* cannot happen: the stream pauses before the pool runs dry */
		fail(a, "no free record: raise [limits] alert_inflight");
		return -1;
	}
	snprintf(r->email, sizeof r->email, "%s", p->email);
	snprintf(r->ticker, sizeof r->ticker, "%s", p->ticker);
	r->alert_id = p->id;
	r->episode = p->episode;
	r->generation = 0;
	r->sent = o.send;
	r->cond = o.send ? o.condition : TW_COND_NONE;
	r->int_part = o.send ? tw_alert_int_part(p->value) : 0;
	r->sent_ms = p->quote_ms;
	r->side = side;
	r->rearm = o.rearm;
	r->disable = o.disable == TW_ALERT_DISABLE_ONCE	     ? TW_CQRS_DISABLE_ONCE
		     : o.disable == TW_ALERT_DISABLE_EXPIRED ? TW_CQRS_DISABLE_EXPIRED
							     : TW_CQRS_DISABLE_NONE;
	r->pass = a->pass;
	if (!o.send) { /* nothing to mail: the state change goes with the next batch */
		a->now.astate++;
		a->all.astate++;
		fifo_push(a, r);
		return pause_if_dry(a);
	}
	len = tw_notif_build(&c, r->int_part, tw_notif_key_poll(a->q), a->msg, TW_NOTIF_MAX_BYTES);
	if (len < 0) {
		a->now.ainvalid++;
		a->all.ainvalid++;
		tw_log(TW_LOG_WARN, "alert", "message of alert %" PRId64 " not built (%ld)", p->id,
		       len);
		rec_put(a, r);
		return len == TW_ERR_NOTIF_KEY ? -1 : 0;
	}
	return produce_row(a, r, (size_t)len);
}

static void on_alerts_done(void *arg, const struct tw_cqrs_result *res)
{
	struct alert *a = arg;

	a->stream_on = 0;
	a->paused = 0;
	if (a->stopping)
		return;
	if (res->rc != TW_OK) {
		fail(a, "AlertPassPage: %s", res->msg);
	} else {
		a->now.apages++;
		a->all.apages++;
		if (a->page_rows < a->page_limit && !range_next(a))
			a->more = 0;
	}
	next_step(a);
}

static void start_alerts_page(struct alert *a)
{
	a->page_rows = 0;
	a->page_limit = (long long)a->page;
	a->stream_on = 1;
	a->paused = 0;
	if (tw_cqrs_alert_pass_page(a->q, &a->stream, a->ranges[a->range_i].lo,
				    a->ranges[a->range_i].hi, a->after_shard, a->after, a->after_id,
				    a->page_limit, on_alert_row, on_alerts_done, a) != TW_OK) {
		a->stream_on = 0;
		fail(a, "AlertPassPage: %s", tw_cqrs_op_result(&a->stream)->msg);
	}
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
	a->paused = 0;
	a->more = 1;
	pass_ranges(a);
	start_rearm_page(a);
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
	a->by_kind[a->covered == TW_SHARD_SLOTS ? KIND_FULL : KIND_SHARDED]
		  [a->failed ? RES_FAILED : RES_OK]++;
	tw_hist_observe(&a->pass_s, (double)(tw_hal_now() - a->pass_at) / (double)TW_MONO_PER_S);
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
	       " suppressed, %" PRIu64 " invalid, %" PRIu64 " re-armed; %" PRIu64
	       " pages, %" PRIu64 " advance batches; wake-up to last ack %" PRId64 " ms; %" PRIu64
	       " superseded; shard slots %d of %d in %zu range(s); further alerts: %" PRIu64
	       " rows in %" PRIu64 " pages, %" PRIu64 " sent, %" PRIu64 " state changes, %" PRIu64 " quiet, %" PRIu64
	       " invalid",
	       a->pass, a->now.rows, a->now.sent, a->now.suppressed, a->now.invalid, a->now.rearmed,
	       a->now.pages, a->now.batches, a->last_ms, a->now.superseded, a->covered,
	       TW_SHARD_SLOTS, a->nranges, a->now.arows, a->now.apages, a->now.asent, a->now.astate,
	       a->now.aquiet, a->now.ainvalid);
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
		/* Messages are signed: no pass before the key is loaded (the step looks again). */
		if ((a->waiting.n || a->again) && tw_notif_key_poll(a->q))
			start_pass(a);
		return;
	case PH_REARM:
		if (a->stream_on)
			return;
		if (a->failed) {
			finish_pass(a);
			return;
		}
		if (a->more) {
			start_rearm_page(a);
			if (a->stream_on)
				return;
			finish_pass(a);
			return;
		}
		a->phase = PH_CROSS;
		a->more = 1;
		range_start(a, 0);
		/* fall through */
	case PH_CROSS:
		/* The next page only when the pool holds all its rows: a page never waits. */
		if (!a->stream_on && a->more && !a->failed && !a->pending &&
		    a->nrecs - a->recs_used >= a->page)
			start_cross_page(a);
		if (a->stream_on || (a->more && !a->failed) || a->recs_used || a->pending ||
		    a->adv_on || a->adv_timer)
			return;
		if (a->failed) {
			finish_pass(a);
			return;
		}
		/* every users row advanced: the further alerts, over the same ranges */
		a->phase = PH_ALERTS;
		a->more = 1;
		range_start(a, 0);
		/* fall through */
	case PH_ALERTS:
		if (!a->stream_on && a->more && !a->failed && !a->pending &&
		    a->nrecs - a->recs_used >= a->page)
			start_alerts_page(a);
		if (a->stream_on || (a->more && !a->failed) || a->recs_used || a->pending ||
		    a->adv_on || a->adv_timer)
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
	a->msg = tw_arena_carve(&ag->arena, TW_NOTIF_MAX_BYTES, "alert message", "arena_kb");
	a->inpass.m = tw_arena_carve(&ag->arena, cap * sizeof(rd_kafka_message_t *),
				     "alert wake-ups in pass", "arena_kb");
	a->waiting.m = tw_arena_carve(&ag->arena, cap * sizeof(rd_kafka_message_t *),
				      "alert wake-ups waiting", "arena_kb");
	a->batch_max = (size_t)cfg->limits.alert_page;
	a->items = tw_arena_carve(&ag->arena, a->batch_max * sizeof *a->items,
				  "alert advance batch", "alert_page");
	a->advbuf_len = advbuf_size(cfg);
	a->advbuf = tw_arena_carve(&ag->arena, a->advbuf_len, "alert advance arrays", "alert_page");
	a->ranges = tw_arena_carve(&ag->arena, (cap + 1) * sizeof *a->ranges, "alert shard ranges",
				   "arena_kb");
	a->aitems = tw_arena_carve(&ag->arena, a->batch_max * sizeof *a->aitems,
				   "alert further-alert advance batch", "alert_page");
	if (a->recs == NULL || a->msg == NULL || a->inpass.m == NULL || a->waiting.m == NULL ||
	    a->items == NULL || a->advbuf == NULL || a->ranges == NULL || a->aitems == NULL)
		goto nomem;
	/* At most half the pool per page, so the next page can run while one awaits its acks. */
	a->page = (size_t)cfg->limits.alert_page;
	if (a->page > a->nrecs / 2)
		a->page = a->nrecs / 2;
	a->batch_head = -1;
	(void)tw_hist_init(&a->pass_s, pass_bounds, sizeof pass_bounds / sizeof pass_bounds[0]);
	a->inpass.cap = a->waiting.cap = cap;
	for (size_t i = 0; i < a->nrecs; i++)
		a->recs[i].next = i + 1 < a->nrecs ? (int32_t)(i + 1) : -1;
	a->free_head = 0;
	a->fifo_head = a->fifo_tail = -1;
	*state = a;

	a->q = tw_cqrs_open(ag, err, errlen);
	if (a->q == NULL)
		return TW_ERR_IO;
	(void)tw_notif_key_poll(a->q); /* the signing key: loaded once the database is up */
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
	tw_log(TW_LOG_INFO, "alert",
	       "consuming %s as tickwatch-alert; %zu in-flight records, pages of %zu users",
	       TW_KAFKA_TOPIC_ALERT, a->nrecs, a->page);
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
	if (a->adv_timer > 0)
		tw_loop_del_timer(&ag->loop, a->adv_timer);
	a->retry_timer = a->backoff_timer = a->adv_timer = 0;
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
	char ks[128], parts[96];

	(void)ag;
	if (a == NULL) {
		snprintf(buf, len, "not started");
		return;
	}
	tw_kafka_status(&a->prod, ks, sizeof ks);
	tw_kafka_assignment_list(&a->cons, parts, sizeof parts);
	snprintf(buf, len,
		 "%s, partitions %s, last pass %d/%d shard slots, pass %" PRIu32 "; passes %" PRIu64 " ok %" PRIu64 " failed %" PRIu64
		 " coalesced %" PRIu64 ", wake-ups %" PRIu64 "; last pass: %" PRIu64 " rows %" PRIu64
		 " sent %" PRIu64 " suppressed %" PRIu64 " re-armed %" PRIu64 " pages %" PRIu64
		 " batches, %" PRId64 " ms; in flight %zu/%zu; %s%s%s",
		 phase_names[a->phase], parts, a->covered, TW_SHARD_SLOTS, a->pass, a->passes, a->good, a->failures, a->coalesced,
		 a->wakeups, a->last.rows, a->last.sent, a->last.suppressed, a->last.rearmed,
		 a->last.pages, a->last.batches, a->last_ms, a->recs_used, a->nrecs, ks, a->last_err[0] ? "; last error: " : "",
		 a->last_err);
}

static void counter(struct tw_metrics *m, const char *name, const char *help, uint64_t v)
{
	tw_metrics_family(m, name, "counter", help);
	tw_metrics_int(m, name, NULL, (int64_t)v);
}

static void metrics(struct tw_agent *ag, void *state, struct tw_metrics *m)
{
	const struct alert *a = state;
	static const char *const kinds[KINDS] = {"full", "sharded"};
	static const char *const results[RESULTS] = {"ok", "failed"};
	uint64_t notify = a->all.rows - a->all.suppressed - a->all.invalid;

	(void)ag;
	tw_metrics_family(m, "tickwatch_alert_passes_total", "counter",
			  "alert passes ended, by kind (full: every shard slot) and result");
	for (int k = 0; k < KINDS; k++)
		for (int r = 0; r < RESULTS; r++)
			tw_metrics_int(m, "tickwatch_alert_passes_total",
				       (const struct tw_metric_label[]){{"kind", kinds[k]},
									{"result", results[r]},
									{NULL, NULL}},
				       (int64_t)a->by_kind[k][r]);
	tw_metrics_family(m, "tickwatch_alert_pass_duration_seconds", "histogram",
			  "duration of each ended alert pass, from its start to its end");
	tw_metrics_hist(m, "tickwatch_alert_pass_duration_seconds", NULL, &a->pass_s);
	tw_metrics_family(m, "tickwatch_alert_rows_checked_total", "counter",
			  "alert rows the crossing pages gave, by what was decided");
	tw_metrics_int(m, "tickwatch_alert_rows_checked_total",
		       (const struct tw_metric_label[]){{"outcome", "notify"}, {NULL, NULL}},
		       (int64_t)notify);
	tw_metrics_int(m, "tickwatch_alert_rows_checked_total",
		       (const struct tw_metric_label[]){{"outcome", "suppressed"}, {NULL, NULL}},
		       (int64_t)a->all.suppressed);
	tw_metrics_int(m, "tickwatch_alert_rows_checked_total",
		       (const struct tw_metric_label[]){{"outcome", "invalid"}, {NULL, NULL}},
		       (int64_t)a->all.invalid);
	tw_metrics_family(m, "tickwatch_alert_further_rows_total", "counter",
			  "further alerts (the alerts table) the pass evaluated, by what was decided");
	tw_metrics_int(m, "tickwatch_alert_further_rows_total",
		       (const struct tw_metric_label[]){{"outcome", "notify"}, {NULL, NULL}},
		       (int64_t)(a->all.arows - a->all.astate - a->all.aquiet - a->all.ainvalid));
	tw_metrics_int(m, "tickwatch_alert_further_rows_total",
		       (const struct tw_metric_label[]){{"outcome", "state"}, {NULL, NULL}},
		       (int64_t)a->all.astate);
	tw_metrics_int(m, "tickwatch_alert_further_rows_total",
		       (const struct tw_metric_label[]){{"outcome", "quiet"}, {NULL, NULL}},
		       (int64_t)a->all.aquiet);
	tw_metrics_int(m, "tickwatch_alert_further_rows_total",
		       (const struct tw_metric_label[]){{"outcome", "invalid"}, {NULL, NULL}},
		       (int64_t)a->all.ainvalid);
	counter(m, "tickwatch_alert_further_advanced_total",
		"further alerts' acknowledged e-mails recorded (AdvanceAlertRows)", a->all.asent);
	counter(m, "tickwatch_alert_rearmed_total", "alerts re-armed: back inside their band",
		a->all.rearmed);
	counter(m, "tickwatch_alert_pages_total", "crossing pages read", a->all.pages);
	counter(m, "tickwatch_alert_notifications_produced_total",
		"to-notifier messages handed to the producer", a->produced);
	counter(m, "tickwatch_alert_notifications_acknowledged_total",
		"to-notifier messages the brokers acknowledged", a->acked);
	counter(m, "tickwatch_alert_advanced_total",
		"acknowledged notifications recorded as e-mailed (AdvanceAlert)", a->all.sent);
	counter(m, "tickwatch_alert_superseded_total",
		"acknowledged notifications whose user changed meanwhile (state kept)",
		a->all.superseded);
	counter(m, "tickwatch_alert_advance_batches_total", "AdvanceAlert statements that succeeded",
		a->all.batches);
	tw_metrics_family(m, "tickwatch_alert_errors_total", "counter",
			  "failures that fail the pass, by stage");
	tw_metrics_int(m, "tickwatch_alert_errors_total",
		       (const struct tw_metric_label[]){{"stage", "produce"}, {NULL, NULL}},
		       (int64_t)a->produce_failed);
	tw_metrics_int(m, "tickwatch_alert_errors_total",
		       (const struct tw_metric_label[]){{"stage", "delivery"}, {NULL, NULL}},
		       (int64_t)a->delivery_failed);
	tw_metrics_int(m, "tickwatch_alert_errors_total",
		       (const struct tw_metric_label[]){{"stage", "advance"}, {NULL, NULL}},
		       (int64_t)a->advance_failed);
	counter(m, "tickwatch_alert_wakeups_total", "to-alert-system messages taken", a->wakeups);
	counter(m, "tickwatch_alert_wakeups_coalesced_total",
		"wake-ups taken while a pass ran (folded into one more pass)", a->coalesced);
	tw_metrics_family(m, "tickwatch_alert_inflight_records", "gauge",
			  "the pool of notifications between produce and advance: used and its "
			  "cap ([limits] alert_inflight)");
	tw_metrics_int(m, "tickwatch_alert_inflight_records",
		       (const struct tw_metric_label[]){{"kind", "used"}, {NULL, NULL}},
		       (int64_t)a->recs_used);
	tw_metrics_int(m, "tickwatch_alert_inflight_records",
		       (const struct tw_metric_label[]){{"kind", "cap"}, {NULL, NULL}},
		       (int64_t)a->nrecs);
	tw_metrics_family(m, "tickwatch_alert_producer_queue_messages", "gauge",
			  "messages and requests in the producer's librdkafka queue");
	tw_metrics_int(m, "tickwatch_alert_producer_queue_messages", NULL,
		       a->prod_open ? tw_kafka_outq_len(&a->prod) : 0);
	tw_kafka_lag_metrics(&a->cons, m, "tickwatch_alert_consumer_lag");
}

const struct tw_role tw_role_alert = {
	.name = "alert",
	.metrics = metrics,
	.budget = budget,
	.start = start,
	.stop = stop,
	.step = step,
	.status = status,
};
