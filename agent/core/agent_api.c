/* SPDX-License-Identifier: MIT */
/* agent_api.c - what roles call on the agent: console commands, RPC methods, console output. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"

int tw_agent_add_command(struct tw_agent *ag, const char *name, const char *help,
			 tw_command_fn fn, void *arg)
{
	if (ag->ncommands == TW_MAX_COMMANDS)
		return TW_ERR_NOMEM;
	ag->commands[ag->ncommands++] = (struct tw_agent_command){name, help, fn, arg};
	return TW_OK;
}

int tw_agent_add_method(struct tw_agent *ag, const char *name, tw_method_fn fn, void *arg)
{
	if (ag->nmethods == TW_MAX_METHODS)
		return TW_ERR_NOMEM;
	ag->methods[ag->nmethods++] = (struct tw_agent_method){name, fn, arg};
	return TW_OK;
}

const struct tw_agent_method *tw_agent_find_method(const struct tw_agent *ag, const char *name,
						   size_t len)
{
	for (size_t i = 0; i < ag->nmethods; i++) {
		if (strlen(ag->methods[i].name) == len && memcmp(ag->methods[i].name, name, len) == 0)
			return &ag->methods[i];
	}
	return NULL;
}

void tw_agent_set_json_handler(struct tw_agent *ag, tw_json_line_fn fn, void *arg)
{
	ag->json_fn = fn;
	ag->json_arg = arg;
}

void tw_agent_say(struct tw_agent *ag, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (!ag->console_on)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		tw_console_write(&ag->console, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

int64_t tw_agent_uptime_s(const struct tw_agent *ag)
{
	return (tw_hal_now() - ag->started) / TW_MONO_PER_S;
}
