/* SPDX-License-Identifier: MIT */
/* sent_states.c - the notifier's two-phase record (MarkSending with owner and lease, RecordSent,
 * ForgetSending, LedgerCheck) against a real PostgreSQL: each transition's count and the state
 * LedgerCheck reports afterwards, a live peer's lease respected and an expired one taken over,
 * and the recipient check (a user with that alert) in the same statement; after each step the
 * batched LedgerCheck (one statement for several ids) must give the same verdict, and the
 * batched RecordSent leaves every id of its batch 'sent'.
 *
 * sent_states DB_URL ID EMAIL: prints one "step count state" line per step and "ok" at the end;
 * exit 0 when every step gave what docs/schema.md says, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "cqrs/cqrs.h"

static struct tw_agent ag;
static struct tw_cqrs_op op;
static int finished, rc_seen;
static long long count_seen;

static void done(void *arg, const struct tw_cqrs_result *r)
{
	(void)arg;
	finished = 1;
	rc_seen = r->rc;
	count_seen = r->count;
	if (r->rc != TW_OK)
		fprintf(stderr, "  error %d: %s\n", r->rc, r->msg);
}

/* Run the loop until the operation is done; bounded (the statement time-out is 10 s). */
static int wait_done(void)
{
	for (int i = 0; i < 3000 && !finished; i++)
		tw_loop_run_once(&ag.loop, 10);
	return finished ? rc_seen : TW_ERR_TIMEOUT;
}

static const char *state_name(long long c)
{
	switch (c) {
	case TW_CQRS_SENT_NONE: return "none";
	case TW_CQRS_SENT_DONE: return "sent";
	case TW_CQRS_SENT_IN_FLIGHT: return "sending";
	case TW_CQRS_SENT_HELD: return "held by a live peer";
	case TW_CQRS_SENT_GONE: return "recipient gone";
	default: return "?";
	}
}

static int failures;
static const char *ticker = "AAPL";
static int condition = TW_COND_HIGHER;
static const char *user_email; /* the registered recipient (argv[3]) */

/* LedgerCheck of @p id as @p owner: its count, or -1. */
static long long check(struct tw_cqrs *q, const char *id, const char *email, const char *owner)
{
	int rc;

	finished = 0;
	rc = tw_cqrs_ledger_check(q, &op, id, email, ticker, condition, 0, owner, done, NULL);
	if (rc == TW_OK)
		rc = wait_done();
	return rc == TW_OK ? count_seen : -1;
}

/* The same LedgerCheck in one batched statement, next to an id never recorded (docs: "nothing":
 * send it) and one whose recipient has no such alert (not sent, recipient gone: skipped), as
 * @p owner: 1 when the three verdicts are those, @p want first. */
static int check_batch(struct tw_cqrs *q, const char *id, const char *email, const char *owner,
		       long long want)
{
	static char buf[TW_CQRS_LEDGER_BUF];
	char none_id[TW_CQRS_NOTIF_ID_MAX + 1], gone_id[TW_CQRS_NOTIF_ID_MAX + 1];
	int out[3] = {-1, -1, -1}, rc;
	struct tw_cqrs_ledger_item li[3] = {
		{id, email, ticker, condition, 0},
		{none_id, user_email, "AAPL", TW_COND_HIGHER, 0}, /* the user's own alert */
		{gone_id, "nobody-batch@sink.test", ticker, condition, 0},
	};

	snprintf(none_id, sizeof none_id, "none-%.100s", id);
	snprintf(gone_id, sizeof gone_id, "gone-%.100s", id);
	finished = 0;
	rc = tw_cqrs_ledger_check_batch(q, &op, li, 3, owner, out, buf, sizeof buf, done, NULL);
	if (rc == TW_OK)
		rc = wait_done();
	printf("%-40s batched LedgerCheck %s / %s / %s (want %s / none / recipient gone)\n", "",
	       state_name(out[0]), state_name(out[1]), state_name(out[2]), state_name(want));
	return rc == TW_OK && count_seen == 3 && out[0] == want && out[1] == TW_CQRS_SENT_NONE &&
	       out[2] == TW_CQRS_SENT_GONE;
}

/* One step: @p kind m (mark as @p owner, lease @p lease_ms), s (record sent), f (forget), - (none),
 * then LedgerCheck as @p owner; expected counts. */
static void step(struct tw_cqrs *q, const char *what, char kind, const char *id, const char *email,
		 const char *owner, int64_t lease_ms, long long want_count, long long want_state)
{
	int rc = TW_OK;
	long long c = -1, st;

	finished = 0;
	if (kind == 'm')
		rc = tw_cqrs_mark_sending(q, &op, id, email, owner, lease_ms, done, NULL);
	else if (kind == 's')
		rc = tw_cqrs_record_sent(q, &op, id, email, done, NULL);
	else if (kind == 'f')
		rc = tw_cqrs_forget_sending(q, &op, id, done, NULL);
	if (kind != '-' && rc == TW_OK)
		rc = wait_done();
	if (kind != '-' && rc == TW_OK)
		c = count_seen;
	st = rc == TW_OK ? check(q, id, email, owner) : -1;
	printf("%-40s count %lld (want %lld), then LedgerCheck %s (want %s)%s\n", what, c,
	       want_count, st >= 0 ? state_name(st) : "error", state_name(want_state),
	       rc == TW_OK && c == want_count && st == want_state ? "" : "  <-- WRONG");
	if (rc != TW_OK || c != want_count || st != want_state)
		failures++;
	if (!check_batch(q, id, email, owner, want_state)) {
		printf("%-40s batched LedgerCheck  <-- WRONG\n", what);
		failures++;
	}
}

/* LedgerCheck of a further alert's id (issue 18): @p alert_id of @p email on @p tkr, as
 * owner A. @return the verdict, or -1. */
static long long check_alert(struct tw_cqrs *q, const char *id, const char *email, const char *tkr,
			     int64_t alert_id)
{
	int rc;

	finished = 0;
	rc = tw_cqrs_ledger_check(q, &op, id, email, tkr, TW_COND_HIGHER, alert_id, "A", done,
				  NULL);
	if (rc == TW_OK)
		rc = wait_done();
	return rc == TW_OK ? count_seen : -1;
}

static void expect_alert(struct tw_cqrs *q, const char *what, const char *id, const char *email,
			 const char *tkr, int64_t alert_id, long long want)
{
	long long got = check_alert(q, id, email, tkr, alert_id);

	printf("%-40s LedgerCheck %s (want %s)\n", what, state_name(got), state_name(want));
	if (got != want)
		failures++;
}

/* A further alert's e-mails: the recipient still has that alert while it is enabled or was
 * disabled by its own "once" e-mail (AdvanceAlertRows), not once removed from the user, moved
 * to another ticker, another user's, or disabled by the user. */
static void further_alert(struct tw_cqrs *q, const char *email)
{
	static char abuf[4 * TW_CQRS_ALERT_ADVANCE_ITEM_MAX + TW_CQRS_ALERT_ADVANCE_FIXED];
	static char lbuf[TW_CQRS_LEDGER_BUF];
	struct tw_alert_spec spec = {0};
	struct tw_cqrs_idem idem = {"sent-states-add", "alert.add", 3600000};
	struct tw_alert_row row;
	struct tw_cqrs_alert_advance adv = {0};
	struct tw_cqrs_ledger_item li[2];
	int out[2] = {-1, -1};
	int64_t aid;

	spec.set = TW_AS_TICKER | TW_AS_KIND | TW_AS_LEVEL | TW_AS_FREQUENCY;
	spec.ticker = "TSLA";
	spec.kind = TW_AK_ABOVE;
	spec.level = 10;
	spec.frequency = TW_AF_ONCE;
	finished = 0;
	if (tw_cqrs_add_alert(q, &op, email, &spec, 20, &idem, &row, done, NULL) != TW_OK ||
	    wait_done() != TW_OK || row.id < 1) {
		printf("alert.add failed\n");
		failures++;
		return;
	}
	aid = row.id;
	expect_alert(q, "a further alert, enabled", "al-1", email, "TSLA", aid, TW_CQRS_SENT_NONE);
	expect_alert(q, "a further alert, another ticker", "al-1", email, "AAPL", aid,
		     TW_CQRS_SENT_GONE);
	expect_alert(q, "a further alert, another user's", "al-1", "nobody@example.test", "TSLA",
		     aid, TW_CQRS_SENT_GONE);
	expect_alert(q, "no such further alert", "al-1", email, "TSLA", aid + 1000,
		     TW_CQRS_SENT_GONE);
	/* the pass records its once e-mail: disabled "once", and the e-mail still goes */
	adv.id = aid;
	adv.episode = 0;
	adv.sent = 1;
	adv.condition = TW_COND_HIGHER;
	adv.int_part = 11;
	adv.sent_ms = 1767225600000;
	adv.disable = TW_CQRS_DISABLE_ONCE;
	finished = 0;
	if (tw_cqrs_alert_advance_rows(q, &op, &adv, 1, abuf, sizeof abuf, done, NULL) != TW_OK ||
	    wait_done() != TW_OK || count_seen != 1) {
		printf("AdvanceAlertRows of the once e-mail: count %lld (want 1)\n", count_seen);
		failures++;
	}
	finished = 0; /* the same decision again: its episode moved on, nothing changes */
	if (tw_cqrs_alert_advance_rows(q, &op, &adv, 1, abuf, sizeof abuf, done, NULL) != TW_OK ||
	    wait_done() != TW_OK || count_seen != 0) {
		printf("AdvanceAlertRows replayed: count %lld (want 0)\n", count_seen);
		failures++;
	}
	expect_alert(q, "a further alert, disabled by once", "al-1", email, "TSLA", aid,
		     TW_CQRS_SENT_NONE);
	/* enabled again by the user (episode 2), then disabled by the user (episode 3) */
	spec.set = TW_AS_ENABLED;
	idem.method = "alert.update";
	for (int on = 1; on >= 0; on--) {
		spec.enabled = on;
		idem.request_id = on ? "sent-states-on" : "sent-states-off";
		finished = 0;
		if (tw_cqrs_update_alert(q, &op, email, aid, &spec, &idem, &row, done, NULL) !=
			    TW_OK ||
		    wait_done() != TW_OK) {
			printf("alert.update enabled=%d failed\n", on);
			failures++;
		}
	}
	expect_alert(q, "a further alert, disabled by the user", "al-1", email, "TSLA", aid,
		     TW_CQRS_SENT_GONE);
	/* batched: the same verdicts, the users row's and the alert's side by side */
	li[0] = (struct tw_cqrs_ledger_item){"al-2", email, "TSLA", TW_COND_HIGHER, aid};
	li[1] = (struct tw_cqrs_ledger_item){"al-3", email, "AAPL", TW_COND_HIGHER, 0};
	finished = 0;
	if (tw_cqrs_ledger_check_batch(q, &op, li, 2, "A", out, lbuf, sizeof lbuf, done, NULL) !=
		    TW_OK ||
	    wait_done() != TW_OK || out[0] != TW_CQRS_SENT_GONE || out[1] != TW_CQRS_SENT_NONE) {
		printf("batched LedgerCheck of a disabled alert and alert 0: %s / %s (want recipient "
		       "gone / none)\n", state_name(out[0]), state_name(out[1]));
		failures++;
	}
}

int main(int argc, char **argv)
{
	char err[256];
	struct tw_cqrs *q;

	if (argc != 4) {
		fprintf(stderr, "usage: sent_states DB_URL ID EMAIL\n");
		return 2;
	}
	tw_log_set_stderr(1);
	tw_config_defaults(&ag.cfg, ag.origins);
	snprintf(ag.cfg.db.write_url, sizeof ag.cfg.db.write_url, "%s", argv[1]);
	if (tw_arena_init(&ag.arena, 1 << 20) != TW_OK ||
	    tw_loop_init(&ag.loop, &ag.arena, 16, 32) != TW_OK) {
		fprintf(stderr, "no memory\n");
		return 1;
	}
	q = tw_cqrs_open(&ag, err, sizeof err);
	if (q == NULL) {
		fprintf(stderr, "cqrs: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 3000 && !tw_cqrs_ready(q); i++)
		tw_loop_run_once(&ag.loop, 10);
	if (!tw_cqrs_ready(q)) {
		tw_cqrs_status(q, err, sizeof err);
		fprintf(stderr, "the database did not come up: %s\n", err);
		return 1;
	}
	/* the recipient: a user watching AAPL with a high threshold */
	user_email = argv[3];
	finished = 0;
	if (tw_cqrs_register_user(q, &op, argv[3], "AAPL", 100, TW_CQRS_UNSET, NULL, done, NULL) !=
		    TW_OK ||
	    wait_done() != TW_OK) {
		fprintf(stderr, "cannot register %s\n", argv[3]);
		return 1;
	}
	step(q, "nothing yet", '-', argv[2], argv[3], "A", 0, -1, TW_CQRS_SENT_NONE);
	step(q, "mark sending (new, owner A)", 'm', argv[2], argv[3], "A", 600000, 1,
	     TW_CQRS_SENT_IN_FLIGHT);
	step(q, "mark sending again (A's retry)", 'm', argv[2], argv[3], "A", 600000, 1,
	     TW_CQRS_SENT_IN_FLIGHT);
	/* issue 11, items 2 and 8: a live peer's row is not taken, nor re-sent */
	step(q, "mark sending by B (A's lease is live)", 'm', argv[2], argv[3], "B", 600000, 0,
	     TW_CQRS_SENT_HELD);
	/* a restart of agent C (owner NAME/START) takes its own predecessor's row at once, while
	 * another agent still waits for the lease */
	step(q, "forget A's row", 'f', argv[2], argv[3], "A", 0, 1, TW_CQRS_SENT_NONE);
	step(q, "mark sending (agent C, first run)", 'm', argv[2], argv[3], "C/100.1", 600000, 1,
	     TW_CQRS_SENT_IN_FLIGHT);
	step(q, "seen from agent D: C's live row", '-', argv[2], argv[3], "D/100.1", 0, -1,
	     TW_CQRS_SENT_HELD);
	step(q, "mark sending by D (C's lease is live)", 'm', argv[2], argv[3], "D/100.1", 600000, 0,
	     TW_CQRS_SENT_HELD);
	step(q, "seen from C restarted: its own row", '-', argv[2], argv[3], "C/200.2", 0, -1,
	     TW_CQRS_SENT_IN_FLIGHT);
	step(q, "mark sending by C restarted (taken at once)", 'm', argv[2], argv[3], "C/200.2",
	     600000, 1, TW_CQRS_SENT_IN_FLIGHT);
	step(q, "forget C's row", 'f', argv[2], argv[3], "C/200.2", 0, 1, TW_CQRS_SENT_NONE);
	step(q, "mark sending (owner A again)", 'm', argv[2], argv[3], "A", 600000, 1,
	     TW_CQRS_SENT_IN_FLIGHT);
	step(q, "forget sending (not taken)", 'f', argv[2], argv[3], "A", 0, 1, TW_CQRS_SENT_NONE);
	step(q, "forget again (nothing)", 'f', argv[2], argv[3], "A", 0, 0, TW_CQRS_SENT_NONE);
	/* a dead peer's lease expires: its id is taken over (sent again, same Message-ID) */
	step(q, "mark sending (owner A, 1 ms lease)", 'm', argv[2], argv[3], "A", 1, 1,
	     TW_CQRS_SENT_IN_FLIGHT);
	for (int i = 0; i < 500 && check(q, argv[2], argv[3], "B") == TW_CQRS_SENT_HELD; i++)
		tw_loop_run_once(&ag.loop, 10);
	step(q, "mark sending by B (A's lease expired)", 'm', argv[2], argv[3], "B", 600000, 1,
	     TW_CQRS_SENT_IN_FLIGHT);
	step(q, "seen from A: B's live row", '-', argv[2], argv[3], "A", 0, -1, TW_CQRS_SENT_HELD);
	step(q, "record sent (the 250)", 's', argv[2], argv[3], "B", 0, 1, TW_CQRS_SENT_DONE);
	step(q, "mark sending a sent id (kept)", 'm', argv[2], argv[3], "A", 600000, 0,
	     TW_CQRS_SENT_DONE);
	step(q, "forget a sent id (kept)", 'f', argv[2], argv[3], "A", 0, 0, TW_CQRS_SENT_DONE);
	step(q, "record sent again", 's', argv[2], argv[3], "A", 0, 1, TW_CQRS_SENT_DONE);
	/* issue 11, item 10: the recipient must still have that alert */
	step(q, "another id, no such user", '-', "other-id", "nobody@example.test", "A", 0, -1,
	     TW_CQRS_SENT_GONE);
	ticker = "MSFT";
	step(q, "another id, the user's other ticker", '-', "other-id", argv[3], "A", 0, -1,
	     TW_CQRS_SENT_GONE);
	ticker = "AAPL";
	condition = TW_COND_LOWER;
	step(q, "another id, no low threshold", '-', "other-id", argv[3], "A", 0, -1,
	     TW_CQRS_SENT_GONE);
	condition = TW_COND_HIGHER;
	step(q, "another id, the user's alert", '-', "other-id", argv[3], "A", 0, -1,
	     TW_CQRS_SENT_NONE);
	step(q, "a sent id stays sent for a gone user", '-', argv[2], "nobody@example.test", "A", 0,
	     -1, TW_CQRS_SENT_DONE);
	/* RecordSent of several ids in one statement: each 'sent' (an id twice: written once), and
	 * a 'sending' row among them taken to 'sent' as RecordSent does */
	{
		static char buf[TW_CQRS_LEDGER_BUF];
		char a[TW_CQRS_NOTIF_ID_MAX + 1], b[TW_CQRS_NOTIF_ID_MAX + 1];
		struct tw_cqrs_ledger_item li[3] = {
			{a, argv[3], NULL, 0, 0}, {b, argv[3], NULL, 0, 0}, {a, argv[3], NULL, 0, 0}};
		int rc;

		snprintf(a, sizeof a, "rec-a-%.100s", argv[2]);
		snprintf(b, sizeof b, "rec-b-%.100s", argv[2]);
		step(q, "mark sending (second id, owner A)", 'm', b, argv[3], "A", 600000, 1,
		     TW_CQRS_SENT_IN_FLIGHT);
		finished = 0;
		rc = tw_cqrs_record_sent_batch(q, &op, li, 3, buf, sizeof buf, done, NULL);
		if (rc == TW_OK)
			rc = wait_done();
		printf("%-40s rc %d count %lld (want 0, 3)\n", "record sent, batched", rc, count_seen);
		if (rc != TW_OK || count_seen != 3)
			failures++;
		step(q, "first id after the batched record", '-', a, argv[3], "A", 0, -1,
		     TW_CQRS_SENT_DONE);
		step(q, "second id after the batched record", '-', b, argv[3], "A", 0, -1,
		     TW_CQRS_SENT_DONE);
	}
	further_alert(q, argv[3]);
	tw_cqrs_close(q);
	tw_arena_free(&ag.arena);
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}
