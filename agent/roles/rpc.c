/* SPDX-License-Identifier: MIT */
/* rpc.c - the rpc role: user management over JSON-RPC (TCP and console) on the CQRS service,
 * its commands spread over a pool of [db] write_connections of its own. */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "cqrs/cqrs.h"
#include "json/json.h"
#include "notif/notif.h"
#include "rpc/rpc.h"

struct rpc_role {
	struct tw_cqrs *q;
	struct tw_rpc *srv;
	struct tw_db *writers; /* [db] write_connections */
};

static size_t budget(const struct tw_config *cfg)
{
	return sizeof(struct rpc_role) + tw_cqrs_writers_budget(cfg) + tw_rpc_budget(cfg);
}

/* Console "history EMAIL [AFTER]": the alert.history request on the console's JSON-RPC
 * path (its answer is that line); the words go in as JSON strings, checked by the method. */
static void cmd_history(struct tw_agent *ag, const char *args, void *arg)
{
	char line[1024], e[TW_CQRS_EMAIL_MAX + 2], a[TW_CQRS_HISTORY_CURSOR_MAX + 2];
	struct tw_jw w;
	int n = 0;

	(void)arg;
	a[0] = '\0';
	if (sscanf(args, "%255s %161s %n", e, a, &n) < 1 || (n && args[n] != '\0') ||
	    strlen(e) > TW_CQRS_EMAIL_MAX || strlen(a) > TW_CQRS_HISTORY_CURSOR_MAX ||
	    ag->json_fn == NULL) {
		tw_console_printf(&ag->console, "usage: history EMAIL [AFTER] (AFTER: the \"next\" "
						"of the page before)\n");
		return;
	}
	tw_jw_init(&w, line, sizeof line);
	tw_jw_lit(&w, "{\"jsonrpc\":\"2.0\",\"id\":\"history\",\"method\":\"alert.history\","
		      "\"params\":{\"email\":");
	tw_jw_str(&w, e);
	if (a[0]) {
		tw_jw_lit(&w, ",\"after\":");
		tw_jw_str(&w, a);
	}
	tw_jw_lit(&w, "}}");
	if (!w.overflow)
		ag->json_fn(ag, line, ag->json_arg);
}

static int start(struct tw_agent *ag, void **state, char *err, size_t errlen)
{
	struct rpc_role *r = tw_arena_carve(&ag->arena, sizeof *r, "rpc role", "rpc_slots");
	int rc;

	if (r == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	r->writers = tw_arena_carve(&ag->arena, tw_cqrs_writers_budget(&ag->cfg),
				    "rpc write connections", "db.write_connections");
	if (r->writers == NULL) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	r->q = tw_cqrs_open(ag, err, errlen);
	if (r->q == NULL)
		return TW_ERR_ARG;
	rc = tw_cqrs_open_writers(r->q, ag, r->writers, (size_t)ag->cfg.db.write_connections, err,
				  errlen);
	if (rc != TW_OK) {
		tw_cqrs_close(r->q);
		r->q = NULL;
		return rc;
	}
	rc = tw_rpc_start(&r->srv, ag, r->q, err, errlen);
	if (rc != TW_OK) {
		tw_cqrs_close_writers(r->q);
		tw_cqrs_close(r->q);
		r->q = NULL;
		return rc;
	}
	if (tw_agent_add_command(ag, "history", "EMAIL [AFTER]: the user's e-mails from the "
				 "ledger, newest first (alert.history)", cmd_history, r) != TW_OK)
		tw_log(TW_LOG_WARN, "rpc", "no room for the console command history");
	*state = r;
	return TW_OK;
}

static int64_t step(struct tw_agent *ag, void *state)
{
	struct rpc_role *r = state;

	(void)ag;
	(void)tw_notif_key_poll(r->q); /* alert.history reads stored messages under this key */
	return tw_rpc_step(r->srv);
}

static void stop(struct tw_agent *ag, void *state)
{
	struct rpc_role *r = state;

	(void)ag;
	if (r == NULL)
		return;
	tw_rpc_stop(r->srv);
	tw_cqrs_close_writers(r->q);
	tw_cqrs_close(r->q);
	r->q = NULL;
}

static void status(struct tw_agent *ag, void *state, char *buf, size_t len)
{
	const struct rpc_role *r = state;
	char a[384], b[256];

	(void)ag;
	tw_rpc_status(r->srv, a, sizeof a);
	tw_cqrs_status(r->q, b, sizeof b);
	snprintf(buf, len, "%s; %s", a, b);
}

const struct tw_role tw_role_rpc = {
	.name = "rpc",
	.budget = budget,
	.start = start,
	.step = step,
	.stop = stop,
	.status = status,
};
