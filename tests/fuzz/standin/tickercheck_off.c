/* SPDX-License-Identifier: MIT */
/* tickercheck_off.c - agent/rpc/tickercheck.c for fuzz_rpc: the ticker check is off (it asks a
 * quote source over the network, which the rpc target does not link), so register and
 * update_ticker go straight to the scripted CQRS stand-in. */
#include <stdlib.h>

#include "rpc/rpc_int.h"

size_t tw_rpc_tcheck_budget(const struct tw_config *cfg)
{
	(void)cfg;
	return 0;
}

int tw_rpc_tcheck_open(struct tw_rpc *r, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	r->tc = NULL;
	return TW_OK;
}

void tw_rpc_tcheck_close(struct tw_rpc *r)
{
	r->tc = NULL;
}

int tw_rpc_tcheck_wanted(const struct rpc_slot *s, const struct rpc_params *p)
{
	(void)s, (void)p;
	return 0;
}

int tw_rpc_tcheck_start(struct rpc_slot *s, const struct rpc_method *m,
			const struct rpc_params *p, tw_cqrs_done_fn answer)
{
	(void)s, (void)m, (void)p, (void)answer;
	abort(); /* never wanted here */
}
