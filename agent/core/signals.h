/* SPDX-License-Identifier: MIT */
/* signals.h - SIGTERM/SIGINT/SIGHUP only set flags; the loop reads them. */
#ifndef TW_SIGNALS_H
#define TW_SIGNALS_H

/** Install the handlers (through the HAL). @return 0 or a HAL error. */
int tw_signals_install(void);

/** @return the last stop signal seen (SIGTERM or SIGINT), or 0. */
int tw_signals_stop_requested(void);

/** @return 1 once after a SIGHUP arrived (and clears it). */
int tw_signals_take_hup(void);

/** Forget what was seen (tests). */
void tw_signals_clear(void);

#endif
