/* SPDX-License-Identifier: MIT */
/* cqrs_script.h - the knobs of the scripted agent/cqrs stand-in of the rpc fuzz target. */
#ifndef TW_FUZZ_CQRS_SCRIPT_H
#define TW_FUZZ_CQRS_SCRIPT_H

struct tw_loop;

extern struct tw_loop *fz_cqrs_loop; /* where answers are scheduled */
extern int fz_cqrs_outcome;          /* rc of every operation: 0 or a TW_ERR_CQRS_* / DB_* */
extern int fz_cqrs_sync_fail;        /* 1: calls fail at once with that rc */
extern int fz_cqrs_calls;            /* operations started */

#endif
