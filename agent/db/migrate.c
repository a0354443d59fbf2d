/* SPDX-License-Identifier: MIT */
/* migrate.c - embedded numbered migrations, applied in one transaction under an advisory lock;
 * every migration not recorded yet is applied, even below the highest recorded one; then e-mail
 * case collisions left by migration 6 are reported (warned), never merged. */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* An address with its domain (after the last '@') lower-cased, as tw_cqrs_fold_email does. */
#define FOLD(col)                                                                              \
	"(left(" col ", length(" col ") - length(substring(" col " from '[^@]*$')))"           \
	" || lower(substring(" col " from '[^@]*$')))"

/* Rows migration 6 left unfolded because another row has the same folded address (the
 * partial index keeps this cheap: it is empty unless such rows exist). */
static const char sql_collisions[] =
	"SELECT u.email, coalesce((SELECT string_agg(o.email, ', ' ORDER BY o.email) FROM users o"
	" WHERE o.email <> u.email AND " FOLD("o.email") " = " FOLD("u.email") "), '')"
	" FROM users u WHERE u.email <> " FOLD("u.email") " ORDER BY u.email LIMIT 21";

/* Keep in step with docs/schema.md. Never edit an applied migration: add the next one. */
static const struct tw_db_migration migrations[] = {
	{1, "users, quotes, rpc_requests",
	 "CREATE TABLE users ("
	 " email text PRIMARY KEY CHECK (length(email) BETWEEN 3 AND 254),"
	 " ticker text NOT NULL CHECK (length(ticker) <= 15"
	 "  AND ticker ~ '^\\^?[A-Z0-9]([A-Z0-9.=-]*[A-Z0-9])?$'),"
	 " high double precision CHECK (high > 0 AND high < 'Infinity'),"
	 " low double precision CHECK (low > 0 AND low < 'Infinity'),"
	 " created_at timestamptz NOT NULL DEFAULT now(),"
	 " updated_at timestamptz NOT NULL DEFAULT now(),"
	 " CONSTRAINT users_high_above_low CHECK (high IS NULL OR low IS NULL OR high > low));"
	 "CREATE INDEX users_ticker_idx ON users (ticker);"
	 "CREATE TABLE quotes ("
	 " ticker text NOT NULL,"
	 " at timestamptz NOT NULL,"
	 " value double precision NOT NULL CHECK (value > 0 AND value < 'Infinity'),"
	 " received_at timestamptz NOT NULL DEFAULT now(),"
	 " PRIMARY KEY (ticker, at));"
	 "CREATE TABLE rpc_requests ("
	 " request_id text PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND 64),"
	 " method text NOT NULL,"
	 " params_hash text NOT NULL,"
	 " response text,"
	 " created_at timestamptz NOT NULL DEFAULT now());"
	 "CREATE INDEX rpc_requests_created_idx ON rpc_requests (created_at);"},
	{2, "alert_state, sent_notifications, dead_letters",
	 "CREATE TABLE alert_state ("
	 " email text PRIMARY KEY REFERENCES users (email) ON DELETE CASCADE ON UPDATE CASCADE,"
	 " last_ticker text,"
	 " last_condition text CHECK (last_condition IN ('higher', 'lower')),"
	 " last_int bigint,"
	 " episode bigint NOT NULL DEFAULT 0 CHECK (episode >= 0),"
	 " notified_at timestamptz,"
	 " updated_at timestamptz NOT NULL DEFAULT now(),"
	 " CONSTRAINT alert_state_last_complete CHECK ((last_ticker IS NULL) = (last_condition IS NULL)"
	 "  AND (last_condition IS NULL) = (last_int IS NULL)));"
	 "CREATE TABLE sent_notifications ("
	 " notification_id text PRIMARY KEY CHECK (length(notification_id) BETWEEN 1 AND 128),"
	 " email text NOT NULL,"
	 " sent_at timestamptz NOT NULL DEFAULT now());"
	 "CREATE INDEX sent_notifications_sent_at_idx ON sent_notifications (sent_at);"
	 "CREATE TABLE dead_letters ("
	 " id bigserial PRIMARY KEY,"
	 " notification_id text NOT NULL,"
	 " email text NOT NULL,"
	 " payload text NOT NULL,"
	 " reason text NOT NULL,"
	 " attempts integer NOT NULL CHECK (attempts >= 0),"
	 " created_at timestamptz NOT NULL DEFAULT now());"
	 "CREATE INDEX dead_letters_created_idx ON dead_letters (created_at);"},
	{3, "sent_notifications.state (sending | sent)",
	 "ALTER TABLE sent_notifications ADD COLUMN state text NOT NULL DEFAULT 'sent'"
	 " CHECK (state IN ('sending', 'sent'));"
	 "CREATE INDEX sent_notifications_sending_idx ON sent_notifications (sent_at)"
	 " WHERE state = 'sending';"},
	/* A user's generation is part of every notification id (agent/notif), so a user deleted
	 * and registered again never reuses an id of its earlier life; rows already there keep
	 * 0, the ids they had. notif_key: the one HMAC key the alert roles sign to-notifier
	 * messages with and the notifiers verify (docs/notifications.md). quotes_at_idx: the
	 * retention prune's walk (docs/schema.md). */
	{4, "users.generation, notif_key (the to-notifier signing key), quotes_at_idx",
	 "CREATE SEQUENCE users_generation_seq AS bigint MINVALUE 1;"
	 "ALTER TABLE users ADD COLUMN generation bigint NOT NULL DEFAULT 0 CHECK (generation >= 0);"
	 "ALTER TABLE users ALTER COLUMN generation SET DEFAULT nextval('users_generation_seq');"
	 "ALTER SEQUENCE users_generation_seq OWNED BY users.generation;"
	 "CREATE TABLE notif_key ("
	 " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
	 " key text NOT NULL CHECK (key ~ '^[0-9a-f]{64}$'),"
	 " created_at timestamptz NOT NULL DEFAULT now());"
	 "INSERT INTO notif_key (key) VALUES (replace(gen_random_uuid()::text"
	 " || gen_random_uuid()::text, '-', ''));"
	 "CREATE INDEX quotes_at_idx ON quotes (at);"},
	{5, "sent_notifications.owner, lease_until (a 'sending' row's holder and its expiry)",
	 "ALTER TABLE sent_notifications ADD COLUMN owner text"
	 " CHECK (owner IS NULL OR length(owner) BETWEEN 1 AND 64),"
	 " ADD COLUMN lease_until timestamptz;"},
	/* 4 belongs to another branch; the loop below skips versions already applied. */
	{6, "users.email: domain folded to lower case (collisions reported, not merged)",
	 "UPDATE users u SET email = " FOLD("u.email") ", updated_at = now()"
	 " WHERE u.email <> " FOLD("u.email")
	 " AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email <> u.email"
	 "  AND " FOLD("o.email") " = " FOLD("u.email") ");"
	 "CREATE INDEX users_email_unfolded_idx ON users (email) WHERE email <> " FOLD("email") ";"},
	/* The notifier's retry schedule (docs/notifications.md): an e-mail deferred by a transient
	 * SMTP failure, with the whole signed message so a re-drive sends it with the same id and
	 * Message-ID; claimed by owner and lease. dead_letters keep the message too (re-drive). */
	{7, "notify_retry (the retry schedule), dead_letters.message, msg_key, first_at",
	 "CREATE TABLE notify_retry ("
	 " notification_id text PRIMARY KEY CHECK (length(notification_id) BETWEEN 1 AND 128),"
	 " email text NOT NULL CHECK (length(email) BETWEEN 1 AND 254),"
	 " message text NOT NULL CHECK (length(message) BETWEEN 1 AND 8192),"
	 " msg_key text CHECK (msg_key IS NULL OR length(msg_key) <= 254),"
	 " attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
	 " first_at timestamptz NOT NULL DEFAULT now(),"
	 " next_at timestamptz NOT NULL DEFAULT now(),"
	 " last_reason text NOT NULL DEFAULT '',"
	 " owner text CHECK (owner IS NULL OR length(owner) BETWEEN 1 AND 64),"
	 " lease_until timestamptz);"
	 "CREATE INDEX notify_retry_next_idx ON notify_retry (next_at);"
	 "ALTER TABLE dead_letters ADD COLUMN message text, ADD COLUMN msg_key text,"
	 " ADD COLUMN first_at timestamptz;"},
	/* The alert pass's shard slot (agent/cqrs/shards.h): 12 bits of md5(email), generated
	 * and stored, so it follows the e-mail and never depends on the partition count;
	 * indexed in the sharded pages' (shard, email) order. */
	{8, "users.shard, alert_state.shard (the sharded alert pass's slot) and their indexes",
	 "ALTER TABLE users ADD COLUMN shard integer NOT NULL GENERATED ALWAYS AS"
	 " (('x' || substr(md5(email), 1, 3))::bit(12)::integer) STORED;"
	 "CREATE INDEX users_shard_idx ON users (shard, email);"
	 "ALTER TABLE alert_state ADD COLUMN shard integer NOT NULL GENERATED ALWAYS AS"
	 " (('x' || substr(md5(email), 1, 3))::bit(12)::integer) STORED;"
	 "CREATE INDEX alert_state_shard_idx ON alert_state (shard, email)"
	 " WHERE last_condition IS NOT NULL;"},
	/* The quote source that gave each quote (yahoo, stooq, replay; NULL: before 9). */
	{9, "quotes.source (the quote source of each row)",
	 "ALTER TABLE quotes ADD COLUMN source text"
	 " CHECK (source IS NULL OR source ~ '^[a-z]{1,16}$');"},
	/* Additional alerts of a user (docs/alerts.md, Alerts as objects): the users row with its
	 * alert_state stays the user's first alert ("alert 0"), byte for byte; every further one is
	 * a row here, with its own suppression state and the users' shard slot. */
	{10, "alerts (a user's additional alerts: condition, frequency, cooldown, re-arm, expiry)",
	 "CREATE TABLE alerts ("
	 " id bigserial PRIMARY KEY,"
	 " email text NOT NULL REFERENCES users (email) ON DELETE CASCADE ON UPDATE CASCADE,"
	 " ticker text NOT NULL CHECK (length(ticker) <= 15"
	 "  AND ticker ~ '^\\^?[A-Z0-9]([A-Z0-9.=-]*[A-Z0-9])?$'),"
	 " kind text NOT NULL CHECK (kind IN ('above', 'below', 'band', 'cross')),"
	 " level double precision NOT NULL CHECK (level > 0 AND level <= 1e9),"
	 " level2 double precision CHECK (level2 IS NULL OR (level2 > 0 AND level2 <= 1e9)),"
	 " frequency text NOT NULL DEFAULT 'change'"
	 "  CHECK (frequency IN ('change', 'once', 'daily')),"
	 " cooldown_s integer NOT NULL DEFAULT 0 CHECK (cooldown_s BETWEEN 0 AND 2592000),"
	 " rearm_pct double precision NOT NULL DEFAULT 0 CHECK (rearm_pct >= 0 AND rearm_pct <= 50),"
	 " expires_at timestamptz,"
	 " enabled boolean NOT NULL DEFAULT true,"
	 " disabled_reason text CHECK (disabled_reason IN ('once', 'expired', 'user')),"
	 " last_condition integer CHECK (last_condition IN (1, 2)),"
	 " last_int bigint,"
	 " last_sent_at timestamptz,"
	 " last_side smallint CHECK (last_side IN (-1, 1)),"
	 " episode bigint NOT NULL DEFAULT 0 CHECK (episode >= 0),"
	 " shard integer NOT NULL GENERATED ALWAYS AS"
	 "  (('x' || substr(md5(email), 1, 3))::bit(12)::integer) STORED,"
	 " created_at timestamptz NOT NULL DEFAULT now(),"
	 " updated_at timestamptz NOT NULL DEFAULT now(),"
	 " CONSTRAINT alerts_band_levels CHECK ((kind = 'band') = (level2 IS NOT NULL)"
	 "  AND (level2 IS NULL OR level < level2)),"
	 " CONSTRAINT alerts_disabled_reason CHECK (enabled = (disabled_reason IS NULL)));"
	 "CREATE INDEX alerts_shard_idx ON alerts (shard, email, id);"
	 "CREATE INDEX alerts_email_idx ON alerts (email, id);"},
	/* Whether the quote source knew the user's ticker when it was registered or changed
	 * ([rpc] check_tickers): true known, false not verified (the source did not answer in
	 * time), NULL never checked. A new ticker forgets the old one's answer (the trigger). */
	{11, "users.ticker_verified (the quote source knew the ticker)",
	 "ALTER TABLE users ADD COLUMN ticker_verified boolean;"
	 "CREATE FUNCTION users_ticker_unverify() RETURNS trigger LANGUAGE plpgsql AS $$"
	 " BEGIN IF NEW.ticker IS DISTINCT FROM OLD.ticker THEN NEW.ticker_verified := NULL; END IF;"
	 " RETURN NEW; END $$;"
	 "CREATE TRIGGER users_ticker_unverify BEFORE UPDATE OF ticker ON users FOR EACH ROW"
	 " EXECUTE FUNCTION users_ticker_unverify();"},
	/* What the source told besides the price (docs/quotes.md): the previous close a percent
	 * move is measured from, and the currency and exchange the e-mail names; NULL: not told. */
	{12, "quotes.prev_close, currency, exchange (what the source told besides the price)",
	 "ALTER TABLE quotes ADD COLUMN prev_close double precision"
	 " CHECK (prev_close IS NULL OR (prev_close > 0 AND prev_close <= 1e9)),"
	 " ADD COLUMN currency text CHECK (currency IS NULL OR currency ~ '^[A-Z]{3}$'),"
	 " ADD COLUMN exchange text CHECK (exchange IS NULL OR (exchange ~ '^[ -~]{1,32}$'"
	 "  AND exchange !~ '^ ' AND exchange !~ ' $'));"},
	/* The percent move (docs/alerts.md, Kinds): level is the percent, 0 < level <= 100. */
	{13, "alerts.kind move (a percent move from the previous close)",
	 "ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;"
	 "ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check"
	 " CHECK (kind IN ('above', 'below', 'band', 'cross', 'move'));"
	 "ALTER TABLE alerts ADD CONSTRAINT alerts_move_level CHECK (kind <> 'move' OR level <= 100);"},
};

#define NMIG (sizeof migrations / sizeof migrations[0])

const struct tw_db_migration *tw_db_migrations(size_t *n)
{
	*n = NMIG;
	return migrations;
}

int tw_db_schema_version(void)
{
	return migrations[NMIG - 1].version;
}

/* Recorded in schema_migrations: by the bit mask for 1..62, by the highest version above. */
static int applied_already(const struct tw_db_migrate *m, int version)
{
	if (version >= 1 && version <= 62)
		return (m->have >> version) & 1u;
	return version <= m->from;
}

enum { S_BEGIN, S_LOCK, S_TABLE, S_VERSION, S_APPLY, S_RECORD, S_COMMIT, S_REPORT };

static int step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_db_migrate *m = arg;
	char key[16], ver[16];
	const char *p[2];
	int rc = TW_OK;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		snprintf(m->msg, sizeof m->msg, "migration failed at step %d: %.200s", m->step, j->err);
		tw_log(TW_LOG_ERROR, "db", "%s", m->msg);
		m->done(m->arg, j->rc, m->msg);
		return 0;
	}
	switch (m->step) {
	case S_BEGIN:
		snprintf(key, sizeof key, "%d", TW_DB_MIGRATE_LOCK);
		p[0] = key;
		m->step = S_LOCK;
		rc = tw_db_then(j, "SELECT pg_advisory_xact_lock($1::bigint)", 1, p, 0);
		break;
	case S_LOCK:
		m->step = S_TABLE;
		rc = tw_db_then(j,
				"CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY "
				"KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT "
				"now())",
				0, NULL, 0);
		break;
	case S_TABLE:
		m->step = S_VERSION;
		/* the highest version, and which of 1..62 are there: a migration merged later
		 * than a higher one (parallel branches) is applied too, not skipped */
		rc = tw_db_then(j, "SELECT coalesce(max(version), 0), coalesce(bit_or(1::bigint << "
				"version) FILTER (WHERE version BETWEEN 1 AND 62), 0) FROM "
				"schema_migrations", 0, NULL, 0);
		break;
	case S_VERSION:
	case S_RECORD:
		if (m->step == S_VERSION) {
			const char *v = tw_db_value(res, 0, 0);

			m->from = v ? atoi(v) : 0;
			v = tw_db_value(res, 0, 1);
			m->have = v ? (uint64_t)strtoll(v, NULL, 10) : 0;
			m->next = 0;
			if (m->from > tw_db_schema_version())
				tw_log(TW_LOG_WARN, "db", "schema version %d is newer than this binary "
				       "knows (%d): running anyway", m->from, tw_db_schema_version());
		} else {
			m->applied++;
			m->next++;
		}
		while (m->next < NMIG && applied_already(m, migrations[m->next].version))
			m->next++;
		if (m->next < NMIG) {
			m->step = S_APPLY;
			tw_log(TW_LOG_INFO, "db", "applying migration %d: %s",
			       migrations[m->next].version, migrations[m->next].name);
			rc = tw_db_then(j, migrations[m->next].sql, 0, NULL, TW_DB_MULTI);
		} else {
			m->step = S_COMMIT;
			rc = tw_db_then(j, "COMMIT", 0, NULL, 0);
		}
		break;
	case S_APPLY:
		snprintf(ver, sizeof ver, "%d", migrations[m->next].version);
		p[0] = ver;
		p[1] = migrations[m->next].name;
		m->step = S_RECORD;
		rc = tw_db_then(j, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
				p, 0);
		break;
	case S_COMMIT:
		m->step = S_REPORT;
		rc = tw_db_then(j, sql_collisions, 0, NULL, 0);
		break;
	case S_REPORT:
	default: {
		int n = tw_db_rows(res);

		/* warned every run until an operator resolves them (docs/schema.md) */
		for (int i = 0; i < n && i < 20; i++) {
			const char *other = tw_db_value(res, i, 1);

			tw_log(TW_LOG_WARN, "db",
			       "e-mail %s left as it is: its domain folded to lower case is the "
			       "address of %s (resolve by hand: docs/schema.md, migration 6)",
			       tw_db_value(res, i, 0), other && *other ? other : "another row");
		}
		if (n > 20)
			tw_log(TW_LOG_WARN, "db", "more e-mail case collisions not listed");
		snprintf(m->msg, sizeof m->msg, "schema at version %d (applied %d migration%s now)%s",
			 m->from > tw_db_schema_version() ? m->from : tw_db_schema_version(),
			 m->applied, m->applied == 1 ? "" : "s",
			 n ? "; e-mail addresses differing only in the case of the domain are "
			     "left unmerged (warnings above)"
			   : "");
		if (m->applied)
			tw_log(TW_LOG_INFO, "db", "%s", m->msg);
		m->done(m->arg, TW_OK, m->msg);
		return 0;
	}
	}
	if (rc != TW_OK) {
		snprintf(m->msg, sizeof m->msg, "migration failed at step %d: %.200s", m->step, j->err);
		m->done(m->arg, rc, m->msg);
	}
	return 0;
}

int tw_db_migrate_start(struct tw_db *db, struct tw_db_migrate *m, tw_db_migrate_fn done,
			void *arg)
{
	m->step = S_BEGIN;
	m->from = 0;
	m->have = 0;
	m->next = 0;
	m->applied = 0;
	m->done = done;
	m->arg = arg;
	m->msg[0] = '\0';
	return tw_db_submit_first(db, &m->job, "BEGIN", 0, NULL, 0, step, m);
}
