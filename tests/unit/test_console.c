/* SPDX-License-Identifier: MIT */
/* test_console.c - console lines over scripted peers: split reads, CRLF, overlong lines, EOF, and
 * a serial device's hang-up followed by its reopen with backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "console.h"
#include "fake_hal.h"
#include "log.h"
#include "loop.h"

static struct tw_arena arena;
static struct tw_loop loop;
static struct tw_console con;
static char got[8][64];
static int ngot;
static int in_fd, out_fd;

static void on_line(struct tw_console *c, const char *line, void *arg)
{
	(void)arg;
	if (ngot < 8)
		snprintf(got[ngot], sizeof got[0], "%s", line);
	ngot++;
	tw_console_printf(c, "echo:%s\n", line);
}

static int setup(void **state)
{
	char err[128];

	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	ngot = 0;
	if (tw_arena_init(&arena, 65536) != TW_OK || tw_loop_init(&loop, &arena, 8, 8) != TW_OK)
		return -1;
	in_fd = fake_peer_new();
	out_fd = fake_peer_new();
	fake_console_peers(in_fd, out_fd);
	return tw_console_init(&con, &arena, &loop, "-", 115200, 16, 256, on_line, NULL, err,
			       sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	tw_console_close(&con);
	tw_console_close(&con); /* twice is safe */
	tw_arena_free(&arena);
	return 0;
}

static void lines_split_across_reads(void **state)
{
	size_t len;

	(void)state;
	fake_peer_data(in_fd, "sta", 3, 0, 0);
	fake_peer_would_block(in_fd);
	fake_peer_data(in_fd, "tus\r\nhelp\nlo", 12, 2, 0); /* two bytes per read */
	for (int i = 0; i < 10; i++)
		tw_loop_run_once(&loop, 10);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[0], "status");
	assert_string_equal(got[1], "help");
	assert_string_equal(fake_peer_sent(out_fd, &len), "echo:status\necho:help\n");
	fake_peer_data(in_fd, "g\n", 2, 0, 0);
	tw_loop_run_once(&loop, 10);
	assert_int_equal(ngot, 3);
	assert_string_equal(got[2], "log");
}

static void overlong_line_is_refused_and_next_works(void **state)
{
	size_t len;

	(void)state;
	fake_peer_data(in_fd, "0123456789abcdefXYZ\nok\n", 23, 0, 0);
	tw_loop_run_once(&loop, 10);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0], "ok");
	assert_non_null(strstr(fake_peer_sent(out_fd, &len), "longer than 15 bytes"));
}

static void output_beyond_ring_is_dropped_and_counted(void **state)
{
	char big[200];

	(void)state;
	memset(big, 'a', sizeof big);
	fake_peer_send_block(out_fd, 1000); /* the terminal stopped reading */
	tw_console_write(&con, big, 150);
	tw_console_write(&con, big, 150); /* does not fit in 256 */
	assert_int_equal(con.dropped_bytes, 150);
	assert_int_equal(tw_ring_len(&con.out), 150);
}

static void eof_closes_input_only(void **state)
{
	(void)state;
	fake_peer_data(in_fd, "status\n", 7, 0, 0);
	fake_peer_close(in_fd);
	tw_loop_run_once(&loop, 10);
	assert_int_equal(ngot, 1);
	assert_int_equal(con.eof, 1);
	/* No busy loop on a closed input: the next turn waits its whole time-out. */
	int calls = fake_peer_recv_calls(in_fd);

	tw_loop_run_once(&loop, 500);
	assert_int_equal(fake_peer_recv_calls(in_fd), calls);
	assert_int_equal(fake_last_wait_timeout(), 500);
}

static int setup_device(void **state)
{
	char err[128];

	(void)state;
	fake_reset();
	tw_log_set_stderr(0);
	ngot = 0;
	if (tw_arena_init(&arena, 65536) != TW_OK || tw_loop_init(&loop, &arena, 8, 8) != TW_OK)
		return -1;
	in_fd = fake_peer_new();
	out_fd = fake_peer_new();
	fake_console_peers(in_fd, out_fd);
	return tw_console_init(&con, &arena, &loop, "/dev/ttyUSB0", 115200, 64, 256, on_line, NULL,
			       err, sizeof err);
}

static void device_hang_up_is_reopened_with_backoff(void **state)
{
	int in2;
	tw_mono_t t0;

	(void)state;
	fake_peer_data(in_fd, "status\n", 7, 0, 0);
	fake_peer_close(in_fd); /* the adapter is unplugged */
	fake_console_peers(-1, -1); /* ... and not back yet: opens fail */
	t0 = tw_hal_now();
	tw_loop_run_once(&loop, 1000); /* the line, then the hang-up */
	assert_int_equal(con.hangups, 1);
	tw_loop_run_once(&loop, 1000); /* 100 ms later: the reopen fails */
	assert_int_equal(tw_hal_now() - t0, 100 * TW_MONO_PER_MS);
	assert_int_equal(ngot, 1);
	assert_int_equal(con.hangups, 1);
	assert_int_equal(con.down, 1);
	assert_int_equal(con.eof, 0); /* a device is never at its end */
	assert_int_equal(con.reopens, 0);
	/* replies queued meanwhile wait in the ring */
	tw_console_printf(&con, "queued\n");
	in2 = fake_peer_new();
	fake_console_peers(in2, out_fd); /* plugged in again */
	fake_peer_data(in2, "help\n", 5, 0, 0);
	for (int i = 0; i < 10 && ngot < 2; i++)
		tw_loop_run_once(&loop, 1000);
	assert_int_equal(con.reopens, 1);
	assert_int_equal(con.down, 0);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[1], "help");
	/* backoff: 100 ms failed, then 200 ms opened: 300 ms on the fake clock */
	assert_int_equal(tw_hal_now() - t0, 300 * TW_MONO_PER_MS);
	{
		size_t len;
		const char *sent = fake_peer_sent(out_fd, &len);

		assert_non_null(strstr(sent, "echo:status\nqueued\necho:help\n"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lines_split_across_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(overlong_line_is_refused_and_next_works, setup, teardown),
		cmocka_unit_test_setup_teardown(output_beyond_ring_is_dropped_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(eof_closes_input_only, setup, teardown),
		cmocka_unit_test_setup_teardown(device_hang_up_is_reopened_with_backoff, setup_device,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
