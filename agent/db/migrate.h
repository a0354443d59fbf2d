/* SPDX-License-Identifier: MIT */
/* migrate.h - the embedded, numbered schema migrations, applied under an advisory lock. */
#ifndef TW_DB_MIGRATE_H
#define TW_DB_MIGRATE_H

#include "db.h"

/** Advisory lock key taken (per transaction) while migrating: two agents starting together wait. */
#define TW_DB_MIGRATE_LOCK 7470011

struct tw_db_migration {
	int version;
	const char *name;
	const char *sql; /* embedded SQL, several statements, no user data */
};

/** The migrations in order; their count in *n. */
const struct tw_db_migration *tw_db_migrations(size_t *n);

typedef void (*tw_db_migrate_fn)(void *arg, int rc, const char *msg);

/** A migration run; caller-owned. */
struct tw_db_migrate {
	struct tw_db_job job;
	int step;
	int from;     /* schema version found (the highest recorded) */
	uint64_t have; /* bit v set: version v (1..62) is recorded */
	size_t next;  /* index of the next migration to apply */
	int applied;  /* migrations applied by this run */
	tw_db_migrate_fn done;
	void *arg;
	char msg[TW_DB_ERR_LEN];
};

/**
 * Bring the schema to the latest version in ONE transaction holding the
 * advisory lock: BEGIN, lock, read the version, apply what is missing, COMMIT.
 * Runs first in @p db's queue. @p done gets 0 and "schema at version N (applied M)"
 * or a negative error and its text. @return 0 or the submit error.
 */
int tw_db_migrate_start(struct tw_db *db, struct tw_db_migrate *m, tw_db_migrate_fn done,
			void *arg);

/** @return the latest schema version this binary knows. */
int tw_db_schema_version(void);

/** `tickwatch db ...` (argv[0] == "db"): migrate, with bounded waits. @return the exit code. */
int tw_db_cli_main(int argc, char **argv);

#endif
