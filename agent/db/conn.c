/* SPDX-License-Identifier: MIT */
/* conn.c - one PostgreSQL connection as a loop-driven state machine over libpq's async API.
 * libpq resolves a host name inside PQconnectStartParams, synchronously: the name is resolved
 * first through core/resolve.h (off the loop, cached) and handed over as hostaddr (every
 * address, in order, libpq trying each), with host kept for TLS verify-full. Losing and
 * regaining the server is an outage (core/outage.h): one warn line each way. Each
 * connection's statements, failures, connects and state are also counted in a fixed table of
 * pools (by the connection's name) for /metrics: tw_db_metrics(). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/outage.h"
#include "core/resolve.h"
#include "db.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000
#define WATCHDOG_MARGIN_MS 5000
#define POOLS 8 /* distinct connection names counted; a ninth is counted as the eighth */

enum { F_SQL, F_TIMEOUT, F_UNAVAILABLE, F_KINDS };

/* The figures of every connection of one name, process-wide (the loop's thread only). */
struct pool {
	const char *name;
	char label[24];
	uint64_t statements, failed[F_KINDS], refused, connect_ok, connect_failed, lost;
	int64_t in_state[TW_DB_S_BACKOFF + 1];
};

static struct pool pools[POOLS];
static size_t npools;

static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg);
static void run_queue(struct tw_db *db);
static void pump(struct tw_db *db);


static struct pool *pool_of(const struct tw_db *db)
{
	return db->pool_id ? &pools[db->pool_id - 1] : NULL;
}

/* The entry of @p name (found, else added; the table full: its last entry). */
static unsigned pool_join(const char *name)
{
	size_t i;

	if (name == NULL)
		name = "db";
	for (i = 0; i < npools; i++) {
		if (strcmp(pools[i].name, name) == 0)
			return (unsigned)i + 1;
	}
	if (npools == POOLS)
		return POOLS;
	pools[i].name = name;
	snprintf(pools[i].label, sizeof pools[i].label, "%s", name);
	for (char *p = pools[i].label; *p; p++) {
		if (*p == ' ')
			*p = '_';
	}
	npools++;
	return (unsigned)i + 1;
}

static void set_state(struct tw_db *db, int st)
{
	struct pool *p = pool_of(db);

	if (p) {
		p->in_state[db->state]--;
		p->in_state[st]++;
	}
	db->state = st;
}

static void count_failure(struct tw_db *db, int rc)
{
	struct pool *p = pool_of(db);

	if (p)
		p->failed[rc == TW_ERR_DB_TIMEOUT ? F_TIMEOUT : rc == TW_ERR_DB_SQL ? F_SQL :
			  F_UNAVAILABLE]++;
}

void tw_db_metrics(struct tw_metrics *m)
{
	static const char *const fails[F_KINDS] = {"sql", "timeout", "unavailable"};
	static const char *const states[] = {"down", "connecting", "ready", "backoff"};

#define POOL_LABEL(i) {"pool", pools[i].label}
	tw_metrics_family(m, "tickwatch_db_statements_total", "counter",
			  "statements sent to PostgreSQL, by connection pool");
	for (size_t i = 0; i < npools; i++)
		tw_metrics_int(m, "tickwatch_db_statements_total",
			       (const struct tw_metric_label[]){POOL_LABEL(i), {NULL, NULL}},
			       (int64_t)pools[i].statements);
	tw_metrics_family(m, "tickwatch_db_statement_failures_total", "counter",
			  "statements that failed: refused by the server (sql), timed out, or lost "
			  "with their connection (unavailable)");
	for (size_t i = 0; i < npools; i++)
		for (int k = 0; k < F_KINDS; k++)
			tw_metrics_int(m, "tickwatch_db_statement_failures_total",
				       (const struct tw_metric_label[]){POOL_LABEL(i),
									{"reason", fails[k]},
									{NULL, NULL}},
				       (int64_t)pools[i].failed[k]);
	tw_metrics_family(m, "tickwatch_db_refused_total", "counter",
			  "jobs refused at once because their connection was down");
	for (size_t i = 0; i < npools; i++)
		tw_metrics_int(m, "tickwatch_db_refused_total",
			       (const struct tw_metric_label[]){POOL_LABEL(i), {NULL, NULL}},
			       (int64_t)pools[i].refused);
	tw_metrics_family(m, "tickwatch_db_connects_total", "counter",
			  "connection attempts that ended ready (ok) or failed");
	for (size_t i = 0; i < npools; i++) {
		tw_metrics_int(m, "tickwatch_db_connects_total",
			       (const struct tw_metric_label[]){POOL_LABEL(i), {"result", "ok"},
								{NULL, NULL}},
			       (int64_t)pools[i].connect_ok);
		tw_metrics_int(m, "tickwatch_db_connects_total",
			       (const struct tw_metric_label[]){POOL_LABEL(i), {"result", "failed"},
								{NULL, NULL}},
			       (int64_t)pools[i].connect_failed);
	}
	tw_metrics_family(m, "tickwatch_db_connections_lost_total", "counter",
			  "ready connections that broke (then reconnect after a backoff)");
	for (size_t i = 0; i < npools; i++)
		tw_metrics_int(m, "tickwatch_db_connections_lost_total",
			       (const struct tw_metric_label[]){POOL_LABEL(i), {NULL, NULL}},
			       (int64_t)pools[i].lost);
	tw_metrics_family(m, "tickwatch_db_connections", "gauge",
			  "open connections by state: connecting, ready, backoff");
	for (size_t i = 0; i < npools; i++)
		for (int st = TW_DB_S_CONNECTING; st <= TW_DB_S_BACKOFF; st++)
			tw_metrics_int(m, "tickwatch_db_connections",
				       (const struct tw_metric_label[]){POOL_LABEL(i),
									{"state", states[st]},
									{NULL, NULL}},
				       pools[i].in_state[st]);
#undef POOL_LABEL
}

const char *tw_db_state_name(const struct tw_db *db)
{
	static const char *const names[] = {"down", "connecting", "ready", "backoff"};

	return (db->state >= 0 && db->state <= TW_DB_S_BACKOFF) ? names[db->state] : "?";
}

int tw_db_ready(const struct tw_db *db)
{
	return db->state == TW_DB_S_READY;
}

size_t tw_db_queued(const struct tw_db *db)
{
	size_t n = 0;

	for (const struct tw_db_job *j = db->head; j; j = j->next)
		n++;
	return n;
}

const char *tw_db_value(const struct pg_result *res, int row, int col)
{
	if (res == NULL || row >= PQntuples(res) || col >= PQnfields(res) ||
	    PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

int tw_db_rows(const struct pg_result *res)
{
	return res ? PQntuples(res) : 0;
}

long long tw_db_affected(const struct pg_result *res)
{
	const char *s = res ? PQcmdTuples((PGresult *)res) : "";

	return (s && *s) ? strtoll(s, NULL, 10) : 0;
}

static void set_timer(struct tw_db *db, int64_t ms, tw_timer_fn fn)
{
	if (db->timer > 0)
		tw_loop_del_timer(db->loop, db->timer);
	db->timer = 0;
	if (fn) {
		long long id = tw_loop_add_timer(db->loop, ms, fn, db);

		db->timer = id > 0 ? id : 0;
		if (id <= 0)
			tw_log(TW_LOG_ERROR, "db", "%s: no free timer for a time-out: raise [limits] "
			       "max_timers", db->name);
	}
}

static void set_mask(struct tw_db *db, unsigned mask)
{
	if (db->fd < 0)
		return;
	if (mask != db->mask) {
		tw_loop_set_mask(db->loop, db->fd, mask);
		db->mask = mask;
	}
}

/* End the head job with an error; the callback may submit new jobs. */
static void fail_job(struct tw_db *db, struct tw_db_job *j, int rc, const char *msg)
{
	if (db->head == j) {
		db->head = j->next;
		if (db->head == NULL)
			db->tail = NULL;
	}
	j->next = NULL;
	j->active = 0;
	j->rc = rc;
	if (msg != j->err && (j->err[0] == '\0' || rc == TW_ERR_DB_UNAVAILABLE))
		snprintf(j->err, sizeof j->err, "%.*s", (int)sizeof j->err - 1, msg);
	if (j->fn)
		j->fn(j, TW_DB_FAIL, NULL, j->arg);
}

static void fail_all(struct tw_db *db, int head_rc, const char *msg)
{
	int first = 1;

	while (db->head) {
		struct tw_db_job *j = db->head;

		fail_job(db, j, first ? head_rc : TW_ERR_DB_UNAVAILABLE, msg);
		first = 0;
	}
}

static int64_t on_backoff(struct tw_loop *l, void *arg);

static void drop_conn(struct tw_db *db)
{
	tw_connect_cancel(&db->resolve);
	if (db->fd >= 0)
		tw_loop_del_fd(db->loop, db->fd);
	db->fd = -1;
	db->mask = 0;
	if (db->pg)
		PQfinish(db->pg);
	db->pg = NULL;
	PQclear(db->last);
	db->last = NULL;
	db->busy = 0;
	db->nprepared = 0; /* a new session has none */
	db->preparing = 0;
}

/* The connection is unusable: fail what waits on it, and try again after a backoff. */
static void broken(struct tw_db *db, int rc, const char *why)
{
	char msg[TW_DB_ERR_LEN + 96];
	int was_ready = db->state == TW_DB_S_READY;
	struct pool *pl = pool_of(db);

	if (pl && was_ready)
		pl->lost++;
	else if (pl && db->state == TW_DB_S_CONNECTING)
		pl->connect_failed++;
	if (db->busy && db->head)
		count_failure(db, rc); /* the running statement goes with the connection */
	snprintf(db->last_err, sizeof db->last_err, "%s", why);
	for (char *p = db->last_err; *p; p++) {
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	}
	for (size_t n = strlen(db->last_err); n && db->last_err[n - 1] == ' ';)
		db->last_err[--n] = '\0';
	db->failures++;
	/* libpq names the address it was given (hostaddr): name the configured host too. */
	if (db->via_name)
		snprintf(msg, sizeof msg, "database unavailable (%s connection to %.64s: %.180s)",
			 db->name, db->resolve.host, db->last_err);
	else
		snprintf(msg, sizeof msg, "database unavailable (%s connection: %.180s)", db->name,
			 db->last_err);
	drop_conn(db);
	{
		char name[TW_OUTAGE_NAME];

		snprintf(name, sizeof name, "database (%s)", db->name);
		tw_outage_begin(name, db->last_err);
	}
	set_state(db, TW_DB_S_BACKOFF);
	set_timer(db, db->backoff_ms, on_backoff);
	tw_log(was_ready ? TW_LOG_WARN : TW_LOG_INFO, "db", "%s: %s; retrying in %lld ms",
	       db->name, msg, (long long)db->backoff_ms);
	db->backoff_ms = db->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : db->backoff_ms * 2;
	fail_all(db, rc, msg);
}

static int64_t on_connect_timeout(struct tw_loop *l, void *arg)
{
	struct tw_db *db = arg;

	(void)l;
	db->timer = 0;
	broken(db, TW_ERR_DB_UNAVAILABLE, "connect timed out ([db] connect_timeout)");
	return TW_TIMER_STOP;
}

/* Server notices ("relation already exists, skipping") go to the debug log, not stderr. */
static void on_notice(void *arg, const char *message)
{
	const struct tw_db *db = arg;

	tw_log(TW_LOG_DEBUG, "db", "%s: server notice: %.200s", db->name, message);
}

/* libpq's connect with @p host and @p hostaddr (NULL: as the URL says). */
static void pq_connect(struct tw_db *db, const char *host, const char *hostaddr)
{
	char opts[64], tmo[24];
	const char *keys[] = {"dbname", "options", "connect_timeout", "application_name",
			      NULL,     NULL,      NULL};
	const char *vals[] = {db->url, opts, tmo, "tickwatch", NULL, NULL, NULL};

	snprintf(opts, sizeof opts, "-c statement_timeout=%lld",
		 (long long)db->statement_timeout_ms);
	snprintf(tmo, sizeof tmo, "%lld", (long long)((db->connect_timeout_ms + 999) / 1000));
	if (host && hostaddr) {
		/* After dbname: these override the URL's host (libpq docs, expand_dbname). */
		keys[4] = "host";
		vals[4] = host;
		keys[5] = "hostaddr";
		vals[5] = hostaddr;
	}
	db->pg = PQconnectStartParams(keys, vals, 1);
	if (db->pg == NULL) {
		broken(db, TW_ERR_DB_UNAVAILABLE, "out of memory in libpq");
		return;
	}
	if (PQstatus(db->pg) == CONNECTION_BAD) {
		broken(db, TW_ERR_DB_UNAVAILABLE, PQerrorMessage(db->pg));
		return;
	}
	PQsetNoticeProcessor(db->pg, on_notice, db);
	db->fd = PQsocket(db->pg);
	db->mask = TW_HAL_WRITE;
	if (db->fd < 0 || tw_loop_add_fd(db->loop, db->fd, db->mask, on_fd, db) != TW_OK) {
		broken(db, TW_ERR_DB_UNAVAILABLE, "no socket or no free loop slot (max_fds)");
		return;
	}
	set_timer(db, db->connect_timeout_ms, on_connect_timeout);
}

static void on_resolved(struct tw_connect *c, int rc, int fd, const char *err, void *arg)
{
	struct tw_db *db = arg;
	char hosts[TW_HAL_ADDRS_MAX * TW_HAL_HOST_MAX], addrs[TW_HAL_ADDRS_MAX * TW_HAL_ADDR_TEXT];
	size_t ho = 0, ao = 0, hl = strlen(c->host);

	(void)fd;
	if (rc != TW_OK) {
		broken(db, TW_ERR_DB_UNAVAILABLE, err);
		return;
	}
	/* libpq wants as many host entries as hostaddr entries: the name, n times. */
	for (size_t i = 0; i < c->n; i++) {
		char text[TW_HAL_ADDR_TEXT];
		size_t tl;

		tw_hal_addr_format(&c->addrs[i], text, sizeof text);
		tl = strlen(text);
		if (ho + hl + 2 > sizeof hosts || ao + tl + 2 > sizeof addrs)
			break;
		if (i) {
			hosts[ho++] = ',';
			addrs[ao++] = ',';
		}
		memcpy(hosts + ho, c->host, hl);
		ho += hl;
		memcpy(addrs + ao, text, tl);
		ao += tl;
	}
	hosts[ho] = '\0';
	addrs[ao] = '\0';
	db->via_name = 1;
	pq_connect(db, hosts, addrs);
}

/* @return 1 and the URL's single host name in @p host when it must be looked up first:
 * not a socket directory, not a literal, not a list, no hostaddr of its own. */
static int host_to_resolve(const struct tw_db *db, char *host, size_t len)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(db->url, &msg);
	int has_addr = 0;
	struct tw_hal_addr a;

	if (msg)
		PQfreemem(msg);
	if (opts == NULL)
		return 0; /* libpq reports the bad URL itself */
	host[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val && o->val[0] && strcmp(o->keyword, "host") == 0)
			snprintf(host, len, "%s", o->val);
		if (o->val && o->val[0] && strcmp(o->keyword, "hostaddr") == 0)
			has_addr = 1;
	}
	PQconninfoFree(opts);
	return host[0] && host[0] != '/' && host[0] != '@' && !strchr(host, ',') && !has_addr &&
	       tw_hal_addr_parse(host, &a) != TW_OK;
}

static void start_connect(struct tw_db *db)
{
	char host[TW_HAL_HOST_MAX];

	set_state(db, TW_DB_S_CONNECTING);
	db->connects++;
	db->via_name = 0;
	if (!host_to_resolve(db, host, sizeof host)) {
		pq_connect(db, NULL, NULL);
		return;
	}
	if (tw_resolve_start(&db->resolve, NULL, db->loop, host, db->connect_timeout_ms,
			     on_resolved, db) != TW_OK)
		broken(db, TW_ERR_DB_UNAVAILABLE, db->resolve.err);
}

static int64_t on_backoff(struct tw_loop *l, void *arg)
{
	struct tw_db *db = arg;

	(void)l;
	db->timer = 0;
	if (db->state == TW_DB_S_BACKOFF && !db->closing)
		start_connect(db);
	return TW_TIMER_STOP;
}

void tw_db_retry_now(struct tw_db *db)
{
	if (db->loop == NULL || db->closing || db->state != TW_DB_S_BACKOFF)
		return;
	set_timer(db, 0, NULL);
	start_connect(db);
}

static void connect_step(struct tw_db *db)
{
	PostgresPollingStatusType st = PQconnectPoll(db->pg);
	int fd = PQsocket(db->pg);

	if (st == PGRES_POLLING_FAILED) {
		broken(db, TW_ERR_DB_UNAVAILABLE, PQerrorMessage(db->pg));
		return;
	}
	if (fd != db->fd) { /* libpq moved on to another address */
		tw_loop_del_fd(db->loop, db->fd);
		db->fd = fd;
		db->mask = 0;
		if (fd < 0 || tw_loop_add_fd(db->loop, fd, 0, on_fd, db) != TW_OK) {
			broken(db, TW_ERR_DB_UNAVAILABLE, "no free loop slot (max_fds)");
			return;
		}
	}
	if (st == PGRES_POLLING_READING) {
		set_mask(db, TW_HAL_READ);
		return;
	}
	if (st == PGRES_POLLING_WRITING) {
		set_mask(db, TW_HAL_WRITE);
		return;
	}
	/* PGRES_POLLING_OK */
	if (PQsetnonblocking(db->pg, 1) != 0) {
		broken(db, TW_ERR_DB_UNAVAILABLE, "cannot make the connection non-blocking");
		return;
	}
	set_timer(db, 0, NULL);
	set_state(db, TW_DB_S_READY);
	if (pool_of(db))
		pool_of(db)->connect_ok++;
	db->backoff_ms = BACKOFF_MIN_MS;
	set_mask(db, TW_HAL_READ);
	tw_log(TW_LOG_INFO, "db", "%s connection ready (server %d)", db->name,
	       PQserverVersion(db->pg));
	{
		char name[TW_OUTAGE_NAME];

		snprintf(name, sizeof name, "database (%s)", db->name);
		tw_outage_end(name);
	}
	if (db->on_ready)
		db->on_ready(db, db->ready_arg);
	run_queue(db);
}

static int64_t on_watchdog(struct tw_loop *l, void *arg)
{
	struct tw_db *db = arg;

	(void)l;
	db->timer = 0;
	broken(db, TW_ERR_DB_TIMEOUT, "no answer within [db] statement_timeout");
	return TW_TIMER_STOP;
}

/* @return the index of @p sql among this session's prepared statements, or -1. */
static int prepared_index(const struct tw_db *db, const char *sql)
{
	for (int i = 0; i < db->nprepared; i++) {
		if (db->prepared[i] == sql)
			return i;
	}
	return -1;
}

static void prepared_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "tw_s%d", i);
}

/* Run prepared statement @p k for @p j (its own parameters). @return 0 or unavailable. */
static int send_prepared(struct tw_db *db, struct tw_db_job *j, int k, int n,
			 const char *const *pv, unsigned flags)
{
	char name[16];

	prepared_name(name, sizeof name, k);
	(void)j;
	if (!PQsendQueryPrepared(db->pg, name, n, pv, NULL, NULL, 0))
		return TW_ERR_DB_UNAVAILABLE;
	if ((flags & TW_DB_SINGLE_ROW) && !PQsetSingleRowMode(db->pg))
		return TW_ERR_DB_UNAVAILABLE;
	return TW_OK;
}

static int send_stmt(struct tw_db *db, struct tw_db_job *j, const char *sql, int n,
		     const char *const *pv, unsigned flags)
{
	int ok, k = (flags & TW_DB_PREPARED) ? prepared_index(db, sql) : -1;

	if (k >= 0) {
		if (send_prepared(db, j, k, n, pv, flags) != TW_OK)
			return TW_ERR_DB_UNAVAILABLE;
	} else {
		if ((flags & TW_DB_PREPARED) && pv == j->pv && db->nprepared < TW_DB_PREPARED_MAX) {
			/* the job's own copy of its parameters outlives the prepare's round trip */
			char name[16];

			prepared_name(name, sizeof name, db->nprepared);
			ok = PQsendPrepare(db->pg, name, sql, n, NULL);
			db->preparing = ok;
		} else if (n == 0 && (flags & TW_DB_MULTI)) {
			ok = PQsendQuery(db->pg, sql); /* embedded multi-statement SQL, no parameters */
		} else {
			ok = PQsendQueryParams(db->pg, sql, n, NULL, pv, NULL, NULL, 0);
		}
		if (!ok)
			return TW_ERR_DB_UNAVAILABLE;
		if (!db->preparing && (flags & TW_DB_SINGLE_ROW) && !PQsetSingleRowMode(db->pg))
			return TW_ERR_DB_UNAVAILABLE;
	}
	db->busy = 1;
	db->statements++;
	if (pool_of(db))
		pool_of(db)->statements++;
	j->paused = 0;
	j->dropping = 0;
	j->flags = flags;
	set_timer(db, db->statement_timeout_ms + WATCHDOG_MARGIN_MS, on_watchdog);
	if (PQflush(db->pg) == 1)
		set_mask(db, TW_HAL_READ | TW_HAL_WRITE);
	else
		set_mask(db, TW_HAL_READ);
	return TW_OK;
}

static void run_queue(struct tw_db *db)
{
	while (db->state == TW_DB_S_READY && !db->busy && db->head) {
		struct tw_db_job *j = db->head;

		if (send_stmt(db, j, j->sql, j->nparams, j->pv, j->flags) != TW_OK) {
			broken(db, TW_ERR_DB_UNAVAILABLE, PQerrorMessage(db->pg));
			return;
		}
	}
}

static int classify(const char *sqlstate)
{
	if (strcmp(sqlstate, "57014") == 0)
		return TW_ERR_DB_TIMEOUT; /* statement_timeout */
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
	    strcmp(sqlstate, "53300") == 0)
		return TW_ERR_DB_UNAVAILABLE; /* connection, shutdown, too many connections */
	return TW_ERR_DB_SQL;
}

/* The statement of the head job has produced all its results. */
static void statement_end(struct tw_db *db, PGresult *last, int failed)
{
	struct tw_db_job *j = db->head;

	db->busy = 0;
	set_timer(db, 0, NULL);
	if (failed || j->dropping) {
		int rc = j->dropping && !failed ? TW_ERR_ARG : classify(j->sqlstate);

		if (!failed)
			snprintf(j->err, sizeof j->err, "rows dropped by the caller");
		else
			count_failure(db, rc);
		PQclear(last);
		fail_job(db, j, rc, j->err);
	} else {
		/* The job is over unless its callback chains the next statement: unlink it first,
		 * so the callback may also hand the same job to tw_db_submit() again. */
		db->head = j->next;
		if (db->head == NULL)
			db->tail = NULL;
		j->next = NULL;
		j->active = 0;
		j->chained = 0;
		j->in_done = 1;
		if (j->fn)
			j->fn(j, TW_DB_DONE, last, j->arg);
		j->in_done = 0;
		PQclear(last);
		if (j->chained) {
			j->chained = 0;
			return; /* tw_db_then sent the next statement of this job */
		}
	}
	if (db->state == TW_DB_S_READY && db->pg &&
	    PQtransactionStatus(db->pg) != PQTRANS_IDLE && !db->busy) {
		struct tw_db_job *rb = &db->rollback;

		if (!rb->active)
			tw_db_submit_first(db, rb, "ROLLBACK", 0, NULL, 0, NULL, NULL);
	}
}

static void pump(struct tw_db *db)
{

	if (db->pg == NULL)
		return;
	if (PQconsumeInput(db->pg) == 0) {
		broken(db, TW_ERR_DB_UNAVAILABLE, PQerrorMessage(db->pg));
		return;
	}
	while (db->busy && db->head && !db->head->paused) {
		struct tw_db_job *j = db->head;
		PGresult *r;

		if (PQisBusy(db->pg))
			break;
		r = PQgetResult(db->pg);
		if (r == NULL && db->preparing) {
			/* the statement is prepared: run it now with the job's parameters */
			PQclear(db->last);
			db->last = NULL;
			db->preparing = 0;
			if (!j->stmt_failed) {
				db->prepared[db->nprepared] = j->sql;
				if (send_prepared(db, j, db->nprepared++, j->nparams, j->pv,
						  j->flags) != TW_OK) {
					broken(db, TW_ERR_DB_UNAVAILABLE, PQerrorMessage(db->pg));
					return;
				}
				if (PQflush(db->pg) == 1)
					set_mask(db, TW_HAL_READ | TW_HAL_WRITE);
				continue;
			}
		}
		if (r == NULL) {
			PGresult *l = db->last;
			int failed = j->stmt_failed;

			db->last = NULL;
			j->stmt_failed = 0;
			statement_end(db, l, failed);
			if (db->pg == NULL)
				return;
			continue;
		}
		switch (PQresultStatus(r)) {
		case PGRES_SINGLE_TUPLE:
			if (!j->dropping && j->fn) {
				int v = j->fn(j, TW_DB_ROW, r, j->arg);

				if (v > 0)
					j->paused = 1;
				else if (v < 0)
					j->dropping = 1;
			}
			PQclear(r);
			break;
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
		case PGRES_EMPTY_QUERY:
			PQclear(db->last);
			db->last = r;
			break;
		default: {
			const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

			if (!j->stmt_failed) { /* keep the first error of a statement */
				snprintf(j->sqlstate, sizeof j->sqlstate, "%s", st ? st : "XX000");
				snprintf(j->err, sizeof j->err, "%s", m ? m : PQresultErrorMessage(r));
				j->stmt_failed = 1;
			}
			PQclear(r);
			break;
		}
		}
	}
	if (db->pg && db->state == TW_DB_S_READY) {
		unsigned mask = TW_HAL_READ;

		if (db->busy && db->head && db->head->paused)
			mask = 0; /* back-pressure: the server waits while the caller cannot take rows */
		if (PQflush(db->pg) == 1)
			mask |= TW_HAL_WRITE;
		set_mask(db, mask);
		if (PQstatus(db->pg) == CONNECTION_BAD) {
			broken(db, TW_ERR_DB_UNAVAILABLE, PQerrorMessage(db->pg));
			return;
		}
		run_queue(db);
	}
}

static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct tw_db *db = arg;

	(void)l;
	(void)fd;
	if (db->state == TW_DB_S_CONNECTING) {
		connect_step(db);
		return;
	}
	if (db->state != TW_DB_S_READY)
		return;
	if (ready & TW_HAL_WRITE) {
		int f = PQflush(db->pg);

		if (f < 0) {
			broken(db, TW_ERR_DB_UNAVAILABLE, PQerrorMessage(db->pg));
			return;
		}
	}
	pump(db);
}

int tw_db_open(struct tw_db *db, struct tw_loop *loop, const char *name, const char *url,
	       int64_t connect_timeout_ms, int64_t statement_timeout_ms, tw_db_ready_fn on_ready,
	       void *ready_arg, char *err, size_t errlen)
{
	memset(db, 0, sizeof *db);
	db->fd = -1;
	db->loop = loop;
	db->name = name;
	if (url == NULL || strlen(url) >= sizeof db->url ||
	    (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0)) {
		snprintf(err, errlen, "%s database URL is not postgresql://user@host:port/db", name);
		return TW_ERR_ARG;
	}
	snprintf(db->url, sizeof db->url, "%s", url);
	db->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 10000;
	db->statement_timeout_ms = statement_timeout_ms > 0 ? statement_timeout_ms : 15000;
	db->backoff_ms = BACKOFF_MIN_MS;
	db->on_ready = on_ready;
	db->ready_arg = ready_arg;
	db->pool_id = pool_join(name);
	pools[db->pool_id - 1].in_state[TW_DB_S_DOWN]++;
	start_connect(db);
	return TW_OK;
}

void tw_db_close(struct tw_db *db)
{
	if (db->loop == NULL || db->closing)
		return;
	db->closing = 1;
	set_timer(db, 0, NULL);
	if (db->kick > 0)
		tw_loop_del_timer(db->loop, db->kick);
	db->kick = 0;
	drop_conn(db);
	set_state(db, TW_DB_S_DOWN);
	if (pool_of(db))
		pool_of(db)->in_state[TW_DB_S_DOWN]--;
	db->pool_id = 0;
	fail_all(db, TW_ERR_DB_UNAVAILABLE, "database unavailable (the agent is stopping)");
	db->loop = NULL;
}

static int enqueue(struct tw_db *db, struct tw_db_job *j, const char *sql, int nparams,
		   const char *const *params, unsigned flags, tw_db_fn fn, void *arg, int first)
{
	size_t used = 0;

	if (j->active)
		return TW_ERR_DB_BUSY;
	if (db->loop == NULL || db->closing || db->state == TW_DB_S_DOWN ||
	    db->state == TW_DB_S_BACKOFF) {
		if (pool_of(db))
			pool_of(db)->refused++;
		j->rc = TW_ERR_DB_UNAVAILABLE;
		snprintf(j->err, sizeof j->err, "database unavailable (%s connection: %.180s)", db->name,
			 db->last_err[0] ? db->last_err : "not connected");
		return TW_ERR_DB_UNAVAILABLE;
	}
	if (nparams < 0 || nparams > TW_DB_MAX_PARAMS)
		return TW_ERR_DB_PARAMS;
	for (int i = 0; i < nparams; i++) {
		size_t n;

		if (params[i] == NULL) {
			j->pv[i] = NULL;
			continue;
		}
		n = strlen(params[i]) + 1;
		if (used + n > sizeof j->pbuf) {
			j->rc = TW_ERR_DB_PARAMS;
			snprintf(j->err, sizeof j->err, "parameters longer than %zu bytes",
				 sizeof j->pbuf);
			return TW_ERR_DB_PARAMS;
		}
		memcpy(j->pbuf + used, params[i], n);
		j->pv[i] = j->pbuf + used;
		used += n;
	}
	j->db = db;
	j->sql = sql;
	j->nparams = nparams;
	j->flags = flags;
	j->fn = fn;
	j->arg = arg;
	j->rc = 0;
	j->sqlstate[0] = '\0';
	j->err[0] = '\0';
	j->active = 1;
	j->paused = 0;
	j->dropping = 0;
	j->stmt_failed = 0;
	j->next = NULL;
	if (first && db->busy) {
		/* the head is running: go right after it */
		j->next = db->head->next;
		db->head->next = j;
		if (db->tail == db->head)
			db->tail = j;
	} else if (first) {
		j->next = db->head;
		db->head = j;
		if (db->tail == NULL)
			db->tail = j;
	} else {
		if (db->tail)
			db->tail->next = j;
		else
			db->head = j;
		db->tail = j;
	}
	return TW_OK;
}

static int64_t on_kick(struct tw_loop *l, void *arg)
{
	struct tw_db *db = arg;

	(void)l;
	db->kick = 0;
	if (db->state == TW_DB_S_READY) {
		if (db->busy)
			pump(db);
		else
			run_queue(db);
	}
	return TW_TIMER_STOP;
}

static void kick(struct tw_db *db)
{
	if (db->kick == 0 && db->loop) {
		long long id = tw_loop_add_timer(db->loop, 0, on_kick, db);

		db->kick = id > 0 ? id : 0;
	}
}

int tw_db_submit(struct tw_db *db, struct tw_db_job *j, const char *sql, int nparams,
		 const char *const *params, unsigned flags, tw_db_fn fn, void *arg)
{
	int rc = enqueue(db, j, sql, nparams, params, flags, fn, arg, 0);

	if (rc == TW_OK && db->state == TW_DB_S_READY && !db->busy)
		kick(db); /* never call back from inside submit: start on the next turn */
	return rc;
}

int tw_db_submit_first(struct tw_db *db, struct tw_db_job *j, const char *sql, int nparams,
		       const char *const *params, unsigned flags, tw_db_fn fn, void *arg)
{
	int rc = enqueue(db, j, sql, nparams, params, flags, fn, arg, 1);

	if (rc == TW_OK && db->state == TW_DB_S_READY && !db->busy)
		kick(db);
	return rc;
}

int tw_db_then(struct tw_db_job *j, const char *sql, int nparams, const char *const *params,
	       unsigned flags)
{
	struct tw_db *db = j->db;

	if (db == NULL || !j->in_done || j->active || db->busy || db->state != TW_DB_S_READY)
		return TW_ERR_ARG;
	/* back at the head of the queue: the connection is idle until we return */
	j->next = db->head;
	db->head = j;
	if (db->tail == NULL)
		db->tail = j;
	j->active = 1;
	if (send_stmt(db, j, sql, nparams, params, flags) != TW_OK) {
		snprintf(j->err, sizeof j->err, "%s", PQerrorMessage(db->pg));
		db->head = j->next;
		if (db->head == NULL)
			db->tail = NULL;
		j->next = NULL;
		j->active = 0;
		return TW_ERR_DB_UNAVAILABLE;
	}
	j->sql = sql;
	j->chained = 1;
	return TW_OK;
}

void tw_db_resume(struct tw_db_job *j)
{
	if (j->active && j->paused && j->db) {
		j->paused = 0;
		kick(j->db);
	}
}
