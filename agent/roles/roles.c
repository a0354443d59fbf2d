/* SPDX-License-Identifier: MIT */
/* roles.c - the static list of roles compiled into this binary (CMake option TW_ROLE_<NAME>). */
#include "core/role.h"
#include "core/role_list.h"

#include <stddef.h>

/* CMake compiles agent/roles/<name>.c into the binary when TW_ROLE_<NAME> is on;
 * each file exports one constant table. A role left out is a weak reference
 * that the static link resolves to NULL: callers skip NULL entries. */
#define TW_ROLE_EXTERN(name) extern const struct tw_role tw_role_##name __attribute__((weak));
TW_ROLE_LIST(TW_ROLE_EXTERN)
#undef TW_ROLE_EXTERN

const struct tw_role *const tw_roles_all[TW_ROLES_ALL] = {
#define TW_ROLE_ENTRY(name) &tw_role_##name,
	TW_ROLE_LIST(TW_ROLE_ENTRY)
#undef TW_ROLE_ENTRY
};
