/* SPDX-License-Identifier: MIT */
/* cli.c - `tickwatch db migrate`: apply the schema outside the agent, with bounded waits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "migrate.h"

extern char **environ;

static const char *const usage =
	"usage: tickwatch db migrate [--config FILE]\n"
	"\n"
	"Apply the embedded schema migrations to [db] write_url (the agent also does this at\n"
	"start). Safe to run while agents start: the migrations take an advisory lock.\n"
	"Exit codes: 0 schema up to date, 1 database error or unreachable, 2 usage.\n";

struct cli_run {
	struct tw_db db;
	struct tw_db_migrate mig;
	int finished;
	int rc;
	char msg[1024]; /* the outcome, libpq's whole message included */
};

static void migrated(void *arg, int rc, const char *msg)
{
	struct cli_run *r = arg;

	r->finished = 1;
	r->rc = rc;
	snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static void ready(struct tw_db *db, void *arg)
{
	struct cli_run *r = arg;

	if (r->mig.job.active || r->finished)
		return;
	if (tw_db_migrate_start(db, &r->mig, migrated, r) != TW_OK)
		migrated(r, TW_ERR_DB_UNAVAILABLE, "cannot queue the migration");
}

int tw_db_cli_main(int argc, char **argv)
{
	static struct tw_config cfg;
	static struct cli_run run;
	struct tw_arena arena = {0};
	struct tw_loop loop;
	char err[TW_CFG_ERR_LEN], red[600];
	const char *path = getenv("TICKWATCH_CONFIG");
	tw_mono_t deadline;
	int i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
	}
	if (strcmp(argv[1], "migrate") != 0) {
		fprintf(stderr, "tickwatch: db: unknown subcommand '%s'\n%s", argv[1], usage);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else {
			fprintf(stderr, "tickwatch: db migrate: unexpected argument '%s'\n%s",
				argv[i], usage);
			return 2;
		}
	}
	if (tw_config_load(&cfg, NULL, path, environ, err, sizeof err) != TW_OK) {
		fprintf(stderr, "tickwatch: %s\n", err);
		return 1;
	}
	/* The command prints its own outcome; the db layer's progress lines ("retrying in
	 * 250 ms" before it gives up here) only at log_level = debug. */
	tw_log_threshold = cfg.agent.log_level >= TW_LOG_DEBUG ? TW_LOG_DEBUG : TW_LOG_WARN;
	if (cfg.agent.log_level < TW_LOG_WARN)
		tw_log_threshold = (int)cfg.agent.log_level;
	if (tw_arena_init(&arena, (size_t)64 * 1024) != TW_OK ||
	    tw_loop_init(&loop, &arena, 8, 8) != TW_OK) {
		fprintf(stderr, "tickwatch: db migrate: out of memory\n");
		tw_arena_free(&arena);
		return 1;
	}
	memset(&run, 0, sizeof run);
	if (tw_db_open(&run.db, &loop, "write", cfg.db.write_url, cfg.db.connect_timeout_ms,
		       cfg.db.statement_timeout_ms, ready, &run, err, sizeof err) != TW_OK) {
		fprintf(stderr, "tickwatch: db migrate: %s\n", err);
		tw_arena_free(&arena);
		return 1;
	}
	/* bounded: a connect, then the migration's statements each within statement_timeout */
	deadline = tw_hal_now() +
		   (cfg.db.connect_timeout_ms + 4 * cfg.db.statement_timeout_ms) * TW_MONO_PER_MS;
	while (!run.finished && tw_hal_now() < deadline) {
		if (run.db.state == TW_DB_S_BACKOFF) {
			snprintf(run.msg, sizeof run.msg, "cannot connect to %s: %s",
				 tw_log_redact(cfg.db.write_url, red, sizeof red), run.db.last_err);
			run.rc = TW_ERR_DB_UNAVAILABLE;
			run.finished = 1;
			break;
		}
		tw_loop_run_once(&loop, 200);
	}
	if (!run.finished) {
		run.rc = TW_ERR_TIMEOUT;
		snprintf(run.msg, sizeof run.msg, "no answer from the database within the time-out");
	}
	tw_db_close(&run.db);
	tw_arena_free(&arena);
	for (char *p = run.msg; *p; p++) {
		if (*p == '\n')
			*p = ' ';
	}
	if (run.rc != TW_OK) {
		fprintf(stderr, "tickwatch: db migrate: %s\n", run.msg);
		return 1;
	}
	printf("%s\n", run.msg);
	return 0;
}
