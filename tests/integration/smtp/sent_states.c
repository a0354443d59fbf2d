/* SPDX-License-Identifier: MIT */
/* sent_states.c - the notifier's two-phase record (MarkSending, RecordSent, ForgetSending, IsSent)
 * against a real PostgreSQL: each transition's count and the state IsSent reports afterwards.
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
	return c == TW_CQRS_SENT_NONE ? "none" : c == TW_CQRS_SENT_DONE ? "sent" : "sending";
}

static int failures;

/* One step: @p kind m (mark), s (record sent), f (forget), then IsSent; expected counts. */
static void step(struct tw_cqrs *q, const char *what, char kind, const char *id, const char *email,
		 long long want_count, long long want_state)
{
	int rc;
	long long c = -1;

	finished = 0;
	rc = kind == 'm' ? tw_cqrs_mark_sending(q, &op, id, email, done, NULL)
	     : kind == 's' ? tw_cqrs_record_sent(q, &op, id, email, done, NULL)
			   : tw_cqrs_forget_sending(q, &op, id, done, NULL);
	if (rc == TW_OK)
		rc = wait_done();
	if (rc == TW_OK)
		c = count_seen;
	finished = 0;
	rc = rc == TW_OK ? tw_cqrs_is_sent(q, &op, id, done, NULL) : rc;
	if (rc == TW_OK)
		rc = wait_done();
	printf("%-34s count %lld (want %lld), then IsSent %s (want %s)%s\n", what, c, want_count,
	       rc == TW_OK ? state_name(count_seen) : "error", state_name(want_state),
	       rc == TW_OK && c == want_count && count_seen == want_state ? "" : "  <-- WRONG");
	if (rc != TW_OK || c != want_count || count_seen != want_state)
		failures++;
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
	step(q, "mark sending (new)", 'm', argv[2], argv[3], 1, TW_CQRS_SENT_IN_FLIGHT);
	step(q, "mark sending again (retry)", 'm', argv[2], argv[3], 1, TW_CQRS_SENT_IN_FLIGHT);
	step(q, "forget sending (not taken)", 'f', argv[2], argv[3], 1, TW_CQRS_SENT_NONE);
	step(q, "forget again (nothing)", 'f', argv[2], argv[3], 0, TW_CQRS_SENT_NONE);
	step(q, "mark sending", 'm', argv[2], argv[3], 1, TW_CQRS_SENT_IN_FLIGHT);
	step(q, "record sent (the 250)", 's', argv[2], argv[3], 1, TW_CQRS_SENT_DONE);
	step(q, "mark sending a sent id (kept)", 'm', argv[2], argv[3], 0, TW_CQRS_SENT_DONE);
	step(q, "forget a sent id (kept)", 'f', argv[2], argv[3], 0, TW_CQRS_SENT_DONE);
	step(q, "record sent again", 's', argv[2], argv[3], 1, TW_CQRS_SENT_DONE);
	tw_cqrs_close(q);
	tw_arena_free(&ag.arena);
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}
