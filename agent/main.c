/* SPDX-License-Identifier: MIT */
/* main.c - the tickwatch command line: run, config check/show/defaults/reference, version, ctl, db. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "root.h"
#include "core/config.h"
#include "core/log.h"
#include "core/role_list.h"

extern char **environ;

/* Subcommands provided by modules when they are built (see CMakeLists.txt). */
#ifdef TW_HAVE_CTL
int tw_ctl_main(int argc, char **argv);
#endif
#ifdef TW_HAVE_DB
int tw_db_cli_main(int argc, char **argv);
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char *const usage_main =
	"usage: tickwatch COMMAND [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  run            run the agent (roles, console) until SIGTERM or 'quit'\n"
	"  config check   validate a configuration file\n"
	"  config show    print the effective configuration (secrets masked)\n"
	"  config defaults  print a complete configuration file with every default\n"
	"  config reference  print every key as a Markdown table (README's reference)\n"
	"  version        print the versions of tickwatch and its libraries\n"
#ifdef TW_HAVE_CTL
	"  ctl            manage users and query quotes through a running agent's RPC\n"
#endif
#ifdef TW_HAVE_DB
	"  db migrate     apply the database schema migrations\n"
#endif
	"\n"
	"'tickwatch COMMAND --help' describes each command.\n";

static const char *const usage_run =
	"usage: tickwatch run [--config FILE] [--console DEV] [--baud N] [--roles LIST]\n"
	"\n"
	"  --config FILE   configuration file (default: $TICKWATCH_CONFIG, else built-in defaults)\n"
	"  --console DEV   console: '-' for stdin/stdout, 'none', or a serial device\n"
	"  --baud N        serial console baud rate (default [agent] console_baud)\n"
	"  --roles LIST    a comma list of" TW_ROLE_NAMES " or 'all'\n"
	"\n"
	"Any key can also be set as TICKWATCH_<SECTION>_<KEY>, e.g. TICKWATCH_QUOTES_INTERVAL=30s.\n"
	"Exit codes: 0 stopped cleanly, 1 failed to start or failed, 2 usage.\n";

static const char *const usage_config =
	"usage: tickwatch config check FILE\n"
	"       tickwatch config show [--config FILE]\n"
	"       tickwatch config defaults\n"
	"       tickwatch config reference\n"
	"\n"
	"check: parse FILE and the TICKWATCH_* environment, apply every rule and every check\n"
	"       'run' makes before it connects (librdkafka properties, the replay: file, CA\n"
	"       files), print 'FILE: ok' or one line naming the file, line or key and what is\n"
	"       allowed. Exit 0 or 1.\n"
	"show:  the effective value of every key and where it came from.\n"
	"defaults: a complete, commented configuration file of the built-in defaults.\n"
	"reference: every key as a Markdown table (the README's configuration reference).\n";

static const char *const usage_version = "usage: tickwatch version\n"
					  "Print tickwatch's version and those of librdkafka, Mbed TLS "
					  "and libpq linked into it.\n";

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

/* "tickwatch: WHAT 'ARG'" and the command's usage on stderr. @return EXIT_USAGE. */
static int usage_error(const char *usage, const char *what, const char *arg)
{
	fprintf(stderr, "tickwatch: %s%s%s%s\n%s", what, arg ? " '" : "", arg ? arg : "",
		arg ? "'" : "", usage);
	return EXIT_USAGE;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"console", required_argument, NULL, 'C'},
		{"baud", required_argument, NULL, 'b'},   {"roles", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct tw_run_opts o = {0};
	int ch;
	char *end;

	o.config_path = getenv("TICKWATCH_CONFIG");
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+c:C:b:r:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config_path = optarg;
			break;
		case 'C':
			o.console = optarg;
			break;
		case 'b':
			errno = 0;
			o.baud = strtol(optarg, &end, 10);
			if (*end || errno || o.baud <= 0)
				return usage_error(usage_run, "--baud: not a baud rate:",
						   optarg);
			break;
		case 'r':
			if (strspn(optarg, ", \t") == strlen(optarg))
				return usage_error(usage_run, "--roles: names no role:", optarg);
			o.roles = optarg;
			break;
		case 'h':
			fputs(usage_run, stdout);
			return EXIT_OK;
		default:
			return usage_error(usage_run, "run: unknown or incomplete option",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(usage_run, "run: unexpected argument", argv[optind]);
	return tw_agent_run(&o);
}

static void print_config(const struct tw_config *c, const struct tw_cfg_origin *origins)
{
	size_t n;
	const struct tw_cfg_key *k = tw_config_keys(&n);
	char val[600];

	for (size_t i = 0; i < n; i++) {
		printf("%s.%s = %s", k[i].section, k[i].key,
		       tw_config_format(c, &k[i], val, sizeof val, 0));
		if (origins[i].line > 0)
			printf("    ; %s:%d\n", origins[i].file, origins[i].line);
		else if (origins[i].line < 0)
			printf("    ; %s\n", origins[i].file);
		else if (strcmp(k[i].section, "db") == 0 && strcmp(k[i].key, "read_url") == 0)
			printf("    ; default: same as db.write_url\n");
		else
			printf("    ; default\n");
	}
	for (size_t i = 0; i < c->kafka.nextra; i++)
		printf("kafka.%s = %s    ; librdkafka property\n", c->kafka.extra[i].key,
		       tw_config_kafka_secret(c->kafka.extra[i].key) ? "***" : c->kafka.extra[i].value);
}

static int cmd_config(int argc, char **argv)
{
	static struct tw_config cfg;
	static struct tw_cfg_origin origins[TW_MAX_KEYS];
	char err[TW_CFG_ERR_LEN];
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub == NULL || wants_help(argc, argv)) {
		fputs(usage_config, sub ? stdout : stderr);
		return sub ? EXIT_OK : EXIT_USAGE;
	}
	if (strcmp(sub, "check") == 0) {
		if (argc != 3)
			return usage_error(usage_config, "config check takes exactly one FILE", NULL);
		if (tw_config_load(&cfg, origins, argv[2], environ, err, sizeof err) != TW_OK) {
			fprintf(stderr, "tickwatch: %s\n", err);
			return EXIT_FAIL;
		}
		if (tw_agent_check(&cfg, err, sizeof err) != TW_OK) {
			fprintf(stderr, "tickwatch: %s: %s\n", argv[2], err);
			return EXIT_FAIL;
		}
		printf("%s: ok\n", argv[2]);
		return EXIT_OK;
	}
	if (strcmp(sub, "show") == 0) {
		const char *path = getenv("TICKWATCH_CONFIG");

		if (argc == 4 && strcmp(argv[2], "--config") == 0)
			path = argv[3];
		else if (argc != 2)
			return usage_error(usage_config, "config show: bad arguments", NULL);
		if (tw_config_load(&cfg, origins, path, environ, err, sizeof err) != TW_OK) {
			fprintf(stderr, "tickwatch: %s\n", err);
			return EXIT_FAIL;
		}
		print_config(&cfg, origins);
		return EXIT_OK;
	}
	if (strcmp(sub, "reference") == 0) {
		size_t n;
		const struct tw_cfg_key *k = tw_config_keys(&n);

		tw_config_defaults(&cfg, origins);
		printf("| key | default | allowed | meaning |\n|---|---|---|---|\n");
		for (size_t i = 0; i < n; i++) {
			char val[600], allow[256];

			tw_config_allowed(&k[i], allow, sizeof allow);
			printf("| `%s.%s` | `%s` | %s | %s%s |\n", k[i].section, k[i].key,
			       tw_config_format(&cfg, &k[i], val, sizeof val, 0), allow, k[i].help,
			       (k[i].flags & TW_CFG_SECRET) ? " (secret: never printed)" : "");
		}
		return EXIT_OK;
	}
	if (strcmp(sub, "defaults") == 0) {
		if (argc != 2)
			return usage_error(usage_config, "config defaults takes no argument", NULL);
		tw_config_defaults(&cfg, origins);
		tw_config_write(&cfg, stdout);
		return EXIT_OK;
	}
	return usage_error(usage_config, "config: unknown subcommand", sub);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
#ifdef TW_HAVE_CTL
	if (strcmp(cmd, "ctl") == 0)
		return tw_ctl_main(argc - 1, argv + 1);
#endif
#ifdef TW_HAVE_DB
	if (strcmp(cmd, "db") == 0)
		return tw_db_cli_main(argc - 1, argv + 1);
#endif
	if (strcmp(cmd, "config") == 0)
		return cmd_config(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		if (wants_help(argc, argv)) {
			fputs(usage_version, stdout);
			return EXIT_OK;
		}
		if (argc > 2)
			return usage_error(usage_version, "version: unexpected argument", argv[2]);
		tw_version_print();
		return EXIT_OK;
	}
	return usage_error(usage_main, "unknown command", cmd);
}
