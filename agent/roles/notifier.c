/* SPDX-License-Identifier: MIT */
/* notifier.c - the notifier role: to-notifier batches delivered over one SMTP session each.
 *
 * Phases of a batch (one batch at a time; its decisions are agent/notify/batch.c's):
 *   COLLECT  take messages until 10 or [smtp] batch_linger after the first;
 *   CHECK    validate each (malformed, or an address the ledger would refuse: dead letter), send
 *            an id repeated in the batch once, and ask LedgerCheck (one statement on the writer)
 *            whether it was sent, whether a live peer holds it, and whether the recipient still
 *            has that alert (gone: skipped) - every id due for it in one statement
 *            (tw_cqrs_ledger_check_batch; one id alone: its own). An id a live peer holds waits alone: the session
 *            waits for every id's first check only, and the held id is checked again every 2 s;
 *   SEND     one SMTP session for every message due, never while the ledger cannot be written.
 *            Two-phase record per e-mail: the id is written as 'sending' (owner: this
 *            instance, lease: 4 x [smtp] timeout) AHEAD of its 354 - the first one's while the
 *            session connects, each next one's when the end of data before it is released, so
 *            it commits while that e-mail's 250 and this one's MAIL/RCPT/DATA are in flight (the
 *            client sends them in one write: one round trip per e-mail) - and the client sends
 *            its end of data only once that write has committed (a mark written ahead serves
 *            for one [smtp] timeout, tw_notify_premark_fresh; older, or not written ahead, it
 *            is written at the 354 while the body goes out); a 250 then
 *            records it 'sent' (the ids whose 250 waits for the connection: one statement,
 *            tw_cqrs_record_sent_batch); a failure before the whole end of data left deletes the
 *            'sending' row (5xx: dead letter; transient: backoff, 5 attempts, then dead letter);
 *            no answer after it left keeps the row and retries with the same Message-ID (the
 *            "ambiguous delivery" log line). A record refused by the ledger is retried 3 times,
 *            then dead-lettered; a database outage holds sessions back with a growing wait.
 *            A 4xx is tried once more after 1 s, then DEFERRED: its whole signed message goes
 *            to the retry schedule (notify_retry, agent/cqrs/retry.c) and the item is done, so
 *            one deferred recipient never holds the partition.
 *            The breaker guards the relay: while open, no session is tried. [smtp] max_rate: a
 *            token bucket (batch.c); a session carries at most its burst and starts, on the
 *            timer, once the bucket holds a token for each;
 *   commit   when every message is sent, skipped, deferred or dead-lettered (and recorded), the
 *            batch's offsets are committed and a new batch starts.
 * The retry schedule: between batches, due rows are CLAIMED (at most 5, owner + lease, SKIP
 * LOCKED: two notifiers never take one; after such a unit, messages already collected go next
 * as a batch at once, so a backlog and fresh mail take turns) and re-driven as a unit through
 * the same steps (signature, LedgerCheck, MarkSending, one session, same id and Message-ID); a
 * failure puts the
 * row back with a doubling wait ([smtp] retry_interval .. retry_max_interval), and past [smtp]
 * max_retry_age it becomes a dead letter that keeps its message (deadletter.redrive, the
 * console's "redrive", puts it back). Decisions: agent/notify/batch.c (tw_notify_schedule).
 * While a Kafka batch is in work its partitions are paused and the consumer kept alive every
 * second (the member stays in its group; during a unit of scheduled rows it is kept alive but
 * not paused, so fresh messages are fetched meanwhile); a revocation abandons the batch's items
 * of those partitions without committing them (items in the session finish and are recorded).
 * A stop abandons an unfinished batch without committing it: it comes again after a restart,
 * and LedgerCheck sorts the ids already recorded. A 'sent' id is skipped. A 'sending' id (the
 * agent died after the end of data was released and before the answer was recorded: it may or
 * may not have reached the server, nothing can tell) is sent again with the same Message-ID,
 * logged "ambiguous delivery id=ID window=crash", once its owner's lease allows. Those windows
 * may give a second copy, which mail clients fold by its Message-ID, instead of a lost alert
 * (docs/notifications.md states the guarantee). The role's /metrics families: metrics() below
 * (docs/smtp.md lists them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "core/breaker.h"
#include "core/log.h"
#include "core/metrics.h"
#include "cqrs/cqrs.h"
#include "kafka/kafka.h"
#include "notif/notif.h"
#include "notify/batch.h"
#include "smtp/smtp.h"
#include "tls/tls.h"

#define BATCH_MAX 10
#define DB_RETRY_MS 1000   /* the database is down: first wait before the same operation again */
#define DB_RETRY_MAX_MS 30000 /* ... growing to this */
#define HELD_RETRY_MS 2000 /* a live peer holds the id: look again after this */
#define LEASE_TIMEOUTS 4   /* a 'sending' row's lease: this many [smtp] timeouts */
#define IDLE_POLL_MS 1000  /* re-poll the consumer queue while idle (librdkafka wakes us too) */
#define DEAD_PAYLOAD_MAX 1000
#define RETRY_BATCH 5      /* scheduled e-mails re-driven in one session, at most */
#define RETRY_LEASES 2     /* a claimed row's lease: this many 'sending' leases */
#define SESSION_BOUNDS_N 8 /* the SMTP session duration histogram's buckets */

static const double session_bounds[SESSION_BOUNDS_N] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

enum item_state {
	I_NEW = 0,   /* not yet validated */
	I_CHECKING,  /* IsSent in flight */
	I_DUE,       /* to send (at next_try) */
	I_SENDING,   /* in the running SMTP session (MarkSending may be in flight) */
	I_FORGET,    /* not taken by the server: ForgetSending to do / in flight, then `after` */
	I_RECORD,    /* sent: RecordSent to do / in flight */
	I_DEAD,      /* dead letter to record / in flight */
	I_DEFER,     /* transient: into the retry schedule (a scheduled row: rescheduled) */
	I_DROP,      /* a scheduled row that needs no send any more: its row to delete */
	I_DONE,      /* sent and recorded, skipped, or dead letter recorded */
};

struct item {
	rd_kafka_message_t *km; /* a Kafka message, or NULL: a scheduled row (retry) */
	const char *raw;        /* the signed message: km's payload, or the row's */
	size_t rawlen;
	const char *key;        /* the Kafka key it came with (NULL: none) */
	size_t keylen;
	char *msg;              /* raw, NUL-terminated (for the schedule), or NULL: too large */
	int retry;              /* a scheduled row being re-driven */
	int revoked;            /* its partition was revoked: abandoned, its offset not committed */
	int row_attempts;       /* its attempts before this re-drive */
	int64_t first_ms;       /* its first attempt (the database's wall clock) */
	int64_t db_now_ms;      /* the database's clock at the claim ... */
	tw_mono_t claimed_at;   /* ... and ours */
	char rid[TW_CQRS_NOTIF_ID_MAX + 1]; /* the row's notification id */
	struct tw_notif n;
	int valid;
	int state;
	int op_busy;
	int attempts;
	tw_mono_t next_try;
	int marked;       /* MarkSending was submitted in this session */
	int premark;      /* MarkSending written ahead of its 354: 1 in flight, 2 committed */
	tw_mono_t premark_at; /* ... submitted then (its lease began after) */
	int unrecorded;   /* we refused its end of data: enum tw_notify_unrecorded */
	int already;      /* MarkSending left it: 'sent', or a live peer holds it */
	int kept_row;     /* an ambiguous end of data: its 'sending' row stays, never forgotten */
	int held;         /* a live peer held it at a check: its later checks hold no session */
	struct tw_notify_tries tries;
	int after;        /* state after I_FORGET (I_DUE or I_DEAD) */
	tw_mono_t after_try;
	char reason[TW_SMTP_TEXT_MAX + 64];
	char dead_id[64];
	char unsub[TW_SMTP_UNSUB_URL_MAX + 1]; /* its one-click link ([http] public_url), or "" */
	struct tw_cqrs_op op;
	struct notifier *nt;
};

enum phase { P_COLLECT, P_CLAIM, P_WORK, P_STOPPED };

struct notifier {
	struct tw_agent *ag;
	struct tw_kafka k;
	struct tw_cqrs *q;
	struct tw_smtp smtp;
	struct tw_tls_config tls;
	int tls_ready;
	struct tw_breaker br;
	enum phase phase;
	rd_kafka_message_t *msgs[BATCH_MAX];
	size_t n;
	tw_mono_t opened; /* first message of the batch taken */
	size_t ni;        /* items of the unit in work: the Kafka batch's n, or rows claimed */
	int unit_retry;   /* the unit in work is scheduled rows (no offsets to commit) */
	struct item items[BATCH_MAX];
	char msgbuf[BATCH_MAX][TW_CQRS_RETRY_MSG_MAX + 1];
	char keybuf[RETRY_BATCH][TW_CQRS_EMAIL_MAX + 1];
	struct tw_cqrs_op claim_op;
	tw_mono_t retry_next;    /* no claim of due rows before this */
	int64_t retry_poll_ms;
	struct tw_notify_sched_cfg sched;
	struct tw_cqrs_op dl_op; /* the console's deadletters / redrive */
	int dl_busy;
	uint64_t deferred, redriven, rescheduled, retry_dead;
	uint64_t revocations, abandoned;
	struct tw_smtp_msg sendv[BATCH_MAX];
	size_t sendmap[BATCH_MAX];
	size_t nsend;
	long long kick;   /* a 0 ms timer that runs the work step */
	int draining; /* a stop was requested: start no batch and no session */
	int db_fails;          /* consecutive ledger outages: the wait grows */
	tw_mono_t db_hold_until; /* no SMTP session before this (the ledger could not be written) */
	char owner[TW_CQRS_OWNER_MAX + 1]; /* this agent instance: the owner of its 'sending' rows */
	int64_t lease_ms;
	uint64_t batches, sent, skipped, dead, transient, malformed, commits, in_flight;
	uint64_t duplicates, ambiguous, gone, held;
	int retry_yield;       /* a unit of scheduled rows ran: a waiting Kafka batch goes next */
	int rate_waiting;      /* the session waits for the bucket (logged once a wait) */
	struct tw_notify_bucket bucket; /* [smtp] max_rate */
	int64_t burst;         /* the bucket's size: e-mails in one session at most, when limited */
	uint64_t rate_waits, sessions, sessions_ended, session_failures;
	tw_mono_t session_at;  /* the running session began */
	uint64_t session_hist[SESSION_BOUNDS_N]; /* sessions that took <= session_bounds[i] */
	double session_sum;    /* seconds, all sessions */
	/* chk_*: LedgerCheck of the batch's new ids in one statement (tw_cqrs_ledger_check_batch);
	 * rec_*: RecordSent of the ids whose 250 came, in one (tw_cqrs_record_sent_batch) */
	struct tw_cqrs_op chk_op, rec_op;
	size_t chk_n, rec_n;
	size_t chk_idx[BATCH_MAX], rec_idx[BATCH_MAX];
	int chk_out[BATCH_MAX];
	int chk_busy, rec_busy;
	char chk_buf[TW_CQRS_LEDGER_BUF], rec_buf[TW_CQRS_LEDGER_BUF];
	char last_err[TW_SMTP_ERR_LEN];
};

static void work(struct notifier *nt);

static size_t budget(const struct tw_config *cfg)
{
	return sizeof(struct notifier) + tw_smtp_budget((size_t)cfg->limits.smtp_buffer_kb * 1024);
}

static int64_t kick_fn(struct tw_loop *l, void *arg)
{
	struct notifier *nt = arg;

	(void)l;
	nt->kick = 0;
	work(nt);
	return TW_TIMER_STOP;
}

/* Run the work step soon, from the loop (never re-entering a callback). */
static void kick(struct notifier *nt, int64_t ms)
{
	if (nt->phase == P_STOPPED)
		return;
	if (ms < 0)
		ms = 0;
	if (nt->kick > 0)
		tw_loop_del_timer(&nt->ag->loop, nt->kick);
	nt->kick = tw_loop_add_timer(&nt->ag->loop, ms, kick_fn, nt);
	if (nt->kick < 0)
		nt->kick = 0;
}

/* ---- collecting ---- */

static void take(struct notifier *nt)
{
	rd_kafka_message_t *got_msgs[BATCH_MAX];
	size_t got;

	if (nt->phase != P_COLLECT || nt->n >= BATCH_MAX)
		return;
	/* (into a local array: a revocation served inside the call may drop collected ones) */
	got = tw_kafka_consume_batch(&nt->k, got_msgs, BATCH_MAX - nt->n);
	if (got > BATCH_MAX - nt->n)
		got = BATCH_MAX - nt->n; /* cannot happen */
	if (got > 0 && nt->n == 0)
		nt->opened = tw_hal_now();
	memcpy(nt->msgs + nt->n, got_msgs, got * sizeof(rd_kafka_message_t *));
	nt->n += got;
	if (nt->n == BATCH_MAX)
		kick(nt, 0);
	else if (got > 0)
		kick(nt, nt->ag->cfg.smtp.batch_linger_ms -
				 (tw_hal_now() - nt->opened) / TW_MONO_PER_MS);
}

static void on_ready(struct tw_kafka *k, void *arg)
{
	(void)k;
	take(arg);
}

/* A rebalance. Revoked partitions are someone else's now: collected messages of theirs are
 * given back, and a held batch's items of theirs are abandoned without committing (those already
 * in an SMTP session finish and are recorded; the 'sending' rows' owner and lease keep the new
 * owner from sending them meanwhile). Assigned ones are fetched from the committed offset. */
static void abandon_revoked(struct notifier *nt);

static void on_rebalance(struct tw_kafka *k, int assigned,
			 const rd_kafka_topic_partition_list_t *parts, void *arg)
{
	struct notifier *nt = arg;
	size_t kept = 0, dropped = 0, abandoned = 0;
	int batch = nt->phase == P_WORK && !nt->unit_retry;

	(void)k;
	if (assigned || nt->phase == P_STOPPED)
		return;
	nt->revocations++;
	if (batch) {
		for (size_t i = 0; i < nt->ni; i++) {
			struct item *it = &nt->items[i];

			if (it->km && !it->revoked && tw_kafka_in_parts(parts, it->km)) {
				it->revoked = 1;
				abandoned++;
			}
		}
		abandon_revoked(nt);
	} else {
		for (size_t i = 0; i < nt->n; i++) {
			if (tw_kafka_in_parts(parts, nt->msgs[i])) {
				tw_kafka_release(&nt->msgs[i], 1);
				dropped++;
			} else {
				nt->msgs[kept++] = nt->msgs[i];
			}
		}
		for (size_t i = kept; i < nt->n; i++)
			nt->msgs[i] = NULL;
		nt->n = kept;
	}
	nt->abandoned += abandoned + dropped;
	if (abandoned + dropped)
		tw_log(TW_LOG_WARN, "notifier", "partitions revoked: %zu message(s) of them %s "
		       "without a commit (their new owner reads them again; sent ids are skipped)",
		       abandoned + dropped, batch ? "abandoned in the held batch" : "given back");
	kick(nt, 0);
}

static void on_commit(struct tw_kafka *k, int rc, const char *err, void *arg)
{
	struct notifier *nt = arg;

	(void)k;
	if (rc != TW_OK) {
		tw_log(TW_LOG_WARN, "notifier", "offset commit failed: %s (the batch may come again; "
		       "sent ids are skipped)", err);
		snprintf(nt->last_err, sizeof nt->last_err, "commit: %.200s", err);
	}
}

static void sanitize(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)in[i];

		out[o++] = (c >= 0x20 && c < 0x7f) || c == '\n' ? (char)c : '?';
	}
	out[o] = '\0';
}

/* Parse and check the signed message of item @p i (a Kafka message or a scheduled row): the
 * same rules for both (signature under the current key, every field). */
static void parse_item(struct notifier *nt, size_t i)
{
	struct item *it = &nt->items[i];
	char err[256];

	int other_id;

	if (it->raw && it->rawlen <= TW_CQRS_RETRY_MSG_MAX &&
	    memchr(it->raw, '\0', it->rawlen) == NULL) {
		if (it->raw != nt->msgbuf[i]) /* a scheduled row's is there already */
			memcpy(nt->msgbuf[i], it->raw, it->rawlen);
		nt->msgbuf[i][it->rawlen] = '\0';
		it->msg = nt->msgbuf[i];
	}
	if (tw_notif_parse(&it->n, it->raw, it->rawlen, it->key, it->keylen,
			   tw_notif_key_poll(nt->q), err, sizeof err) == TW_OK) {
		other_id = it->retry && strcmp(it->n.id, it->rid) != 0;
		if (!other_id) {
			it->valid = 1;
			it->state = I_NEW;
			return;
		}
		snprintf(err, sizeof err, "the message's id %s is not its row's", it->n.id);
	}
	nt->malformed++;
	snprintf(it->reason, sizeof it->reason, "malformed: %.200s", err);
	if (it->retry) {
		tw_log(TW_LOG_WARN, "notifier", "scheduled %s: %s; dead-lettered", it->rid,
		       it->reason);
	} else {
		snprintf(it->dead_id, sizeof it->dead_id, "malformed:%d:%lld",
			 (int)it->km->partition, (long long)it->km->offset);
		tw_log(TW_LOG_WARN, "notifier", "to-notifier partition %d offset %lld: %s; "
		       "dead-lettered", (int)it->km->partition, (long long)it->km->offset,
		       it->reason);
	}
	it->state = I_DEAD;
}

static void open_batch(struct notifier *nt)
{
	nt->batches++;
	tw_kafka_hold(&nt->k); /* paused, and kept alive in the group, until its commit */
	nt->ni = nt->n;
	nt->unit_retry = 0;
	for (size_t i = 0; i < nt->n; i++) {
		struct item *it = &nt->items[i];
		rd_kafka_message_t *km = nt->msgs[i];

		memset(it, 0, sizeof *it);
		it->nt = nt;
		it->km = km;
		it->raw = km->payload;
		it->rawlen = km->len;
		it->key = km->key;
		it->keylen = km->key ? km->key_len : 0;
		parse_item(nt, i);
	}
	/* The same id twice in one batch (an at-least-once produce, a re-run pass, a rebalance):
	 * the first is sent, the others are done with it. */
	{
		const char *ids[BATCH_MAX];
		int dup[BATCH_MAX];

		for (size_t i = 0; i < nt->n; i++)
			ids[i] = nt->items[i].valid ? nt->items[i].n.id : NULL;
		if (tw_notify_dedupe(ids, nt->n, dup) > 0) {
			for (size_t i = 0; i < nt->n; i++) {
				if (dup[i] < 0)
					continue;
				tw_log(TW_LOG_INFO, "notifier", "%s to %s twice in one batch (offsets "
				       "%lld and %lld): sent once", nt->items[i].n.id,
				       nt->items[i].n.email, (long long)nt->items[dup[i]].km->offset,
				       (long long)nt->items[i].km->offset);
				nt->items[i].state = I_DONE;
				nt->duplicates++;
			}
		}
	}
}

/* The ledger answered: the database is back. */
static void db_ok(struct notifier *nt)
{
	nt->db_fails = 0;
	nt->db_hold_until = 0;
}

/* The ledger could not be reached: hold SMTP sessions back, for longer each time. */
static int64_t db_down(struct notifier *nt)
{
	int64_t ms = tw_notify_backoff_ms(++nt->db_fails, DB_RETRY_MS, DB_RETRY_MAX_MS);

	nt->db_hold_until = tw_hal_now() + ms * TW_MONO_PER_MS;
	return ms;
}

static int is_outage(int rc)
{
	return rc == TW_ERR_DB_UNAVAILABLE || rc == TW_ERR_DB_TIMEOUT || rc == TW_ERR_DB_BUSY;
}

/* ---- database steps ---- */

static void on_checked(void *arg, const struct tw_cqrs_result *r)
{
	struct item *it = arg;
	struct notifier *nt = it->nt;

	it->op_busy = 0;
	if (nt->phase == P_STOPPED)
		return;
	if (r->rc != TW_OK) {
		int64_t ms = is_outage(r->rc) ? db_down(nt) : DB_RETRY_MS;

		tw_log(TW_LOG_WARN, "notifier", "LedgerCheck %s: %s; retrying in %lld ms", it->n.id,
		       r->msg, (long long)ms);
		it->state = I_NEW;
		it->next_try = tw_hal_now() + ms * TW_MONO_PER_MS;
	} else if (r->count == TW_CQRS_SENT_IN_FLIGHT) {
		char line[TW_NOTIF_ID_LEN + TW_CQRS_EMAIL_MAX + 96];

		/* Its end of data may or may not have reached the server before the crash
		 * (or before its owner's lease expired): nothing can tell. A lost alert is
		 * worse than a second copy with the same Message-ID (which mail clients fold
		 * into one), so it goes again. */
		db_ok(nt);
		tw_log(TW_LOG_WARN, "notifier", "%s",
		       tw_notify_ambiguous_line(line, sizeof line, it->n.id, it->n.email, "crash"));
		nt->in_flight++;
		nt->ambiguous++;
		it->kept_row = 1;
		it->state = I_DUE;
		it->next_try = 0;
	} else if (r->count == TW_CQRS_SENT_HELD) {
		/* A live peer is sending it (a rebalance handed it the same message): it records
		 * the outcome, or its lease expires and this agent takes over. */
		db_ok(nt);
		nt->held++;
		tw_log(TW_LOG_INFO, "notifier", "%s to %s is being sent by another agent: looking "
		       "again in %d ms (the rest of the batch goes on)", it->n.id, it->n.email,
		       HELD_RETRY_MS);
		it->held = 1; /* it waits alone: the others' session does not wait for it */
		it->state = I_NEW;
		it->next_try = tw_hal_now() + HELD_RETRY_MS * TW_MONO_PER_MS;
	} else if (r->count == TW_CQRS_SENT_GONE) {
		db_ok(nt);
		tw_log(TW_LOG_INFO, "notifier", "%s: %s no longer has a %s alert on %s (deleted or "
		       "changed since it was queued): not sent", it->n.id, it->n.email,
		       tw_cqrs_condition_name(it->n.condition), it->n.ticker);
		nt->gone++;
		it->state = it->retry ? I_DROP : I_DONE;
	} else if (r->count > 0) {
		tw_log(TW_LOG_INFO, "notifier", "%s to %s already sent: skipped", it->n.id,
		       it->n.email);
		nt->skipped++;
		it->state = it->retry ? I_DROP : I_DONE;
	} else {
		db_ok(nt);
		it->state = I_DUE;
		it->next_try = 0;
	}
	kick(nt, 0);
}

static void on_recorded(void *arg, const struct tw_cqrs_result *r)
{
	struct item *it = arg;
	struct notifier *nt = it->nt;

	it->op_busy = 0;
	if (nt->phase == P_STOPPED)
		return;
	if (r->rc != TW_OK) {
		/* Must be recorded before the commit: try again (the e-mail is not re-sent). */
		int64_t ms = is_outage(r->rc) ? db_down(nt) : DB_RETRY_MS;

		tw_log(TW_LOG_WARN, "notifier", "recording %s: %s; retrying in %lld ms",
		       it->state == I_RECORD ? "a sent id" : it->state == I_DEAD ? "a dead letter"
		       : "its retry schedule", r->msg, (long long)ms);
		it->next_try = tw_hal_now() + ms * TW_MONO_PER_MS;
	} else {
		db_ok(nt);
		it->state = I_DONE;
	}
	kick(nt, 0);
}

static void on_forgot(void *arg, const struct tw_cqrs_result *r)
{
	struct item *it = arg;
	struct notifier *nt = it->nt;

	it->op_busy = 0;
	if (nt->phase == P_STOPPED)
		return;
	if (r->rc != TW_OK) {
		/* The 'sending' row must go before a retry or a dead letter: left, it would tell a
		 * restart the end of data may have reached the server, which refused it. */
		int64_t ms = is_outage(r->rc) ? db_down(nt) : DB_RETRY_MS;

		tw_log(TW_LOG_WARN, "notifier", "forgetting the 'sending' record of %s: %s; retrying "
		       "in %lld ms", it->n.id, r->msg, (long long)ms);
		it->next_try = tw_hal_now() + ms * TW_MONO_PER_MS;
	} else {
		db_ok(nt);
		it->state = it->after;
		it->next_try = it->after_try;
	}
	kick(nt, 0);
}

/* The database's wall clock now, as seen from a scheduled row's claim. */
static int64_t row_now_ms(const struct item *it, tw_mono_t now)
{
	return it->db_now_ms + (int64_t)((now - it->claimed_at) / TW_MONO_PER_MS);
}

/* The dead letter of @p it: a scheduled row moves (message kept); a valid message is kept
 * whole (re-drivable); anything else is recorded as it came. */
static int submit_dead(struct notifier *nt, struct item *it)
{
	char payload[DEAD_PAYLOAD_MAX + 1];
	int rc;

	if (it->retry)
		return tw_cqrs_retry_dead(nt->q, &it->op, it->rid, nt->owner, it->reason,
					  it->row_attempts + it->attempts, on_recorded, it);
	if (it->valid && it->msg)
		return tw_cqrs_dead_message(nt->q, &it->op, it->n.id, it->n.email, it->msg,
					    it->key != NULL, it->reason, it->attempts, on_recorded,
					    it);
	sanitize(it->raw ? it->raw : "", it->rawlen, payload, sizeof payload);
	rc = tw_cqrs_record_dead_letter(nt->q, &it->op, it->valid ? it->n.id : it->dead_id,
					it->valid ? it->n.email : "unknown", payload, it->reason,
					it->attempts, on_recorded, it);
	if (rc == TW_ERR_CQRS_INVALID) {
		/* Even its dead letter is refused: record it under its offset, so the
		 * partition never waits on it. */
		snprintf(it->dead_id, sizeof it->dead_id, "invalid:%d:%lld", (int)it->km->partition,
			 (long long)it->km->offset);
		rc = tw_cqrs_record_dead_letter(nt->q, &it->op, it->dead_id, "unknown", payload,
						it->reason, it->attempts, on_recorded, it);
	}
	return rc;
}

/* Into the retry schedule (a Kafka message), or on in it (a scheduled row), or -- past
 * [smtp] max_retry_age, or too large to keep -- a dead letter. @return the submit's rc, or 1
 * when the item became I_DEAD instead (nothing submitted). */
static int submit_defer(struct notifier *nt, struct item *it, tw_mono_t now)
{
	struct tw_notify_sched sc;
	char why[TW_SMTP_TEXT_MAX + 64];
	int total = it->row_attempts + it->attempts;

	if (it->retry) {
		int64_t wall = row_now_ms(it, now);

		tw_notify_schedule(&nt->sched, total, it->first_ms, wall, &sc);
		if (sc.dead) {
			snprintf(why, sizeof why, "%s", it->reason);
			snprintf(it->reason, sizeof it->reason, "max_retry_age %llds passed after %d "
				 "attempts, last: %.120s", (long long)(nt->sched.max_age_ms / 1000),
				 total, why);
			tw_log(TW_LOG_ERROR, "notifier", "dead letter %s to %s: %s", it->rid,
			       it->n.email, it->reason);
			nt->dead++;
			nt->retry_dead++;
			it->state = I_DEAD;
			return 1;
		}
		tw_log(TW_LOG_WARN, "notifier", "%s to %s still deferred (%s): attempt %d, next in "
		       "%lld s", it->rid, it->n.email, it->reason, total,
		       (long long)((sc.delay_ms + 999) / 1000));
		nt->rescheduled++;
		return tw_cqrs_retry_reschedule(nt->q, &it->op, it->rid, nt->owner, total,
						sc.delay_ms, it->reason, on_recorded, it);
	}
	if (it->msg == NULL) {
		snprintf(why, sizeof why, "%s", it->reason);
		snprintf(it->reason, sizeof it->reason, "%.120s (the message is larger than the "
			 "retry schedule keeps, %d bytes)", why, TW_CQRS_RETRY_MSG_MAX);
		tw_log(TW_LOG_ERROR, "notifier", "dead letter %s to %s: %s", it->n.id, it->n.email,
		       it->reason);
		nt->dead++;
		it->state = I_DEAD;
		return 1;
	}
	tw_notify_schedule(&nt->sched, total, 0, 0, &sc);
	tw_log(TW_LOG_WARN, "notifier", "%s to %s deferred (%s): into the retry schedule, next in "
	       "%lld s; the batch goes on", it->n.id, it->n.email, it->reason,
	       (long long)((sc.delay_ms + 999) / 1000));
	nt->deferred++;
	return tw_cqrs_retry_defer(nt->q, &it->op, it->n.id, it->n.email, it->msg,
				   it->key != NULL, total, sc.delay_ms, it->reason, on_recorded, it);
}

/* The batched LedgerCheck answered: each id's verdict goes through on_checked() as if its own
 * LedgerCheck had answered (a failure: every id's failure, each retried as before). */
static void on_batch_checked(void *arg, const struct tw_cqrs_result *r)
{
	struct notifier *nt = arg;

	nt->chk_busy = 0;
	for (size_t k = 0; k < nt->chk_n; k++) {
		struct tw_cqrs_result one = *r;

		if (r->rc == TW_OK)
			one.count = nt->chk_out[k];
		on_checked(&nt->items[nt->chk_idx[k]], &one);
	}
	nt->chk_n = 0;
}

/* Every id due for its LedgerCheck, in one statement. Nothing submitted (it would not
 * validate, or the database refused it): the ids take the one-by-one path below, which
 * reports and retries exactly as before. */
static void check_batch(struct notifier *nt, tw_mono_t now)
{
	struct tw_cqrs_ledger_item li[BATCH_MAX];
	size_t k = 0;

	if (nt->chk_busy)
		return;
	for (size_t i = 0; i < nt->ni; i++) {
		struct item *it = &nt->items[i];

		if (it->op_busy || it->next_try > now || it->state != I_NEW)
			continue;
		li[k].id = it->n.id;
		li[k].email = it->n.email;
		li[k].ticker = it->n.ticker;
		li[k].condition = it->n.condition;
		li[k].alert = it->n.alert_id;
		nt->chk_idx[k++] = i;
	}
	if (k < 2) /* one id: its own LedgerCheck is the same single statement */
		return;
	if (tw_cqrs_ledger_check_batch(nt->q, &nt->chk_op, li, k, nt->owner, nt->chk_out,
				       nt->chk_buf, sizeof nt->chk_buf, on_batch_checked, nt) != TW_OK)
		return;
	nt->chk_busy = 1;
	nt->chk_n = k;
	for (size_t j = 0; j < k; j++) {
		nt->items[nt->chk_idx[j]].state = I_CHECKING;
		nt->items[nt->chk_idx[j]].op_busy = 1;
	}
}

/* The batched RecordSent answered: each id as if its own RecordSent had (on_recorded). */
static void on_batch_recorded(void *arg, const struct tw_cqrs_result *r)
{
	struct notifier *nt = arg;

	nt->rec_busy = 0;
	for (size_t k = 0; k < nt->rec_n; k++)
		on_recorded(&nt->items[nt->rec_idx[k]], r);
	nt->rec_n = 0;
}

/* Every Kafka item whose 250 came and is not yet recorded, in one statement (what the
 * connection queued while the session went on). Nothing submitted: the one-by-one path. */
static void record_batch(struct notifier *nt, tw_mono_t now)
{
	struct tw_cqrs_ledger_item li[BATCH_MAX];
	size_t k = 0;

	if (nt->rec_busy)
		return;
	for (size_t i = 0; i < nt->ni; i++) {
		struct item *it = &nt->items[i];

		if (it->op_busy || it->next_try > now || it->state != I_RECORD || it->retry)
			continue;
		li[k].id = it->n.id;
		li[k].email = it->n.email;
		li[k].ticker = NULL;
		li[k].condition = 0;
		nt->rec_idx[k++] = i;
	}
	if (k < 2)
		return;
	if (tw_cqrs_record_sent_batch(nt->q, &nt->rec_op, li, k, nt->rec_buf, sizeof nt->rec_buf,
				      on_batch_recorded, nt) != TW_OK)
		return;
	nt->rec_busy = 1;
	nt->rec_n = k;
	for (size_t j = 0; j < k; j++)
		nt->items[nt->rec_idx[j]].op_busy = 1;
}

static void db_steps(struct notifier *nt, tw_mono_t now)
{
	check_batch(nt, now);
	record_batch(nt, now);
	for (size_t i = 0; i < nt->ni; i++) {
		struct item *it = &nt->items[i];
		int rc = TW_OK;

		if (it->op_busy || it->next_try > now)
			continue;
		if (it->state == I_NEW) {
			it->state = I_CHECKING;
			rc = tw_cqrs_ledger_check(nt->q, &it->op, it->n.id, it->n.email, it->n.ticker,
						  it->n.condition, it->n.alert_id, nt->owner,
						  on_checked, it);
			if (rc != TW_OK)
				it->state = I_NEW;
		} else if (it->state == I_RECORD) {
			rc = it->retry ? tw_cqrs_retry_sent(nt->q, &it->op, it->n.id, it->n.email,
							    on_recorded, it)
				       : tw_cqrs_record_sent(nt->q, &it->op, it->n.id, it->n.email,
							     on_recorded, it);
		} else if (it->state == I_FORGET) {
			rc = tw_cqrs_forget_sending(nt->q, &it->op, it->n.id, on_forgot, it);
		} else if (it->state == I_DEAD) {
			rc = submit_dead(nt, it);
		} else if (it->state == I_DEFER) {
			rc = submit_defer(nt, it, now);
			if (rc == 1) {
				i--; /* now I_DEAD: its dead letter goes at once */
				continue;
			}
		} else if (it->state == I_DROP) {
			rc = tw_cqrs_retry_drop(nt->q, &it->op, it->rid, nt->owner, on_recorded, it);
		} else {
			continue;
		}
		if (rc == TW_OK) {
			it->op_busy = 1;
		} else {
			int64_t ms = is_outage(rc) ? db_down(nt) : DB_RETRY_MS;

			tw_log(TW_LOG_WARN, "notifier", "database: %s; retrying in %lld ms",
			       tw_cqrs_op_result(&it->op)->msg, (long long)ms);
			it->next_try = now + ms * TW_MONO_PER_MS;
		}
	}
}

/* ---- SMTP ---- */

static struct item *item_of(struct notifier *nt, const struct tw_smtp_msg *m)
{
	return &nt->items[nt->sendmap[m - nt->sendv]];
}

static void on_marked(void *arg, const struct tw_cqrs_result *r);

/* MarkSending of the session's message @p j, written ahead of its 354 (while the message before
 * it is in flight, or while the session connects): it commits meanwhile, so its end of data
 * goes at once. Not submitted: its 354 writes it as before. */
static void premark(struct notifier *nt, size_t j)
{
	struct item *it;

	if (j >= nt->nsend)
		return;
	it = &nt->items[nt->sendmap[j]];
	if (it->state != I_SENDING || it->op_busy || it->marked || it->premark)
		return;
	if (tw_cqrs_mark_sending(nt->q, &it->op, it->n.id, it->n.email, nt->owner, nt->lease_ms,
				 on_marked, it) != TW_OK)
		return;
	it->op_busy = 1;
	it->marked = 1;
	it->premark = 1;
	it->premark_at = tw_hal_now();
}

/* Release @p held's end of data, and write the next message's MarkSending ahead. */
static void release_ok(struct notifier *nt, struct tw_smtp_msg *held)
{
	size_t j = (size_t)(held - nt->sendv);

	tw_smtp_release_dot(&nt->smtp, held, 1);
	premark(nt, j + 1);
}

/* A MarkSending written ahead answered before its message's 354. */
static void premarked(struct notifier *nt, struct item *it, const struct tw_cqrs_result *r)
{
	if (r->rc == TW_OK && r->count == 1) {
		db_ok(nt);
		it->premark = 2;
		return;
	}
	it->premark = 0;
	if (r->rc == TW_OK) {
		it->already = 1; /* 'sent' by another agent meanwhile, or a live peer holds it */
		return;
	}
	it->unrecorded = is_outage(r->rc) ? TW_NOTIFY_REC_OUTAGE : TW_NOTIFY_REC_REFUSED;
	tw_log(TW_LOG_WARN, "notifier", "recording %s as sending: %s; its end of data will be held "
	       "back and the session ends (retry)", it->n.id, r->msg);
}

/* MarkSending of the held message is done: release its end of data, or refuse it. */
static void on_marked(void *arg, const struct tw_cqrs_result *r)
{
	struct item *it = arg;
	struct notifier *nt = it->nt;
	struct tw_smtp_msg *held;

	it->op_busy = 0;
	if (nt->phase == P_STOPPED)
		return;
	held = tw_smtp_held(&nt->smtp);
	if (held == NULL || it->state != I_SENDING || item_of(nt, held) != it) {
		if (it->state == I_SENDING && it->premark == 1) {
			/* Written ahead, answered before its 354: on_before_dot decides. */
			premarked(nt, it, r);
		} else if (it->state == I_FORGET && r->rc == TW_OK && r->count != 1) {
			/* Its turn failed before this answer, and the row is not ours ('sent', or
			 * a live peer's): nothing to forget; the ledger says what follows. */
			it->held = 1;
			it->state = I_NEW;
			it->next_try = tw_hal_now() + HELD_RETRY_MS * TW_MONO_PER_MS;
		}
		/* (else the session ended meanwhile: on_msg queued the ForgetSending) */
		kick(nt, 0);
		return;
	}
	if (r->rc == TW_OK && r->count == 1) {
		db_ok(nt);
		release_ok(nt, held);
		return;
	}
	if (r->rc == TW_OK) {
		it->already = 1; /* 'sent' by another agent meanwhile, or a live peer holds it */
	} else {
		it->unrecorded = is_outage(r->rc) ? TW_NOTIFY_REC_OUTAGE : TW_NOTIFY_REC_REFUSED;
		tw_log(TW_LOG_WARN, "notifier", "recording %s as sending: %s; its end of data is held "
		       "back and the session ends (retry)", it->n.id, r->msg);
	}
	tw_smtp_release_dot(&nt->smtp, held, 0);
}

/* The client holds @p m's end of data: write its 'sending' record while the body goes out. */
static void on_before_dot(struct tw_smtp *s, struct tw_smtp_msg *m, void *arg)
{
	struct notifier *nt = arg;
	struct item *it = item_of(nt, m);
	int rc = TW_ERR_DB_BUSY;
	tw_mono_t now = tw_hal_now();

	if (it->premark == 1 && it->op_busy)
		return; /* written ahead, not answered yet: on_marked releases it */
	if (it->premark == 2 &&
	    tw_notify_premark_fresh((it->premark_at) / TW_MONO_PER_MS, now / TW_MONO_PER_MS,
				    nt->ag->cfg.smtp.timeout_ms)) {
		release_ok(nt, m);
		return;
	}
	if (it->premark == 0 && (it->already || it->unrecorded != TW_NOTIFY_REC_OK)) {
		/* written ahead and refused (already logged): as if refused now */
		tw_smtp_release_dot(s, m, 0);
		return;
	}
	/* (a mark written ahead too long ago is written again: its lease starts anew) */
	it->premark = 0;
	if (!it->op_busy)
		rc = tw_cqrs_mark_sending(nt->q, &it->op, it->n.id, it->n.email, nt->owner,
					  nt->lease_ms, on_marked, it);
	if (rc == TW_OK) {
		it->op_busy = 1;
		it->marked = 1;
		return;
	}
	if (!it->op_busy)
		rc = tw_cqrs_op_result(&it->op)->rc;
	it->unrecorded = is_outage(rc) ? TW_NOTIFY_REC_OUTAGE : TW_NOTIFY_REC_REFUSED;
	tw_log(TW_LOG_WARN, "notifier", "cannot record %s as sending: %s; the session ends (retry)",
	       it->n.id, tw_cqrs_op_result(&it->op)->msg);
	tw_smtp_release_dot(s, m, 0);
}

static void on_msg(struct tw_smtp *s, struct tw_smtp_msg *m, void *arg)
{
	struct notifier *nt = arg;
	struct item *it = item_of(nt, m);
	struct tw_notify_verdict v;
	int target;
	tw_mono_t target_try = 0;

	(void)s;
	if (it->already && m->outcome != TW_SMTP_SENT) {
		/* MarkSending left the row: 'sent' by someone else, or a live peer holds it. The
		 * ledger says which (and the end of data never left). It waits alone. */
		it->held = 1;
		it->state = I_NEW;
		it->next_try = tw_hal_now() + HELD_RETRY_MS * TW_MONO_PER_MS;
		return;
	}
	tw_notify_after(m->outcome, m->attempted, it->unrecorded, it->marked && !it->kept_row,
			m->text, &it->tries, &v);
	it->attempts = it->tries.attempts;
	if (it->retry && v.next == TW_NOTIFY_RETRY && !v.db_wait && !v.ambiguous &&
	    it->unrecorded == TW_NOTIFY_REC_OK) {
		/* A scheduled e-mail refused again (or its session failed before its turn): back
		 * into the schedule at once, never held in this unit. */
		v.next = TW_NOTIFY_DEFER;
		snprintf(v.reason, sizeof v.reason, "%s: %.200s",
			 m->attempted ? "transient" : "session", m->text);
	}
	if (v.next == TW_NOTIFY_RECORD) {
		nt->sent++;
		it->state = I_RECORD;
		it->next_try = 0;
		tw_log(TW_LOG_INFO, "notifier", "%s sent to %s (%s)", it->n.id, it->n.email, m->text);
		return;
	}
	if (v.ambiguous) {
		char line[TW_NOTIF_ID_LEN + TW_CQRS_EMAIL_MAX + 96];

		it->kept_row = 1;
		nt->ambiguous++;
		tw_log(TW_LOG_WARN, "notifier", "%s",
		       tw_notify_ambiguous_line(line, sizeof line, it->n.id, it->n.email,
						 "end-of-data-no-answer"));
	}
	if (v.db_wait)
		db_down(nt);
	if (v.next == TW_NOTIFY_DEAD) {
		snprintf(it->reason, sizeof it->reason, "%s", v.reason);
		target = I_DEAD;
		nt->dead++;
		tw_log(TW_LOG_ERROR, "notifier", "dead letter %s to %s: %s", it->n.id, it->n.email,
		       it->reason);
	} else if (v.next == TW_NOTIFY_DEFER) {
		/* Written to the schedule (committed before this batch's offsets), then done
		 * here: one deferred recipient never holds the partition. */
		snprintf(it->reason, sizeof it->reason, "%s", v.reason);
		nt->transient++;
		target = I_DEFER;
	} else {
		nt->transient++;
		target = I_DUE;
		target_try = tw_hal_now() + v.retry_ms * TW_MONO_PER_MS;
		if (m->attempted && it->unrecorded == TW_NOTIFY_REC_OK)
			tw_log(TW_LOG_WARN, "notifier", "%s to %s: %s; attempt %d, retry in %lld ms",
			       it->n.id, it->n.email, m->text, it->tries.attempts,
			       (long long)v.retry_ms);
	}
	if (v.forget) {
		/* Its 'sending' record (committed or in flight) goes first: the server did not
		 * take the e-mail, so a retry or a restart must send it. */
		it->state = I_FORGET;
		it->next_try = 0;
		it->after = target;
		it->after_try = target_try;
		return;
	}
	it->state = target;
	it->next_try = target_try;
}

static void on_session(struct tw_smtp *s, int rc, const char *err, void *arg)
{
	struct notifier *nt = arg;
	double secs = (double)(tw_hal_now() - nt->session_at) / (double)(TW_MONO_PER_MS * 1000);

	(void)s;
	nt->sessions_ended++;
	nt->session_sum += secs;
	for (size_t i = 0; i < SESSION_BOUNDS_N; i++)
		nt->session_hist[i] += secs <= session_bounds[i];
	if (rc != TW_OK)
		nt->session_failures++;
	if (rc == TW_OK) {
		tw_breaker_success(&nt->br);
	} else if (rc == TW_ERR_SMTP_UNRECORDED) {
		/* The database, not the relay, failed: no verdict on the relay. A half-open
		 * breaker's trial goes to the next session (it would refuse forever else). */
		tw_breaker_release(&nt->br);
		snprintf(nt->last_err, sizeof nt->last_err, "%s", err);
	} else {
		tw_breaker_failure(&nt->br);
		snprintf(nt->last_err, sizeof nt->last_err, "%s", err);
		if (nt->br.state == TW_BREAKER_OPEN)
			tw_log(TW_LOG_WARN, "notifier", "SMTP breaker open after: %s; next trial in "
			       "%lld ms", err, (long long)tw_breaker_retry_in_ms(&nt->br));
	}
	kick(nt, 0);
}


/* The recipient's unsubscribe link (docs/http.md), or NULL when [http] public_url is empty or
 * the link cannot be made (the e-mail then goes without it: the alert matters more). */
static const char *unsub_link(struct notifier *nt, struct item *it)
{
	const char *base = nt->ag->cfg.http.public_url;
	char token[TW_NOTIF_UNSUB_TOKEN_MAX + 1];
	size_t bl = strlen(base);
	int n;

	if (base[0] == '\0' ||
	    tw_notif_unsub_token(it->n.email, tw_notif_key_poll(nt->q), token, sizeof token) < 0)
		return NULL;
	n = snprintf(it->unsub, sizeof it->unsub, "%.*s/unsubscribe?t=%s",
		     (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base, token);
	return n > 0 && (size_t)n < sizeof it->unsub ? it->unsub : NULL;
}

/* An item the next session would carry. */
static int sendable(const struct item *it, tw_mono_t now)
{
	return it->state == I_DUE && it->next_try <= now && !it->op_busy && !it->revoked;
}

/* [smtp] max_rate: ms until the bucket holds the tokens of the next session's e-mails (as many
 * as are due, at most the burst); 0: now (or unlimited). */
static int64_t rate_wait(struct notifier *nt, tw_mono_t now)
{
	int64_t n = 0, ms;

	if (nt->bucket.rate == 0)
		return 0;
	for (size_t i = 0; i < nt->ni; i++)
		n += sendable(&nt->items[i], now);
	if (n == 0)
		return 0;
	ms = tw_notify_bucket_wait_ms(&nt->bucket, n < nt->burst ? n : nt->burst,
				      now / TW_MONO_PER_MS);
	if (ms > 0 && !nt->rate_waiting) {
		nt->rate_waits++;
		tw_log(TW_LOG_INFO, "notifier", "[smtp] max_rate %lld/s: %lld e-mail(s) wait %lld ms "
		       "for the rate", (long long)nt->bucket.rate, (long long)n, (long long)ms);
	}
	nt->rate_waiting = ms > 0;
	return ms;
}

static void start_session(struct notifier *nt, tw_mono_t now)
{
	size_t limit = nt->bucket.rate ? (size_t)nt->burst : BATCH_MAX;

	nt->nsend = 0;
	for (size_t i = 0; i < nt->ni && nt->nsend < limit; i++) {
		struct item *it = &nt->items[i];
		struct tw_smtp_msg *m = &nt->sendv[nt->nsend];

		if (!sendable(it, now))
			continue;
		it->marked = it->already = it->premark = 0;
		it->unrecorded = TW_NOTIFY_REC_OK;
		memset(m, 0, sizeof *m);
		m->id = it->n.id;
		m->to = it->n.email;
		m->subject = it->n.subject;
		m->body = it->n.body;
		m->html = nt->ag->cfg.smtp.html != 0;
		m->unsub_url = unsub_link(nt, it);
		nt->sendmap[nt->nsend++] = i;
		it->state = I_SENDING;
	}
	if (nt->nsend == 0)
		return;
	nt->session_at = now;
	nt->sessions++;
	if (tw_smtp_send_batch(&nt->smtp, nt->sendv, nt->nsend, on_msg, on_session, nt) != TW_OK) {
		nt->sessions--;
		for (size_t i = 0; i < nt->nsend; i++)
			nt->items[nt->sendmap[i]].state = I_DUE;
		return;
	}
	tw_notify_bucket_take(&nt->bucket, (int64_t)nt->nsend, now / TW_MONO_PER_MS);
	premark(nt, 0); /* commits while the session connects */
}

/* ---- the batch ---- */

/* Items of a revoked partition that have nothing left to record are done (not committed). */
static void abandon_revoked(struct notifier *nt)
{
	for (size_t i = 0; i < nt->ni; i++) {
		struct item *it = &nt->items[i];

		if (!it->revoked || it->op_busy || it->state == I_DONE)
			continue;
		/* sent: its record is still written; a 'sending' row still forgotten */
		if (it->state == I_NEW || it->state == I_DUE || it->state == I_DEAD ||
		    it->state == I_DEFER || it->state == I_DROP)
			it->state = I_DONE;
	}
}

static void commit(struct notifier *nt)
{
	char err[256];
	rd_kafka_message_t *mine[BATCH_MAX];
	size_t nmine = 0;

	for (size_t i = 0; i < nt->n && i < nt->ni; i++) {
		if (!nt->items[i].revoked)
			mine[nmine++] = nt->msgs[i];
	}
	if (tw_kafka_commit_batch(&nt->k, mine, nmine, err, sizeof err) != TW_OK) {
		tw_log(TW_LOG_WARN, "notifier", "commit: %s", err);
		snprintf(nt->last_err, sizeof nt->last_err, "commit: %.200s", err);
	} else {
		nt->commits++;
	}
	tw_kafka_release(nt->msgs, nt->n);
	memset(nt->msgs, 0, sizeof nt->msgs);
	nt->n = 0;
	nt->ni = 0;
	nt->phase = P_COLLECT;
	tw_kafka_unhold(&nt->k); /* fetching goes on after the committed batch */
	take(nt);
}

/* ---- the retry schedule: due rows claimed a few at a time and sent as a unit ---- */

static int on_claim_row(void *arg, const struct tw_cqrs_retry_row *r)
{
	struct notifier *nt = arg;
	size_t i = nt->ni;
	struct item *it;
	size_t len = strlen(r->message);

	if (i >= RETRY_BATCH)
		return 0; /* cannot happen: the claim's limit */
	it = &nt->items[i];
	memset(it, 0, sizeof *it);
	it->nt = nt;
	it->retry = 1;
	snprintf(it->rid, sizeof it->rid, "%s", r->notification_id);
	/* the row's message in this item's buffer (parse_item copies it onto itself) */
	if (len > TW_CQRS_RETRY_MSG_MAX)
		len = TW_CQRS_RETRY_MSG_MAX; /* the table's CHECK: cannot happen; parse refuses */
	memcpy(nt->msgbuf[i], r->message, len);
	nt->msgbuf[i][len] = '\0';
	it->raw = nt->msgbuf[i];
	it->rawlen = len;
	if (r->key) {
		snprintf(nt->keybuf[i], sizeof nt->keybuf[i], "%s", r->key);
		it->key = nt->keybuf[i];
		it->keylen = strlen(nt->keybuf[i]);
	}
	it->row_attempts = r->attempts;
	it->first_ms = r->first_ms;
	it->db_now_ms = r->now_ms;
	it->claimed_at = tw_hal_now();
	snprintf(it->reason, sizeof it->reason, "%s", r->reason ? r->reason : "");
	nt->ni++;
	return 0;
}

static void on_claimed(void *arg, const struct tw_cqrs_result *r)
{
	struct notifier *nt = arg;
	tw_mono_t now = tw_hal_now();

	if (nt->phase == P_STOPPED)
		return;
	nt->retry_next = now + nt->retry_poll_ms * TW_MONO_PER_MS;
	if (r->rc != TW_OK) {
		tw_log(TW_LOG_WARN, "notifier", "claiming due retries: %s", r->msg);
		if (is_outage(r->rc))
			db_down(nt);
		nt->ni = 0;
		nt->phase = P_COLLECT;
		kick(nt, 0);
		return;
	}
	db_ok(nt);
	if (nt->ni == 0) {
		nt->phase = P_COLLECT;
		kick(nt, 0);
		return;
	}
	if (nt->ni == RETRY_BATCH)
		nt->retry_next = now; /* a full page: more may be due (after a waiting Kafka batch) */
	nt->redriven += nt->ni;
	nt->unit_retry = 1;
	nt->phase = P_WORK;
	for (size_t i = 0; i < nt->ni; i++) {
		struct item *it = &nt->items[i];

		tw_log(TW_LOG_INFO, "notifier", "re-driving %s (attempts so far %d; last: %s)",
		       it->rid, it->row_attempts, it->reason);
		it->reason[0] = '\0';
		parse_item(nt, i);
	}
	kick(nt, 0);
}

/* Claim due rows when the schedule's timer says so and a session could run. @return 1 when a
 * claim is in flight (the unit starts when it answers). */
static int claim_due(struct notifier *nt, tw_mono_t now)
{
	if (nt->draining || now < nt->retry_next || !tw_cqrs_ready(nt->q) ||
	    nt->db_hold_until > now || nt->br.state == TW_BREAKER_OPEN || !tw_notif_key_poll(nt->q))
		return 0;
	nt->ni = 0;
	if (tw_cqrs_retry_claim(nt->q, &nt->claim_op, nt->owner, RETRY_LEASES * nt->lease_ms,
				RETRY_BATCH, on_claim_row, on_claimed, nt) != TW_OK) {
		nt->retry_next = now + nt->retry_poll_ms * TW_MONO_PER_MS;
		return 0;
	}
	/* Not paused: fresh messages are fetched meanwhile (the step's keep-alive polls the
	 * consumer), so the Kafka batch that follows this unit has them; collected ones wait. */
	nt->phase = P_CLAIM;
	return 1;
}

static void unit_done(struct notifier *nt)
{
	if (!nt->unit_retry) {
		commit(nt);
		return;
	}
	nt->unit_retry = 0;
	nt->ni = 0;
	nt->retry_yield = 1;
	nt->phase = P_COLLECT;
	kick(nt, 0);
}

static void work(struct notifier *nt)
{
	tw_mono_t now = tw_hal_now();
	tw_mono_t next = 0;
	size_t done = 0, due = 0, checking = 0;

	if (nt->phase == P_STOPPED || nt->phase == P_CLAIM)
		return;
	if (nt->phase == P_COLLECT && nt->draining)
		return;
	if (nt->phase == P_COLLECT) {
		/* Due retries and fresh messages take turns: after a unit of scheduled rows, a
		 * Kafka batch that is waiting goes first (a backlog never holds fresh e-mails). */
		take(nt);
		if (nt->n == 0)
			nt->retry_yield = 0; /* nothing was waiting: the turn passes */
		if (!nt->retry_yield && claim_due(nt, now))
			return;
		/* (the signing key: no batch is read, so none dead-lettered, before it is loaded) */
		/* (after a unit of scheduled rows, what is collected goes at once: its linger
		 * would hold the next due rows back for nothing) */
		if (nt->n == 0 || !tw_notif_key_poll(nt->q) ||
		    (nt->n < BATCH_MAX && !nt->retry_yield &&
		     now - nt->opened < nt->ag->cfg.smtp.batch_linger_ms * TW_MONO_PER_MS))
			return;
		nt->phase = P_WORK;
		nt->retry_yield = 0;
		open_batch(nt);
	}
	abandon_revoked(nt);
	db_steps(nt, now);
	for (size_t i = 0; i < nt->ni; i++) {
		const struct item *it = &nt->items[i];

		if (it->state == I_DONE)
			done++;
		/* (an id a live peer held is looked at again on its own: no session waits) */
		if ((it->state == I_NEW || it->state == I_CHECKING) && !it->held)
			checking++;
		if (it->state == I_DUE) {
			due++;
			if (next == 0 || it->next_try < next)
				next = it->next_try;
		}
		if ((it->state == I_NEW || it->state == I_RECORD || it->state == I_DEAD ||
		     it->state == I_FORGET || it->state == I_DEFER || it->state == I_DROP) &&
		    !it->op_busy && it->next_try > now && (next == 0 || it->next_try < next))
			next = it->next_try;
	}
	if (done == nt->ni) {
		unit_done(nt);
		return;
	}
	/* The whole batch goes in one session: wait until every id was checked (once: an id a
	 * live peer holds waits alone, and the others go without it). */
	if (due > 0 && checking == 0 && !tw_smtp_busy(&nt->smtp) && !nt->draining) {
		/* No session while the ledger cannot be written: every end of data would be
		 * held back, and the relay would get a full session for nothing. */
		if (nt->db_hold_until > now && nt->db_hold_until > next)
			next = nt->db_hold_until;
		else if (next <= now && !tw_cqrs_ready(nt->q))
			next = now + DB_RETRY_MS * TW_MONO_PER_MS;
		if (next <= now) {
			int64_t wait = rate_wait(nt, now);

			if (wait > 0) {
				/* [smtp] max_rate: the timer brings the session (nothing blocks) */
				next = now + wait * TW_MONO_PER_MS;
			} else if (tw_breaker_allow(&nt->br)) {
				start_session(nt, now);
				return;
			} else {
				/* Open: wait for the trial without polling the relay. */
				next = now + tw_breaker_retry_in_ms(&nt->br) * TW_MONO_PER_MS;
				if (next <= now)
					next = now + 100 * TW_MONO_PER_MS;
			}
		}
	}
	if (next > now)
		kick(nt, (next - now + TW_MONO_PER_MS - 1) / TW_MONO_PER_MS);
}

/* ---- the role ---- */

static void cmd_status(struct tw_agent *ag, const char *args, void *arg);
static void cmd_deadletters(struct tw_agent *ag, const char *args, void *arg);
static void cmd_redrive(struct tw_agent *ag, const char *args, void *arg);

static int start(struct tw_agent *ag, void **state, char *err, size_t errlen)
{
	static const char *const topics[] = {TW_KAFKA_TOPIC_NOTIFIER, NULL};
	const struct tw_config *cfg = &ag->cfg;
	struct notifier *nt = tw_arena_carve(&ag->arena, sizeof *nt, "notifier role", "arena_kb");
	struct tw_kafka_opts ko = {
		.kind = TW_KAFKA_CONSUMER,
		.role = "notifier",
		.group_id = "tickwatch-notifier",
		.topics = topics,
		.on_ready = on_ready,
		.on_commit = on_commit,
		.on_rebalance = on_rebalance,
	};
	struct tw_smtp_opts so = {
		.host = cfg->smtp.host,
		.port = (uint16_t)cfg->smtp.port,
		.user = cfg->smtp.user,
		.password = cfg->smtp.password,
		.from = cfg->smtp.from,
		.helo = cfg->agent.name,
		.timeout_ms = cfg->smtp.timeout_ms,
		.out_bytes = (size_t)cfg->limits.smtp_buffer_kb * 1024,
		.on_before_dot = on_before_dot,
	};
	char rate[96] = "";
	int rc;

	if (nt == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	nt->ag = ag;
	/* This instance: its name, and when it started. A restart of the same agent takes its
	 * predecessor's 'sending' rows at once (that process is gone: agent names are unique in a
	 * fleet, they are also the Kafka client ids); another agent's wait for their lease. */
	snprintf(nt->owner, sizeof nt->owner, "%.40s/%lld.%lld", cfg->agent.name, /* <= 40: config */
		 (long long)tw_hal_wall_ms(), (long long)(tw_hal_now() % 1000000));
	nt->lease_ms = LEASE_TIMEOUTS * cfg->smtp.timeout_ms;
	nt->sched.interval_ms = cfg->smtp.retry_interval_ms;
	nt->sched.max_interval_ms = cfg->smtp.retry_max_interval_ms > cfg->smtp.retry_interval_ms
					    ? cfg->smtp.retry_max_interval_ms
					    : cfg->smtp.retry_interval_ms;
	nt->sched.max_age_ms = cfg->smtp.max_retry_age_ms;
	nt->burst = tw_notify_bucket_burst(cfg->smtp.max_rate, BATCH_MAX);
	tw_notify_bucket_init(&nt->bucket, cfg->smtp.max_rate, nt->burst,
			      tw_hal_now() / TW_MONO_PER_MS);
	/* due rows are looked for this often (a short indexed page; at once after a full one) */
	nt->retry_poll_ms = cfg->smtp.retry_interval_ms < 5000 ? 1000 : 5000;
	so.mode = (int)cfg->smtp.mode;
	if (so.mode != TW_SMTP_PLAIN) {
		rc = tw_tls_config_init(&nt->tls, cfg->smtp.ca_file, cfg->smtp.verify != 0, err, errlen);
		nt->tls_ready = 1;
		if (rc != TW_OK)
			return rc;
		if (!cfg->smtp.verify)
			tw_log(TW_LOG_WARN, "notifier", "[smtp] verify = false: the relay's certificate "
			       "is NOT checked");
		so.tls = &nt->tls;
	}
	rc = tw_smtp_init(&nt->smtp, &ag->loop, &ag->arena, &so, err, errlen);
	if (rc != TW_OK)
		return rc;
	tw_breaker_init(&nt->br, "smtp", (unsigned)cfg->smtp.breaker_failures,
			cfg->smtp.breaker_recovery_ms);
	nt->q = tw_cqrs_open(ag, err, errlen);
	if (nt->q == NULL)
		return TW_ERR_ARG;
	(void)tw_notif_key_poll(nt->q); /* the signing key: loaded once the database is up */
	ko.arg = nt;
	rc = tw_kafka_open(&nt->k, cfg, &ag->loop, &ko, err, errlen);
	if (rc != TW_OK) {
		tw_cqrs_close(nt->q);
		nt->q = NULL;
		return rc;
	}
	if (tw_agent_add_command(ag, "notifier", "notifier batch, counters and SMTP breaker",
				 cmd_status, nt) != TW_OK ||
	    tw_agent_add_command(ag, "deadletters", "[AFTER_ID]: list dead letters (10 a page)",
				 cmd_deadletters, nt) != TW_OK ||
	    tw_agent_add_command(ag, "redrive", "ID: move dead letter ID back into the retry "
				 "schedule (once)", cmd_redrive, nt) != TW_OK)
		tw_log(TW_LOG_WARN, "notifier", "no room for the notifier's console commands");
	*state = nt;
	if (cfg->smtp.max_rate)
		snprintf(rate, sizeof rate, ", at most %lld e-mails a second (burst %lld)",
			 (long long)cfg->smtp.max_rate, (long long)nt->burst);
	tw_log(TW_LOG_INFO, "notifier", "SMTP %s:%lld (%s), batches of %d or %lld ms%s",
	       cfg->smtp.host, (long long)cfg->smtp.port,
	       so.mode == TW_SMTP_TLS ? "tls" : so.mode == TW_SMTP_PLAIN ? "plain" : "starttls",
	       BATCH_MAX, (long long)cfg->smtp.batch_linger_ms, rate);
	return TW_OK;
}

/* The periodic step: poll the consumer queue (librdkafka only signals empty -> non-empty). */
static int64_t step(struct tw_agent *ag, void *state)
{
	struct notifier *nt = state;

	(void)ag;
	if (nt->phase == P_COLLECT)
		work(nt);
	else if (nt->phase != P_STOPPED)
		tw_kafka_keepalive(&nt->k); /* a held batch: stay in the group, serve rebalances */
	return IDLE_POLL_MS;
}

/* A session already talking to the relay finishes (its held ends of data are
 * released when their 'sending' records commit) and the records of what it sent
 * are written; no new batch or session starts. */
static int drain(struct tw_agent *ag, void *state)
{
	struct notifier *nt = state;

	(void)ag;
	if (nt == NULL || nt->phase == P_STOPPED)
		return 0;
	if (!nt->draining)
		tw_log(TW_LOG_INFO, "notifier", "stopping: finishing the SMTP session in progress");
	nt->draining = 1;
	if (tw_smtp_busy(&nt->smtp))
		return 1;
	if (nt->phase == P_CLAIM)
		return 1;
	for (size_t i = 0; nt->phase == P_WORK && i < nt->ni; i++) {
		const struct item *it = &nt->items[i];

		if (it->op_busy || it->state == I_RECORD || it->state == I_FORGET ||
		    it->state == I_DEFER || it->state == I_DROP)
			return 1;
	}
	return 0;
}

static void stop(struct tw_agent *ag, void *state)
{
	struct notifier *nt = state;

	if (nt == NULL)
		return;
	if (nt->ni > 0 && nt->phase == P_WORK)
		tw_log(TW_LOG_INFO, "notifier", "stopping: abandoning %s of %zu without commit "
		       "(it comes again; sent ids are skipped)",
		       nt->unit_retry ? "re-driven e-mails" : "a batch", nt->ni);
	if (tw_smtp_held(&nt->smtp)) {
		const struct item *it = item_of(nt, tw_smtp_held(&nt->smtp));

		/* Its end of data never leaves, so the server does not take the e-mail. If the
		 * 'sending' write commits anyway, a restart finds the id in flight and sends it
		 * again with the same Message-ID (logged there): it arrives once, later. */
		tw_log(TW_LOG_WARN, "notifier", "stopping while %s to %s waited for its 'sending' "
		       "record: its end of data is not sent", it->n.id, it->n.email);
	}
	nt->phase = P_STOPPED;
	if (nt->kick > 0)
		tw_loop_del_timer(&ag->loop, nt->kick);
	nt->kick = 0;
	tw_smtp_abort(&nt->smtp);
	tw_kafka_release(nt->msgs, nt->n);
	nt->n = 0;
	tw_kafka_close(&nt->k, 2000);
	if (nt->q)
		tw_cqrs_close(nt->q);
	nt->q = NULL;
	if (nt->tls_ready)
		tw_tls_config_free(&nt->tls);
	nt->tls_ready = 0;
}

static void status(struct tw_agent *ag, void *state, char *buf, size_t len)
{
	const struct notifier *nt = state;
	char br[160];

	(void)ag;
	tw_breaker_status(&nt->br, br, sizeof br);
	snprintf(buf, len,
		 "%s, batch %zu/%d; sent %llu, skipped %llu, resent after a crash %llu, ambiguous "
		 "%llu, duplicates %llu, recipient gone %llu, held by a peer %llu, dead %llu, "
		 "transient %llu, malformed %llu, batches %llu, commits %llu; retry schedule: "
		 "deferred %llu, re-driven %llu, rescheduled %llu, dead after max_retry_age %llu; "
		 "revocations %llu (abandoned uncommitted %llu); "
		 "smtp %s; %s%s%s",
		 nt->phase == P_COLLECT ? "collecting" : nt->phase == P_CLAIM ? "claiming retries"
		 : nt->phase == P_WORK ? (nt->unit_retry ? "re-driving" : "sending") : "stopped",
		 nt->n, BATCH_MAX, (unsigned long long)nt->sent, (unsigned long long)nt->skipped,
		 (unsigned long long)nt->in_flight, (unsigned long long)nt->ambiguous,
		 (unsigned long long)nt->duplicates, (unsigned long long)nt->gone,
		 (unsigned long long)nt->held, (unsigned long long)nt->dead,
		 (unsigned long long)nt->transient,
		 (unsigned long long)nt->malformed, (unsigned long long)nt->batches,
		 (unsigned long long)nt->commits, (unsigned long long)nt->deferred,
		 (unsigned long long)nt->redriven, (unsigned long long)nt->rescheduled,
		 (unsigned long long)nt->retry_dead, (unsigned long long)nt->revocations,
		 (unsigned long long)nt->abandoned, tw_smtp_state_name(nt->smtp.state), br,
		 nt->last_err[0] ? "; last error: " : "", nt->last_err);
}

/* /metrics (docs/http.md lists the families): the counters of this state, written on the loop. */
static void metric_labelled(struct tw_metrics *m, const char *name, const char *help,
			    const char *label, const char *const *values, const uint64_t *counts,
			    size_t n)
{
	tw_metrics_family(m, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		const struct tw_metric_label l[] = {{label, values[i]}, {NULL, NULL}};

		tw_metrics_int(m, name, l, (int64_t)counts[i]);
	}
}

static void metric_counter(struct tw_metrics *m, const char *name, const char *help,
			   uint64_t value)
{
	tw_metrics_family(m, name, "counter", help);
	tw_metrics_int(m, name, NULL, (int64_t)value);
}

static void metrics(struct tw_agent *ag, void *state, struct tw_metrics *m)
{
	const struct notifier *nt = state;
	static const char *const results[] = {"sent", "skipped", "duplicate", "gone", "deferred",
					      "dead", "malformed"};
	static const char *const events[] = {"deferred", "redriven", "rescheduled", "expired"};
	const uint64_t by_result[] = {nt->sent, nt->skipped, nt->duplicates, nt->gone,
				      nt->deferred, nt->dead, nt->malformed};
	const uint64_t by_event[] = {nt->deferred, nt->redriven, nt->rescheduled, nt->retry_dead};

	(void)ag;
	metric_labelled(m, "tickwatch_notifier_emails_total",
			"e-mails by result: sent (250), skipped (already sent), duplicate (twice in "
			"one batch), gone (recipient no longer has the alert), deferred (into the "
			"retry schedule), dead (dead letter), malformed (dead letter, unreadable)",
			"result", results, by_result, sizeof results / sizeof results[0]);
	metric_labelled(m, "tickwatch_notifier_retries_total",
			"the retry schedule: deferred (rows written), redriven (due rows claimed), "
			"rescheduled (failed again), expired (dead after max_retry_age)",
			"event", events, by_event, sizeof events / sizeof events[0]);
	metric_counter(m, "tickwatch_notifier_ambiguous_total",
		       "e-mails that may arrive twice (same Message-ID): no answer after the end "
		       "of data, or found in flight after a crash", nt->ambiguous);
	metric_counter(m, "tickwatch_notifier_held_total",
		       "ledger checks that found the id held by a live peer's lease", nt->held);
	metric_counter(m, "tickwatch_notifier_batches_total", "to-notifier batches opened",
		       nt->batches);
	metric_counter(m, "tickwatch_notifier_commits_total", "batches whose offsets were committed",
		       nt->commits);
	metric_counter(m, "tickwatch_notifier_revocations_total",
		       "partition revocations seen (held batches abandoned uncommitted)",
		       nt->revocations);
	metric_counter(m, "tickwatch_notifier_smtp_sessions_total", "SMTP sessions opened",
		       nt->sessions);
	metric_counter(m, "tickwatch_notifier_smtp_session_failures_total",
		       "SMTP sessions that ended in an error", nt->session_failures);
	metric_counter(m, "tickwatch_notifier_rate_waits_total",
		       "times a session waited for [smtp] max_rate", nt->rate_waits);
	tw_metrics_family(m, "tickwatch_notifier_smtp_breaker_state", "gauge",
			  "the SMTP breaker: 0 closed, 1 open, 2 half-open");
	tw_metrics_int(m, "tickwatch_notifier_smtp_breaker_state", NULL,
		       nt->br.state == TW_BREAKER_OPEN ? 1 : nt->br.state == TW_BREAKER_HALF_OPEN ? 2
		       : 0);
	tw_metrics_family(m, "tickwatch_notifier_smtp_session_seconds", "histogram",
			  "SMTP session duration (connect to QUIT or failure), seconds");
	tw_metrics_histogram(m, "tickwatch_notifier_smtp_session_seconds", NULL, session_bounds,
			     nt->session_hist, SESSION_BOUNDS_N, nt->sessions_ended,
			     nt->session_sum);
	tw_kafka_lag_metrics(&nt->k, m, "tickwatch_notifier_consumer_lag");
}

static void cmd_status(struct tw_agent *ag, const char *args, void *arg)
{
	char line[1024];

	(void)args;
	status(ag, arg, line, sizeof line);
	tw_agent_say(ag, "notifier: %s\n", line);
}

/* ---- console: the dead letters (the rpc methods deadletter.list / .redrive do the same) ---- */

static int on_dead_row(void *arg, const struct tw_cqrs_dead_row *r)
{
	struct notifier *nt = arg;

	tw_agent_say(nt->ag, "dead letter %lld: %s to %s, %d attempts, %s: %s\n", r->id,
		     r->notification_id ? r->notification_id : "?", r->email ? r->email : "?",
		     r->attempts, r->redrivable ? "re-drivable" : "not re-drivable",
		     r->reason ? r->reason : "");
	return 0;
}

static void on_dead_listed(void *arg, const struct tw_cqrs_result *r)
{
	struct notifier *nt = arg;

	nt->dl_busy = 0;
	if (r->rc != TW_OK)
		tw_agent_say(nt->ag, "deadletters: %s\n", r->msg);
	else if (r->count == TW_CQRS_DEAD_LIST_MAX)
		tw_agent_say(nt->ag, "(%lld shown; more: deadletters %lld)\n", r->count, r->scanned);
	else
		tw_agent_say(nt->ag, "(%lld dead letter%s)\n", r->count, r->count == 1 ? "" : "s");
}

static void on_redriven(void *arg, const struct tw_cqrs_result *r)
{
	struct notifier *nt = arg;

	nt->dl_busy = 0;
	if (r->rc != TW_OK)
		tw_agent_say(nt->ag, "redrive: %s\n", r->msg);
	else
		tw_agent_say(nt->ag, "dead letter re-driven: %s is due in the retry schedule\n",
			     r->msg);
}

/* A whole number >= 0 from a console argument, or -1. */
static long long console_id(const char *args)
{
	char *end;
	long long v;

	while (args && *args == ' ')
		args++;
	if (args == NULL || *args == '\0')
		return 0;
	v = strtoll(args, &end, 10);
	while (*end == ' ')
		end++;
	return end == args || *end != '\0' || v < 0 ? -1 : v;
}

static void cmd_deadletters(struct tw_agent *ag, const char *args, void *arg)
{
	struct notifier *nt = arg;
	long long after = console_id(args);

	if (after < 0 || nt->q == NULL) {
		tw_agent_say(ag, "usage: deadletters [AFTER_ID]\n");
		return;
	}
	if (nt->dl_busy) {
		tw_agent_say(ag, "deadletters: the last one is still running\n");
		return;
	}
	if (tw_cqrs_deadletter_list(nt->q, &nt->dl_op, after, TW_CQRS_DEAD_LIST_MAX, on_dead_row,
				    on_dead_listed, nt) != TW_OK)
		tw_agent_say(ag, "deadletters: %s\n", tw_cqrs_op_result(&nt->dl_op)->msg);
	else
		nt->dl_busy = 1;
}

static void cmd_redrive(struct tw_agent *ag, const char *args, void *arg)
{
	struct notifier *nt = arg;
	long long id = console_id(args);
	char reqid[64];
	struct tw_cqrs_idem idem = {.request_id = reqid, .method = "deadletter.redrive",
				    .ttl_ms = ag->cfg.rpc.request_ttl_ms};

	if (id < 1 || nt->q == NULL) {
		tw_agent_say(ag, "usage: redrive ID (a dead letter id, from deadletters)\n");
		return;
	}
	if (nt->dl_busy) {
		tw_agent_say(ag, "redrive: the last command is still running\n");
		return;
	}
	/* one typed command, one request id: it runs at most once */
	snprintf(reqid, sizeof reqid, "console-redrive-%lld-%lld", id, (long long)tw_hal_wall_ms());
	if (tw_cqrs_deadletter_redrive(nt->q, &nt->dl_op, id, &idem, on_redriven, nt) != TW_OK)
		tw_agent_say(ag, "redrive: %s\n", tw_cqrs_op_result(&nt->dl_op)->msg);
	else
		nt->dl_busy = 1;
}

const struct tw_role tw_role_notifier = {
	.name = "notifier",
	.budget = budget,
	.start = start,
	.step = step,
	.drain = drain,
	.stop = stop,
	.status = status,
	.metrics = metrics,
};
