/* SPDX-License-Identifier: MIT */
/* root.h - the composition root: what main.c calls to boot, run and stop the agent. */
#ifndef TW_ROOT_H
#define TW_ROOT_H

#include "core/agent.h"

struct tw_run_opts {
	const char *config_path; /* NULL: defaults and environment only */
	const char *console;     /* NULL: [agent] console */
	long baud;               /* 0: [agent] console_baud */
	const char *roles;       /* NULL: [agent] roles */
};

/** Boot, run until SIGTERM/SIGINT or "quit", stop. @return the process exit code. */
int tw_agent_run(const struct tw_run_opts *opts);

/**
 * The checks "run" makes before it opens any connection, beyond the key table's own
 * (tw_config_load): librdkafka's rd_kafka_conf_set on every property each Kafka client
 * would get; for the roles in [agent] roles, the replay: file read and parsed or [quotes]
 * stooq_map checked (collector) and the CA files their TLS would load present and PEM.
 * "config check" runs the same. The replay rows go into an arena of the check's own (one
 * block sized from the file, bounded by [limits] replay_rows, released before it returns):
 * call before start-up only.
 * @return 0, or TW_ERR_ARG with one line naming the key in @p err.
 */
int tw_agent_check(const struct tw_config *c, char *err, size_t errlen);

/** Handle one console command line (exposed for tests). */
void tw_agent_command(struct tw_agent *ag, const char *line);

/** Print the versions of tickwatch and its linked libraries, and the roles built in. */
void tw_version_print(void);

#endif
