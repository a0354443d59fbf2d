/* SPDX-License-Identifier: MIT */
/* buckets.c - a fair share of N buckets per live agent, held as PostgreSQL session advisory
 * locks on a connection of its own (the rule: cqrs/buckets.h, docs/scale.md). A claim is one
 * job of up to four short statements: membership, count + what this session holds, release
 * beyond the share, try to take free ones up to it. */
#include "cqrs/buckets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* pg_locks rows of two-int4-key advisory locks: classid = first key, objid = second,
 * objsubid = 2; only this database's. */
#define ADV_WHERE(ns)                                                                          \
	"l.locktype = 'advisory' AND l.objsubid = 2 AND l.classid = (" ns ")::integer::oid AND " \
	"l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"

static const char sql_member[] =
	"SELECT pg_try_advisory_lock($1::integer, pg_backend_pid()) WHERE NOT EXISTS (SELECT 1 "
	"FROM pg_locks l WHERE " ADV_WHERE("$1") " AND l.pid = pg_backend_pid())";
static const char sql_count[] =
	"SELECT (SELECT count(DISTINCT l.pid) FROM pg_locks l WHERE " ADV_WHERE("$1")
	" AND l.granted), coalesce((SELECT string_agg(l.objid::text, ',' ORDER BY l.objid) FROM "
	"pg_locks l WHERE " ADV_WHERE("$2") " AND l.granted AND l.pid = pg_backend_pid()), '')";
static const char sql_release[] =
	"SELECT count(*) FILTER (WHERE pg_advisory_unlock($1::integer, b)) FROM "
	"unnest($2::integer[]) b";
/* Candidates in an order that differs per session, so agents starting together spread. */
static const char sql_take[] =
	"SELECT f.b FROM (SELECT b FROM generate_series(0, $2::integer - 1) b WHERE NOT EXISTS "
	"(SELECT 1 FROM pg_locks l WHERE " ADV_WHERE("$1") " AND l.objid = b::oid) ORDER BY "
	"(b + pg_backend_pid()) % $2::integer LIMIT $3::integer) f WHERE "
	"pg_try_advisory_lock($1::integer, f.b)";

enum { S_MEMBER = 1, S_COUNT, S_RELEASE, S_TAKE };

int tw_buckets_of(const char *ticker, int n)
{
	uint32_t h = 2166136261u;

	if (n < 1)
		return 0;
	for (const unsigned char *p = (const unsigned char *)ticker; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return (int)(h % (uint32_t)n);
}

static void on_ready(struct tw_db *db, void *arg)
{
	struct tw_buckets *b = arg;

	(void)db;
	/* a new session holds nothing: the locks went with the old one */
	memset(b->held, 0, sizeof b->held);
	b->nheld = 0;
}

int tw_buckets_open(struct tw_buckets *b, struct tw_loop *loop, const char *url,
		    int64_t connect_timeout_ms, int64_t statement_timeout_ms, int ns, int n,
		    char *err, size_t errlen)
{
	if (n < 1 || n > TW_BUCKETS_MAX) {
		snprintf(err, errlen, "buckets: %d buckets, want 1..%d", n, TW_BUCKETS_MAX);
		return TW_ERR_ARG;
	}
	b->ns = ns;
	b->n = n;
	if (tw_db_open(&b->db, loop, "buckets", url, connect_timeout_ms, statement_timeout_ms,
		       on_ready, b, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	b->open = 1;
	return TW_OK;
}

static void finish(struct tw_buckets *b, int rc)
{
	tw_buckets_fn done = b->done;

	b->claiming = 0;
	if (rc != TW_OK) { /* fetch nothing rather than twice; the next claim re-reads pg_locks */
		memset(b->held, 0, sizeof b->held);
		b->nheld = 0;
	} else {
		b->err[0] = '\0';
	}
	if (done)
		done(b, rc, b->arg);
}

/* Parse "0,3,7" into held (buckets >= n are kept aside in @p extra for release). */
static void parse_held(struct tw_buckets *b, const char *s, char *extra, size_t extralen)
{
	size_t off = 1;

	memset(b->held, 0, sizeof b->held);
	b->nheld = 0;
	snprintf(extra, extralen, "{");
	while (s && *s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s)
			break;
		if (v >= 0 && v < b->n) {
			b->held[v] = 1;
			b->nheld++;
		} else if (off + 16 < extralen) {
			off += (size_t)snprintf(extra + off, extralen - off, "%s%ld", off > 1 ? "," : "",
						v);
		}
		s = *end == ',' ? end + 1 : end;
	}
	snprintf(extra + off, extralen - off, "}");
}

static int step(struct tw_db_job *j, int ev, const struct pg_result *res, void *arg)
{
	struct tw_buckets *b = arg;
	char k1[16], k2[16], k3[16], list[TW_BUCKETS_MAX * 5 + 8];
	const char *p[3];
	int rc = TW_OK, share;

	if (ev == TW_DB_ROW)
		return 0;
	if (ev == TW_DB_FAIL) {
		snprintf(b->err, sizeof b->err, "claim failed at step %d: %.200s", b->step, j->err);
		finish(b, j->rc ? j->rc : TW_ERR_DB_SQL);
		return 0;
	}
	switch (b->step) {
	case S_MEMBER:
		snprintf(k1, sizeof k1, "%d", b->ns + 1);
		snprintf(k2, sizeof k2, "%d", b->ns);
		p[0] = k1;
		p[1] = k2;
		b->step = S_COUNT;
		rc = tw_db_then(j, sql_count, 2, p, 0);
		break;
	case S_COUNT: {
		const char *v = tw_db_value(res, 0, 0);
		size_t used;

		b->members = v ? atoi(v) : 0;
		if (b->members < 1)
			b->members = 1;
		parse_held(b, tw_db_value(res, 0, 1), list, sizeof list);
		share = (b->n + b->members - 1) / b->members;
		/* beyond the share (a peer joined) and out-of-range ones go back, highest first */
		used = strlen(list) - 1; /* before the closing brace */
		for (int i = b->n - 1; i >= 0 && b->nheld > share; i--) {
			if (!b->held[i] || used + 16 >= sizeof list)
				continue;
			used += (size_t)snprintf(list + used, sizeof list - used, "%s%d",
						 list[used - 1] == '{' ? "" : ",", i);
			b->held[i] = 0;
			b->nheld--;
		}
		snprintf(list + used, sizeof list - used, "}");
		b->want = share - b->nheld;
		if (strcmp(list, "{}") != 0) {
			snprintf(k1, sizeof k1, "%d", b->ns);
			p[0] = k1;
			p[1] = list;
			b->step = S_RELEASE;
			rc = tw_db_then(j, sql_release, 2, p, 0);
			break;
		}
	}
		/* fall through */
	case S_RELEASE:
		if (b->step == S_RELEASE) {
			const char *v = tw_db_value(res, 0, 0);

			b->released += v ? (uint64_t)strtoull(v, NULL, 10) : 0;
		}
		if (b->want <= 0) {
			b->step = 0;
			finish(b, TW_OK);
			return 0;
		}
		snprintf(k1, sizeof k1, "%d", b->ns);
		snprintf(k2, sizeof k2, "%d", b->n);
		snprintf(k3, sizeof k3, "%lld", (long long)b->want);
		p[0] = k1;
		p[1] = k2;
		p[2] = k3;
		b->step = S_TAKE;
		rc = tw_db_then(j, sql_take, 3, p, 0);
		break;
	case S_TAKE:
	default:
		for (int r = 0; r < tw_db_rows(res); r++) {
			const char *v = tw_db_value(res, r, 0);
			int i = v ? atoi(v) : -1;

			if (i >= 0 && i < b->n && !b->held[i]) {
				b->held[i] = 1;
				b->nheld++;
				b->taken++;
			}
		}
		b->step = 0;
		finish(b, TW_OK);
		return 0;
	}
	if (rc != TW_OK) {
		snprintf(b->err, sizeof b->err, "claim step %d not sent: %.200s", b->step, j->err);
		finish(b, rc);
	}
	return 0;
}

int tw_buckets_claim(struct tw_buckets *b, tw_buckets_fn done, void *arg)
{
	char k1[16];
	const char *p[1] = {k1};
	int rc;

	if (b->claiming)
		return TW_ERR_DB_BUSY;
	b->done = done;
	b->arg = arg;
	b->claims++;
	b->step = S_MEMBER;
	snprintf(k1, sizeof k1, "%d", b->ns + 1);
	rc = tw_db_submit(&b->db, &b->job, sql_member, 1, p, 0, step, b);
	if (rc != TW_OK) {
		memset(b->held, 0, sizeof b->held);
		b->nheld = 0;
		snprintf(b->err, sizeof b->err, "claim not sent: database %s",
			 tw_db_state_name(&b->db));
		return rc;
	}
	b->claiming = 1;
	return TW_OK;
}

int tw_buckets_holds(const struct tw_buckets *b, int i)
{
	return i >= 0 && i < b->n && b->held[i];
}

int tw_buckets_holds_ticker(const struct tw_buckets *b, const char *ticker)
{
	return tw_buckets_holds(b, tw_buckets_of(ticker, b->n));
}

char *tw_buckets_status(const struct tw_buckets *b, char *buf, size_t len)
{
	size_t off;
	int first = 1;

	if (len == 0)
		return buf;
	off = (size_t)snprintf(buf, len, "buckets ");
	for (int i = 0; i < b->n && off + 24 < len; i++) {
		int j = i;

		if (!b->held[i])
			continue;
		while (j + 1 < b->n && b->held[j + 1])
			j++;
		off += (size_t)(j > i ? snprintf(buf + off, len - off, "%s%d-%d", first ? "" : ",", i, j)
				      : snprintf(buf + off, len - off, "%s%d", first ? "" : ",", i));
		first = 0;
		i = j;
	}
	if (first && off < len)
		off += (size_t)snprintf(buf + off, len - off, "none");
	if (off < len)
		snprintf(buf + off, len - off, " of %d (%d agent%s)", b->n, b->members,
			 b->members == 1 ? "" : "s");
	return buf;
}

void tw_buckets_close(struct tw_buckets *b)
{
	if (!b->open)
		return;
	tw_db_close(&b->db);
	b->open = 0;
	b->claiming = 0;
	memset(b->held, 0, sizeof b->held);
	b->nheld = 0;
}
