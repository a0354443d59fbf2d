/* SPDX-License-Identifier: MIT */
/* verified.c - SetTickerVerified: the rpc role's ticker check records whether the quote source
 * knew a user's ticker (users.ticker_verified, schema 11; docs/rpc.md, docs/schema.md), after a
 * user.update_ticker (a register stores its verdict in its own statement), on the rpc role's pool
 * of write connections like the command it follows. */
#include <stdio.h>

#include "cqrs_int.h"

int tw_cqrs_set_ticker_verified(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
				const char *ticker, int verified, tw_cqrs_done_fn done, void *arg)
{
	char tk[TW_CQRS_TICKER_MAX + 1];
	const char *p[3];
	int rc;

	tw_cqrs_op_begin(op, q, TW_CQRS_K_VERIFIED, done, arg);
	rc = tw_cqrs_take_email(op, email);
	if (rc != TW_OK)
		return rc;
	rc = tw_cqrs_take_ticker(op, ticker, tk);
	if (rc != TW_OK)
		return rc;
	if (verified < -1 || verified > 1)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "verified",
				       "verified must be 1, 0 or -1 (NULL)");
	p[0] = op->user.email;
	p[1] = tk;
	p[2] = verified < 0 ? NULL : verified ? "true" : "false";
	return tw_cqrs_submit_user_write(op,
				    "UPDATE users SET ticker_verified = $3::boolean WHERE email = $1 "
				    "AND ticker = $2",
				    3, p);
}
