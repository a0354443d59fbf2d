/* SPDX-License-Identifier: MIT */
/* batch.h - the notifier's decisions on one batch, pure (no Kafka, no database, no socket).
 *
 * agent/roles/notifier.c drives a batch of to-notifier messages through IsSent,
 * one SMTP session, and the ledger; every choice it makes on the way is here,
 * on plain values, so unit tests (tests/unit/test_notify.c) drive them alone:
 *
 *   tw_notify_dedupe()   the same notification id twice in one batch: only the
 *                        first is sent, the others are done with it;
 *   tw_notify_after()    what follows an SMTP outcome: record it sent, retry
 *                        (after how long, keeping or forgetting the 'sending'
 *                        row), or give it up as a dead letter -- every path is
 *                        bounded, so one message never holds the partition;
 *   tw_notify_backoff_ms() the growing wait between attempts, and between
 *                        tries of a database that is down;
 *   tw_notify_schedule() the persisted retry schedule of a deferred e-mail: when
 *                        it is tried next (growing intervals, capped), or that
 *                        [smtp] max_retry_age has passed and it is a dead letter;
 *   tw_notify_premark_fresh() whether a 'sending' record written ahead of its
 *                        e-mail's turn may still release its end of data;
 *   tw_notify_ambiguous_line() the one log line that names an e-mail which may
 *                        reach its recipient twice (docs/notifications.md);
 *   tw_notify_bucket_*() [smtp] max_rate: a token bucket of e-mails per second, how long
 *                        the next session must wait for its e-mails' tokens.
 */
#ifndef TW_NOTIFY_BATCH_H
#define TW_NOTIFY_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define TW_NOTIFY_ATTEMPTS_MAX 5    /* ends of data without an answer, then a dead letter */
#define TW_NOTIFY_UNRECORDED_MAX 3  /* ledger refusals (not outages) before it is a dead letter */
#define TW_NOTIFY_BACKOFF_FIRST_MS 1000
#define TW_NOTIFY_BACKOFF_MAX_MS 30000
#define TW_NOTIFY_REASON_MAX 264
#define TW_NOTIFY_DEFER_AFTER 2     /* in-batch attempts of a transient failure, then deferred */

/** Why the caller held back an end of data (its ledger record did not commit). */
enum tw_notify_unrecorded {
	TW_NOTIFY_REC_OK = 0,   /**< recorded: the end of data was released */
	TW_NOTIFY_REC_OUTAGE,   /**< the database is unreachable or timed out: wait, count nothing */
	TW_NOTIFY_REC_REFUSED,  /**< the ledger refused the row (validation, SQL error): counted */
};

enum tw_notify_next {
	TW_NOTIFY_RECORD = 1, /**< sent: write RecordSent */
	TW_NOTIFY_RETRY,      /**< send again after retry_ms */
	TW_NOTIFY_DEAD,       /**< give up: write a dead letter */
	TW_NOTIFY_DEFER,      /**< transient, tried TW_NOTIFY_DEFER_AFTER times: into the retry
			       *   schedule (tw_notify_schedule), and the batch moves on */
};

/** An item's counters across attempts (the caller keeps one per message). */
struct tw_notify_tries {
	int attempts;   /**< SMTP transactions begun that did not end in a 250 */
	int refused;    /**< ledger refusals (TW_NOTIFY_REC_REFUSED) */
	int ambiguous;  /**< ends of data that left without an answer */
};

struct tw_notify_verdict {
	int next;          /**< enum tw_notify_next */
	int forget;        /**< the 'sending' row must be deleted first (the server did not take it) */
	int ambiguous;     /**< the e-mail may have been delivered: keep the row, log the line */
	int db_wait;       /**< the database is down: hold sessions back (tw_notify_backoff_ms) */
	int64_t retry_ms;  /**< TW_NOTIFY_RETRY: wait this long */
	char reason[TW_NOTIFY_REASON_MAX]; /**< TW_NOTIFY_DEAD: why, for the dead letter */
};

/**
 * Mark repeated ids: dup[i] = the index of the first earlier entry with the same
 * id, or -1. @return how many are repeats. O(n^2) on a batch of at most a few dozen.
 */
size_t tw_notify_dedupe(const char *const *ids, size_t n, int *dup);

/** min(first * 2^(k-1), max) for k >= 1; @p first for k <= 1. */
int64_t tw_notify_backoff_ms(int k, int64_t first, int64_t max);

/**
 * What follows the SMTP outcome @p outcome (enum tw_smtp_outcome; not TW_SMTP_PENDING)
 * of one e-mail: @p attempted (its MAIL FROM was sent), @p rec (why its end of data was
 * held back, TW_NOTIFY_REC_OK when it was not), @p marked (its 'sending' row was written or
 * is being written), @p text (the deciding reply or error). Updates @p t.
 */
void tw_notify_after(int outcome, int attempted, int rec, int marked, const char *text,
		     struct tw_notify_tries *t, struct tw_notify_verdict *v);

/**
 * A MarkSending written ahead of its e-mail's 354 (while the e-mail before it was in flight)
 * may release that e-mail's end of data only while its lease still covers what follows: it was
 * submitted at most @p timeout_ms ([smtp] timeout) before @p now_ms, so at least the lease
 * (4 x timeout) less one timeout is left for the answer and its record. Older (a slow
 * server): the caller writes it again, and the lease starts anew. Clocks in ms, monotonic.
 * @return 1 fresh, 0 stale (also for a clock that went back, or a time-out <= 0).
 */
int tw_notify_premark_fresh(int64_t submitted_ms, int64_t now_ms, int64_t timeout_ms);

/** The retry schedule's settings ([smtp] retry_interval, retry_max_interval, max_retry_age). */
struct tw_notify_sched_cfg {
	int64_t interval_ms;     /**< the wait after the first deferral */
	int64_t max_interval_ms; /**< the waits double up to this */
	int64_t max_age_ms;      /**< from the first attempt: then it is a dead letter */
};

/** What follows a failed attempt of a scheduled e-mail. */
struct tw_notify_sched {
	int dead;          /**< max_age passed: a dead letter */
	int64_t delay_ms;  /**< !dead: try again this long after now (> 0) */
};

/**
 * The retry schedule, on a wall clock in ms (the database's): an e-mail first tried at
 * @p first_ms has failed @p attempts times (>= 1) by @p now_ms. Dead when now - first >=
 * max_age; otherwise the wait is interval * 2^(k-1), k = attempts - TW_NOTIFY_DEFER_AFTER + 1
 * (at least 1), capped at max_interval, and never past first + max_age (one last try then).
 */
void tw_notify_schedule(const struct tw_notify_sched_cfg *c, int attempts, int64_t first_ms,
			int64_t now_ms, struct tw_notify_sched *s);

/**
 * The log line of an e-mail that may arrive twice (same Message-ID), exactly:
 *   "ambiguous delivery id=<id> to=<email> window=<window>: sent again with the same Message-ID"
 * @p window is one of "end-of-data-no-answer" (a time-out, reset or close after
 * the end of data left), "crash" (found 'sending' after a restart, or its
 * owner's lease expired). @return @p buf.
 */
char *tw_notify_ambiguous_line(char *buf, size_t len, const char *id, const char *email,
			       const char *window);

/**
 * [smtp] max_rate as a token bucket, in thousandths of a token (whole ms, no floating point):
 * @p rate tokens a second, at most @p cap kept (the burst), full at the start. One e-mail
 * takes one token, so in any window of W seconds at most cap + rate * W e-mails leave.
 * rate 0: unlimited (every wait is 0).
 */
struct tw_notify_bucket {
	int64_t rate;    /**< tokens a second; 0: unlimited */
	int64_t cap;     /**< tokens kept at most (>= 1) */
	int64_t milli;   /**< thousandths of a token in the bucket */
	int64_t last_ms; /**< when milli was last brought up to date */
};

/** The burst of [smtp] max_rate @p rate: one second's tokens, 1 to @p batch_max. */
int64_t tw_notify_bucket_burst(int64_t rate, int64_t batch_max);

/** A full bucket of @p rate tokens a second and @p cap at most, at @p now_ms. */
void tw_notify_bucket_init(struct tw_notify_bucket *b, int64_t rate, int64_t cap, int64_t now_ms);

/** @return ms from @p now_ms until @p n tokens (at most cap) are there; 0: now. */
int64_t tw_notify_bucket_wait_ms(struct tw_notify_bucket *b, int64_t n, int64_t now_ms);

/** Take @p n tokens at @p now_ms (the caller waited for them: never below 0). */
void tw_notify_bucket_take(struct tw_notify_bucket *b, int64_t n, int64_t now_ms);

#endif
