/* SPDX-License-Identifier: MIT */
/* roles.c - the static list of roles compiled into this binary (CMake option TW_ROLE_<NAME>). */
#include "core/role.h"

#include <stddef.h>

/* CMake defines TW_ROLE_<NAME> when the role's option is on and its file
 * agent/roles/<name>.c exists; each file exports one constant table. */
extern const struct tw_role tw_role_rpc, tw_role_admin, tw_role_collector, tw_role_alert,
	tw_role_notifier;

const struct tw_role *const tw_roles_built[] = {
#ifdef TW_ROLE_RPC
	&tw_role_rpc,
#endif
#ifdef TW_ROLE_ADMIN
	&tw_role_admin,
#endif
#ifdef TW_ROLE_COLLECTOR
	&tw_role_collector,
#endif
#ifdef TW_ROLE_ALERT
	&tw_role_alert,
#endif
#ifdef TW_ROLE_NOTIFIER
	&tw_role_notifier,
#endif
	NULL,
};
