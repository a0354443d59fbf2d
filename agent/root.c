/* SPDX-License-Identifier: MIT */
/* root.c - the composition root: checks and boots config, budget, arena, console, TLS heap and
 * roles; runs; stops; the console's built-in commands. */
#include "root.h"

#include <errno.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/outage.h"
#include "core/resolve.h"
#include "core/signals.h"
#ifdef TW_HAVE_TLS
#include "tls/tls.h"
#endif
#ifdef TW_HAVE_KAFKA
#include "kafka/kafka.h"
#endif
#ifdef TW_HAVE_QUOTES
#include "quotes/quotes.h"
#endif

extern char **environ;

#define RESOLVER_CACHE_ENTRIES 16

static struct tw_resolver resolver; /* the agent's one resolver (core/resolve.h) */

static const char *const help_text =
	"commands:\n"
	"  help                  this list\n"
	"  status                uptime, roles, memory budget and use\n"
	"  config show           every key, its value (secrets masked) and where it came from\n"
	"  config set KEY VALUE  change a key (section.key, or kafka.<librdkafka property>);\n"
	"                        most apply at the next start; VALUE \"\" sets it empty\n"
	"  config save           write the keys set here into the configuration file\n"
	"  log [N]               the last N log lines (default 20)\n"
	"  quit                  stop the agent cleanly (also: exit)\n"
	"  {JSON-RPC request}    a line starting with '{' is a JSON-RPC call (rpc role)\n";

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

/* Memory bounds of one libpq connection (agent/db), for the budget: its input and output
 * buffers (16 KiB each at first) and the largest result the agent's statements hold at once
 * (single-row mode streams the long ones; the largest row is a user or a stored outcome,
 * schema-bounded under DB_ROW_BYTES, times the 20 rows of a ListUsers page); one item of the
 * alert's advance statement in libpq's output buffer (its array literals, agent/cqrs). */
#define DB_ROW_BYTES (8 * 1024)
#define DB_CONN_BYTES (2 * 16 * 1024 + 20 * DB_ROW_BYTES)
#define DB_ADVANCE_ITEM_BYTES 1024
/* A librdkafka client's threads (one per broker and two of its own) and metadata, beyond its
 * capped queues: not bounded by any key, so an allowance measured on the stack. */
#define KAFKA_CLIENT_KB 1024

/* The program image (text, data, bss of the static binary): its pages are all the RSS it adds. */
extern char __executable_start, _end; /* NOLINT: the linker's symbols */

/* Kafka clients each role makes (agent/roles): producers, consumers, admin clients. */
static const struct {
	const char *role;
	int producers, consumers, admins;
} kafka_clients[] = {
	{"collector", 1, 0, 0},
	{"alert", 1, 1, 0},
	{"notifier", 0, 1, 0},
	{"admin", 0, 0, 1},
};

/* Database connections each role's cqrs use opens: the shared write and read ones once. */
static int has_role(const struct tw_agent *ag, const char *name)
{
	for (size_t i = 0; i < ag->nroles; i++) {
		if (strcmp(ag->roles[i]->name, name) == 0)
			return 1;
	}
	return 0;
}

static size_t brokers(const struct tw_config *c)
{
	size_t n = 1;

	for (const char *p = c->kafka.bootstrap; *p; p++)
		n += *p == ',';
	return n;
}

/*
 * What the agent may hold beyond its arena, line by line to @p fn, bounded by configuration:
 * librdkafka's queues and receive buffers, libpq's buffers and largest row per connection,
 * the program image; the Mbed TLS heap is a carve of the arena. @return the total in KiB of
 * the arena, the image and these caps: the most the agent's RSS can reach.
 */
static size_t library_caps(const struct tw_agent *ag, void (*fn)(const char *line, void *arg),
			   void *arg)
{
	const struct tw_config *c = &ag->cfg;
	char line[200];
	size_t nb = brokers(c), prod = 0, cons = 0, adm = 0, kib = 0, dbs = 0;
	size_t recv_kb = (size_t)(c->kafka.fetch_max_bytes + 65536) / 1024;
	size_t fetch_kb = (size_t)c->kafka.fetch_max_bytes / 1024;
	size_t queue_kb = (size_t)c->kafka.queue_kbytes;
	size_t image_kb = ((uintptr_t)&_end - (uintptr_t)&__executable_start + 1023) / 1024;
	size_t arena_kb = ag->arena.size / 1024;
	size_t pq_kb, adv_kb = 0, total;

	for (size_t i = 0; i < sizeof kafka_clients / sizeof kafka_clients[0]; i++) {
		if (has_role(ag, kafka_clients[i].role)) {
			prod += (size_t)kafka_clients[i].producers;
			cons += (size_t)kafka_clients[i].consumers;
			adm += (size_t)kafka_clients[i].admins;
		}
	}
	if (has_role(ag, "rpc") || has_role(ag, "collector") || has_role(ag, "alert") ||
	    has_role(ag, "notifier"))
		dbs = 2;
	if (has_role(ag, "rpc"))
		dbs += (size_t)c->db.write_connections;
	if (has_role(ag, "alert")) /* its advance statement: one page of items on the write one */
		adv_kb = ((size_t)c->limits.alert_page * DB_ADVANCE_ITEM_BYTES + 1023) / 1024;
	pq_kb = dbs * DB_CONN_BYTES / 1024 + adv_kb;
	total = arena_kb + image_kb + pq_kb +
		prod * (queue_kb + nb * recv_kb) + cons * (queue_kb + nb * (recv_kb + fetch_kb)) +
		adm * nb * recv_kb + (prod + cons + adm) * KAFKA_CLIENT_KB;
	snprintf(line, sizeof line, "memory total: %zu KiB at most, fixed at start: arena %zu KiB, "
		 "program image %zu KiB, library caps %zu KiB (below)", total, arena_kb, image_kb,
		 total - arena_kb - image_kb);
	fn(line, arg);
	if (prod) {
		kib = prod * (queue_kb + nb * recv_kb);
		snprintf(line, sizeof line, "  librdkafka %zu producer%s: queue.buffering.max.kbytes %zu + "
			 "%zu brokers x receive.message.max.bytes %zu KiB = %zu KiB", prod,
			 prod > 1 ? "s" : "", queue_kb, nb, recv_kb, kib);
		fn(line, arg);
	}
	if (cons) {
		kib = cons * (queue_kb + nb * (recv_kb + fetch_kb));
		snprintf(line, sizeof line, "  librdkafka %zu consumer%s: queued.max.messages.kbytes %zu + "
			 "%zu brokers x (receive %zu + fetch.max.bytes %zu KiB) = %zu KiB", cons,
			 cons > 1 ? "s" : "", queue_kb, nb, recv_kb, fetch_kb, kib);
		fn(line, arg);
	}
	if (adm) {
		snprintf(line, sizeof line, "  librdkafka admin client: %zu brokers x receive %zu KiB = "
			 "%zu KiB", nb, recv_kb, adm * nb * recv_kb);
		fn(line, arg);
	}
	if (prod + cons + adm) {
		snprintf(line, sizeof line, "  librdkafka threads and metadata: %zu clients x %d KiB "
			 "(an allowance: no key caps it)", prod + cons + adm, KAFKA_CLIENT_KB);
		fn(line, arg);
	}
	if (dbs) {
		snprintf(line, sizeof line, "  libpq %zu connections x %d KiB (buffers and largest row "
			 "%d KiB)%s = %zu KiB", dbs, DB_CONN_BYTES / 1024, DB_ROW_BYTES / 1024,
			 adv_kb ? " + the alert's advance statement" : "", pq_kb);
		fn(line, arg);
	}
#ifdef TW_HAVE_TLS
	snprintf(line, sizeof line, "  Mbed TLS heap: %lld KiB, carved from the arena ([limits] "
		 "tls_heap_kb)", (long long)c->limits.tls_heap_kb);
	fn(line, arg);
#endif
	return total;
}

/* The memory budget, one line at a time to @p fn: never cut, however many carves. */
static void budget_each(const struct tw_agent *ag, void (*fn)(const char *line, void *arg),
			void *arg)
{
	const struct tw_arena *a = &ag->arena;
	char line[160];
	size_t shown = a->ncarves < TW_ARENA_MAX_CARVES ? a->ncarves : TW_ARENA_MAX_CARVES;

	(void)library_caps(ag, fn, arg);

	snprintf(line, sizeof line, "memory budget: %zu KiB arena, %zu KiB used, %zu KiB free",
		 a->size / 1024, (a->used + 1023) / 1024, (a->size - a->used) / 1024);
	fn(line, arg);
	for (size_t i = 0; i < shown; i++) {
		const char *key = a->carves[i].limit_key ? a->carves[i].limit_key : "-";
		const char *dot = strchr(key, '.'); /* "db.write_connections": another section's */

		if (dot)
			snprintf(line, sizeof line, "  %-24.40s %8zu bytes  [%.*s] %.40s",
				 a->carves[i].what, a->carves[i].bytes, (int)(dot - key), key, dot + 1);
		else
			snprintf(line, sizeof line, "  %-24.40s %8zu bytes  [limits] %.40s",
				 a->carves[i].what, a->carves[i].bytes, key);
		fn(line, arg);
	}
	if (a->ncarves > shown) {
		snprintf(line, sizeof line, "  (%zu more carves, not itemised)", a->ncarves - shown);
		fn(line, arg);
	}
}

static void budget_to_console(const char *line, void *arg)
{
	struct tw_agent *ag = arg;

	tw_console_printf(&ag->console, "%s\n", line);
}

static void budget_to_log(const char *line, void *arg)
{
	(void)arg;
	tw_log(TW_LOG_INFO, "agent", "%s", line);
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
		/* written, not formatted: a status line longer than printf's buffer stays whole */
		tw_console_printf(&ag->console, "role %-10s ", ag->roles[i]->name);
		tw_console_write(&ag->console, buf, strnlen(buf, sizeof buf));
		tw_console_write(&ag->console, "\n", 1);
	}
	budget_each(ag, budget_to_console, ag);
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
		else if (strcmp(k[i].section, "db") == 0 && strcmp(k[i].key, "read_url") == 0)
			snprintf(from, sizeof from, "default: same as db.write_url");
		else
			snprintf(from, sizeof from, "default");
		tw_console_printf(&ag->console, "%s.%s = %s    ; %s\n", k[i].section, k[i].key,
				  tw_config_format(&ag->cfg, &k[i], val, sizeof val, 0), from);
	}
	for (size_t i = 0; i < ag->cfg.kafka.nextra; i++) {
		const char *key = ag->cfg.kafka.extra[i].key;
		int line = ag->cfg.kafka.extra[i].line;

		if (line > 0)
			snprintf(from, sizeof from, "librdkafka property, %.100s:%d",
				 ag->config_path ? ag->config_path : "file", line);
		else
			snprintf(from, sizeof from, "librdkafka property, console");
		tw_console_printf(&ag->console, "kafka.%s = %s    ; %s\n", key,
				  tw_config_kafka_secret(key) ? "***" : ag->cfg.kafka.extra[i].value,
				  from);
	}
}

int tw_agent_check(const struct tw_config *c, char *err, size_t errlen)
{
	char why[TW_CFG_ERR_LEN];
	FILE *f;

#ifdef TW_HAVE_KAFKA
	/* librdkafka's own rd_kafka_conf_set on every property, as each role would set it */
	if (tw_kafka_conf_check(c, why, sizeof why) != TW_OK) {
		snprintf(err, errlen, "%s", why);
		return TW_ERR_ARG;
	}
#endif
#ifdef TW_HAVE_QUOTES
	/* the replay file, read and parsed as the collector will, into rows carved from an
	 * arena of the check's own (before start-up, sized from the file and bounded by
	 * [limits] replay_rows, released at once; the collector carves its own at start) */
	if (strncmp(c->quotes.source, "replay:", 7) == 0 && role_wanted(c->agent.roles, "collector")) {
		const char *path = c->quotes.source + 7;
		long n = tw_replay_count(path, why, sizeof why);
		struct tw_arena a;
		struct tw_replay r;
		struct tw_replay_row *rows = NULL;
		size_t *steps = NULL;
		int rc;

		if (n >= 0 && n > c->limits.replay_rows) {
			snprintf(why, sizeof why, "%s: %ld quotes, more than [limits] replay_rows (%lld)",
				 path, n, (long long)c->limits.replay_rows);
			n = TW_ERR_REPLAY_SYNTAX;
		}
		if (n < 0) {
			snprintf(err, errlen, "[quotes] source: %s", why);
			return TW_ERR_ARG;
		}
		if (n == 0)
			n = 1; /* the load reports the empty file */
		/* both carves, each rounded up to the arena's alignment */
		if (tw_arena_init(&a, (size_t)n * sizeof *rows + ((size_t)n + 1) * sizeof *steps +
					      2 * alignof(max_align_t)) == TW_OK) {
			rows = tw_arena_carve(&a, (size_t)n * sizeof *rows, "replay check quotes",
					      "replay_rows");
			steps = tw_arena_carve(&a, ((size_t)n + 1) * sizeof *steps,
					       "replay check steps", "replay_rows");
		}
		rc = rows && steps ? tw_replay_load(&r, path, rows, steps, (size_t)n, why, sizeof why)
				   : TW_ERR_NOMEM;
		tw_arena_free(&a);
		if (rc != TW_OK) {
			snprintf(err, errlen, "[quotes] source: %s",
				 rc == TW_ERR_NOMEM ? "out of memory reading the replay file" : why);
			return TW_ERR_ARG;
		}
	}
	/* [quotes] stooq_map, checked as the collector's network sources check it at start */
	if (strncmp(c->quotes.source, "replay:", 7) != 0 && role_wanted(c->agent.roles, "collector") &&
	    tw_stooq_check_map(c->quotes.stooq_map, why, sizeof why) != TW_OK) {
		snprintf(err, errlen, "%s", why);
		return TW_ERR_ARG;
	}
#endif
	/* CA files the TLS layers of the roles that will run would load: present, readable, PEM */
	int kafka_roles = role_wanted(c->agent.roles, "admin") ||
			  role_wanted(c->agent.roles, "collector") ||
			  role_wanted(c->agent.roles, "alert") || role_wanted(c->agent.roles, "notifier");
	struct {
		const char *key, *path;
		int used;
	} cas[] = {
		{"[kafka] ca_file", c->kafka.ca_file,
		 kafka_roles &&
			 (c->kafka.security == TW_KAFKA_SSL || c->kafka.security == TW_KAFKA_SASL_SSL)},
		{"[smtp] ca_file", c->smtp.ca_file,
		 role_wanted(c->agent.roles, "notifier") && c->smtp.mode != TW_SMTP_PLAIN &&
			 c->smtp.verify},
		{"[quotes] ca_file", c->quotes.ca_file,
		 role_wanted(c->agent.roles, "collector") && strcmp(c->quotes.source, "yahoo") == 0 &&
			 strncmp(c->quotes.base, "https://", 8) == 0},
	};
	for (size_t i = 0; i < sizeof cas / sizeof cas[0]; i++) {
		char head[4096];
		size_t n;

		if (!cas[i].used || cas[i].path[0] == '\0')
			continue;
		f = fopen(cas[i].path, "r");
		if (f == NULL) {
			snprintf(err, errlen, "%s: cannot read %s: %s", cas[i].key, cas[i].path,
				 strerror(errno));
			return TW_ERR_ARG;
		}
		n = fread(head, 1, sizeof head - 1, f);
		fclose(f);
		head[n] = '\0';
		if (strstr(head, "-----BEGIN CERTIFICATE-----") == NULL) {
			snprintf(err, errlen, "%s: %s holds no PEM certificate", cas[i].key,
				 cas[i].path);
			return TW_ERR_ARG;
		}
	}
	return TW_OK;
}

static void cmd_config_set(struct tw_agent *ag, const char *args)
{
	static struct tw_config trial; /* large: not on the stack */
	char err[TW_CFG_ERR_LEN], key[160], value[1024];
	size_t kl = strcspn(args, " \t"), vl;
	const char *v = args + kl;
	int rc;

	while (*v == ' ' || *v == '\t')
		v++;
	vl = strlen(v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (kl == 0 || vl == 0) {
		tw_console_printf(&ag->console,
				  "usage: config set SECTION.KEY VALUE (VALUE \"\" for empty)\n");
		return;
	}
	if (kl >= sizeof key || vl >= sizeof value) {
		tw_console_printf(&ag->console, "error: key or value too long\n");
		return;
	}
	memcpy(key, args, kl);
	key[kl] = '\0';
	if (vl == 2 && v[0] == '"' && v[1] == '"')
		vl = 0;
	memcpy(value, v, vl);
	value[vl] = '\0';
	memcpy(&trial, &ag->cfg, sizeof trial);
	rc = tw_config_set(&trial, ag->origins, key, value, err, sizeof err);
#ifdef TW_HAVE_KAFKA
	/* a librdkafka property: librdkafka itself says whether it takes it */
	if (rc >= 0 && strncmp(key, "kafka.", 6) == 0 && tw_config_find(key) < 0 &&
	    tw_kafka_conf_check(&trial, err, sizeof err) != TW_OK)
		rc = TW_ERR_ARG;
#endif
	if (rc < 0) {
		tw_console_printf(&ag->console, "error: %s\n", err);
		return;
	}
	memcpy(&ag->cfg, &trial, sizeof trial);
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
	if (tw_config_save(&ag->cfg, ag->origins, ag->config_path, err, sizeof err) != TW_OK) {
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

/* The next word of *@p p: its start, its length in *@p n; *@p p moves past the blanks after it. */
static const char *word(const char **p, size_t *n)
{
	const char *w = *p;

	while (*w == ' ' || *w == '\t')
		w++;
	*n = strcspn(w, " \t");
	*p = w + *n;
	while (**p == ' ' || **p == '\t')
		(*p)++;
	return w;
}

static int is_word(const char *w, size_t n, const char *s)
{
	return strlen(s) == n && strncmp(w, s, n) == 0;
}

void tw_agent_command(struct tw_agent *ag, const char *line)
{
	const char *rest = line, *cmd, *sub;
	size_t n, sn;

	if (line[0] == '{') {
		if (ag->json_fn)
			ag->json_fn(ag, line, ag->json_arg);
		else
			tw_console_printf(&ag->console, "error: JSON-RPC needs the rpc role, which is "
							"not running here\n");
		return;
	}
	/* parsed in place: a line of any length up to [limits] console_line is taken whole */
	cmd = word(&rest, &n);
	if (n == 0)
		return;
	for (size_t i = 0; i < ag->ncommands; i++) {
		if (is_word(cmd, n, ag->commands[i].name)) {
			ag->commands[i].fn(ag, rest, ag->commands[i].arg);
			return;
		}
	}
	if (is_word(cmd, n, "help")) {
		tw_console_write(&ag->console, help_text, strlen(help_text));
		for (size_t i = 0; i < ag->ncommands; i++)
			tw_console_printf(&ag->console, "  %-21s %s\n", ag->commands[i].name,
					  ag->commands[i].help);
	} else if (is_word(cmd, n, "status")) {
		cmd_status(ag);
	} else if (is_word(cmd, n, "config")) {
		sub = word(&rest, &sn);
		if (is_word(sub, sn, "show") && *rest == '\0')
			cmd_config_show(ag);
		else if (is_word(sub, sn, "set"))
			cmd_config_set(ag, rest);
		else if (is_word(sub, sn, "save") && *rest == '\0')
			cmd_config_save(ag);
		else
			tw_console_printf(&ag->console, "usage: config show | config set KEY VALUE | "
							"config save\n");
	} else if (is_word(cmd, n, "log")) {
		cmd_log(ag, rest);
	} else if (is_word(cmd, n, "quit") || is_word(cmd, n, "exit")) {
		tw_console_printf(&ag->console, "bye\n");
		ag->quit = 1;
		tw_loop_stop(&ag->loop);
	} else if (is_word(cmd, n, "kafka")) {
		/* the admin role adds it; say why it is missing rather than "unknown" */
		tw_console_printf(&ag->console, "error: the admin role is not running here: 'kafka' "
						"needs it (roles: %s)\n",
				  ag->cfg.agent.roles);
	} else {
		tw_console_printf(&ag->console, "error: unknown command '%.*s' (try help)\n",
				  (int)(n > 64 ? 64 : n), cmd);
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
	ring = tw_arena_carve(&ag->arena, TW_LOG_OUT_BYTES, "log output", "arena_kb");
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
				     (size_t)c->limits.console_line + 1 /* and its NUL */,
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
	budget_each(ag, budget_to_log, NULL);
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
		int idx = tw_config_find("agent.roles");

		if (tw_config_set(&ag.cfg, ag.origins, "agent.roles", opts->roles, err, sizeof err) <
		    0) {
			fprintf(stderr, "tickwatch: --roles: %s\n", err);
			return 2;
		}
		/* from the command line, not the console: "config save" leaves it out */
		snprintf(ag.origins[idx].file, sizeof ag.origins[idx].file, "--roles");
		ag.origins[idx].line = -3;
	}
	rc = tw_agent_check(&ag.cfg, err, sizeof err);
	if (rc != TW_OK) {
		fprintf(stderr, "tickwatch: %s%s%s\n", opts->config_path ? opts->config_path : "",
			opts->config_path ? ": " : "", err);
		return 1;
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
