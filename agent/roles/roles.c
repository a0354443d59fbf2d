/* SPDX-License-Identifier: MIT */
/* roles.c - the static list of roles compiled into this binary (CMake option TW_ROLE_<NAME>). */
#include "core/role.h"

#include <stddef.h>

/* Each role file exports one constant table; a board leaves a role out by
 * turning its CMake option off. Roles land here as they are implemented. */
const struct tw_role *const tw_roles_built[] = {
	NULL,
};
