/* SPDX-License-Identifier: MIT */
/* advance_cas.c - AdvanceAlert's compare-and-set against a real PostgreSQL, driven through the cqrs
 * calls the alert role makes: a threshold or ticker change (or a deletion and new registration)
 * that lands between a crossing decision and its advance is not overwritten by the advance, and
 * [db] retention's Prune deletes old rows in batches and keeps the new ones; and with [db]
 * read_url on a streaming replica held behind (replay paused), the crossing query still reads
 * the primary while user-facing queries read the replica.
 *
 * advance_cas DB_URL cas|prune|replica-setup|replica-check [READ_URL]: prints one line per
 * check and "ok" at the end; exit 0 when every check held, 1 otherwise. The database must be
 * fresh and migrated by this program (it is the first client); test_advance_cas.sh and
 * test_replica.sh make one and check rows with psql as well.
 */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "cqrs/cqrs.h"

static struct tw_agent ag;
static struct tw_cqrs *q;
static struct tw_cqrs_op op;
static int finished, rc_seen, failures;
static long long count_seen;

/* The crossing row of the user looked for, copied. */
static struct {
	const char *want;
	int found, has_last;
	long long episode, generation, last_int;
	double value;
	char ticker[TW_CQRS_TICKER_MAX + 1];
	int condition;
} row;

static void done(void *arg, const struct tw_cqrs_result *r)
{
	(void)arg;
	finished = 1;
	rc_seen = r->rc;
	count_seen = r->count;
	if (r->rc != TW_OK)
		fprintf(stderr, "  error %d: %s\n", r->rc, r->msg);
}

/* Run the loop until the operation is done; bounded (the statement time-out is 15 s). */
static int wait_done(int rc)
{
	if (rc != TW_OK) {
		fprintf(stderr, "  refused: %s\n", tw_cqrs_op_result(&op)->msg);
		return rc;
	}
	for (int i = 0; i < 3000 && !finished; i++)
		tw_loop_run_once(&ag.loop, 10);
	rc = finished ? rc_seen : TW_ERR_TIMEOUT;
	finished = 0;
	return rc;
}

static void check(int ok, const char *what)
{
	printf("%-72s %s\n", what, ok ? "ok" : "<-- WRONG");
	if (!ok)
		failures++;
}

static int on_row(void *arg, const struct tw_crossing *c)
{
	(void)arg;
	if (strcmp(c->email, row.want) != 0)
		return 0;
	row.found = 1;
	row.has_last = c->has_last;
	row.episode = c->episode;
	row.generation = c->generation;
	row.last_int = c->last_int;
	row.value = c->value;
	row.condition = c->condition;
	snprintf(row.ticker, sizeof row.ticker, "%s", c->ticker);
	return 0;
}

/* The alert pass's read: UsersCrossingThresholds, the row of @p email. @return 1 found. */
static int crossing(const char *email)
{
	memset(&row, 0, sizeof row);
	row.want = email;
	if (wait_done(tw_cqrs_users_crossing_page(q, &op, NULL, "", 1000, on_row, done, NULL)) !=
	    TW_OK)
		return -1;
	return row.found;
}

/* The alert role's advance of the decision in `row`. @return users advanced, or -1. */
static long long advance(const char *email)
{
	static char buf[4096];
	struct tw_cqrs_advance it = {
		.email = email, .ticker = row.ticker, .condition = row.condition,
		.int_part = (int64_t)row.value, .episode = row.episode, .generation = row.generation,
	};

	if (wait_done(tw_cqrs_advance_alerts(q, &op, &it, 1, buf, sizeof buf, done, NULL)) != TW_OK)
		return -1;
	return count_seen;
}

static int quote(const char *ticker, double v, int64_t at_ms)
{
	return wait_done(tw_cqrs_save_quote(q, &op, ticker, v, at_ms, done, NULL));
}

static int64_t now_ms(void)
{
	return tw_hal_wall_ms();
}

/* A threshold change between the decision and its advance: the re-arm stands. */
static void threshold_race(int first)
{
	const char *e = first ? "first@cas.test" : "again@cas.test";
	const char *t = first ? "CASA" : "CASB";
	char what[160];
	long long n;

	wait_done(tw_cqrs_register_user(q, &op, e, t, 100, TW_CQRS_UNSET, NULL, done, NULL));
	quote(t, 150.5, now_ms() - 60000);
	if (!first) {
		/* an earlier e-mail (150), advanced, then a new integer part (160) */
		crossing(e);
		check(advance(e) == 1, "again: the first crossing (150) advances");
		quote(t, 160.5, now_ms() - 30000);
	}
	check(crossing(e) == 1 && (first ? !row.has_last : row.has_last && row.last_int == 150),
	      first ? "first: crossing, never e-mailed: decided to send at episode 0"
		    : "again: crossing at 160, last e-mail 150: decided to send");
	/* ... the message is produced; before its advance, the user changes the threshold */
	check(wait_done(tw_cqrs_update_thresholds(q, &op, e, 120, TW_CQRS_UNSET, NULL, done,
						  NULL)) == TW_OK,
	      "the user sets high = 120 while the advance is in flight");
	n = advance(e);
	snprintf(what, sizeof what, "%s: the advance decided before the change advances nobody (%lld)",
		 first ? "first" : "again", n);
	check(n == 0, what);
	check(crossing(e) == 1 && !row.has_last,
	      "the re-arm stands: the next pass sends for the new threshold");
	/* and the next decision advances normally */
	check(advance(e) == 1, "the next pass's advance (at the new episode) advances");
	check(crossing(e) == 1 && row.has_last, "... and suppresses the same crossing after it");
}

/* A ticker change racing the advance, and RearmInsideBand doing the same. */
static void ticker_race(void)
{
	const char *e = "ticker@cas.test";

	wait_done(tw_cqrs_register_user(q, &op, e, "CASC", 100, TW_CQRS_UNSET, NULL, done, NULL));
	quote("CASC", 150.5, now_ms() - 60000);
	quote("CASD", 150.7, now_ms() - 60000);
	crossing(e);
	check(wait_done(tw_cqrs_update_ticker(q, &op, e, "CASD", NULL, done, NULL)) == TW_OK,
	      "the user changes the ticker to CASD while the advance is in flight");
	check(advance(e) == 0, "ticker: the advance decided on CASC advances nobody");
	check(crossing(e) == 1 && !row.has_last && strcmp(row.ticker, "CASD") == 0,
	      "ticker: the re-arm stands: CASD is sent at the next pass");
}

/* Deleted and registered again between the decision and its advance: another user now. */
static void generation_race(void)
{
	const char *e = "reborn@cas.test";
	long long g1;

	wait_done(tw_cqrs_register_user(q, &op, e, "CASE", 100, TW_CQRS_UNSET, NULL, done, NULL));
	quote("CASE", 150.5, now_ms() - 60000);
	crossing(e);
	check(advance(e) == 1, "reborn: first life's crossing advances");
	quote("CASE", 160.5, now_ms() - 30000);
	crossing(e);
	g1 = row.generation;
	check(g1 > 0, "reborn: a user registered after migration 4 has a generation > 0");
	check(wait_done(tw_cqrs_delete_user(q, &op, e, NULL, done, NULL)) == TW_OK &&
		      wait_done(tw_cqrs_register_user(q, &op, e, "CASE", 100, TW_CQRS_UNSET, NULL,
						      done, NULL)) == TW_OK,
	      "reborn: deleted and registered again while the advance is in flight");
	check(advance(e) == 0, "reborn: the first life's advance does not touch the new user");
	{
		long long ep = row.episode;

		check(crossing(e) == 1 && !row.has_last && row.generation > g1 && row.episode == 0,
		      "reborn: the new user is armed, episode 0, a new generation");
		check(ep >= 1, "reborn: (its first life was at episode >= 1)");
	}
}

/* Retention: rows older than the age go, in batches of the limit; newer ones stay. */
static void prune(void)
{
	static const int tables[] = {TW_CQRS_PRUNE_SENT, TW_CQRS_PRUNE_DEAD,
				     TW_CQRS_PRUNE_REQUESTS, TW_CQRS_PRUNE_QUOTES};
	static const char *const names[] = {"sent_notifications", "dead_letters", "rpc_requests",
					    "quotes"};
	char what[160];

	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
		long long got[4];
		int k;

		/* the script filled 25 rows older than 40 days and 5 newer in each table (quotes:
		 * of ticker OLDQ, whose latest quote is old too and must stay) */
		for (k = 0; k < 4; k++) {
			if (wait_done(tw_cqrs_prune(q, &op, tables[t], 30LL * 86400000, 10, done,
						    NULL)) != TW_OK) {
				got[k] = -1;
				continue;
			}
			got[k] = count_seen;
		}
		snprintf(what, sizeof what, "prune %s: batches of 10 delete %lld, %lld, %lld, %lld",
			 names[t], got[0], got[1], got[2], got[3]);
		if (tables[t] == TW_CQRS_PRUNE_QUOTES)
			check(got[0] == 10 && got[1] == 10 && got[2] == 4 && got[3] == 0, what);
		else
			check(got[0] == 10 && got[1] == 10 && got[2] == 5 && got[3] == 0, what);
	}
	check(tw_cqrs_prune(q, &op, TW_CQRS_PRUNE_SENT, 0, 10, done, NULL) == TW_ERR_CQRS_INVALID,
	      "prune refuses an age of 0");
	check(tw_cqrs_prune(q, &op, TW_CQRS_PRUNE_SENT, 1000, TW_CQRS_PRUNE_MAX + 1, done, NULL) ==
		      TW_ERR_CQRS_INVALID,
	      "prune refuses a batch above TW_CQRS_PRUNE_MAX");
}

/* GetUser's answer (the read connection). */
static struct tw_user got_user;

static void user_done(void *arg, const struct tw_cqrs_result *r)
{
	done(arg, r);
	if (r->user)
		got_user = *r->user;
}

/* Before the replica is paused: a user below its threshold, and a quote. */
static void replica_setup(void)
{
	check(wait_done(tw_cqrs_register_user(q, &op, "lag@replica.test", "REPL", 200,
					      TW_CQRS_UNSET, NULL, done, NULL)) == TW_OK,
	      "replica: user lag@replica.test, high 200");
	check(quote("REPL", 150.5, now_ms() - 60000) == TW_OK, "replica: REPL quoted at 150.5");
	check(crossing("lag@replica.test") == 0, "replica: not crossing (150.5 < 200)");
}

/* With the replica's replay paused: a threshold change on the primary. */
static void replica_check(void)
{
	check(wait_done(tw_cqrs_update_thresholds(q, &op, "lag@replica.test", 100, TW_CQRS_UNSET,
						  NULL, done, NULL)) == TW_OK,
	      "replica: high set to 100 on the primary (replay paused on the replica)");
	memset(&got_user, 0, sizeof got_user);
	check(wait_done(tw_cqrs_get_user(q, &op, "lag@replica.test", user_done, NULL)) == TW_OK &&
		      got_user.has_high && got_user.high == 200,
	      "replica: GetUser (user-facing, read_url) still reads high 200: the replica lags");
	check(crossing("lag@replica.test") == 1 && row.condition == TW_COND_HIGHER &&
		      !row.has_last,
	      "replica: the alert pass's crossing query sees the change (it reads the writer)");
}

int main(int argc, char **argv)
{
	char err[256];

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: advance_cas DB_URL cas|prune|replica-setup|replica-check "
			"[READ_URL]\n");
		return 2;
	}
	tw_log_set_stderr(1);
	tw_config_defaults(&ag.cfg, ag.origins);
	snprintf(ag.cfg.db.write_url, sizeof ag.cfg.db.write_url, "%s", argv[1]);
	if (argc == 4) { /* a read_url of its own: it no longer follows write_url */
		snprintf(ag.cfg.db.read_url, sizeof ag.cfg.db.read_url, "%s", argv[3]);
		ag.cfg.db.read_follows = 0;
	}
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
	if (strcmp(argv[2], "prune") == 0) {
		prune();
	} else if (strcmp(argv[2], "replica-setup") == 0) {
		replica_setup();
	} else if (strcmp(argv[2], "replica-check") == 0) {
		replica_check();
	} else {
		threshold_race(1);
		threshold_race(0);
		ticker_race();
		generation_race();
	}
	tw_cqrs_close(q);
	tw_arena_free(&ag.arena);
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}
