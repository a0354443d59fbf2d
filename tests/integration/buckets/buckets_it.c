/* SPDX-License-Identifier: MIT */
/* buckets_it.c - agent/cqrs/buckets.c against a real PostgreSQL: sessions standing in for
 * agents claim [quotes] shards buckets as session advisory locks. Checked after every round of
 * claims, against pg_locks read on a connection of its own: every bucket is held by exactly one
 * session (none twice, none left over once every agent has claimed twice), each agent holds at
 * most ceil(N / agents); an agent that joins gets its share; the buckets of an agent whose
 * session ends (a SIGKILL closes it the same way) are taken at the survivors' next claim; and
 * the admin report's single bucket is held by one agent at a time and taken over.
 *
 * buckets_it DB_URL: prints one line per check and "ok"; exit 0 when every check held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "cqrs/buckets.h"

#define N 8
#define MAXA 4

static struct tw_agent ag;
static struct tw_buckets agents[MAXA], admins[2];
static struct tw_db spy;
static struct tw_db_job spy_job;
static int pending, failures, spy_done, spy_rows;
static int spy_count[TW_BUCKETS_MAX];
static const char *url;

static void claimed(struct tw_buckets *b, int rc, void *arg)
{
	(void)arg;
	pending--;
	if (rc != TW_OK) {
		fprintf(stderr, "  claim failed: %s\n", b->err);
		failures++;
	}
}

static void run_until(int *flag_zero_or_done, int want)
{
	for (int i = 0; i < 3000 && *flag_zero_or_done != want; i++)
		tw_loop_run_once(&ag.loop, 10);
}

static void claim(struct tw_buckets *b)
{
	pending++;
	if (tw_buckets_claim(b, claimed, NULL) != TW_OK) {
		fprintf(stderr, "  claim not sent: %s\n", b->err);
		pending--;
		failures++;
		return;
	}
	run_until(&pending, 0);
}

static int spy_step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	(void)arg;
	if (ev == TW_DB_FAIL) {
		fprintf(stderr, "  pg_locks query failed: %s\n", j->err);
		failures++;
		spy_done = 1;
		return 0;
	}
	if (ev == TW_DB_DONE) {
		spy_rows = tw_db_rows(res);
		for (int r = 0; r < spy_rows; r++) {
			const char *v = tw_db_value(res, r, 0);
			int i = v ? atoi(v) : -1;

			if (i >= 0 && i < TW_BUCKETS_MAX)
				spy_count[i]++;
		}
		spy_done = 1;
	}
	return 0;
}

/* What PostgreSQL says: the granted bucket locks of namespace @ns. */
static void read_locks(int ns)
{
	char k[16];
	const char *p[1] = {k};

	memset(spy_count, 0, sizeof spy_count);
	snprintf(k, sizeof k, "%d", ns);
	spy_done = 0;
	if (tw_db_submit(&spy, &spy_job,
			 "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND "
			 "granted AND classid = $1::integer::oid AND database = (SELECT oid FROM "
			 "pg_database WHERE datname = current_database())",
			 1, p, 0, spy_step, NULL) != TW_OK) {
		failures++;
		return;
	}
	run_until(&spy_done, 1);
}

static void check(int cond, const char *what)
{
	printf("%s - %s\n", cond ? "ok" : "FAIL", what);
	if (!cond)
		failures++;
}

/* Every bucket held once (by the module's view and by pg_locks), shares within ceil(N/live). */
static void check_split(int live, const char *when)
{
	char line[256], st[128];
	int owners[N] = {0}, ok = 1, share = (N + live - 1) / live;

	read_locks(TW_BUCKETS_NS_COLLECT);
	for (int a = 0; a < MAXA; a++) {
		if (!agents[a].open)
			continue;
		if (agents[a].nheld > share)
			ok = 0;
		for (int i = 0; i < N; i++)
			owners[i] += tw_buckets_holds(&agents[a], i);
		printf("  agent %d: %s\n", a, tw_buckets_status(&agents[a], st, sizeof st));
	}
	for (int i = 0; i < N; i++)
		if (owners[i] != 1 || spy_count[i] != 1)
			ok = 0;
	snprintf(line, sizeof line, "%s: each of the %d buckets held by exactly one of %d agents "
		 "(pg_locks agrees), none above %d", when, N, live, share);
	check(ok && spy_rows == N, line);
}

static void open_one(struct tw_buckets *b, int ns, int n)
{
	char err[256];

	memset(b, 0, sizeof *b);
	if (tw_buckets_open(b, &ag.loop, url, 10000, 15000, ns, n, err, sizeof err) != TW_OK) {
		fprintf(stderr, "open: %s\n", err);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char err[256];

	if (argc != 2) {
		fprintf(stderr, "usage: buckets_it DB_URL\n");
		return 2;
	}
	url = argv[1];
	tw_log_set_stderr(1);
	if (tw_arena_init(&ag.arena, 1 << 20) != TW_OK ||
	    tw_loop_init(&ag.loop, &ag.arena, 16, 64) != TW_OK)
		return 1;
	if (tw_db_open(&spy, &ag.loop, "spy", url, 10000, 15000, NULL, NULL, err, sizeof err) != 0)
		return 1;
	open_one(&agents[0], TW_BUCKETS_NS_COLLECT, N);
	claim(&agents[0]);
	claim(&agents[0]); /* a second claim keeps what it has (locks are re-entrant: no pile-up) */
	check_split(1, "one agent");
	check(agents[0].nheld == N && agents[0].members == 1, "one agent holds all 8 buckets");

	open_one(&agents[1], TW_BUCKETS_NS_COLLECT, N);
	claim(&agents[1]);
	check(agents[1].nheld == 0 && agents[1].members == 2,
	      "a joining agent finds no free bucket at its first claim");
	claim(&agents[0]);
	claim(&agents[1]);
	check_split(2, "two agents after one claim each");

	open_one(&agents[2], TW_BUCKETS_NS_COLLECT, N);
	for (int r = 0; r < 2; r++)
		for (int a = 2; a >= 0; a--)
			claim(&agents[a]);
	check_split(3, "three agents after two claims each");

	/* agent 1 dies: its session ends and its locks with it */
	tw_buckets_close(&agents[1]);
	for (int i = 0; i < 100; i++)
		tw_loop_run_once(&ag.loop, 10);
	claim(&agents[0]);
	claim(&agents[2]);
	check_split(2, "after agent 1's session ended, the survivors' next claim");

	/* a fourth agent joins the two */
	open_one(&agents[3], TW_BUCKETS_NS_COLLECT, N);
	for (int r = 0; r < 2; r++)
		for (int a = 3; a >= 0; a--)
			if (agents[a].open)
				claim(&agents[a]);
	check_split(3, "a fourth agent joined, two claims each");

	/* the admin report: one bucket, one holder, taken over when it goes */
	open_one(&admins[0], TW_BUCKETS_NS_ADMIN, 1);
	open_one(&admins[1], TW_BUCKETS_NS_ADMIN, 1);
	claim(&admins[0]);
	claim(&admins[1]);
	claim(&admins[0]);
	claim(&admins[1]);
	read_locks(TW_BUCKETS_NS_ADMIN);
	check(tw_buckets_holds(&admins[0], 0) && !tw_buckets_holds(&admins[1], 0) &&
	      spy_count[0] == 1 && spy_rows == 1, "one admin holds the report lock, the other "
	      "stands by");
	tw_buckets_close(&admins[0]);
	for (int i = 0; i < 100; i++)
		tw_loop_run_once(&ag.loop, 10);
	claim(&admins[1]);
	read_locks(TW_BUCKETS_NS_ADMIN);
	check(tw_buckets_holds(&admins[1], 0) && spy_count[0] == 1 && spy_rows == 1,
	      "the standby takes the report lock at its next claim");

	for (int a = 0; a < MAXA; a++)
		tw_buckets_close(&agents[a]);
	tw_buckets_close(&admins[1]);
	tw_db_close(&spy);
	if (failures) {
		printf("%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
