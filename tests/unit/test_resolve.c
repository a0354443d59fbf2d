/* SPDX-License-Identifier: MIT */
/* test_resolve.c - the resolver and connector on the fake HAL: every address tried in turn
 * (IPv6 and IPv4), a look-up time-out, the TTL cache, shared look-ups, literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "fake_hal.h"
#include "log.h"
#include "loop.h"
#include "resolve.h"

static struct tw_arena arena;
static struct tw_loop loop;
static struct tw_resolver r;
static struct tw_connect c1, c2;
static int calls, got_rc, got_fd;
static char got_err[512];

static void on_done(struct tw_connect *c, int rc, int fd, const char *err, void *arg)
{
	(void)c;
	(void)arg;
	calls++;
	got_rc = rc;
	got_fd = fd;
	snprintf(got_err, sizeof got_err, "%s", err);
}

static int setup(void **state)
{
	char err[200];

	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	calls = 0;
	got_rc = 99;
	got_fd = -2;
	memset(&c1, 0, sizeof c1);
	memset(&c2, 0, sizeof c2);
	if (tw_arena_init(&arena, 1 << 17) != TW_OK || tw_loop_init(&loop, &arena, 8, 16) != TW_OK)
		return -1;
	return tw_resolver_init(&r, &loop, &arena, NULL, 4, err, sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	tw_connect_cancel(&c1);
	tw_connect_cancel(&c2);
	tw_resolver_stop(&r);
	tw_arena_free(&arena);
	return 0;
}

static void run_until_done(int want)
{
	for (int i = 0; i < 50 && calls < want; i++)
		tw_loop_run_once(&loop, 1000);
}

static void first_address_refuses_second_is_used(void **state)
{
	int a = fake_peer_new(), b = fake_peer_new();

	(void)state;
	fake_resolve_script("db.example", TW_OK, "2001:db8::1,10.0.0.2", 0);
	fake_connect_next(TW_ERR_WOULD_BLOCK, a, TW_ERR_REFUSED);
	fake_connect_next(TW_ERR_WOULD_BLOCK, b, TW_OK);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "db.example", 5432, 5000, on_done, NULL),
			 TW_OK);
	assert_int_equal(calls, 0); /* never from inside the call */
	run_until_done(1);
	assert_int_equal(calls, 1);
	assert_int_equal(got_rc, TW_OK);
	assert_int_equal(got_fd, b);
	assert_string_equal(fake_connect_log(), "2001:db8::1:5432 10.0.0.2:5432");
	assert_int_equal(fake_peer_closed(a), 1);
	assert_int_equal(fake_peer_closed(b), 0);
	tw_hal_close(got_fd);
}

static void every_address_refused_names_them_all(void **state)
{
	(void)state;
	fake_resolve_script("smtp.example", TW_OK, "10.0.0.1,10.0.0.2", 0);
	fake_connect_next(TW_ERR_REFUSED, -1, TW_OK);
	fake_connect_next(TW_ERR_REFUSED, -1, TW_OK);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "smtp.example", 25, 5000, on_done, NULL),
			 TW_OK);
	run_until_done(1);
	assert_int_equal(got_rc, TW_ERR_REFUSED);
	assert_string_equal(fake_connect_log(), "10.0.0.1:25 10.0.0.2:25");
	assert_non_null(strstr(got_err, "10.0.0.1"));
	assert_non_null(strstr(got_err, "10.0.0.2"));
}

static void lookup_time_out(void **state)
{
	tw_mono_t t0 = tw_hal_now();

	(void)state;
	fake_resolve_script("slow.example", TW_OK, "10.0.0.1", FAKE_RESOLVE_NEVER);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "slow.example", 80, 2000, on_done, NULL),
			 TW_OK);
	run_until_done(1);
	assert_int_equal(calls, 1);
	assert_int_equal(got_rc, TW_ERR_TIMEOUT);
	assert_non_null(strstr(got_err, "resolving 'slow.example' timed out"));
	assert_int_equal(tw_hal_now() - t0, 2000 * TW_MONO_PER_MS); /* the fake clock, exactly */
	assert_string_equal(fake_connect_log(), ""); /* nothing was connected */
	assert_int_equal(r.timeouts, 1);
}

static void lookup_failure(void **state)
{
	(void)state;
	fake_resolve_script("nx.example", TW_ERR_RESOLVE, NULL, 0);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "nx.example", 80, 2000, on_done, NULL),
			 TW_OK);
	run_until_done(1);
	assert_int_equal(got_rc, TW_ERR_RESOLVE);
	assert_non_null(strstr(got_err, "nx.example"));
}

static void cache_hit_within_ttl_then_resolved_again(void **state)
{
	struct tw_hal_addr out[TW_HAL_ADDRS_MAX];
	int a = fake_peer_new();

	(void)state;
	fake_resolve_script("q.example", TW_OK, "10.1.1.1", 0);
	fake_connect_next(TW_ERR_WOULD_BLOCK, a, TW_OK);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "q.example", 443, 5000, on_done, NULL),
			 TW_OK);
	run_until_done(1);
	assert_int_equal(got_rc, TW_OK);
	assert_int_equal(fake_resolve_calls(), 1);

	/* within the TTL: from the cache, no look-up */
	fake_clock_advance_ms(TW_RESOLVE_TTL_MS - 1);
	assert_int_equal(tw_resolver_cached(&r, "q.example", out), 1);
	fake_connect_next(TW_ERR_WOULD_BLOCK, a, TW_OK);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "q.example", 443, 5000, on_done, NULL),
			 TW_OK);
	run_until_done(2);
	assert_int_equal(got_rc, TW_OK);
	assert_int_equal(fake_resolve_calls(), 1);

	/* after it: looked up again, and the new answer is used */
	fake_clock_advance_ms(2);
	fake_resolve_script("q.example", TW_OK, "10.2.2.2", 0);
	fake_connect_next(TW_ERR_WOULD_BLOCK, a, TW_OK);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "q.example", 443, 5000, on_done, NULL),
			 TW_OK);
	run_until_done(3);
	assert_int_equal(fake_resolve_calls(), 2);
	assert_string_equal(fake_connect_log(), "10.1.1.1:443 10.1.1.1:443 10.2.2.2:443");
	assert_true(r.hits >= 1);
}

static void two_waiters_share_one_lookup(void **state)
{
	int a = fake_peer_new(), b = fake_peer_new();

	(void)state;
	fake_resolve_script("k.example", TW_OK, "10.3.3.3", 500);
	fake_connect_next(TW_ERR_WOULD_BLOCK, a, TW_OK);
	fake_connect_next(TW_ERR_WOULD_BLOCK, b, TW_OK);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "k.example", 9092, 5000, on_done, NULL),
			 TW_OK);
	assert_int_equal(tw_connect_start(&c2, &r, &loop, "k.example", 9093, 5000, on_done, NULL),
			 TW_OK);
	run_until_done(2);
	assert_int_equal(calls, 2);
	assert_int_equal(fake_resolve_calls(), 1);
}

static void literal_needs_no_lookup(void **state)
{
	int a = fake_peer_new();

	(void)state;
	fake_connect_next(TW_ERR_WOULD_BLOCK, a, TW_OK);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "[::1]", 7070, 5000, on_done, NULL),
			 TW_OK);
	run_until_done(1);
	assert_int_equal(got_rc, TW_OK);
	assert_int_equal(fake_resolve_calls(), 0);
	assert_string_equal(fake_connect_log(), "::1:7070");
}

static void cancel_means_no_callback(void **state)
{
	(void)state;
	fake_resolve_script("c.example", TW_OK, "10.0.0.9", 100);
	assert_int_equal(tw_connect_start(&c1, &r, &loop, "c.example", 80, 5000, on_done, NULL),
			 TW_OK);
	tw_connect_cancel(&c1);
	for (int i = 0; i < 5; i++)
		tw_loop_run_once(&loop, 1000);
	assert_int_equal(calls, 0);
	assert_false(tw_connect_busy(&c1));
}

static void resolve_only_hands_over_addresses(void **state)
{
	(void)state;
	fake_resolve_script("pg.example", TW_OK, "10.0.0.5,::5", 0);
	assert_int_equal(tw_resolve_start(&c1, &r, &loop, "pg.example", 2000, on_done, NULL),
			 TW_OK);
	run_until_done(1);
	assert_int_equal(got_rc, TW_OK);
	assert_int_equal(got_fd, -1);
	assert_int_equal(c1.n, 2);
	assert_string_equal(fake_connect_log(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(first_address_refuses_second_is_used, setup, teardown),
		cmocka_unit_test_setup_teardown(every_address_refused_names_them_all, setup, teardown),
		cmocka_unit_test_setup_teardown(lookup_time_out, setup, teardown),
		cmocka_unit_test_setup_teardown(lookup_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(cache_hit_within_ttl_then_resolved_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(two_waiters_share_one_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(literal_needs_no_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_means_no_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(resolve_only_hands_over_addresses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
