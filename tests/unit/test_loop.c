/* SPDX-License-Identifier: MIT */
/* test_loop.c - event loop: timers on the fake clock, fd readiness from scripted peers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "arena.h"
#include "fake_hal.h"
#include "loop.h"

static struct tw_arena arena;
static struct tw_loop loop;

static int setup(void **state)
{
	(void)state;
	fake_reset();
	if (tw_arena_init(&arena, 65536) != TW_OK)
		return -1;
	return tw_loop_init(&loop, &arena, 8, 8);
}

static int teardown(void **state)
{
	(void)state;
	tw_arena_free(&arena);
	return 0;
}

struct rec {
	int fired;
	tw_mono_t at[16];
	int64_t next;
};

static int64_t record(struct tw_loop *l, void *arg)
{
	struct rec *r = arg;

	(void)l;
	if (r->fired < 16)
		r->at[r->fired] = tw_hal_now();
	r->fired++;
	return r->next;
}

static void wait_is_bounded_by_nearest_timer(void **state)
{
	struct rec a = {.next = TW_TIMER_STOP}, b = {.next = TW_TIMER_STOP};

	(void)state;
	assert_true(tw_loop_add_timer(&loop, 500, record, &a) > 0);
	assert_true(tw_loop_add_timer(&loop, 200, record, &b) > 0);
	assert_int_equal(tw_loop_next_timeout(&loop, 60000), 200);
	assert_int_equal(tw_loop_run_once(&loop, 60000), 1);
	assert_int_equal(fake_last_wait_timeout(), 200);
	assert_int_equal(b.fired, 1);
	assert_int_equal(a.fired, 0);
	assert_int_equal(b.at[0], TW_MONO_PER_S + 200 * TW_MONO_PER_MS);
	assert_int_equal(tw_loop_run_once(&loop, 60000), 1);
	assert_int_equal(fake_last_wait_timeout(), 300);
	assert_int_equal(a.fired, 1);
	/* Nothing left: the wait is only the cap. */
	tw_loop_run_once(&loop, 1234);
	assert_int_equal(fake_last_wait_timeout(), 1234);
}

static void periodic_timer_is_drift_free(void **state)
{
	struct rec r = {.next = 1000};

	(void)state;
	assert_true(tw_loop_add_timer(&loop, 1000, record, &r) > 0);
	for (int i = 0; i < 3; i++)
		tw_loop_run_once(&loop, 60000);
	assert_int_equal(r.fired, 3);
	/* Exactly on the grid even if callbacks run late. */
	fake_clock_advance_ms(1700); /* the loop was busy elsewhere: 1.7 periods late */
	tw_loop_run_once(&loop, 60000);
	assert_int_equal(r.fired, 4); /* one catch-up run, not a burst */
	tw_loop_run_once(&loop, 60000);
	assert_int_equal(r.fired, 5);
	assert_int_equal(r.at[4] % (1000 * TW_MONO_PER_MS), 0);
	for (int i = 1; i < 3; i++)
		assert_int_equal(r.at[i] - r.at[i - 1], 1000 * TW_MONO_PER_MS);
}

static void deleted_timer_never_fires(void **state)
{
	struct rec r = {.next = TW_TIMER_STOP};
	long long id;

	(void)state;
	id = tw_loop_add_timer(&loop, 10, record, &r);
	tw_loop_del_timer(&loop, id);
	tw_loop_del_timer(&loop, id); /* twice is harmless */
	tw_loop_run_once(&loop, 50);
	assert_int_equal(r.fired, 0);
}

static void timer_table_full(void **state)
{
	struct rec r = {.next = TW_TIMER_STOP};

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_true(tw_loop_add_timer(&loop, 10, record, &r) > 0);
	assert_int_equal(tw_loop_add_timer(&loop, 10, record, &r), TW_ERR_NOMEM);
}

struct fdrec {
	int calls;
	unsigned last;
	int del_other;
};

static void on_fd(struct tw_loop *l, int fd, unsigned ready, void *arg)
{
	struct fdrec *r = arg;
	char buf[64];

	r->calls++;
	r->last = ready;
	if (ready & TW_HAL_READ)
		while (tw_hal_recv(fd, buf, sizeof buf) > 0)
			;
	if (r->del_other)
		tw_loop_del_fd(l, r->del_other);
}

static void fd_readiness_from_peer(void **state)
{
	struct fdrec r = {0};
	int fd = fake_peer_new();

	(void)state;
	fake_peer_data(fd, "hello", 5, 0, 3000); /* arrives at t = 3 s */
	assert_int_equal(tw_loop_add_fd(&loop, fd, TW_HAL_READ, on_fd, &r), TW_OK);
	assert_int_equal(tw_loop_run_once(&loop, 10000), 1);
	assert_int_equal(r.calls, 1);
	assert_true(r.last & TW_HAL_READ);
	assert_int_equal(tw_hal_now(), 3 * TW_MONO_PER_S); /* the wait ended at the arrival */
	/* Nothing more to read: the next turn just times out. */
	assert_int_equal(tw_loop_run_once(&loop, 100), 0);
	assert_int_equal(r.calls, 1);
	/* Interest can move to writability. */
	assert_int_equal(tw_loop_set_mask(&loop, fd, TW_HAL_WRITE), TW_OK);
	assert_int_equal(tw_loop_run_once(&loop, 100), 1);
	assert_true(r.last & TW_HAL_WRITE);
	tw_loop_del_fd(&loop, fd);
	assert_int_equal(tw_loop_set_mask(&loop, fd, TW_HAL_READ), TW_ERR_ARG);
}

static void callback_may_delete_another_fd(void **state)
{
	struct fdrec a = {0}, b = {0};
	int fa = fake_peer_new(), fb = fake_peer_new();

	(void)state;
	fake_peer_data(fa, "x", 1, 0, 0);
	fake_peer_data(fb, "y", 1, 0, 0);
	a.del_other = fb;
	tw_loop_add_fd(&loop, fa, TW_HAL_READ, on_fd, &a);
	tw_loop_add_fd(&loop, fb, TW_HAL_READ, on_fd, &b);
	tw_loop_run_once(&loop, 100);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0); /* deleted before its turn: not called */
}

static void fd_table_full(void **state)
{
	struct fdrec r = {0};

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(tw_loop_add_fd(&loop, 100 + i, TW_HAL_READ, on_fd, &r), TW_OK);
	assert_int_equal(tw_loop_add_fd(&loop, 200, TW_HAL_READ, on_fd, &r), TW_ERR_NOMEM);
	/* Re-adding a watched fd updates it instead of taking a slot. */
	assert_int_equal(tw_loop_add_fd(&loop, 100, TW_HAL_WRITE, on_fd, &r), TW_OK);
	assert_int_equal(tw_loop_add_fd(&loop, -1, TW_HAL_READ, on_fd, &r), TW_ERR_ARG);
}

static int stop_after;
static int check_stop(void *arg)
{
	(void)arg;
	return --stop_after < 0;
}

static void run_stops_on_check(void **state)
{
	struct rec r = {.next = 100};

	(void)state;
	stop_after = 5;
	tw_loop_add_timer(&loop, 100, record, &r);
	assert_int_equal(tw_loop_run(&loop, check_stop, NULL), 0);
	assert_int_equal(r.fired, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(wait_is_bounded_by_nearest_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(periodic_timer_is_drift_free, setup, teardown),
		cmocka_unit_test_setup_teardown(deleted_timer_never_fires, setup, teardown),
		cmocka_unit_test_setup_teardown(timer_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(fd_readiness_from_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(callback_may_delete_another_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(fd_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(run_stops_on_check, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
