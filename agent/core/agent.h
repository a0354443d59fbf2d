/* SPDX-License-Identifier: MIT */
/* agent.h - the running agent: configuration, arena, loop, console and roles in one context. */
#ifndef TW_AGENT_H
#define TW_AGENT_H

#include <stddef.h>

#include "arena.h"
#include "config.h"
#include "console.h"
#include "loop.h"
#include "role.h"

#define TW_MAX_ROLES 8
#define TW_MAX_KEYS TW_CFG_MAX_KEYS /* one origin per key: config.c asserts the table fits */
#define TW_MAX_COMMANDS 16 /* console commands roles may add */
#define TW_MAX_METHODS 16  /* JSON-RPC methods roles other than rpc may add */

struct tw_agent;

/** A console command added by a role; @p args is the rest of the line. */
typedef void (*tw_command_fn)(struct tw_agent *ag, const char *args, void *arg);

/**
 * A JSON-RPC method offered by a role other than rpc (e.g. kafka.metadata).
 * Writes the JSON "result" value into @p out. @return 0, or a negative error
 * with a message in @p out (plain text).
 */
typedef int (*tw_method_fn)(struct tw_agent *ag, const char *params, size_t params_len,
			    char *out, size_t outlen, void *arg);

/** Console lines that start with '{' go to this handler (the rpc role's JSON-RPC). */
typedef void (*tw_json_line_fn)(struct tw_agent *ag, const char *line, void *arg);

struct tw_agent_command {
	const char *name;
	const char *help;
	tw_command_fn fn;
	void *arg;
};

struct tw_agent_method {
	const char *name;
	tw_method_fn fn;
	void *arg;
};

struct tw_agent {
	struct tw_config cfg;
	struct tw_cfg_origin origins[TW_MAX_KEYS];
	const char *config_path;
	struct tw_arena arena;
	struct tw_loop loop;
	struct tw_console console;
	int console_on;
	tw_mono_t started;
	int quit;
	const struct tw_role *roles[TW_MAX_ROLES];
	void *role_state[TW_MAX_ROLES];
	long long role_timer[TW_MAX_ROLES];
	size_t nroles;
	size_t nstarted; /* roles whose start succeeded, stopped in reverse */
	struct tw_agent_command commands[TW_MAX_COMMANDS];
	size_t ncommands;
	struct tw_agent_method methods[TW_MAX_METHODS];
	size_t nmethods;
	tw_json_line_fn json_fn;
	void *json_arg;
};

/** Add a console command (from a role's start). @return 0 or TW_ERR_NOMEM. */
int tw_agent_add_command(struct tw_agent *ag, const char *name, const char *help,
			 tw_command_fn fn, void *arg);

/** Offer a JSON-RPC method (from a role's start). @return 0 or TW_ERR_NOMEM. */
int tw_agent_add_method(struct tw_agent *ag, const char *name, tw_method_fn fn, void *arg);

/** @return the method called @p name (length @p len), or NULL. */
const struct tw_agent_method *tw_agent_find_method(const struct tw_agent *ag, const char *name,
						   size_t len);

/** Route console lines starting with '{' to @p fn. */
void tw_agent_set_json_handler(struct tw_agent *ag, tw_json_line_fn fn, void *arg);

/** Write to the console when there is one (no-op otherwise). */
void tw_agent_say(struct tw_agent *ag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** The role's status line helper: seconds since the agent started. */
int64_t tw_agent_uptime_s(const struct tw_agent *ag);

#endif
