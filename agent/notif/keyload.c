/* SPDX-License-Identifier: MIT */
/* keyload.c - the process's to-notifier signing key, read once from notif_key (migration 4)
 * through cqrs and shared by the roles of the process (alert signs, notifier verifies). */
#include <stdio.h>

#include "core/log.h"
#include "hal.h"
#include "notif/notif.h"

#define KEY_RETRY_MS 1000 /* a failed load (database not up yet) is tried again after this */

static struct {
	struct tw_cqrs_op op;
	struct tw_notif_key key;
	int busy;
	tw_mono_t last_try;
	unsigned failures;
} kl;

static void on_key(void *arg, const struct tw_cqrs_result *r)
{
	(void)arg;
	kl.busy = 0;
	if (r->rc == TW_OK && r->sign_key && tw_notif_key_set(&kl.key, r->sign_key) == TW_OK) {
		tw_log(TW_LOG_INFO, "notif", "to-notifier signing key loaded");
		return;
	}
	if (kl.failures++ % 30 == 0) /* once, then every 30 s or so */
		tw_log(TW_LOG_WARN, "notif", "signing key not loaded yet (nothing is sent or mailed "
		       "until it is): %s", r->msg && r->msg[0] ? r->msg : "bad key in notif_key");
}

const struct tw_notif_key *tw_notif_key_poll(struct tw_cqrs *q)
{
	tw_mono_t now = tw_hal_now();

	if (kl.key.set)
		return &kl.key;
	if (q == NULL || kl.busy || (kl.last_try && now - kl.last_try < KEY_RETRY_MS * TW_MONO_PER_MS))
		return NULL;
	kl.last_try = now;
	if (!tw_cqrs_ready(q))
		return NULL;
	if (tw_cqrs_notif_key(q, &kl.op, on_key, NULL) == TW_OK)
		kl.busy = 1;
	else
		on_key(NULL, tw_cqrs_op_result(&kl.op));
	return NULL;
}
