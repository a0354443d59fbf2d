/* SPDX-License-Identifier: MIT */
/* signals.c - async-signal-safe handlers that only store flags. */
#include "signals.h"

#include <signal.h>

#include "hal.h"

static volatile sig_atomic_t stop_sig;
static volatile sig_atomic_t hup_seen;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hup_seen = 1;
	else
		stop_sig = sig;
}

int tw_signals_install(void)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};

	return tw_hal_signals_install(sigs, sizeof sigs / sizeof sigs[0], on_signal);
}

int tw_signals_stop_requested(void)
{
	return stop_sig;
}

int tw_signals_take_hup(void)
{
	int h = hup_seen;

	hup_seen = 0;
	return h;
}

void tw_signals_clear(void)
{
	stop_sig = 0;
	hup_seen = 0;
}
