/* SPDX-License-Identifier: MIT */
/* smtp_send.c - drives the SMTP client over the real HAL and TLS: one batch, outcomes printed.
 *
 * smtp_send HOST PORT MODE CA_FILE FROM ID:RCPT... (env SMTP_USER, SMTP_PASSWORD, SMTP_TIMEOUT_MS,
 * SMTP_SUBJECT, SMTP_BODY). Prints "ID OUTCOME CODE TEXT" per message and "session RC ERR".
 * Exit 0 when the session itself succeeded, 1 when it failed, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/loop.h"
#include "smtp/smtp.h"
#include "tls/tls.h"

#define MAXMSG 64

static int finished, session_rc;

static void on_msg(struct tw_smtp *s, struct tw_smtp_msg *m, void *arg)
{
	(void)s;
	(void)arg;
	printf("%s %s %d %s\n", m->id, tw_smtp_outcome_name(m->outcome), m->code, m->text);
}

static void on_done(struct tw_smtp *s, int rc, const char *err, void *arg)
{
	(void)s;
	(void)arg;
	printf("session %d %s\n", rc, err);
	session_rc = rc;
	finished = 1;
}

static const char *env(const char *k, const char *def)
{
	const char *v = getenv(k);

	return v && v[0] ? v : def;
}

int main(int argc, char **argv)
{
	static struct tw_arena arena;
	static struct tw_loop loop;
	static struct tw_smtp smtp;
	static struct tw_tls_config tls;
	static struct tw_smtp_msg msgs[MAXMSG];
	static char ids[MAXMSG][128];
	struct tw_smtp_opts o = {0};
	char err[512];
	int n = 0, mode;

	if (argc < 7 || argc - 6 > MAXMSG) {
		fprintf(stderr, "usage: smtp_send HOST PORT starttls|tls|plain CA_FILE FROM ID:RCPT...\n");
		return 2;
	}
	mode = strcmp(argv[3], "tls") == 0 ? TW_SMTP_TLS
	       : strcmp(argv[3], "plain") == 0 ? TW_SMTP_PLAIN : TW_SMTP_STARTTLS;
	tw_log_threshold = getenv("SMTP_DEBUG") ? TW_LOG_DEBUG : TW_LOG_ERROR;
	if (tw_arena_init(&arena, 1 << 20) != TW_OK || tw_loop_init(&loop, &arena, 8, 8) != TW_OK)
		return 2;
	if (mode != TW_SMTP_PLAIN) {
		if (tw_tls_config_init(&tls, argv[4], 1, err, sizeof err) != TW_OK) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		o.tls = &tls;
	}
	o.host = argv[1];
	o.port = (uint16_t)atoi(argv[2]);
	o.mode = mode;
	o.user = env("SMTP_USER", "");
	o.password = env("SMTP_PASSWORD", "");
	o.from = argv[5];
	o.helo = "tickwatch-itest";
	o.timeout_ms = atoll(env("SMTP_TIMEOUT_MS", "10000"));
	o.out_bytes = 65536;
	if (tw_smtp_init(&smtp, &loop, &arena, &o, err, sizeof err) != TW_OK) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	for (int i = 6; i < argc; i++, n++) {
		char *colon = strchr(argv[i], ':');

		if (colon == NULL || (size_t)(colon - argv[i]) >= sizeof ids[0])
			return 2;
		memcpy(ids[n], argv[i], (size_t)(colon - argv[i]));
		msgs[n].id = ids[n];
		msgs[n].to = colon + 1;
		msgs[n].subject = env("SMTP_SUBJECT", "tickwatch integration test");
		msgs[n].body = env("SMTP_BODY", "A line.\n.A line starting with a dot.\n");
	}
	if (tw_smtp_send_batch(&smtp, msgs, (size_t)n, on_msg, on_done, NULL) != TW_OK)
		return 2;
	/* Bounded: the client's own per-state time-outs end every session. */
	for (int turns = 0; !finished && turns < 1000000; turns++)
		tw_loop_run_once(&loop, 1000);
	tw_tls_config_free(&tls);
	tw_arena_free(&arena);
	return finished && session_rc == 0 ? 0 : 1;
}
