/* SPDX-License-Identifier: MIT */
/* rpc.c - the rpc role: user management over JSON-RPC (TCP and console) on the CQRS service,
 * its commands spread over a pool of [db] write_connections of its own. */
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "cqrs/cqrs.h"
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
	*state = r;
	return TW_OK;
}

static int64_t step(struct tw_agent *ag, void *state)
{
	struct rpc_role *r = state;

	(void)ag;
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
