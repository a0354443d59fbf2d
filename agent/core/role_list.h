/* SPDX-License-Identifier: MIT */
/* role_list.h - the one list of role names: roles.c, the config check, --help and CMake read it. */
#ifndef TW_ROLE_LIST_H
#define TW_ROLE_LIST_H

/* X(name): agent/roles/<name>.c exports tw_role_<name>, CMake option TW_ROLE_<NAME>.
 * CMake parses the X(...) entries of this macro: keep one entry per line. */
#define TW_ROLE_LIST(X) \
	X(rpc)          \
	X(admin)        \
	X(collector)    \
	X(alert)        \
	X(notifier)     \
	X(http)

/* " rpc, admin, ..., notifier," for help texts: "a comma list of" TW_ROLE_NAMES " or all". */
#define TW_ROLE_NAME_TEXT(name) " " #name ","
#define TW_ROLE_NAMES TW_ROLE_LIST(TW_ROLE_NAME_TEXT)

#endif
