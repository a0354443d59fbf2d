/* SPDX-License-Identifier: MIT */
/* crumb.h - Yahoo's cookie + crumb session, internal to agent/quotes (crumb.c, quotes.c). */
#ifndef TW_CRUMB_H
#define TW_CRUMB_H

#include "quotes/quotes.h"

/** @return 0 when the session is there (send now), 1 when @p c waits for it (started). */
int tw_yauth_need(struct tw_qconn *c);

/** @p c's request was refused (401/403): forget its crumb if it is still the current one. */
void tw_yauth_stale(struct tw_qconn *c);

/** The header hook of every yahoo connection (Set-Cookie goes to the jar); arg: the source. */
void tw_yauth_on_header(void *arg, const char *name, const char *value);

/* quotes.c's, for crumb.c: send @p c's request now; fail its fetch; note a rate limit. */
void tw_qconn_send(struct tw_qconn *c);
void tw_qconn_fail(struct tw_qconn *c, int rc, const char *err);
void tw_qsrc_limited(struct tw_qsrc *src, const char *retry_after);

#endif
