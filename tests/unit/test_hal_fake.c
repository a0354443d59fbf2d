/* SPDX-License-Identifier: MIT */
/* test_hal_fake.c - the fake HAL's partial I/O: short reads/writes, would-block, resets, time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fake_hal.h"

static int setup(void **state)
{
	(void)state;
	fake_reset();
	return 0;
}

static void short_reads_then_would_block(void **state)
{
	int fd = fake_peer_new();
	char buf[16];

	(void)state;
	fake_peer_data(fd, "abcdef", 6, 4, 0);
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(tw_hal_recv(fd, buf, 1), 1); /* caller's buffer bounds it too */
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), 1);
	assert_int_equal(buf[0], 'f');
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), TW_ERR_WOULD_BLOCK);
}

static void scripted_block_then_reset(void **state)
{
	int fd = fake_peer_new();
	char buf[8];

	(void)state;
	fake_peer_would_block(fd);
	fake_peer_data(fd, "x", 1, 0, 0);
	fake_peer_reset(fd);
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), TW_ERR_WOULD_BLOCK);
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), 1);
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), TW_ERR_RESET);
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), TW_ERR_RESET); /* sticky */
}

static void close_is_orderly_end(void **state)
{
	int fd = fake_peer_new();
	char buf[8];

	(void)state;
	fake_peer_close(fd);
	assert_int_equal(tw_hal_recv(fd, buf, sizeof buf), TW_ERR_CLOSED);
}

static void short_and_blocked_writes(void **state)
{
	int fd = fake_peer_new();
	size_t len;

	(void)state;
	fake_peer_send_max(fd, 3);
	fake_peer_send_block(fd, 1);
	assert_int_equal(tw_hal_send(fd, "hello", 5), TW_ERR_WOULD_BLOCK);
	assert_int_equal(tw_hal_send(fd, "hello", 5), 3);
	assert_int_equal(tw_hal_send(fd, "lo", 2), 2);
	assert_string_equal(fake_peer_sent(fd, &len), "hello");
	assert_int_equal(len, 5);
	fake_peer_send_reset(fd);
	assert_int_equal(tw_hal_send(fd, "x", 1), TW_ERR_RESET);
}

static void wait_jumps_clock_to_arrival_or_timeout(void **state)
{
	int fd = fake_peer_new();
	struct tw_hal_pollfd p = {.fd = fd, .events = TW_HAL_READ};

	(void)state;
	fake_peer_data(fd, "late", 4, 0, 5000);
	assert_int_equal(tw_hal_wait(&p, 1, 2000), 0); /* times out first */
	assert_int_equal(tw_hal_now(), 3 * TW_MONO_PER_S);
	assert_int_equal(tw_hal_wait(&p, 1, 10000), 1);
	assert_int_equal(tw_hal_now(), 5 * TW_MONO_PER_S);
	assert_true(p.revents & TW_HAL_READ);
}

static void connect_script(void **state)
{
	int fd = fake_peer_new(), fd2 = fake_peer_new(), out = -1;
	char err[64];
	struct tw_hal_addr a;

	(void)state;
	assert_int_equal(tw_hal_addr_parse("10.0.0.1", &a), TW_OK);
	assert_int_equal(tw_hal_tcp_connect_addr(&a, 1, &out, err, sizeof err), TW_ERR_REFUSED);
	fake_connect_next(TW_ERR_WOULD_BLOCK, fd, TW_ERR_TIMEOUT);
	fake_connect_next(TW_OK, fd2, TW_OK); /* connects queue in order */
	assert_int_equal(tw_hal_tcp_connect_addr(&a, 1, &out, err, sizeof err), TW_ERR_WOULD_BLOCK);
	assert_int_equal(out, fd);
	assert_int_equal(tw_hal_tcp_connect_finish(out, err, sizeof err), TW_ERR_TIMEOUT);
	assert_int_equal(tw_hal_addr_parse("2001:db8::7", &a), TW_OK);
	assert_int_equal(tw_hal_tcp_connect_addr(&a, 2, &out, err, sizeof err), TW_OK);
	assert_int_equal(out, fd2);
	assert_string_equal(fake_connect_log(), "10.0.0.1:1 10.0.0.1:1 2001:db8::7:2");
	assert_int_equal(tw_hal_addr_parse("name.example", &a), TW_ERR_RESOLVE);
}

static void resolver_script(void **state)
{
	struct tw_hal_resolved res;
	struct tw_hal_pollfd p;
	char err[64];
	int rfd = tw_hal_resolver_start(err, sizeof err);
	long t1, t2;

	(void)state;
	fake_resolve_script("two.example", TW_OK, "10.0.0.1,::1", 300);
	t1 = tw_hal_resolve_submit("two.example");
	t2 = tw_hal_resolve_submit("other.example"); /* unscripted: 192.0.2.1 at once */
	assert_true(t1 > 0 && t2 > t1);
	assert_int_equal(tw_hal_resolve_take(&res), TW_OK);
	assert_int_equal(res.ticket, t2);
	assert_int_equal(res.n, 1);
	assert_int_equal(tw_hal_resolve_take(&res), TW_ERR_WOULD_BLOCK);
	p.fd = rfd;
	p.events = TW_HAL_READ;
	assert_int_equal(tw_hal_wait(&p, 1, 1000), 1); /* the clock jumps to the answer */
	assert_int_equal(tw_hal_now(), TW_MONO_PER_S + 300 * TW_MONO_PER_MS);
	assert_int_equal(tw_hal_resolve_take(&res), TW_OK);
	assert_int_equal(res.ticket, t1);
	assert_int_equal(res.n, 2);
	assert_int_equal(res.addrs[1].family, TW_HAL_INET6);
	assert_int_equal(fake_resolve_calls(), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(short_reads_then_would_block, setup),
		cmocka_unit_test_setup(scripted_block_then_reset, setup),
		cmocka_unit_test_setup(close_is_orderly_end, setup),
		cmocka_unit_test_setup(short_and_blocked_writes, setup),
		cmocka_unit_test_setup(wait_jumps_clock_to_arrival_or_timeout, setup),
		cmocka_unit_test_setup(connect_script, setup),
		cmocka_unit_test_setup(resolver_script, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
