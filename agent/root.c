/* SPDX-License-Identifier: MIT */
/* root.c - the composition root: boots config, budget, arena, console, TLS heap and roles; runs; stops. */
#include "root.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/outage.h"
#include "core/resolve.h"
#include "core/signals.h"
#ifdef TW_HAVE_TLS
#include "tls/tls.h"
#endif

extern char **environ;

#define RESOLVER_CACHE_ENTRIES 16

static struct tw_resolver resolver; /* the agent's one resolver (core/resolve.h) */

static const char *const help_text =
	"commands:\n"
	"  help                  this list\n"
	"  status                uptime, roles, memory budget and use\n"
	"  config show           every key, its value (secrets masked) and where it came from\n"
	"  config set KEY VALUE  change a key (section.key); most apply at the next start\n"
	"  config save           write the configuration back to its file\n"
	"  log [N]               the last N log lines (default 20)\n"
	"  quit                  stop the agent cleanly\n";

static int role_wanted(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (strcmp(list, "all") == 0)
		return 1;
	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n) {
		if ((p == list || p[-1] == ',' || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
	}
	return 0;
}

/* @return the built role called @p name, or NULL. */
static const struct tw_role *built_role(const char *name)
{
	for (size_t i = 0; i < TW_ROLES_ALL; i++) {
		if (tw_roles_all[i] && strcmp(tw_roles_all[i]->name, name) == 0)
			return tw_roles_all[i];
	}
	return NULL;
}

/* Every requested role must be built into this binary. */
static int select_roles(struct tw_agent *ag, const char *list, char *err, size_t errlen)
{
	char copy[sizeof ag->cfg.agent.roles], *tok, *save = NULL;

	snprintf(copy, sizeof copy, "%s", list);
	if (strcmp(copy, "all") != 0) {
		for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			if (built_role(tok) == NULL) {
				snprintf(err, errlen,
					 "role '%s' is not built into this binary (rebuild with "
					 "-DTW_ROLE_%s=ON)",
					 tok, tok);
				return TW_ERR_ARG;
			}
		}
	}
	for (size_t i = 0; i < TW_ROLES_ALL && ag->nroles < TW_MAX_ROLES; i++) {
		if (tw_roles_all[i] && role_wanted(list, tw_roles_all[i]->name))
			ag->roles[ag->nroles++] = tw_roles_all[i];
	}
	return TW_OK;
}

static void cmd_status(struct tw_agent *ag)
{
	char buf[2048];
	tw_mono_t up = (tw_hal_now() - ag->started) / TW_MONO_PER_S;

	tw_console_printf(&ag->console, "tickwatch %s, board %s, up %lldd %02lld:%02lld:%02lld\n",
			  TW_VERSION, ag->cfg.agent.board, (long long)(up / 86400),
			  (long long)(up / 3600 % 24), (long long)(up / 60 % 60),
			  (long long)(up % 60));
	if (ag->nroles == 0)
		tw_console_printf(&ag->console, "roles: none running\n");
	for (size_t i = 0; i < ag->nroles; i++) {
		buf[0] = '\0';
		if (ag->roles[i]->status)
			ag->roles[i]->status(ag, ag->role_state[i], buf, sizeof buf);
		tw_console_printf(&ag->console, "role %-10s %s\n", ag->roles[i]->name, buf);
	}
	tw_arena_report(&ag->arena, buf, sizeof buf);
	tw_console_write(&ag->console, buf, strlen(buf));
	tw_console_printf(&ag->console, "loop: %llu turns; console: %llu lines in, %llu bytes "
					"dropped\n",
			  (unsigned long long)ag->loop.turns,
			  (unsigned long long)ag->console.lines_in,
			  (unsigned long long)ag->console.dropped_bytes);
	tw_console_printf(&ag->console, "log: %llu lines dropped, %llu repeats folded; resolver: "
					"%llu look-ups, %llu cache hits, %llu time-outs\n",
			  tw_log_dropped(), tw_log_folded(),
			  (unsigned long long)resolver.lookups, (unsigned long long)resolver.hits,
			  (unsigned long long)resolver.timeouts);
	tw_outage_report(buf, sizeof buf);
	tw_console_write(&ag->console, buf, strlen(buf));
}

static void cmd_config_show(struct tw_agent *ag)
{
	size_t n;
	const struct tw_cfg_key *k = tw_config_keys(&n);
	char val[600], from[160];

	for (size_t i = 0; i < n; i++) {
		const struct tw_cfg_origin *o = &ag->origins[i];

		if (o->line > 0)
			snprintf(from, sizeof from, "%s:%d", o->file, o->line);
		else if (o->line < 0)
			snprintf(from, sizeof from, "%s", o->file);
		else
			snprintf(from, sizeof from, "default");
		tw_console_printf(&ag->console, "%s.%s = %s    ; %s\n", k[i].section, k[i].key,
				  tw_config_format(&ag->cfg, &k[i], val, sizeof val, 0), from);
	}
	for (size_t i = 0; i < ag->cfg.kafka.nextra; i++)
		tw_console_printf(&ag->console, "kafka.%s = %s    ; librdkafka property\n",
				  ag->cfg.kafka.extra[i].key,
				  strstr(ag->cfg.kafka.extra[i].key, "password") ||
						  strstr(ag->cfg.kafka.extra[i].key, "secret")
					  ? "***"
					  : ag->cfg.kafka.extra[i].value);
}

static void cmd_config_set(struct tw_agent *ag, char *args)
{
	char err[TW_CFG_ERR_LEN];
	char *key = strtok_r(args, " \t", &args);
	char *value = args;
	int rc;

	while (value && (*value == ' ' || *value == '\t'))
		value++;
	if (key == NULL || value == NULL) {
		tw_console_printf(&ag->console, "usage: config set SECTION.KEY VALUE\n");
		return;
	}
	rc = tw_config_set(&ag->cfg, ag->origins, key, value, err, sizeof err);
	if (rc < 0) {
		tw_console_printf(&ag->console, "error: %s\n", err);
		return;
	}
	if (strcmp(key, "agent.log_level") == 0)
		tw_log_threshold = (int)ag->cfg.agent.log_level;
	tw_log(TW_LOG_INFO, "console", "config set %s (%s)", key,
	       rc ? "applied now" : "applies at the next start");
	tw_console_printf(&ag->console, "ok: %s %s\n", key,
			  rc ? "applied now" : "applies at the next start (config save, then restart)");
}

static void cmd_config_save(struct tw_agent *ag)
{
	char err[TW_CFG_ERR_LEN];

	if (ag->config_path == NULL) {
		tw_console_printf(&ag->console,
				  "error: the agent was started without --config: no file to save to\n");
		return;
	}
	if (tw_config_save(&ag->cfg, ag->config_path, err, sizeof err) != TW_OK) {
		tw_console_printf(&ag->console, "error: %s\n", err);
		return;
	}
	tw_log(TW_LOG_INFO, "console", "configuration saved to %s", ag->config_path);
	tw_console_printf(&ag->console, "ok: saved %s\n", ag->config_path);
}

static void cmd_log(struct tw_agent *ag, const char *arg)
{
	size_t want = 20, have = tw_log_ring_count();
	long v;
	char *end;

	if (arg && *arg) {
		v = strtol(arg, &end, 10);
		if (*end != '\0' || v <= 0) {
			tw_console_printf(&ag->console, "usage: log [N], N > 0\n");
			return;
		}
		want = (size_t)v;
	}
	if (want > have)
		want = have;
	for (size_t i = have - want; i < have; i++)
		tw_console_printf(&ag->console, "%s\n", tw_log_ring_line(i));
}

void tw_agent_command(struct tw_agent *ag, const char *line)
{
	char buf[1024], *cmd, *rest;

	if (line[0] == '{') {
		if (ag->json_fn)
			ag->json_fn(ag, line, ag->json_arg);
		else
			tw_console_printf(&ag->console, "error: JSON-RPC needs the rpc role\n");
		return;
	}
	snprintf(buf, sizeof buf, "%s", line);
	rest = buf;
	cmd = strtok_r(rest, " \t", &rest);
	if (cmd == NULL)
		return;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	for (size_t i = 0; i < ag->ncommands; i++) {
		if (strcmp(cmd, ag->commands[i].name) == 0) {
			ag->commands[i].fn(ag, rest, ag->commands[i].arg);
			return;
		}
	}
	if (strcmp(cmd, "help") == 0) {
		tw_console_write(&ag->console, help_text, strlen(help_text));
		for (size_t i = 0; i < ag->ncommands; i++)
			tw_console_printf(&ag->console, "  %-21s %s\n", ag->commands[i].name,
					  ag->commands[i].help);
	} else if (strcmp(cmd, "status") == 0) {
		cmd_status(ag);
	} else if (strcmp(cmd, "config") == 0) {
		char *sub = strtok_r(rest, " \t", &rest);

		if (sub && strcmp(sub, "show") == 0)
			cmd_config_show(ag);
		else if (sub && strcmp(sub, "set") == 0)
			cmd_config_set(ag, rest);
		else if (sub && strcmp(sub, "save") == 0)
			cmd_config_save(ag);
		else
			tw_console_printf(&ag->console, "usage: config show | config set KEY VALUE | "
							"config save\n");
	} else if (strcmp(cmd, "log") == 0) {
		cmd_log(ag, rest);
	} else if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
		tw_console_printf(&ag->console, "bye\n");
		ag->quit = 1;
		tw_loop_stop(&ag->loop);
	} else {
		tw_console_printf(&ag->console, "error: unknown command '%s' (try help)\n", cmd);
	}
}

static void on_console_line(struct tw_console *con, const char *line, void *arg)
{
	(void)con;
	tw_agent_command(arg, line);
}

static int should_stop(void *arg)
{
	struct tw_agent *ag = arg;
	int sig = tw_signals_stop_requested();

	if (sig) {
		tw_log(TW_LOG_INFO, "agent", "%s received: stopping",
		       sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return 1;
	}
	if (tw_signals_take_hup())
		tw_log(TW_LOG_INFO, "agent", "SIGHUP ignored: change settings with 'config set'");
	return ag->quit;
}

static int64_t role_timer(struct tw_loop *l, void *arg);

struct role_slot {
	struct tw_agent *ag;
	size_t i;
};

static struct role_slot role_slots[TW_MAX_ROLES];

static int64_t role_timer(struct tw_loop *l, void *arg)
{
	struct role_slot *s = arg;

	(void)l;
	return s->ag->roles[s->i]->step(s->ag, s->ag->role_state[s->i]);
}

static int boot(struct tw_agent *ag, const struct tw_run_opts *opts, char *err, size_t errlen)
{
	char report[2048];
	const struct tw_config *c = &ag->cfg;
	const char *dev = opts->console ? opts->console : c->agent.console;
	size_t ring_bytes = (size_t)(c->limits.log_lines * c->limits.log_line_len);
	void *ring;
	int rc;

	if (tw_arena_init(&ag->arena, (size_t)c->limits.arena_kb * 1024) != TW_OK) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	ring = tw_arena_carve(&ag->arena, ring_bytes, "log ring", "log_lines");
	if (ring == NULL ||
	    tw_loop_init(&ag->loop, &ag->arena, (size_t)c->limits.max_fds,
			 (size_t)c->limits.max_timers) != TW_OK) {
		snprintf(err, errlen, "%s", ag->arena.err);
		return TW_ERR_NOMEM;
	}
	tw_log_ring_init(ring, (size_t)c->limits.log_lines, (size_t)c->limits.log_line_len);
	/* From here log lines reach stderr through a ring the loop drains: never blocking. */
	ring = tw_arena_carve(&ag->arena, TW_LOG_OUT_BYTES, "log output", NULL);
	if (ring == NULL || tw_log_attach(&ag->loop, ring, TW_LOG_OUT_BYTES) != TW_OK) {
		snprintf(err, errlen, "%s", ring ? "log output: no free timer" : ag->arena.err);
		return TW_ERR_NOMEM;
	}
	rc = tw_resolver_init(&resolver, &ag->loop, &ag->arena, NULL, RESOLVER_CACHE_ENTRIES, err,
			      errlen);
	if (rc != TW_OK)
		return rc;
	tw_resolver_set_default(&resolver);
	rc = tw_signals_install();
	if (rc != TW_OK) {
		snprintf(err, errlen, "cannot install signal handlers");
		return rc;
	}
	if (strcmp(dev, "none") != 0) {
		rc = tw_console_init(&ag->console, &ag->arena, &ag->loop, dev,
				     opts->baud ? (unsigned)opts->baud
						: (unsigned)c->agent.console_baud,
				     (size_t)c->limits.console_line,
				     (size_t)c->limits.console_out_kb * 1024, on_console_line, ag,
				     err, errlen);
		if (rc != TW_OK)
			return rc;
		ag->console_on = 1;
	}
#ifdef TW_HAVE_TLS
	/* Before any role makes a TLS context: with a static Mbed TLS heap, all of
	 * Mbed TLS's memory comes from this carve. */
	rc = tw_tls_heap_init(&ag->arena, (size_t)c->limits.tls_heap_kb * 1024, err, errlen);
	if (rc != TW_OK)
		return rc;
#endif
	for (size_t i = 0; i < ag->nroles; i++) {
		const struct tw_role *r = ag->roles[i];

		rc = r->start(ag, &ag->role_state[i], err, errlen);
		if (rc != TW_OK)
			return rc;
		ag->nstarted = i + 1;
		role_slots[i].ag = ag;
		role_slots[i].i = i;
		ag->role_timer[i] = tw_loop_add_timer(&ag->loop, 0, role_timer, &role_slots[i]);
		if (ag->role_timer[i] < 0) {
			snprintf(err, errlen, "role %s: no free timer: raise [limits] max_timers",
				 r->name);
			return TW_ERR_NOMEM;
		}
	}
	tw_arena_seal(&ag->arena);
	tw_arena_report(&ag->arena, report, sizeof report);
	for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n"))
		tw_log(TW_LOG_INFO, "agent", "%s", line);
	return TW_OK;
}

/* Let the roles finish what they began (a held SMTP end of data, a produce
 * awaiting its report) before stop(): the loop keeps turning, bounded by
 * [agent] stop_timeout. */
static void drain(struct tw_agent *ag)
{
	tw_mono_t deadline = tw_hal_now() + ag->cfg.agent.stop_timeout_ms * TW_MONO_PER_MS;

	for (;;) {
		int busy = 0;

		for (size_t i = 0; i < ag->nstarted; i++) {
			if (ag->roles[i]->drain && ag->roles[i]->drain(ag, ag->role_state[i]))
				busy = 1;
		}
		if (!busy)
			return;
		if (tw_hal_now() >= deadline) {
			tw_log(TW_LOG_WARN, "agent",
			       "stop: work still in flight after [agent] stop_timeout; stopping anyway");
			return;
		}
		int rc = tw_loop_run_once(&ag->loop, 100);

		if (rc < 0 && rc != TW_ERR_INTR)
			return;
	}
}

static void shutdown_agent(struct tw_agent *ag)
{
	for (size_t i = ag->nstarted; i-- > 0;)
		ag->roles[i]->stop(ag, ag->role_state[i]);
	if (ag->console_on)
		tw_console_close(&ag->console);
	tw_resolver_stop(&resolver);
	tw_log_detach(1000);
	tw_outage_reset();
	tw_log_ring_reset();
	tw_arena_free(&ag->arena);
}

int tw_agent_run(const struct tw_run_opts *opts)
{
	static struct tw_agent ag; /* large; lives in BSS, not on the stack */
	char err[TW_CFG_ERR_LEN], names[128] = "";
	int rc;

	memset(&ag, 0, sizeof ag);
	ag.started = tw_hal_now();
	ag.config_path = opts->config_path;
	rc = tw_config_load(&ag.cfg, ag.origins, opts->config_path, environ, err, sizeof err);
	if (rc != TW_OK) {
		fprintf(stderr, "tickwatch: %s\n", err);
		return 1;
	}
	tw_log_threshold = (int)ag.cfg.agent.log_level;
	if (opts->roles) {
		if (tw_config_set(&ag.cfg, ag.origins, "agent.roles", opts->roles, err, sizeof err) <
		    0) {
			fprintf(stderr, "tickwatch: --roles: %s\n", err);
			return 2;
		}
	}
	if (select_roles(&ag, ag.cfg.agent.roles, err, sizeof err) != TW_OK) {
		fprintf(stderr, "tickwatch: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < ag.nroles; i++)
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "," : "",
			 ag.roles[i]->name);
	tw_log(TW_LOG_INFO, "agent", "tickwatch %s starting (board %s, config %s)", TW_VERSION,
	       ag.cfg.agent.board, opts->config_path ? opts->config_path : "defaults");
	rc = boot(&ag, opts, err, sizeof err);
	if (rc != TW_OK) {
		tw_log(TW_LOG_ERROR, "agent", "start failed: %s", err);
		shutdown_agent(&ag);
		return 1;
	}
	tw_log(TW_LOG_INFO, "agent", "ready: roles %s", ag.nroles ? names : "(none)");
	rc = tw_loop_run(&ag.loop, should_stop, &ag);
	if (rc != TW_OK)
		tw_log(TW_LOG_ERROR, "agent", "event loop failed (%d)", rc);
	else
		drain(&ag);
	shutdown_agent(&ag);
	tw_log(TW_LOG_INFO, "agent", "stopped");
	return rc == TW_OK ? 0 : 1;
}
