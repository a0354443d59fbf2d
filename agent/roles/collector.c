/* SPDX-License-Identifier: MIT */
/* collector.c - the collector role: each interval, claim this agent's share of the [quotes]
 * shards buckets (cqrs/buckets.h: PostgreSQL session advisory locks, so across a fleet each
 * ticker is fetched by exactly one collector per cycle and a dead collector's buckets are taken
 * at the others' next claim), fetch the quotes of the watched tickers in the buckets held, save
 * them, and when a quote was new wake EVERY partition 0..[kafka] partitions-1 of to-alert-system
 * (kafka/wakeup.h; docs/scale.md). A failed claim fetches nothing that cycle. Up to [quotes] connections
 * fetches run in parallel; each source of the [quotes] source list has its breaker, and a
 * ticker goes to the first source whose breaker lets it through (failover, docs/quotes.md);
 * a rate limit opens the source's breaker for the time it asked; the rate cap waits on a
 * loop timer. With [quotes] regular_hours_only a quote whose market time is outside the
 * regular trading period the source gave (yahoo's currentTradingPeriod) is not new: not
 * stored, no wake-up (counted "off hours"). Every [db] prune_interval it
 * also prunes the tables past retention (docs/schema.md, Retention): sent_notifications,
 * dead_letters, rpc_requests and quotes, [db] prune_batch rows per statement, one statement
 * at a time. Metrics (/metrics, docs/http.md): fetches by source and result, each source's
 * breaker state and trips, quotes saved by source, cycles, wake-ups and pruned rows, counted
 * in this state as they happen. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/breaker.h"
#include "core/log.h"
#include "core/metrics.h"
#include "cqrs/buckets.h"
#include "cqrs/cqrs.h"
#include "kafka/kafka.h"
#include "kafka/wakeup.h"
#include "quotes/quotes.h"

#define COLLECTOR_NOT_READY_MS 1000 /* re-check the database this often before the first cycle */
#define COLLECTOR_FLUSH_MS 5000     /* bound of the producer flush at stop */
#define WAKEUP_ATTEMPTS 5           /* a failed wake-up is produced again this many times */
#define PRUNE_ROUND_BATCHES 1000    /* batches per table per round; the rest waits a round */

typedef char ticker_t[TW_QUOTES_TICKER_MAX + 1];

#define SLOTS (2 * TW_QUOTES_CONN_MAX * TW_QUOTES_SOURCES) /* a fetch and a save per connection */

enum phase { PH_IDLE, PH_QUERY, PH_FETCH };
enum slot_state { SL_FREE, SL_FETCHING, SL_SAVING };

/* How a fetch ended (tickwatch_collector_fetches_total's result label). */
enum { FR_OK, FR_REJECTED, FR_ERROR, FR_LIMITED, FRESULTS };
/* How a save ended (tickwatch_collector_quote_saves_total's result label). */
enum { SV_SAVED, SV_UNCHANGED, SV_FAILED, SV_OFF_HOURS, SRESULTS };

struct cycle_figures {
	uint64_t cycle;
	size_t tickers, saved, unchanged, rejected, failed, limited, skipped, save_failed, overflow;
	size_t off_hours; /* quotes outside the regular period ([quotes] regular_hours_only) */
	size_t by_src[TW_QUOTES_SOURCES]; /* quotes saved, per source */
	int64_t ms, fetch_ms; /* the whole cycle; until the last fetch ended */
	int woke;
};

struct collector;

/* One fetch in flight, then its quote's save (each slot its own command). */
struct slot {
	struct collector *c;
	enum slot_state st;
	unsigned src;
	struct tw_quotes_item item;
	struct tw_cqrs_op op;
};

struct collector {
	struct tw_agent *ag;
	struct tw_cqrs *db;
	struct tw_cqrs_op qop;
	struct tw_kafka k;
	struct tw_quotes src;
	struct tw_breaker br[TW_QUOTES_SOURCES];
	unsigned nsrc;
	ticker_t *tickers;
	size_t cap;
	size_t idx;
	enum phase ph;
	struct slot slot[SLOTS];
	unsigned nslots;
	long long rate_timer; /* the rate cap's wait (0: none) */
	tw_mono_t started;
	struct cycle_figures cur, last;
	uint64_t cycles, overruns;
	uint64_t wake_sent, wake_ok, wake_failed, wake_lost;
	uint64_t fetches[TW_QUOTES_SOURCES][FRESULTS]; /* since start */
	uint64_t saves[TW_QUOTES_SOURCES][SRESULTS];
	uint64_t skipped; /* tickers not fetched: every breaker open */
	int said_not_ready;
	struct tw_buckets bk; /* this agent's share of the tickers (own connection) */
	int bk_open;
	char name[64]; /* [agent] name, JSON-safe: the wake-up's key and "agent" */
	/* retention: one prune statement at a time, table after table */
	struct tw_cqrs_op pop;
	int pruning, ptable, stopping;
	unsigned pbatches;
	tw_mono_t prune_at;
	uint64_t pruned[TW_CQRS_PRUNE_TABLES], prune_rounds, prune_failed;
};

static size_t budget(const struct tw_config *cfg)
{
	return sizeof(struct collector) + (size_t)cfg->limits.tickers * sizeof(ticker_t) +
	       tw_quotes_budget(cfg);
}

static void pump(struct collector *c);

/* The opaque of a wake-up: the cycle number and the attempt, in one integer. */
static void *wake_tag(uint64_t cycle, unsigned attempt)
{
	return (void *)(uintptr_t)(cycle * 8 + attempt);
}

static void on_delivery(struct tw_kafka *k, int rc, const char *err, const rd_kafka_message_t *m,
			void *msg_opaque, void *arg)
{
	struct collector *c = arg;
	uintptr_t tag = (uintptr_t)msg_opaque;
	uint64_t cycle = tag / 8;
	unsigned attempt = (unsigned)(tag % 8);
	char why[TW_KAFKA_ERR_LEN];

	if (rc == TW_OK) {
		c->wake_ok++;
		tw_log(TW_LOG_DEBUG, "collector", "wake-up of cycle %" PRIu64 " delivered (partition %d offset %lld)",
		       cycle, (int)m->partition, (long long)m->offset);
		return;
	}
	c->wake_failed++;
	if (attempt + 1 >= WAKEUP_ATTEMPTS) {
		c->wake_lost++;
		tw_log(TW_LOG_ERROR, "collector",
		       "wake-up of cycle %" PRIu64 " given up after %u attempts: %s", cycle,
		       attempt + 1, err);
		return;
	}
	tw_log(TW_LOG_WARN, "collector", "wake-up of cycle %" PRIu64 " not delivered (%s): sending it again",
	       cycle, err);
	if (tw_wakeup_produce(k, m->partition, (int)c->ag->cfg.kafka.partitions, c->name,
			      strlen(c->name), m->payload, m->len, wake_tag(cycle, attempt + 1), why,
			      sizeof why) != TW_OK) {
		c->wake_lost++;
		tw_log(TW_LOG_ERROR, "collector", "wake-up of cycle %" PRIu64 " lost: %s", cycle, why);
	}
}

static void finish_cycle(struct collector *c)
{
	struct cycle_figures *f = &c->cur;
	char msg[320], err[TW_KAFKA_ERR_LEN], brs[160], bks[128];
	int n, parts = (int)c->ag->cfg.kafka.partitions;
	size_t queued = 0;

	f->ms = (tw_hal_now() - c->started) / TW_MONO_PER_MS;
	c->ph = PH_IDLE;
	if (f->saved > 0) {
		/* A cycle that stored a new quote wakes every partition (each alert instance runs
		 * the pass of its shards): the alert side re-reads the table. A quote already held
		 * (same market time and price: a shut market) is no news: no wake-up at all. */
		n = snprintf(msg, sizeof msg,
			     "{\"cycle\":%" PRIu64 ",\"time\":%lld,\"tickers\":%zu,\"saved\":%zu,"
			     "\"agent\":\"%s\"}",
			     f->cycle, (long long)tw_hal_wall_ms(), f->tickers, f->saved, c->name);
		if (tw_wakeup_produce_all(&c->k, parts, c->name, strlen(c->name), msg, (size_t)n,
					  wake_tag(f->cycle, 0), &queued, err, sizeof err) != TW_OK) {
			c->wake_lost += (uint64_t)parts - queued;
			tw_log(TW_LOG_ERROR, "collector",
			       "cycle %" PRIu64 ": %zu of %d wake-ups not queued: %s", f->cycle,
			       (size_t)parts - queued, parts, err);
		}
		c->wake_sent += queued;
		f->woke = queued > 0;
	}
	brs[0] = '\0';
	for (unsigned i = 0, o = 0; i < c->nsrc && o < sizeof brs; i++)
		o += (unsigned)snprintf(brs + o, sizeof brs - o, "%s%s %s %zu", i ? ", " : "",
					tw_quotes_source_name(&c->src, i),
					tw_breaker_state_name(c->br[i].state), f->by_src[i]);
	tw_log(TW_LOG_INFO, "collector",
	       "cycle %" PRIu64 ": %zu tickers, %zu saved, %zu unchanged, %zu rejected, %zu failed, "
	       "%zu skipped (breaker %s), %zu not stored, %lld ms, wake-up %s; %zu rate-limited; "
	       "fetches done in %lld ms; sources: %s; %s; %zu off hours",
	       f->cycle, f->tickers, f->saved, f->unchanged, f->rejected, f->failed, f->skipped,
	       tw_breaker_state_name(c->br[0].state), f->save_failed, (long long)f->ms,
	       f->woke ? "sent" : "none (nothing new)", f->limited, (long long)f->fetch_ms, brs,
	       tw_buckets_status(&c->bk, bks, sizeof bks), f->off_hours);
	if (f->overflow)
		tw_log(TW_LOG_WARN, "collector",
		       "%zu tickers beyond [limits] tickers (%zu) were not fetched: raise it",
		       f->overflow, c->cap);
	c->last = *f;
}

static void on_saved(void *arg, const struct tw_cqrs_result *r)
{
	struct slot *sl = arg;
	struct collector *c = sl->c;

	sl->st = SL_FREE;
	if (r->rc == TW_OK && r->count == 0) {
		c->cur.unchanged++;
		c->saves[sl->src % TW_QUOTES_SOURCES][SV_UNCHANGED]++;
	} else if (r->rc == TW_OK) {
		c->cur.saved++;
		c->cur.by_src[sl->src % TW_QUOTES_SOURCES]++;
		c->saves[sl->src % TW_QUOTES_SOURCES][SV_SAVED]++;
	} else {
		c->cur.save_failed++;
		c->saves[sl->src % TW_QUOTES_SOURCES][SV_FAILED]++;
		tw_log(TW_LOG_WARN, "collector", "quote not stored: %s", r->msg);
	}
	pump(c);
}

static void start_save(struct collector *c, struct slot *sl)
{
	/* what the source told besides the price (the previous close, currency, exchange) */
	struct tw_quote_meta meta = {
		.prev_close = sl->item.prev_close,
		.currency = sl->item.currency,
		.exchange = sl->item.exchange,
	};
	int rc;

	sl->st = SL_SAVING;
	rc = tw_cqrs_save_quote_meta(c->db, &sl->op, sl->item.ticker, sl->item.price,
				     sl->item.time_s * 1000, tw_quotes_source_name(&c->src, sl->src),
				     &meta, on_saved, sl);
	if (rc == TW_OK)
		return;
	sl->st = SL_FREE;
	c->cur.save_failed++;
	c->saves[sl->src % TW_QUOTES_SOURCES][SV_FAILED]++;
	tw_log(TW_LOG_WARN, "collector", "%s: quote not stored: %s", sl->item.ticker,
	       tw_cqrs_op_result(&sl->op)->msg);
}

static void got_quote(struct collector *c, struct slot *sl, int rc,
		      const struct tw_quotes_item *q, const char *err)
{
	struct tw_breaker *br = &c->br[sl->src];
	uint64_t *fr = c->fetches[sl->src % TW_QUOTES_SOURCES];

	sl->st = SL_FREE;
	fr[rc == TW_OK ? FR_OK : rc == TW_ERR_QUOTES_LIMITED ? FR_LIMITED :
	   tw_quotes_is_failure(rc) ? FR_ERROR : FR_REJECTED]++;
	tw_quotes_breaker_feed(&c->src, sl->src, br, rc);
	if (rc == TW_OK) {
		sl->item = *q;
		sl->item.src = sl->src;
		if (c->ag->cfg.quotes.regular_hours_only && tw_quotes_off_hours(&sl->item)) {
			/* outside the regular session: no news, nothing stored, nobody woken */
			c->cur.off_hours++;
			c->saves[sl->src % TW_QUOTES_SOURCES][SV_OFF_HOURS]++;
			tw_log(TW_LOG_DEBUG, "collector", "%s: market time %lld outside the regular "
			       "period %lld-%lld: not a new quote", sl->item.ticker,
			       (long long)sl->item.time_s, (long long)sl->item.reg_start,
			       (long long)sl->item.reg_end);
			return;
		}
		start_save(c, sl);
	} else if (rc == TW_ERR_QUOTES_LIMITED) {
		c->cur.limited++; /* the breaker holds every request for the wait it asked */
		tw_log(TW_LOG_WARN, "collector", "quote source %s rate-limited: %s",
		       tw_quotes_source_name(&c->src, sl->src), err);
	} else if (tw_quotes_is_failure(rc)) {
		c->cur.failed++;
		tw_log(TW_LOG_WARN, "collector", "quote source %s failed: %s",
		       tw_quotes_source_name(&c->src, sl->src), err);
	} else {
		/* The source answered: it works, this quote is just not usable. */
		c->cur.rejected++;
		tw_log(TW_LOG_INFO, "collector", "%s", err);
	}
}

static void on_quote(void *arg, int rc, const struct tw_quotes_item *q, const char *err)
{
	struct slot *sl = arg;
	struct collector *c = sl->c;

	c->cur.fetch_ms = (tw_hal_now() - c->started) / TW_MONO_PER_MS;
	got_quote(c, sl, rc, q, err);
	pump(c);
}

static int64_t on_rate(struct tw_loop *l, void *arg)
{
	struct collector *c = arg;

	(void)l;
	c->rate_timer = 0;
	pump(c);
	return TW_TIMER_STOP;
}

enum { PICK_WAIT = TW_QUOTES_PICK_WAIT, PICK_SKIP = TW_QUOTES_PICK_SKIP };

/* The source for the next ticker (failover: tw_quotes_pick, shared with the rpc role's ticker
 * check). */
static int pick(struct collector *c)
{
	return tw_quotes_pick(&c->src, c->br);
}

static struct slot *free_slot(struct collector *c)
{
	for (unsigned i = 0; i < c->nslots; i++) {
		if (c->slot[i].st == SL_FREE)
			return &c->slot[i];
	}
	return NULL;
}

/* Keep the connections busy (each quote saved as it comes); end the cycle when all is drained. */
static void pump(struct collector *c)
{
	char err[TW_QUOTES_ERR_LEN];
	int rc;

	while (c->ph == PH_FETCH) {
		int busy = 0, i;
		struct slot *sl;
		int64_t wait;

		for (unsigned k = 0; k < c->nslots; k++)
			busy |= c->slot[k].st != SL_FREE;
		if (c->idx >= c->cur.tickers) {
			if (!busy)
				finish_cycle(c);
			return;
		}
		i = pick(c);
		if (i == PICK_SKIP) {
			/* Every source open: skip the rest of this cycle at once, without waiting. */
			c->cur.skipped += c->cur.tickers - c->idx;
			c->skipped += c->cur.tickers - c->idx;
			c->idx = c->cur.tickers;
			continue;
		}
		sl = free_slot(c);
		if (i == PICK_WAIT || sl == NULL || c->rate_timer)
			return; /* a fetch's end, the trial's or the rate timer calls again */
		wait = tw_quotes_rate_take(&c->src, (unsigned)i);
		if (wait > 0) {
			c->rate_timer = tw_loop_add_timer(&c->ag->loop, wait, on_rate, c);
			if (c->rate_timer < 0) {
				c->rate_timer = 0;
				tw_log(TW_LOG_ERROR, "collector", "no free timer for the rate cap: raise "
				       "[limits] max_timers");
			}
			return;
		}
		if (!tw_breaker_allow(&c->br[i]))
			continue; /* pick() said it would: state moved on, ask again */
		sl->src = (unsigned)i;
		sl->st = SL_FETCHING;
		rc = tw_quotes_fetch_from(&c->src, (unsigned)i, c->tickers[c->idx++], &sl->item,
					  on_quote, sl, err, sizeof err);
		if (rc == TW_ERR_WOULD_BLOCK)
			continue;
		got_quote(c, sl, rc, &sl->item, err);
	}
}

static int on_ticker(void *arg, const char *ticker)
{
	struct collector *c = arg;

	if (tw_quotes_check_ticker(ticker) != TW_OK) {
		c->cur.rejected++;
		tw_log(TW_LOG_WARN, "collector", "ticker '%.20s' in the database is not valid: skipped",
		       ticker);
		return 0;
	}
	if (!tw_buckets_holds_ticker(&c->bk, ticker))
		return 0; /* another collector's bucket this cycle */
	if (c->cur.tickers == c->cap) {
		c->cur.overflow++;
		return 0;
	}
	snprintf(c->tickers[c->cur.tickers++], sizeof(ticker_t), "%s", ticker);
	return 0;
}

static void on_tickers(void *arg, const struct tw_cqrs_result *r)
{
	struct collector *c = arg;

	if (r->rc != TW_OK) {
		tw_log(TW_LOG_ERROR, "collector", "cycle %" PRIu64 ": cannot read the tickers: %s",
		       c->cur.cycle, r->msg);
		c->ph = PH_IDLE;
		return;
	}
	c->ph = PH_FETCH;
	c->idx = 0;
	pump(c);
}

/* This cycle's buckets are known: read the tickers (on_ticker keeps the ones held). */
static void on_claimed(struct tw_buckets *b, int rc, void *arg)
{
	struct collector *c = arg;

	if (c->stopping)
		return;
	if (rc != TW_OK) {
		/* nothing is held: fetching nothing beats fetching a peer's tickers twice */
		tw_log(TW_LOG_ERROR, "collector", "cycle %" PRIu64 ": buckets not claimed (%s): "
		       "nothing fetched this cycle", c->cur.cycle, b->err);
		c->ph = PH_IDLE;
		return;
	}
	rc = tw_cqrs_distinct_tickers(c->db, &c->qop, on_ticker, on_tickers, c);
	if (rc != TW_OK) {
		tw_log(TW_LOG_ERROR, "collector", "cycle %" PRIu64 ": cannot read the tickers: %s",
		       c->cur.cycle, tw_cqrs_op_result(&c->qop)->msg);
		c->ph = PH_IDLE;
	}
}

static void start_cycle(struct collector *c)
{
	memset(&c->cur, 0, sizeof c->cur);
	c->cur.cycle = ++c->cycles;
	c->started = tw_hal_now();
	c->ph = PH_QUERY;
	tw_quotes_cycle(&c->src);
	if (tw_buckets_claim(&c->bk, on_claimed, c) != TW_OK) {
		tw_log(TW_LOG_ERROR, "collector", "cycle %" PRIu64 ": buckets not claimed (%s): "
		       "nothing fetched this cycle", c->cur.cycle, c->bk.err);
		c->ph = PH_IDLE;
	}
}

static int start(struct tw_agent *ag, void **state, char *err, size_t errlen)
{
	const struct tw_config *cfg = &ag->cfg;
	struct collector *c = tw_arena_carve(&ag->arena, sizeof *c, "collector role", "arena_kb");
	struct tw_kafka_opts o = {
		.kind = TW_KAFKA_PRODUCER,
		.role = "collector",
		.linger_ms = 0,
		.on_delivery = on_delivery,
	};
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	c->ag = ag;
	for (size_t i = 0; i < sizeof c->name - 1 && cfg->agent.name[i]; i++) {
		char ch = cfg->agent.name[i];

		c->name[i] = (isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.') ? ch
											       : '_';
	}
	c->cap = (size_t)cfg->limits.tickers;
	c->tickers = tw_arena_carve(&ag->arena, c->cap * sizeof(ticker_t), "collector tickers",
				    "tickers");
	if (c->tickers == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	rc = tw_quotes_open(&c->src, cfg, &ag->loop, &ag->arena, err, errlen);
	if (rc != TW_OK)
		return rc;
	c->nsrc = tw_quotes_sources(&c->src);
	for (unsigned i = 0; i < c->nsrc; i++) {
		char bn[32];

		/* one source: "quotes"; a list: "quotes-yahoo", "quotes-stooq" */
		if (c->nsrc == 1)
			snprintf(bn, sizeof bn, "quotes");
		else
			snprintf(bn, sizeof bn, "quotes-%s", tw_quotes_source_name(&c->src, i));
		tw_breaker_init(&c->br[i], bn, (unsigned)cfg->quotes.breaker_failures,
				cfg->quotes.breaker_recovery_ms);
	}
	c->nslots = c->src.kind == 1 ? 1 : 0;
	for (unsigned i = 0; c->src.kind != 1 && i < c->nsrc; i++)
		c->nslots += 2 * c->src.src[i].nconn; /* the next fetch runs while a quote is saved */
	if (c->nslots > SLOTS)
		c->nslots = SLOTS;
	for (unsigned i = 0; i < SLOTS; i++)
		c->slot[i].c = c;
	o.arg = c;
	rc = tw_kafka_open(&c->k, cfg, &ag->loop, &o, err, errlen);
	if (rc != TW_OK) {
		tw_quotes_close(&c->src);
		return rc;
	}
	c->db = tw_cqrs_open(ag, err, errlen);
	if (c->db == NULL) {
		tw_kafka_close(&c->k, 0);
		tw_quotes_close(&c->src);
		return TW_ERR_IO;
	}
	rc = tw_buckets_open(&c->bk, &ag->loop, cfg->db.write_url, cfg->db.connect_timeout_ms,
			     cfg->db.statement_timeout_ms, TW_BUCKETS_NS_COLLECT,
			     (int)cfg->quotes.shards, err, errlen);
	if (rc != TW_OK) {
		tw_cqrs_close(c->db);
		c->db = NULL;
		tw_kafka_close(&c->k, 0);
		tw_quotes_close(&c->src);
		return rc;
	}
	c->bk_open = 1;
	*state = c;
	tw_log(TW_LOG_INFO, "collector",
	       "source %s%s%s, every %lld ms, up to %zu tickers, %lld connections, %lld requests/s",
	       c->src.name, c->src.kind ? " " : " at ",
	       c->src.kind ? cfg->quotes.source + 7 : cfg->quotes.base,
	       (long long)cfg->quotes.interval_ms, c->cap, (long long)cfg->quotes.connections,
	       (long long)cfg->quotes.rate);
	return TW_OK;
}

/* ---- retention ---- */

static const char *const prune_names[TW_CQRS_PRUNE_TABLES] = {
	"sent_notifications", "dead_letters", "rpc_requests", "quotes"};

static int64_t prune_age(const struct tw_config *cfg, int table)
{
	switch (table) {
	case TW_CQRS_PRUNE_SENT:
		return cfg->db.retain_sent_ms;
	case TW_CQRS_PRUNE_DEAD:
		return cfg->db.retain_dead_letters_ms;
	case TW_CQRS_PRUNE_REQUESTS:
		return cfg->rpc.request_ttl_ms; /* an id past it is free for reuse already */
	default:
		return cfg->db.retain_quotes_ms;
	}
}

static void prune_next(struct collector *c);

static void on_pruned(void *arg, const struct tw_cqrs_result *r)
{
	struct collector *c = arg;

	c->pruning = 0;
	if (c->stopping)
		return;
	if (r->rc != TW_OK) {
		c->prune_failed++;
		tw_log(TW_LOG_WARN, "collector", "prune of %s: %s (tried again in [db] prune_interval)",
		       prune_names[c->ptable], r->msg);
		c->ptable = TW_CQRS_PRUNE_TABLES;
		return;
	}
	c->pruned[c->ptable] += (uint64_t)r->count;
	if (r->count < c->ag->cfg.db.prune_batch || ++c->pbatches >= PRUNE_ROUND_BATCHES) {
		if (c->pbatches || r->count)
			tw_log(TW_LOG_INFO, "collector", "pruned %s: %" PRIu64 " rows so far",
			       prune_names[c->ptable], c->pruned[c->ptable]);
		c->ptable++;
		c->pbatches = 0;
	}
	prune_next(c);
}

/* The next batch of the round, or the round's end. */
static void prune_next(struct collector *c)
{
	const struct tw_config *cfg = &c->ag->cfg;

	if (c->ptable >= TW_CQRS_PRUNE_TABLES) {
		c->prune_rounds++;
		return;
	}
	if (tw_cqrs_prune(c->db, &c->pop, c->ptable, prune_age(cfg, c->ptable), cfg->db.prune_batch,
			  on_pruned, c) == TW_OK) {
		c->pruning = 1;
		return;
	}
	c->prune_failed++;
	tw_log(TW_LOG_WARN, "collector", "prune of %s not started: %s", prune_names[c->ptable],
	       tw_cqrs_op_result(&c->pop)->msg);
	c->ptable = TW_CQRS_PRUNE_TABLES;
}

static void maybe_prune(struct collector *c)
{
	tw_mono_t now = tw_hal_now();

	if (c->pruning || now < c->prune_at)
		return;
	c->prune_at = now + c->ag->cfg.db.prune_interval_ms * TW_MONO_PER_MS;
	c->ptable = 0;
	c->pbatches = 0;
	prune_next(c);
}

/* Called every [quotes] interval (drift-free: the loop keeps the phase). */
static int64_t step(struct tw_agent *ag, void *state)
{
	struct collector *c = state;
	int64_t interval = ag->cfg.quotes.interval_ms;

	if (!tw_cqrs_ready(c->db) || !tw_db_ready(&c->bk.db)) { /* both connections up */
		if (!c->said_not_ready)
			tw_log(TW_LOG_INFO, "collector", "waiting for the database before the first cycle");
		c->said_not_ready = 1;
		return COLLECTOR_NOT_READY_MS;
	}
	maybe_prune(c);
	if (c->ph != PH_IDLE) {
		c->overruns++;
		tw_log(TW_LOG_WARN, "collector",
		       "cycle %" PRIu64 " still running after %lld ms: this tick is skipped",
		       c->cur.cycle, (long long)((tw_hal_now() - c->started) / TW_MONO_PER_MS));
		return interval;
	}
	start_cycle(c);
	return interval;
}

static void stop(struct tw_agent *ag, void *state)
{
	struct collector *c = state;

	c->ph = PH_IDLE;
	c->stopping = 1;
	if (c->rate_timer > 0)
		tw_loop_del_timer(&ag->loop, c->rate_timer);
	c->rate_timer = 0;
	tw_quotes_close(&c->src);
	tw_kafka_close(&c->k, COLLECTOR_FLUSH_MS);
	tw_cqrs_close(c->db);
	c->db = NULL;
	if (c->bk_open)
		tw_buckets_close(&c->bk); /* the session's locks go with it */
	c->bk_open = 0;
}

static void status(struct tw_agent *ag, void *state, char *buf, size_t len)
{
	struct collector *c = state;
	const struct cycle_figures *f = &c->last;
	char br[320], src[320], bks[128];
	size_t o = 0, so = 0;

	(void)ag;
	br[0] = src[0] = '\0';
	for (unsigned i = 0; i < c->nsrc && o < sizeof br - 2 && so < sizeof src - 2; i++) {
		char one[160], q[200];

		o += (size_t)snprintf(br + o, sizeof br - o, "%s%s", i ? "; " : "",
				      tw_breaker_status(&c->br[i], one, sizeof one));
		tw_quotes_status(&c->src, i, q, sizeof q);
		so += (size_t)snprintf(src + so, sizeof src - so, "%s%s", i ? "; " : "", q);
	}
	snprintf(buf, len,
		 "%s cycle %" PRIu64 "; last: %zu tickers, %zu saved, %zu unchanged, %zu rejected, %zu failed, "
		 "%zu skipped in %lld ms; wake-ups %" PRIu64 " sent, %" PRIu64 " delivered, %" PRIu64
		 " lost; %s; pruned %" PRIu64 " sent, %" PRIu64 " dead, %" PRIu64 " requests, %" PRIu64
		 " quotes in %" PRIu64 " rounds (%" PRIu64 " failed); %s; %s",
		 c->ph == PH_IDLE ? "idle after" : "running", c->ph == PH_IDLE ? f->cycle : c->cur.cycle,
		 f->tickers, f->saved, f->unchanged, f->rejected, f->failed, f->skipped, (long long)f->ms,
		 c->wake_sent, c->wake_ok, c->wake_lost, br, c->pruned[0], c->pruned[1], c->pruned[2],
		 c->pruned[3], c->prune_rounds, c->prune_failed, src,
		 tw_buckets_status(&c->bk, bks, sizeof bks));
}

static void metrics(struct tw_agent *ag, void *state, struct tw_metrics *m)
{
	const struct collector *c = state;
	static const char *const fres[FRESULTS] = {"ok", "rejected", "error", "rate_limited"};
	static const char *const sres[SRESULTS] = {"saved", "unchanged", "failed", "off_hours"};

	(void)ag;
	tw_metrics_family(m, "tickwatch_collector_fetches_total", "counter",
			  "quote fetches by source and result: ok, rejected (no usable quote), error "
			  "(counts against the breaker), rate_limited");
	for (unsigned i = 0; i < c->nsrc; i++)
		for (int r = 0; r < FRESULTS; r++)
			tw_metrics_int(m, "tickwatch_collector_fetches_total",
				       (const struct tw_metric_label[]){
					       {"source", tw_quotes_source_name(&c->src, i)},
					       {"result", fres[r]},
					       {NULL, NULL}},
				       (int64_t)c->fetches[i][r]);
	tw_metrics_family(m, "tickwatch_collector_breaker_state", "gauge",
			  "each quote source's circuit breaker: 0 closed, 1 open, 2 half-open");
	for (unsigned i = 0; i < c->nsrc; i++)
		tw_metrics_int(m, "tickwatch_collector_breaker_state",
			       (const struct tw_metric_label[]){
				       {"source", tw_quotes_source_name(&c->src, i)}, {NULL, NULL}},
			       c->br[i].state == TW_BREAKER_OPEN ? 1 :
			       c->br[i].state == TW_BREAKER_HALF_OPEN ? 2 : 0);
	tw_metrics_family(m, "tickwatch_collector_breaker_trips_total", "counter",
			  "times each quote source's breaker opened");
	for (unsigned i = 0; i < c->nsrc; i++)
		tw_metrics_int(m, "tickwatch_collector_breaker_trips_total",
			       (const struct tw_metric_label[]){
				       {"source", tw_quotes_source_name(&c->src, i)}, {NULL, NULL}},
			       (int64_t)c->br[i].trips);
	tw_metrics_family(m, "tickwatch_collector_quote_saves_total", "counter",
			  "fetched quotes stored by source: saved (new), unchanged (already held), "
			  "failed, off_hours (outside the regular period: not stored)");
	for (unsigned i = 0; i < c->nsrc; i++)
		for (int r = 0; r < SRESULTS; r++)
			tw_metrics_int(m, "tickwatch_collector_quote_saves_total",
				       (const struct tw_metric_label[]){
					       {"source", tw_quotes_source_name(&c->src, i)},
					       {"result", sres[r]},
					       {NULL, NULL}},
				       (int64_t)c->saves[i][r]);
	tw_metrics_family(m, "tickwatch_collector_skipped_total", "counter",
			  "tickers not fetched because every source's breaker was open");
	tw_metrics_int(m, "tickwatch_collector_skipped_total", NULL, (int64_t)c->skipped);
	tw_metrics_family(m, "tickwatch_collector_cycles_total", "counter",
			  "collection cycles started");
	tw_metrics_int(m, "tickwatch_collector_cycles_total", NULL, (int64_t)c->cycles);
	tw_metrics_family(m, "tickwatch_collector_cycle_overruns_total", "counter",
			  "interval ticks skipped because the previous cycle still ran");
	tw_metrics_int(m, "tickwatch_collector_cycle_overruns_total", NULL, (int64_t)c->overruns);
	tw_metrics_family(m, "tickwatch_collector_wakeups_total", "counter",
			  "to-alert-system wake-ups: queued, delivered, failed (then sent again) and "
			  "lost (given up)");
	tw_metrics_int(m, "tickwatch_collector_wakeups_total",
		       (const struct tw_metric_label[]){{"result", "queued"}, {NULL, NULL}},
		       (int64_t)c->wake_sent);
	tw_metrics_int(m, "tickwatch_collector_wakeups_total",
		       (const struct tw_metric_label[]){{"result", "delivered"}, {NULL, NULL}},
		       (int64_t)c->wake_ok);
	tw_metrics_int(m, "tickwatch_collector_wakeups_total",
		       (const struct tw_metric_label[]){{"result", "failed"}, {NULL, NULL}},
		       (int64_t)c->wake_failed);
	tw_metrics_int(m, "tickwatch_collector_wakeups_total",
		       (const struct tw_metric_label[]){{"result", "lost"}, {NULL, NULL}},
		       (int64_t)c->wake_lost);
	tw_metrics_family(m, "tickwatch_collector_pruned_rows_total", "counter",
			  "rows deleted past retention, by table");
	for (int t = 0; t < TW_CQRS_PRUNE_TABLES; t++)
		tw_metrics_int(m, "tickwatch_collector_pruned_rows_total",
			       (const struct tw_metric_label[]){{"table", prune_names[t]},
								{NULL, NULL}},
			       (int64_t)c->pruned[t]);
	tw_metrics_family(m, "tickwatch_collector_prune_failures_total", "counter",
			  "prune statements that failed or were not started");
	tw_metrics_int(m, "tickwatch_collector_prune_failures_total", NULL,
		       (int64_t)c->prune_failed);
	tw_metrics_family(m, "tickwatch_collector_producer_queue_messages", "gauge",
			  "messages and requests in the producer's librdkafka queue");
	tw_metrics_int(m, "tickwatch_collector_producer_queue_messages", NULL,
		       c->stopping ? 0 : tw_kafka_outq_len(&c->k));
}

const struct tw_role tw_role_collector = {
	.name = "collector",
	.metrics = metrics,
	.budget = budget,
	.start = start,
	.step = step,
	.stop = stop,
	.status = status,
};
