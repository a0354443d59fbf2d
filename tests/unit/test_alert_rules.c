/* SPDX-License-Identifier: MIT */
/* test_alert_rules.c - tw_alert_evaluate() (a further alert) against docs/alerts.md: the
 * examples of its tables as exact e-mail lists along price paths, and an oracle written from
 * the documented rules (no code of decide.c) over seeded random paths wobbling at a level
 * (and, for the percent move, at both thresholds around a previous close).
 *
 * A path is walked as the alert pass would walk it: each quote evaluated, an e-mail or a
 * re-arm applied to the state, as AdvanceAlert and the re-arm would store it. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"

struct alert_cfg {
	int kind;
	double level, level2;
	int frequency;
	int64_t cooldown_s;
	double rearm_pct;
	int64_t expires_ms;
};

struct sent {
	int n;
	int idx[64];  /* which quote of the path */
	int cond[64];
	double thr[64]; /* the threshold of each e-mail */
	int disabled; /* 0, TW_ALERT_DISABLE_ONCE or _EXPIRED at the end */
};

#define MIN_MS 60000LL
#define DAY_MS 86400000LL

static void walk_prev(const struct alert_cfg *c, const double *v, const double *prev, int n,
		      int64_t t0, int64_t step_ms, struct sent *out);

/* The path through tw_alert_evaluate(): quote i at t0 + i * step_ms, the clock at its time. */
static void walk(const struct alert_cfg *c, const double *v, int n, int64_t t0, int64_t step_ms,
		 struct sent *out)
{
	walk_prev(c, v, NULL, n, t0, step_ms, out);
}

/* The same, quote i told with the previous close prev[i] (NULL: none). */
static void walk_prev(const struct alert_cfg *c, const double *v, const double *prev, int n,
		      int64_t t0, int64_t step_ms, struct sent *out)
{
	struct tw_alert_eval e;
	struct tw_alert_outcome o;

	memset(out, 0, sizeof *out);
	memset(&e, 0, sizeof e);
	e.kind = c->kind;
	e.level = c->level;
	e.level2 = c->level2;
	e.frequency = c->frequency;
	e.cooldown_s = c->cooldown_s;
	e.rearm_pct = c->rearm_pct;
	e.expires_ms = c->expires_ms;
	e.enabled = 1;
	for (int i = 0; i < n; i++) {
		e.value = v[i];
		e.prev_close = prev ? prev[i] : 0;
		e.quote_ms = e.now_ms = t0 + i * step_ms;
		tw_alert_evaluate(&e, &o);
		if (o.side)
			e.last_side = o.side;
		if (o.rearm)
			e.has_last = 0;
		if (o.send) {
			assert_true(out->n < 64);
			out->idx[out->n] = i;
			out->thr[out->n] = o.threshold;
			out->cond[out->n++] = o.condition;
			e.has_last = 1;
			e.last_condition = o.condition;
			e.last_int = (int64_t)floor(v[i]);
			e.last_sent_ms = e.quote_ms;
		}
		if (o.disable) {
			e.enabled = 0;
			out->disabled = o.disable;
		}
	}
}

static void expect(const struct sent *s, int n, ...)
{
	va_list ap;

	va_start(ap, n);
	if (s->n != n) {
		fprintf(stderr, "want %d e-mails, got %d:", n, s->n);
		for (int i = 0; i < s->n; i++)
			fprintf(stderr, " %d", s->idx[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(s->n, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(s->idx[i], va_arg(ap, int));
	va_end(ap);
}

static const int64_t T0 = 1767225600000LL; /* 2026-01-01 00:00 UTC */

/* docs/alerts.md, Frequencies: change — 191.2, 191.8 one e-mail; 192.1 a second. */
static void change_rule(void **state)
{
	struct alert_cfg c = {TW_AK_ABOVE, 190, 0, TW_AF_CHANGE, 0, 0, 0};
	const double v[] = {189, 191.2, 191.8, 192.1, 189.5, 191.3};
	struct sent s;

	(void)state;
	walk(&c, v, 6, T0, MIN_MS, &s);
	expect(&s, 3, 1, 3, 5); /* 189.5 is inside: re-armed, 191.3 e-mails again */
	assert_int_equal(s.cond[0], TW_COND_HIGHER);
}

/* once: 191.2 e-mails, then the alert is disabled ('once'). */
static void once(void **state)
{
	struct alert_cfg c = {TW_AK_ABOVE, 190, 0, TW_AF_ONCE, 0, 0, 0};
	const double v[] = {189, 191.2, 189, 195, 250};
	struct sent s;

	(void)state;
	walk(&c, v, 5, T0, MIN_MS, &s);
	expect(&s, 1, 1);
	assert_int_equal(s.disabled, TW_ALERT_DISABLE_ONCE);
}

/* daily: 191.2 at 14:00 and 195 at 15:00 the same UTC day: one; the next day: one more. */
static void daily(void **state)
{
	struct alert_cfg c = {TW_AK_ABOVE, 190, 0, TW_AF_DAILY, 0, 0, 0};
	const double v[] = {191.2, 195, 189, 196, 197};
	struct sent s;

	(void)state;
	/* 14:00, 15:00, 16:00, 17:00 on day 1 ... then quote 4 at 14:00 + 4 h: still day 1 */
	walk(&c, v, 5, T0 + 14 * 3600000LL, 3600000LL, &s);
	expect(&s, 1, 0);
	/* a quote every 10 hours: 14:00, 00:00 (day 2), 10:00, 20:00, 06:00 (day 3) */
	walk(&c, v, 5, T0 + 14 * 3600000LL, 10 * 3600000LL, &s);
	expect(&s, 3, 0, 1, 4);
}

/* cooldown 3600: 191 at 10:00, 192 at 10:20 -> one e-mail; 193 at 11:00 -> a second. */
static void cooldown(void **state)
{
	struct alert_cfg c = {TW_AK_ABOVE, 190, 0, TW_AF_CHANGE, 3600, 0, 0};
	const double v[] = {191, 192, 192.5, 193};
	struct sent s;

	(void)state;
	walk(&c, v, 4, T0 + 10 * 3600000LL, 20 * MIN_MS, &s);
	expect(&s, 2, 0, 3);
}

/* rearm 1 % above 200: 201, 199.5, 201 -> one e-mail; 201, 197.9, 201 -> two. */
static void rearm_band(void **state)
{
	struct alert_cfg c = {TW_AK_ABOVE, 200, 0, TW_AF_CHANGE, 0, 1, 0};
	const double w[] = {201, 199.5, 201};
	const double x[] = {201, 197.9, 201};
	struct sent s;

	(void)state;
	walk(&c, w, 3, T0, MIN_MS, &s);
	expect(&s, 1, 0);
	walk(&c, x, 3, T0, MIN_MS, &s);
	expect(&s, 2, 0, 2);
	c.rearm_pct = 0; /* the seed's rule: any price inside re-arms */
	walk(&c, w, 3, T0, MIN_MS, &s);
	expect(&s, 2, 0, 2);
}

/* below, band (both ends, thresholds), cross (both ways, first look silent, hysteresis). */
static void kinds(void **state)
{
	struct alert_cfg below = {TW_AK_BELOW, 90, 0, TW_AF_CHANGE, 0, 0, 0};
	struct alert_cfg band = {TW_AK_BAND, 100, 150, TW_AF_CHANGE, 0, 0, 0};
	struct alert_cfg cross = {TW_AK_CROSS, 200, 0, TW_AF_CHANGE, 0, 0, 0};
	const double b[] = {91, 89.95, 90, 89.5};
	const double d[] = {120, 151, 150, 99, 100, 151.5};
	const double x[] = {199.5, 200.4, 200.9, 200, 199.9, 201};
	struct sent s;

	(void)state;
	walk(&below, b, 4, T0, MIN_MS, &s);
	expect(&s, 2, 1, 3); /* 90 is on the level: inside, re-arms */
	assert_int_equal(s.cond[0], TW_COND_LOWER);
	walk(&band, d, 6, T0, MIN_MS, &s);
	expect(&s, 3, 1, 3, 5);
	assert_int_equal(s.cond[0], TW_COND_HIGHER);
	assert_int_equal(s.cond[1], TW_COND_LOWER);
	walk(&cross, x, 6, T0, MIN_MS, &s);
	expect(&s, 3, 1, 4, 5); /* 200 exactly keeps the side */
	assert_int_equal(s.cond[0], TW_COND_HIGHER);
	assert_int_equal(s.cond[1], TW_COND_LOWER);
	cross.rearm_pct = 1; /* a cross counts beyond 198..202 only */
	walk(&cross, x, 6, T0, MIN_MS, &s);
	expect(&s, 0);
}

/* Expiry: at or past expires_ms the alert is disabled ('expired') and sends nothing. */
static void expiry(void **state)
{
	struct alert_cfg c = {TW_AK_ABOVE, 190, 0, TW_AF_CHANGE, 0, 0, T0 + 2 * MIN_MS};
	const double v[] = {191, 189, 192, 193};
	struct sent s;

	(void)state;
	walk(&c, v, 4, T0, MIN_MS, &s);
	expect(&s, 1, 0);
	assert_int_equal(s.disabled, TW_ALERT_DISABLE_EXPIRED);
}

/* ---- move: docs/alerts.md's move row and its re-arm example ---- */

/* move 5, closed at 180: 189.50 higher (threshold 189), 170.90 lower (171), 185 nothing. */
static void move_kind(void **state)
{
	struct alert_cfg c = {TW_AK_MOVE, 5, 0, TW_AF_CHANGE, 0, 0, 0};
	const double v[] = {185, 189.5, 185, 170.9, 180};
	const double p[] = {180, 180, 180, 180, 180};
	struct sent s;

	(void)state;
	walk_prev(&c, v, p, 5, T0, MIN_MS, &s);
	expect(&s, 2, 1, 3);
	assert_int_equal(s.cond[0], TW_COND_HIGHER);
	assert_true(fabs(s.thr[0] - 189.0) < 1e-9);
	assert_int_equal(s.cond[1], TW_COND_LOWER);
	assert_true(fabs(s.thr[1] - 171.0) < 1e-9);
	/* exactly the level away is on a threshold, inside (as for every kind): 189 (+5 %) and
	 * 171 (-5 %) send nothing, 189.01 and 170.99 do */
	{
		const double w[] = {189, 180, 171, 189.01, 170.99};

		walk_prev(&c, w, p, 5, T0, MIN_MS, &s);
		expect(&s, 2, 3, 4);
	}
	/* down straight after up is a new condition: no re-arm needed */
	{
		const double w[] = {189.5, 170.9, 189.5};

		walk_prev(&c, w, p, 3, T0, MIN_MS, &s);
		expect(&s, 3, 0, 1, 2);
	}
}

/* No previous close known: nothing decided, the state kept (no e-mail, no re-arm). */
static void move_without_previous_close(void **state)
{
	struct alert_cfg c = {TW_AK_MOVE, 5, 0, TW_AF_CHANGE, 0, 0, 0};
	const double v[] = {189.5, 180, 189.5, 189.5, 180, 189.5};
	const double p[] = {180, 0, 180, 180, 180, 180};
	const double none[] = {0, 0, 0, 0, 0, 0};
	struct tw_alert_eval e;
	struct tw_alert_outcome o;
	struct sent s;

	(void)state;
	walk_prev(&c, v, none, 6, T0, MIN_MS, &s);
	expect(&s, 0);
	walk(&c, v, 6, T0, MIN_MS, &s); /* the same with no previous close at all */
	expect(&s, 0);
	/* 180 without a previous close is no re-arm: 189.5 at quote 2 stays suppressed; 180 with
	 * one (quote 4) re-arms, so quote 5 e-mails again */
	walk_prev(&c, v, p, 6, T0, MIN_MS, &s);
	expect(&s, 2, 0, 5);
	/* straight: not armed, inside, no previous close -> no re-arm and nothing else */
	memset(&e, 0, sizeof e);
	e.kind = TW_AK_MOVE;
	e.level = 5;
	e.frequency = TW_AF_CHANGE;
	e.enabled = 1;
	e.value = 180;
	e.has_last = 1;
	e.last_condition = TW_COND_HIGHER;
	e.last_int = 189;
	for (int i = 0; i < 4; i++) {
		static const double bad[] = {0, -180, NAN, INFINITY};

		e.prev_close = bad[i];
		tw_alert_evaluate(&e, &o);
		assert_int_equal(o.send, 0);
		assert_int_equal(o.rearm, 0);
		assert_int_equal(o.disable, 0);
	}
	/* the expiry needs no quote: it still disables */
	e.expires_ms = 1000;
	e.now_ms = 2000;
	e.prev_close = 0;
	tw_alert_evaluate(&e, &o);
	assert_int_equal(o.disable, TW_ALERT_DISABLE_EXPIRED);
}

/* move 5 with rearm_pct 2, closed at 180: 189.50, 186, 189.50 -> one; 189.50, 185, 189.50 -> two. */
static void move_rearm(void **state)
{
	struct alert_cfg c = {TW_AK_MOVE, 5, 0, TW_AF_CHANGE, 0, 2, 0};
	const double w[] = {189.5, 186, 189.5};
	const double x[] = {189.5, 185, 189.5};
	const double p[] = {180, 180, 180};
	struct sent s;

	(void)state;
	walk_prev(&c, w, p, 3, T0, MIN_MS, &s);
	expect(&s, 1, 0);
	walk_prev(&c, x, p, 3, T0, MIN_MS, &s);
	expect(&s, 2, 0, 2);
	c.rearm_pct = 6; /* above the level: never re-armed */
	walk_prev(&c, x, p, 3, T0, MIN_MS, &s);
	expect(&s, 1, 0);
}

/* ---- the oracle: docs/alerts.md's rules restated as one loop, compared on random paths ---- */

static void oracle(const struct alert_cfg *c, const double *v, int n, int64_t t0, int64_t step,
		   struct sent *out)
{
	int armed = 1, lastc = 0, side = 0, on = 1;
	long long lasti = 0, lastt = -1;

	memset(out, 0, sizeof *out);
	for (int i = 0; i < n && on; i++) {
		long long t = t0 + (long long)i * step;
		double x = v[i], p = c->rearm_pct / 100;
		int k = 0; /* 1 above, 2 below: the documented conditions */
		int want;

		if (c->expires_ms && t >= c->expires_ms) {
			out->disabled = TW_ALERT_DISABLE_EXPIRED;
			break;
		}
		if (c->kind == TW_AK_CROSS) {
			int now = x > c->level * (1 + p) ? 1 : x < c->level * (1 - p) ? -1 : 0;

			if (now == 0)
				continue;
			k = now == 1 ? 1 : 2;
			want = side != 0 && now != side; /* a move across since the last look */
			side = now;
			if (!want)
				continue;
		} else {
			double hi = c->kind == TW_AK_BAND ? c->level2 : c->level;

			if ((c->kind == TW_AK_ABOVE || c->kind == TW_AK_BAND) && x > hi)
				k = 1;
			else if ((c->kind == TW_AK_BELOW || c->kind == TW_AK_BAND) && x < c->level)
				k = 2;
			if (k == 0) {
				if (!armed && ((lastc == 1 && x <= hi * (1 - p)) ||
					       (lastc == 2 && x >= c->level * (1 + p))))
					armed = 1;
				continue;
			}
			want = armed || lastc != k || lasti != (long long)floor(x);
		}
		if (c->frequency == TW_AF_DAILY)
			want = lastt < 0 || t / DAY_MS != lastt / DAY_MS;
		if (c->frequency == TW_AF_ONCE)
			want = 1;
		if (want && c->cooldown_s && lastt >= 0 && t - lastt < c->cooldown_s * 1000)
			want = 0;
		if (!want)
			continue;
		out->idx[out->n] = i;
		out->cond[out->n++] = k == 1 ? TW_COND_HIGHER : TW_COND_LOWER;
		armed = 0;
		lastc = k;
		lasti = (long long)floor(x);
		lastt = t;
		if (c->frequency == TW_AF_ONCE) {
			out->disabled = TW_ALERT_DISABLE_ONCE;
			on = 0;
		}
		if (out->n == 64)
			break;
	}
}

/* The move rules of docs/alerts.md restated: quote i with previous close p[i] (0: unknown). */
static void oracle_move(const struct alert_cfg *c, const double *v, const double *p, int n,
			int64_t t0, int64_t step, struct sent *out)
{
	int armed = 1, lastc = 0, on = 1;
	long long lasti = 0, lastt = -1;

	memset(out, 0, sizeof *out);
	for (int i = 0; i < n && on; i++) {
		long long t = t0 + (long long)i * step;
		double x = v[i], pct;
		int k, want;

		if (c->expires_ms && t >= c->expires_ms) {
			out->disabled = TW_ALERT_DISABLE_EXPIRED;
			break;
		}
		if (!(p[i] > 0))
			continue; /* no previous close: nothing decided */
		pct = fabs(x - p[i]) / p[i] * 100;
		if (!(x > p[i] * (1 + c->level / 100)) && !(x < p[i] * (1 - c->level / 100))) {
			if (!armed && pct <= c->level - c->rearm_pct)
				armed = 1;
			continue;
		}
		k = x > p[i] * (1 + c->level / 100) ? 1 : 2;
		want = armed || lastc != k || lasti != (long long)floor(x);
		if (c->frequency == TW_AF_DAILY)
			want = lastt < 0 || t / DAY_MS != lastt / DAY_MS;
		if (c->frequency == TW_AF_ONCE)
			want = 1;
		if (want && c->cooldown_s && lastt >= 0 && t - lastt < c->cooldown_s * 1000)
			want = 0;
		if (!want)
			continue;
		out->idx[out->n] = i;
		out->thr[out->n] = k == 1 ? p[i] * (1 + c->level / 100) : p[i] * (1 - c->level / 100);
		out->cond[out->n++] = k == 1 ? TW_COND_HIGHER : TW_COND_LOWER;
		armed = 0;
		lastc = k;
		lasti = (long long)floor(x);
		lastt = t;
		if (c->frequency == TW_AF_ONCE) {
			out->disabled = TW_ALERT_DISABLE_ONCE;
			on = 0;
		}
		if (out->n == 64)
			break;
	}
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static double rnd(void) /* xorshift64*: [0, 1) */
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (double)((rnd_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void random_paths(void **state)
{
	double v[48];
	struct sent a, b;

	(void)state;
	for (int round = 0; round < 4000; round++) {
		struct alert_cfg c;
		int64_t step = (int64_t)(1 + rnd() * 600) * MIN_MS;

		memset(&c, 0, sizeof c);
		c.kind = TW_AK_ABOVE + (int)(rnd() * 4);
		c.level = 200;
		c.level2 = 203;
		c.frequency = TW_AF_CHANGE + (int)(rnd() * 3);
		c.cooldown_s = rnd() < 0.5 ? 0 : (int64_t)(rnd() * 7200);
		c.rearm_pct = rnd() < 0.4 ? 0 : rnd() * 2;
		c.expires_ms = rnd() < 0.8 ? 0 : T0 + (int64_t)(rnd() * 48) * step;
		for (int i = 0; i < 48; i++) /* a wobble at the levels */
			v[i] = round % 2 ? 196 + rnd() * 10 : 200 + (rnd() - 0.5) * 3;
		walk(&c, v, 48, T0, step, &a);
		oracle(&c, v, 48, T0, step, &b);
		if (a.n != b.n || memcmp(a.idx, b.idx, sizeof a.idx[0] * (size_t)a.n) != 0 ||
		    a.disabled != b.disabled)
			fprintf(stderr, "round %d kind %d freq %d cooldown %lld rearm %g: %d vs %d\n",
				round, c.kind, c.frequency, (long long)c.cooldown_s, c.rearm_pct, a.n,
				b.n);
		assert_int_equal(a.n, b.n);
		assert_memory_equal(a.idx, b.idx, sizeof a.idx[0] * (size_t)a.n);
		assert_memory_equal(a.cond, b.cond, sizeof a.cond[0] * (size_t)a.n);
		assert_int_equal(a.disabled, b.disabled);
	}
}

/* move: paths wobbling at both thresholds, the previous close moving every few quotes (a new
 * market day) or unknown now and then. */
static void random_move_paths(void **state)
{
	double v[48], p[48];
	struct sent a, b;

	(void)state;
	rnd_state = 0x2545f4914f6cdd1dULL;
	for (int round = 0; round < 4000; round++) {
		struct alert_cfg c;
		int64_t step = (int64_t)(1 + rnd() * 600) * MIN_MS;
		double prev = 100 + rnd() * 200;

		memset(&c, 0, sizeof c);
		c.kind = TW_AK_MOVE;
		c.level = rnd() < 0.2 ? 0.5 + rnd() * 99.5 : 1 + rnd() * 4;
		c.frequency = TW_AF_CHANGE + (int)(rnd() * 3);
		c.cooldown_s = rnd() < 0.5 ? 0 : (int64_t)(rnd() * 7200);
		c.rearm_pct = rnd() < 0.4 ? 0 : rnd() * 3;
		c.expires_ms = rnd() < 0.8 ? 0 : T0 + (int64_t)(rnd() * 48) * step;
		for (int i = 0; i < 48; i++) {
			double side = rnd() < 0.5 ? 1 : -1;

			if (rnd() < 0.1)
				prev = prev * (0.97 + rnd() * 0.06); /* the next day's close */
			p[i] = rnd() < 0.1 ? 0 : prev;
			/* around prev * (1 +/- level %): within +/- 1.5 points of the level */
			v[i] = prev * (1 + side * (c.level + (rnd() - 0.5) * 3) / 100);
			if (!(v[i] > 0))
				v[i] = prev;
		}
		walk_prev(&c, v, p, 48, T0, step, &a);
		oracle_move(&c, v, p, 48, T0, step, &b);
		if (a.n != b.n || memcmp(a.idx, b.idx, sizeof a.idx[0] * (size_t)a.n) != 0 ||
		    a.disabled != b.disabled)
			fprintf(stderr, "move round %d level %g freq %d cooldown %lld rearm %g: %d vs %d\n",
				round, c.level, c.frequency, (long long)c.cooldown_s, c.rearm_pct, a.n,
				b.n);
		assert_int_equal(a.n, b.n);
		assert_memory_equal(a.idx, b.idx, sizeof a.idx[0] * (size_t)a.n);
		assert_memory_equal(a.cond, b.cond, sizeof a.cond[0] * (size_t)a.n);
		for (int i = 0; i < a.n; i++)
			assert_true(a.thr[i] == b.thr[i]);
		assert_int_equal(a.disabled, b.disabled);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(change_rule), cmocka_unit_test(once),
		cmocka_unit_test(daily),       cmocka_unit_test(cooldown),
		cmocka_unit_test(rearm_band),  cmocka_unit_test(kinds),
		cmocka_unit_test(expiry),      cmocka_unit_test(random_paths),
		cmocka_unit_test(move_kind),   cmocka_unit_test(move_without_previous_close),
		cmocka_unit_test(move_rearm),  cmocka_unit_test(random_move_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
