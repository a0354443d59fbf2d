/* SPDX-License-Identifier: MIT */
/* notifier.c - the notifier role: to-notifier batches delivered over one SMTP session each.
 *
 * Phases of a batch (one batch at a time):
 *   COLLECT  take messages until 10 or [smtp] batch_linger after the first;
 *   CHECK    validate each (malformed: dead letter) and ask PostgreSQL whether its id was sent;
 *   SEND     one SMTP session for every message due. Two-phase record per e-mail: when its 354
 *            arrives the id is written as 'sending' while the body goes out, and the client sends
 *            the end of data only once that write has committed; a 250 then records it 'sent', a
 *            failure deletes the 'sending' row (a 5xx then is a dead letter, a transient failure
 *            waits with backoff: 5 attempts, then dead letter); the breaker guards the relay:
 *            while open, no session is tried;
 *   commit   when every message is sent, skipped or dead-lettered (and recorded), the batch's
 *            offsets are committed and a new batch starts.
 * A stop abandons an unfinished batch without committing it: it comes again after a restart,
 * and IsSent sorts the ids already recorded. A 'sent' id is skipped. A 'sending' id (the agent
 * died after the end of data was released and before the answer was recorded: it may or may
 * not have reached the server, nothing can tell) is sent again with the same Message-ID, with
 * a warning, and counted as "resent after a crash". That narrow window may give a second copy,
 * which mail clients fold by its Message-ID, instead of a lost alert (docs/notifications.md).
 */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/breaker.h"
#include "core/log.h"
#include "cqrs/cqrs.h"
#include "kafka/kafka.h"
#include "notif/notif.h"
#include "smtp/smtp.h"
#include "tls/tls.h"

#define BATCH_MAX 10
#define ATTEMPTS_MAX 5
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define DB_RETRY_MS 1000   /* the database is down: try the same operation again after this */
#define IDLE_POLL_MS 1000  /* re-poll the consumer queue while idle (librdkafka wakes us too) */
#define DEAD_PAYLOAD_MAX 1000

enum item_state {
	I_NEW = 0,   /* not yet validated */
	I_CHECKING,  /* IsSent in flight */
	I_DUE,       /* to send (at next_try) */
	I_SENDING,   /* in the running SMTP session (MarkSending may be in flight) */
	I_FORGET,    /* not taken by the server: ForgetSending to do / in flight, then `after` */
	I_RECORD,    /* sent: RecordSent to do / in flight */
	I_DEAD,      /* dead letter to record / in flight */
	I_DONE,      /* sent and recorded, skipped, or dead letter recorded */
};

struct item {
	rd_kafka_message_t *km;
	struct tw_notif n;
	int valid;
	int state;
	int op_busy;
	int attempts;
	tw_mono_t next_try;
	int marked;       /* MarkSending was submitted in this session */
	int unrecorded;   /* we refused its end of data (the record failed): not an attempt */
	int already;      /* MarkSending found it 'sent' by someone else */
	int after;        /* state after I_FORGET (I_DUE or I_DEAD) */
	tw_mono_t after_try;
	char reason[TW_SMTP_TEXT_MAX + 64];
	char dead_id[64];
	struct tw_cqrs_op op;
	struct notifier *nt;
};

enum phase { P_COLLECT, P_WORK, P_STOPPED };

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
	struct item items[BATCH_MAX];
	struct tw_smtp_msg sendv[BATCH_MAX];
	size_t sendmap[BATCH_MAX];
	size_t nsend;
	long long kick;   /* a 0 ms timer that runs the work step */
	int draining; /* a stop was requested: start no batch and no session */
	uint64_t batches, sent, skipped, dead, transient, malformed, commits, in_flight;
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
	size_t got;

	if (nt->phase != P_COLLECT || nt->n >= BATCH_MAX)
		return;
	got = tw_kafka_consume_batch(&nt->k, nt->msgs + nt->n, BATCH_MAX - nt->n);
	if (got > 0 && nt->n == 0)
		nt->opened = tw_hal_now();
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

static void open_batch(struct notifier *nt)
{
	char err[256];

	nt->batches++;
	for (size_t i = 0; i < nt->n; i++) {
		struct item *it = &nt->items[i];
		rd_kafka_message_t *km = nt->msgs[i];

		memset(it, 0, sizeof *it);
		it->nt = nt;
		it->km = km;
		if (tw_notif_parse(&it->n, km->payload, km->len, km->key, km->key ? km->key_len : 0,
				   tw_notif_key_poll(nt->q), err, sizeof err) == TW_OK) {
			it->valid = 1;
			it->state = I_NEW;
			continue;
		}
		nt->malformed++;
		snprintf(it->reason, sizeof it->reason, "malformed: %.200s", err);
		snprintf(it->dead_id, sizeof it->dead_id, "malformed:%d:%lld", (int)km->partition,
			 (long long)km->offset);
		tw_log(TW_LOG_WARN, "notifier", "to-notifier partition %d offset %lld: %s; "
		       "dead-lettered", (int)km->partition, (long long)km->offset, it->reason);
		it->state = I_DEAD;
	}
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
		tw_log(TW_LOG_WARN, "notifier", "IsSent %s: %s; retrying", it->n.id, r->msg);
		it->state = I_NEW;
		it->next_try = tw_hal_now() + DB_RETRY_MS * TW_MONO_PER_MS;
	} else if (r->count == TW_CQRS_SENT_IN_FLIGHT) {
		/* Its end of data may or may not have reached the server before the
		 * crash: nothing can tell. A lost alert is worse than a second copy with
		 * the same Message-ID (which mail clients fold into one), so it goes again. */
		tw_log(TW_LOG_WARN, "notifier", "delivery of %s to %s was in flight at a crash "
		       "(no answer was recorded): sending it again with the same Message-ID",
		       it->n.id, it->n.email);
		nt->in_flight++;
		it->state = I_DUE;
		it->next_try = 0;
	} else if (r->count > 0) {
		tw_log(TW_LOG_INFO, "notifier", "%s to %s already sent: skipped", it->n.id,
		       it->n.email);
		nt->skipped++;
		it->state = I_DONE;
	} else {
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
		tw_log(TW_LOG_WARN, "notifier", "recording %s: %s; retrying",
		       it->state == I_RECORD ? "a sent id" : "a dead letter", r->msg);
		it->next_try = tw_hal_now() + DB_RETRY_MS * TW_MONO_PER_MS;
	} else {
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
		tw_log(TW_LOG_WARN, "notifier", "forgetting the 'sending' record of %s: %s; retrying",
		       it->n.id, r->msg);
		it->next_try = tw_hal_now() + DB_RETRY_MS * TW_MONO_PER_MS;
	} else {
		it->state = it->after;
		it->next_try = it->after_try;
	}
	kick(nt, 0);
}

static void db_steps(struct notifier *nt, tw_mono_t now)
{
	for (size_t i = 0; i < nt->n; i++) {
		struct item *it = &nt->items[i];
		int rc = TW_OK;

		if (it->op_busy || it->next_try > now)
			continue;
		if (it->state == I_NEW) {
			it->state = I_CHECKING;
			rc = tw_cqrs_is_sent(nt->q, &it->op, it->n.id, on_checked, it);
			if (rc != TW_OK)
				it->state = I_NEW;
		} else if (it->state == I_RECORD) {
			rc = tw_cqrs_record_sent(nt->q, &it->op, it->n.id, it->n.email, on_recorded, it);
		} else if (it->state == I_FORGET) {
			rc = tw_cqrs_forget_sending(nt->q, &it->op, it->n.id, on_forgot, it);
		} else if (it->state == I_DEAD) {
			char payload[DEAD_PAYLOAD_MAX + 1];

			sanitize(it->km->payload, it->km->len, payload, sizeof payload);
			rc = tw_cqrs_record_dead_letter(nt->q, &it->op,
							it->valid ? it->n.id : it->dead_id,
							it->valid ? it->n.email : "unknown", payload,
							it->reason, it->attempts, on_recorded, it);
		} else {
			continue;
		}
		if (rc == TW_OK) {
			it->op_busy = 1;
		} else {
			tw_log(TW_LOG_WARN, "notifier", "database: %s; retrying in %d ms",
			       tw_cqrs_op_result(&it->op)->msg, DB_RETRY_MS);
			it->next_try = now + DB_RETRY_MS * TW_MONO_PER_MS;
		}
	}
}

/* ---- SMTP ---- */

static int64_t backoff_ms(int attempts)
{
	int64_t ms = BACKOFF_FIRST_MS;

	for (int i = 1; i < attempts && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static struct item *item_of(struct notifier *nt, const struct tw_smtp_msg *m)
{
	return &nt->items[nt->sendmap[m - nt->sendv]];
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
		/* The session ended meanwhile (time-out, reset): on_msg queued the ForgetSending. */
		kick(nt, 0);
		return;
	}
	if (r->rc == TW_OK && r->count == 1) {
		tw_smtp_release_dot(&nt->smtp, held, 1);
		return;
	}
	if (r->rc == TW_OK) {
		it->already = 1; /* 'sent' by another agent meanwhile: not again */
	} else {
		it->unrecorded = 1;
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

	if (!it->op_busy)
		rc = tw_cqrs_mark_sending(nt->q, &it->op, it->n.id, it->n.email, on_marked, it);
	if (rc == TW_OK) {
		it->op_busy = 1;
		it->marked = 1;
		return;
	}
	it->unrecorded = 1;
	tw_log(TW_LOG_WARN, "notifier", "cannot record %s as sending: %s; the session ends (retry)",
	       it->n.id, tw_cqrs_op_result(&it->op)->msg);
	tw_smtp_release_dot(s, m, 0);
}

static void on_msg(struct tw_smtp *s, struct tw_smtp_msg *m, void *arg)
{
	struct notifier *nt = arg;
	struct item *it = item_of(nt, m);
	int target;
	tw_mono_t target_try = 0;

	(void)s;
	if (m->outcome == TW_SMTP_SENT) {
		nt->sent++;
		it->state = I_RECORD;
		it->next_try = 0;
		tw_log(TW_LOG_INFO, "notifier", "%s sent to %s (%s)", it->n.id, it->n.email, m->text);
		return;
	}
	if (it->already) {
		tw_log(TW_LOG_INFO, "notifier", "%s to %s was recorded sent meanwhile: skipped",
		       it->n.id, it->n.email);
		nt->skipped++;
		it->state = I_DONE;
		return;
	}
	/* A refusal of ours (the record failed) is not the relay's fault: no attempt counted. */
	if (m->attempted && !it->unrecorded)
		it->attempts++;
	if (m->outcome == TW_SMTP_PERMANENT) {
		snprintf(it->reason, sizeof it->reason, "permanent: %s", m->text);
		target = I_DEAD;
	} else if (it->attempts >= ATTEMPTS_MAX) {
		snprintf(it->reason, sizeof it->reason, "gave up after %d attempts: %s", it->attempts,
			 m->text);
		target = I_DEAD;
	} else {
		nt->transient++;
		target = I_DUE;
		/* Not attempted: the session failed before its turn (the breaker counts that). */
		target_try = tw_hal_now() + (m->attempted && !it->unrecorded
						     ? backoff_ms(it->attempts) : BACKOFF_FIRST_MS) *
						    TW_MONO_PER_MS;
		if (m->attempted && !it->unrecorded)
			tw_log(TW_LOG_WARN, "notifier", "%s to %s: %s; attempt %d of %d, retry in %lld ms",
			       it->n.id, it->n.email, m->text, it->attempts, ATTEMPTS_MAX,
			       (long long)backoff_ms(it->attempts));
	}
	if (target == I_DEAD) {
		nt->dead++;
		tw_log(TW_LOG_ERROR, "notifier", "dead letter %s to %s: %s", it->n.id, it->n.email,
		       it->reason);
	}
	if (it->marked) {
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

	(void)s;
	if (rc == TW_OK) {
		tw_breaker_success(&nt->br);
	} else if (rc == TW_ERR_SMTP_UNRECORDED) {
		/* The database, not the relay, failed: the breaker is not told. */
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

static void start_session(struct notifier *nt, tw_mono_t now)
{
	nt->nsend = 0;
	for (size_t i = 0; i < nt->n; i++) {
		struct item *it = &nt->items[i];
		struct tw_smtp_msg *m = &nt->sendv[nt->nsend];

		if (it->state != I_DUE || it->next_try > now || it->op_busy)
			continue;
		it->marked = it->unrecorded = it->already = 0;
		memset(m, 0, sizeof *m);
		m->id = it->n.id;
		m->to = it->n.email;
		m->subject = it->n.subject;
		m->body = it->n.body;
		nt->sendmap[nt->nsend++] = i;
		it->state = I_SENDING;
	}
	if (nt->nsend == 0)
		return;
	if (tw_smtp_send_batch(&nt->smtp, nt->sendv, nt->nsend, on_msg, on_session, nt) != TW_OK) {
		for (size_t i = 0; i < nt->nsend; i++)
			nt->items[nt->sendmap[i]].state = I_DUE;
	}
}

/* ---- the batch ---- */

static void commit(struct notifier *nt)
{
	char err[256];

	if (tw_kafka_commit_batch(&nt->k, nt->msgs, nt->n, err, sizeof err) != TW_OK) {
		tw_log(TW_LOG_WARN, "notifier", "commit: %s", err);
		snprintf(nt->last_err, sizeof nt->last_err, "commit: %.200s", err);
	} else {
		nt->commits++;
	}
	tw_kafka_release(nt->msgs, nt->n);
	memset(nt->msgs, 0, sizeof nt->msgs);
	nt->n = 0;
	nt->phase = P_COLLECT;
	take(nt);
}

static void work(struct notifier *nt)
{
	tw_mono_t now = tw_hal_now();
	tw_mono_t next = 0;
	size_t done = 0, due = 0, checking = 0;

	if (nt->phase == P_STOPPED)
		return;
	if (nt->phase == P_COLLECT && nt->draining)
		return;
	if (nt->phase == P_COLLECT) {
		take(nt);
		/* (the signing key: no batch is read, so none dead-lettered, before it is loaded) */
		if (nt->n == 0 || !tw_notif_key_poll(nt->q) || (nt->n < BATCH_MAX &&
				   now - nt->opened < nt->ag->cfg.smtp.batch_linger_ms * TW_MONO_PER_MS))
			return;
		nt->phase = P_WORK;
		open_batch(nt);
	}
	db_steps(nt, now);
	for (size_t i = 0; i < nt->n; i++) {
		const struct item *it = &nt->items[i];

		if (it->state == I_DONE)
			done++;
		if (it->state == I_NEW || it->state == I_CHECKING)
			checking++;
		if (it->state == I_DUE) {
			due++;
			if (next == 0 || it->next_try < next)
				next = it->next_try;
		}
		if ((it->state == I_NEW || it->state == I_RECORD || it->state == I_DEAD ||
		     it->state == I_FORGET) &&
		    !it->op_busy && it->next_try > now && (next == 0 || it->next_try < next))
			next = it->next_try;
	}
	if (done == nt->n) {
		commit(nt);
		return;
	}
	/* The whole batch goes in one session: wait until every id was checked. */
	if (due > 0 && checking == 0 && !tw_smtp_busy(&nt->smtp) && !nt->draining) {
		if (next <= now) {
			if (tw_breaker_allow(&nt->br)) {
				start_session(nt, now);
				return;
			}
			/* Open: wait for the trial without polling the relay. */
			next = now + tw_breaker_retry_in_ms(&nt->br) * TW_MONO_PER_MS;
			if (next <= now)
				next = now + 100 * TW_MONO_PER_MS;
		}
	}
	if (next > now)
		kick(nt, (next - now + TW_MONO_PER_MS - 1) / TW_MONO_PER_MS);
}

/* ---- the role ---- */

static void cmd_status(struct tw_agent *ag, const char *args, void *arg);

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
	int rc;

	if (nt == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	nt->ag = ag;
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
				 cmd_status, nt) != TW_OK)
		tw_log(TW_LOG_WARN, "notifier", "no room for the 'notifier' console command");
	*state = nt;
	tw_log(TW_LOG_INFO, "notifier", "SMTP %s:%lld (%s), batches of %d or %lld ms", cfg->smtp.host,
	       (long long)cfg->smtp.port,
	       so.mode == TW_SMTP_TLS ? "tls" : so.mode == TW_SMTP_PLAIN ? "plain" : "starttls",
	       BATCH_MAX, (long long)cfg->smtp.batch_linger_ms);
	return TW_OK;
}

/* The periodic step: poll the consumer queue (librdkafka only signals empty -> non-empty). */
static int64_t step(struct tw_agent *ag, void *state)
{
	struct notifier *nt = state;

	(void)ag;
	if (nt->phase == P_COLLECT)
		work(nt);
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
	for (size_t i = 0; nt->phase == P_WORK && i < nt->n; i++) {
		const struct item *it = &nt->items[i];

		if (it->op_busy || it->state == I_RECORD || it->state == I_FORGET)
			return 1;
	}
	return 0;
}

static void stop(struct tw_agent *ag, void *state)
{
	struct notifier *nt = state;

	if (nt == NULL)
		return;
	if (nt->n > 0 && nt->phase == P_WORK)
		tw_log(TW_LOG_INFO, "notifier", "stopping: abandoning a batch of %zu without commit "
		       "(it comes again; sent ids are skipped)", nt->n);
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
		 "%s, batch %zu/%d; sent %llu, skipped %llu, resent after a crash %llu, dead %llu, "
		 "transient %llu, malformed %llu, batches %llu, commits %llu; smtp %s; %s%s%s",
		 nt->phase == P_COLLECT ? "collecting" : nt->phase == P_WORK ? "sending" : "stopped",
		 nt->n, BATCH_MAX, (unsigned long long)nt->sent, (unsigned long long)nt->skipped,
		 (unsigned long long)nt->in_flight, (unsigned long long)nt->dead, (unsigned long long)nt->transient,
		 (unsigned long long)nt->malformed, (unsigned long long)nt->batches,
		 (unsigned long long)nt->commits, tw_smtp_state_name(nt->smtp.state), br,
		 nt->last_err[0] ? "; last error: " : "", nt->last_err);
}

static void cmd_status(struct tw_agent *ag, const char *args, void *arg)
{
	char line[768];

	(void)args;
	status(ag, arg, line, sizeof line);
	tw_agent_say(ag, "notifier: %s\n", line);
}

const struct tw_role tw_role_notifier = {
	.name = "notifier",
	.budget = budget,
	.start = start,
	.step = step,
	.drain = drain,
	.stop = stop,
	.status = status,
};
