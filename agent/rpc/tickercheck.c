/* SPDX-License-Identifier: MIT */
/* tickercheck.c - [rpc] check_tickers: user.register and user.update_ticker ask the quote source
 * whether the ticker exists before the command runs (docs/rpc.md, "Unknown tickers").
 *
 * The check reuses agent/quotes (the collector's HTTP client, Yahoo session and parsers) with
 * a source list of its own, opened at start from [quotes] with at most TC_CONNS connections
 * per source, its own rate cap and one breaker per source. Each rpc slot (the console's too)
 * owns one check slot (a slot runs one request at a time), so checks are bounded by the slots;
 * fetches are bounded by the connections, and a check waiting for a free connection waits in
 * arrival order. Each check is bounded by [quotes] timeout on a loop timer, whatever the
 * fetch does; the check's own rate cap ([quotes] rate, apart from the collector's) holds a
 * check only when its turn comes before that time-out (else it is decided at once). The
 * verdict:
 *   - the source answered a chart for it (a quote, or a quote rejected on its merits): known,
 *     the command runs, users.ticker_verified = true;
 *   - the source says it does not know it (chart.error Not Found, an empty result, Stooq N/D):
 *     -32002 "unknown ticker", no command;
 *   - the source failed, was rate-limited, every breaker is open, or the time-out came first:
 *     the command runs, users.ticker_verified = false (a registration never fails because the
 *     source is down).
 * A register writes its verdict into the user's row in the register's own statement; an update
 * of the ticker records it after the command (SetTickerVerified).
 * A fetch outlives a timed-out check (the connection ends it under its own time-outs); its
 * answer still feeds the breaker and is otherwise dropped. Nothing here blocks the loop, and
 * the server's over() is always called from a loop callback, never from inside the dispatch.
 */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/breaker.h"
#include "core/log.h"
#include "quotes/quotes.h"
#include "rpc_int.h"

#define TC_CONNS 2 /* connections per source at most: registrations are rare next to quotes */
#define TC_FETCHES ((size_t)TW_QUOTES_SOURCES * TW_QUOTES_CONN_MAX)

enum { TC_FREE, TC_WAIT, TC_FETCH, TC_COMMAND, TC_MARK };
enum { TC_REGISTER, TC_UPDATE };
enum { V_UNVERIFIED = 0, V_KNOWN = 1, V_UNKNOWN = 2 };

struct tw_tcheck;
struct tc_slot;

/* One fetch on a connection of the check's sources; its check may have given up on it. */
struct tc_fetch {
	struct tw_tcheck *tc;
	struct tc_slot *owner; /* NULL: free, or orphaned by a time-out */
	int busy;
	unsigned src;
	struct tw_quotes_item item;
};

struct tc_slot {
	struct tw_tcheck *tc;
	struct rpc_slot *s;
	int state, kind;
	uint64_t seq; /* arrival order, for the wait for a connection */
	struct rpc_params p;
	const struct rpc_method *m;
	char ticker[TW_CQRS_TICKER_MAX + 1]; /* as the command will store it */
	tw_cqrs_done_fn answer;              /* methods.c's: renders the row, calls over() */
	long long timer;
	tw_mono_t deadline; /* [quotes] timeout after the call came */
	struct tc_fetch *f;
	int verdict;
	struct tw_cqrs_result res; /* the command's outcome, kept while the flag is written */
	struct tw_user user;
};

struct tw_tcheck {
	struct tw_rpc *rpc;
	struct tw_config *cfg; /* [quotes] as configured, connections capped at TC_CONNS */
	struct tw_quotes q;
	struct tw_breaker br[TW_QUOTES_SOURCES];
	unsigned nsrc;
	struct tc_slot *slots;
	size_t nslots;
	struct tc_fetch fetch[TC_FETCHES];
	long long kick;
	uint64_t seq;
	int64_t timeout_ms;
	uint64_t known, unknown, unverified;
};

/* The check runs for a network source only: a replay file knows only its recorded tickers. */
static int wanted_cfg(const struct tw_config *cfg)
{
	return cfg->rpc.check_tickers && strncmp(cfg->quotes.source, "replay:", 7) != 0;
}

static size_t nslots_of(const struct tw_config *cfg)
{
	return (size_t)cfg->limits.rpc_slots + 1; /* + the console's */
}

static struct tw_config *capped_copy(const struct tw_config *cfg, struct tw_config *out)
{
	*out = *cfg;
	if (out->quotes.connections > TC_CONNS)
		out->quotes.connections = TC_CONNS;
	return out;
}

size_t tw_rpc_tcheck_budget(const struct tw_config *cfg)
{
	static struct tw_config copy; /* sizing only, at start */

	if (!wanted_cfg(cfg))
		return 0;
	return sizeof(struct tw_tcheck) + sizeof(struct tw_config) +
	       nslots_of(cfg) * sizeof(struct tc_slot) + tw_quotes_budget(capped_copy(cfg, &copy)) +
	       256;
}

int tw_rpc_tcheck_open(struct tw_rpc *r, char *err, size_t errlen)
{
	struct tw_agent *ag = r->ag;
	struct tw_tcheck *tc;
	int rc;

	r->tc = NULL;
	if (!wanted_cfg(&ag->cfg))
		return TW_OK;
	tc = tw_arena_carve(&ag->arena, sizeof *tc, "rpc ticker check", "arena_kb");
	if (tc) {
		memset(tc, 0, sizeof *tc);
		tc->cfg = tw_arena_carve(&ag->arena, sizeof *tc->cfg, "rpc ticker check config",
					 "arena_kb");
		tc->nslots = nslots_of(&ag->cfg);
		tc->slots = tw_arena_carve(&ag->arena, tc->nslots * sizeof *tc->slots,
					   "rpc ticker check slots", "rpc_slots");
	}
	if (tc == NULL || tc->cfg == NULL || tc->slots == NULL) {
		snprintf(err, errlen, "rpc ticker check: %s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	memset(tc->slots, 0, tc->nslots * sizeof *tc->slots);
	capped_copy(&ag->cfg, tc->cfg);
	rc = tw_quotes_open(&tc->q, tc->cfg, &ag->loop, &ag->arena, err, errlen);
	if (rc != TW_OK)
		return rc;
	tc->rpc = r;
	tc->timeout_ms = ag->cfg.quotes.timeout_ms;
	tc->nsrc = tw_quotes_sources(&tc->q);
	for (unsigned i = 0; i < tc->nsrc; i++) {
		char bn[32];

		snprintf(bn, sizeof bn, "tickercheck-%s", tw_quotes_source_name(&tc->q, i));
		tw_breaker_init(&tc->br[i], bn, (unsigned)ag->cfg.quotes.breaker_failures,
				ag->cfg.quotes.breaker_recovery_ms);
	}
	for (size_t i = 0; i < tc->nslots; i++)
		tc->slots[i].tc = tc;
	for (size_t i = 0; i < TC_FETCHES; i++)
		tc->fetch[i].tc = tc;
	r->tc = tc;
	tw_log(TW_LOG_INFO, "rpc", "tickers checked against %s at registration ([rpc] "
	       "check_tickers), %lld ms at most each", tc->q.name, (long long)tc->timeout_ms);
	return TW_OK;
}

void tw_rpc_tcheck_close(struct tw_rpc *r)
{
	struct tw_tcheck *tc = r->tc;

	if (tc == NULL)
		return;
	for (size_t i = 0; i < tc->nslots; i++) {
		if (tc->slots[i].timer > 0)
			tw_loop_del_timer(r->loop, tc->slots[i].timer);
		tc->slots[i].timer = 0;
		tc->slots[i].state = TC_FREE;
	}
	if (tc->kick > 0)
		tw_loop_del_timer(r->loop, tc->kick);
	tc->kick = 0;
	tw_quotes_close(&tc->q);
	r->tc = NULL;
}

int tw_rpc_tcheck_wanted(const struct rpc_slot *s, const struct rpc_params *p)
{
	char t[TW_CQRS_TICKER_MAX + 1], why[TW_CQRS_MSG_MAX];

	/* An invalid e-mail or ticker is the command's to refuse, at once, without a fetch. */
	return s->rpc->tc != NULL && tw_cqrs_check_email(p->email, why, sizeof why) == TW_OK &&
	       tw_cqrs_check_ticker(p->ticker, t, why, sizeof why) == TW_OK &&
	       tw_quotes_check_ticker(t) == TW_OK;
}

static void pump(struct tw_tcheck *tc);

/* ---- the end: the command (a register with its verdict in the same statement; an update
 * then the flag), then methods.c's answer ---- */

static void end_slot(struct tc_slot *cs)
{
	if (cs->timer > 0)
		tw_loop_del_timer(&cs->s->rpc->ag->loop, cs->timer);
	cs->timer = 0;
	if (cs->f)
		cs->f->owner = NULL; /* the fetch ends on its own; its answer is dropped */
	cs->f = NULL;
	cs->state = TC_FREE;
}

/* Answer through methods.c's done (it renders the row and calls over()): the slot is free
 * first, as over() may start the slot's next request at once. */
static void answer_with(struct tc_slot *cs, const struct tw_cqrs_result *r)
{
	tw_cqrs_done_fn fn = cs->answer;
	struct rpc_slot *s = cs->s;

	end_slot(cs);
	fn(s, r);
}

static void on_marked(void *arg, const struct tw_cqrs_result *r)
{
	struct tc_slot *cs = arg;

	if (r->rc != TW_OK)
		tw_log(TW_LOG_WARN, "rpc", "%s: ticker %s registered, its check not recorded: %s",
		       cs->s->peer, cs->ticker, r->msg);
	answer_with(cs, &cs->res);
}

static void on_command(void *arg, const struct tw_cqrs_result *r)
{
	struct tc_slot *cs = arg;
	struct rpc_slot *s = cs->s;

	if (r->rc != TW_OK || r->replayed || r->legacy_response || r->user == NULL ||
	    cs->kind == TC_REGISTER) {
		/* a failure or a replay: answered as without the check; a register stored its
		 * verdict in the user's row, in the same statement */
		answer_with(cs, r);
		return;
	}
	/* keep the outcome (the op is reused for the flag), then record the verdict */
	cs->user = *r->user;
	cs->res = *r;
	cs->res.user = &cs->user;
	cs->res.msg = "";
	cs->res.field = NULL;
	cs->state = TC_MARK;
	if (tw_cqrs_set_ticker_verified(s->rpc->q, &s->op, cs->user.email, cs->user.ticker,
					cs->verdict == V_KNOWN, on_marked, cs) != TW_OK) {
		tw_log(TW_LOG_WARN, "rpc", "%s: ticker %s registered, its check not recorded: %s",
		       s->peer, cs->ticker, tw_cqrs_op_result(&s->op)->msg);
		answer_with(cs, &cs->res);
	}
}

static void decide(struct tc_slot *cs, int verdict, const char *why)
{
	struct tw_tcheck *tc = cs->tc;
	struct rpc_slot *s = cs->s;
	struct tw_cqrs_idem idem = {.request_id = cs->p.request_id, .method = cs->m->name,
				    .ttl_ms = s->rpc->ttl_ms};
	int rc;

	if (cs->timer > 0)
		tw_loop_del_timer(&s->rpc->ag->loop, cs->timer);
	cs->timer = 0;
	if (cs->f)
		cs->f->owner = NULL;
	cs->f = NULL;
	cs->verdict = verdict;
	if (verdict == V_UNKNOWN) {
		tc->unknown++;
		tw_log(TW_LOG_INFO, "rpc", "%s: %s refused: unknown ticker %s (%s)", s->peer,
		       cs->m->name, cs->ticker, why);
		tw_rpc_respond_error(s, TW_RPC_VALIDATION, "unknown ticker", "ticker");
		end_slot(cs);
		s->over(s);
		return;
	}
	if (verdict == V_KNOWN) {
		tc->known++;
	} else {
		tc->unverified++;
		tw_log(TW_LOG_INFO, "rpc", "%s: ticker %s accepted unverified: %s", s->peer,
		       cs->ticker, why);
	}
	cs->state = TC_COMMAND;
	if (cs->kind == TC_REGISTER)
		rc = tw_cqrs_register_user_verified(s->rpc->q, &s->op, cs->p.email, cs->p.ticker,
						    cs->p.high, cs->p.low, verdict == V_KNOWN,
						    &idem, on_command, cs);
	else
		rc = tw_cqrs_update_ticker(s->rpc->q, &s->op, cs->p.email, cs->p.ticker, &idem,
					   on_command, cs);
	if (rc != TW_OK) {
		tw_rpc_respond_failure(s, tw_cqrs_op_result(&s->op));
		end_slot(cs);
		s->over(s);
	}
}

/* ---- the fetch ---- */

static void on_fetched(void *arg, int rc, const struct tw_quotes_item *q, const char *err)
{
	struct tc_fetch *f = arg;
	struct tw_tcheck *tc = f->tc;
	struct tc_slot *cs = f->owner;
	int verdict = V_UNVERIFIED;

	f->busy = 0;
	f->owner = NULL;
	tw_quotes_breaker_feed(&tc->q, f->src, &tc->br[f->src], rc);
	if (rc == TW_OK)
		verdict = V_KNOWN;
	else if (rc != TW_ERR_QUOTES_LIMITED && !tw_quotes_is_failure(rc))
		verdict = q && q->unknown ? V_UNKNOWN : V_KNOWN; /* the source answered about it */
	if (cs && cs->state == TC_FETCH && cs->f == f)
		decide(cs, verdict, rc == TW_OK ? "known" : err);
	pump(tc);
}

static struct tc_slot *oldest_waiting(struct tw_tcheck *tc)
{
	struct tc_slot *best = NULL;

	for (size_t i = 0; i < tc->nslots; i++) {
		struct tc_slot *cs = &tc->slots[i];

		if (cs->state == TC_WAIT && (best == NULL || cs->seq < best->seq))
			best = cs;
	}
	return best;
}

static struct tc_fetch *free_fetch(struct tw_tcheck *tc)
{
	for (size_t i = 0; i < TC_FETCHES; i++) {
		if (!tc->fetch[i].busy)
			return &tc->fetch[i];
	}
	return NULL;
}

/* The loop's turn after a call came or the rate cap's wait: the waiting checks go on. */
static int64_t on_kick(struct tw_loop *l, void *arg)
{
	(void)l;
	((struct tw_tcheck *)arg)->kick = 0;
	pump(arg);
	return TW_TIMER_STOP;
}

static void kick_in(struct tw_tcheck *tc, int64_t ms)
{
	if (tc->kick > 0)
		return;
	tc->kick = tw_loop_add_timer(&tc->rpc->ag->loop, ms, on_kick, tc);
	if (tc->kick < 0)
		tc->kick = 0; /* each check's own time-out still ends it */
}

/* Start the waiting checks, oldest first, while a source has a free connection. Called from
 * the loop only (a timer or a fetch's end). */
static void pump(struct tw_tcheck *tc)
{
	char err[TW_QUOTES_ERR_LEN];

	for (;;) {
		struct tc_slot *cs = oldest_waiting(tc);
		struct tc_fetch *f;
		int i, rc;
		int64_t wait;

		if (cs == NULL)
			return;
		i = tw_quotes_pick(&tc->q, tc->br);
		if (i == TW_QUOTES_PICK_SKIP) {
			decide(cs, V_UNVERIFIED, "every quote source's breaker is open");
			continue;
		}
		f = free_fetch(tc);
		if (i == TW_QUOTES_PICK_WAIT || f == NULL)
			return; /* a fetch's end calls again */
		wait = tw_quotes_rate_take(&tc->q, (unsigned)i);
		if (wait > 0 && tw_hal_now() + wait * TW_MONO_PER_MS >= cs->deadline) {
			/* the rate cap would hold it past its time-out: no reason to wait for that */
			decide(cs, V_UNVERIFIED, "[quotes] rate spent for the time-out");
			continue;
		}
		if (wait > 0) {
			kick_in(tc, wait);
			return;
		}
		if (!tw_breaker_allow(&tc->br[i]))
			continue; /* its state moved on: ask again */
		memset(&f->item, 0, sizeof f->item);
		f->busy = 1;
		f->owner = cs;
		f->src = (unsigned)i;
		cs->f = f;
		cs->state = TC_FETCH;
		rc = tw_quotes_fetch_from(&tc->q, (unsigned)i, cs->ticker, &f->item, on_fetched, f,
					  err, sizeof err);
		if (rc != TW_ERR_WOULD_BLOCK) {
			on_fetched(f, rc, &f->item, err); /* it decides, then pumps again */
			return;
		}
	}
}

static int64_t on_timeout(struct tw_loop *l, void *arg)
{
	struct tc_slot *cs = arg;

	(void)l;
	cs->timer = 0;
	if (cs->state == TC_WAIT || cs->state == TC_FETCH)
		decide(cs, V_UNVERIFIED, "no answer within [quotes] timeout");
	return TW_TIMER_STOP;
}

int tw_rpc_tcheck_start(struct rpc_slot *s, const struct rpc_method *m,
			const struct rpc_params *p, tw_cqrs_done_fn answer)
{
	struct tw_tcheck *tc = s->rpc->tc;
	struct tc_slot *cs = &tc->slots[(size_t)(s - s->rpc->slots) % tc->nslots];
	char why[TW_CQRS_MSG_MAX];

	cs->s = s;
	cs->m = m;
	cs->p = *p;
	cs->answer = answer;
	cs->kind = strcmp(m->name, "user.register") == 0 ? TC_REGISTER : TC_UPDATE;
	cs->f = NULL;
	(void)tw_cqrs_check_ticker(p->ticker, cs->ticker, why, sizeof why); /* checked: wanted */
	cs->seq = ++tc->seq;
	cs->state = TC_WAIT;
	cs->deadline = tw_hal_now() + tc->timeout_ms * TW_MONO_PER_MS;
	cs->timer = tw_loop_add_timer(&s->rpc->ag->loop, tc->timeout_ms, on_timeout, cs);
	if (cs->timer < 0)
		cs->timer = 0; /* without its own timer the source's time-outs bound it */
	kick_in(tc, 0); /* from the loop: over() is never called inside the dispatch */
	return RPC_PENDING;
}
