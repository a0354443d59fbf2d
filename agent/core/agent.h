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
#define TW_MAX_KEYS 96

struct tw_run_opts {
	const char *config_path; /* NULL: defaults and environment only */
	const char *console;     /* NULL: [agent] console */
	long baud;               /* 0: [agent] console_baud */
	const char *roles;       /* NULL: [agent] roles */
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
};

/** Boot, run until SIGTERM/SIGINT or "quit", stop. @return the process exit code. */
int tw_agent_run(const struct tw_run_opts *opts);

/** Handle one console command line (exposed for tests). */
void tw_agent_command(struct tw_agent *ag, const char *line);

/** Print the versions of tickwatch and its linked libraries. */
void tw_version_print(void);

#endif
