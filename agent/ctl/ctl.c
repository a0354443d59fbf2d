/* SPDX-License-Identifier: MIT */
/* ctl.c - `tickwatch ctl`: a JSON-RPC client of a running agent (clear or TLS); mutating calls retry
 * with the same request id.
 *
 * The token comes from --token-file (a file only its owner may read, as ssh
 * wants of a key), the environment (TICKWATCH_RPC_TOKEN, through the config
 * loader), or [rpc] token of the configuration; --token still works but puts
 * it in ps output and shell history. Over TLS the agent's certificate and its
 * name (the --connect host) are verified, always.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "hal.h"
#include "json/json.h"
#include "tls/stream.h"
#include "tls/tls.h"

extern char **environ;

enum { EXIT_OK = 0, EXIT_APP = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

#define RESP_MAX (1 << 20)
#define REQ_MAX 4096

static const char *const usage =
	"usage: tickwatch ctl [OPTIONS] COMMAND ARGS\n"
	"\n"
	"commands:\n"
	"  register EMAIL TICKER [--high X] [--low Y]   register a user\n"
	"  update-ticker EMAIL TICKER                   change the ticker a user watches\n"
	"  thresholds EMAIL [--high X] [--low Y]        set both thresholds (absent or -1: unset)\n"
	"  delete EMAIL                                 delete a user\n"
	"  get EMAIL                                    show a user\n"
	"  last EMAIL | last --ticker T                 latest quote of the user's ticker (or T)\n"
	"  average N EMAIL | average N --ticker T       average of the last N quotes\n"
	"  list [--after EMAIL] [--limit N]             users, a page at a time\n"
	"  status                                       the agent's status\n"
	"  deadletters [--after ID] [--limit N]         dead letters, a page at a time (N <= 10)\n"
	"  redrive ID                                   move dead letter ID back into the retry\n"
	"                                               schedule (at most once: a request id)\n"
	"  alert add EMAIL TICKER KIND LEVEL [LEVEL2] [KEY=VALUE...]\n"
	"                                               add an alert: KIND above|below|band|cross\n"
	"                                               (band: LEVEL low, LEVEL2 high); KEYs\n"
	"                                               frequency, cooldown_s, rearm_pct, expires_ms\n"
	"  alert list EMAIL [--after ID] [--limit N]    a user's alerts (alert 0: the first one)\n"
	"  alert update EMAIL ID KEY=VALUE...           change alert ID (>= 1): KEYs ticker, kind,\n"
	"                                               level, level2, frequency, cooldown_s,\n"
	"                                               rearm_pct, expires_ms (null: never), enabled\n"
	"  alert remove EMAIL ID                        remove alert ID (>= 1)\n"
	"  alert history EMAIL [--after C] [--limit N]  the user's e-mails from the ledger, newest\n"
	"                                               first (N <= 50)\n"
	"\n"
	"options:\n"
	"  --connect HOST:PORT  the agent's RPC address (default: [rpc] listen of the configuration)\n"
	"  --token-file FILE    read the RPC token from FILE (its first line); FILE must be readable\n"
	"                       by its owner only (chmod 600), as ssh wants of a key\n"
	"  --token TOKEN        the RPC token on the command line: avoid it, any user sees it in ps\n"
	"                       and it stays in your shell history; use --token-file or the\n"
	"                       environment variable TICKWATCH_RPC_TOKEN instead\n"
	"                       (default, in this order: --token-file, --token, TICKWATCH_RPC_TOKEN,\n"
	"                       [rpc] token of the configuration)\n"
	"  --tls                speak TLS (the default when --connect is not given and the\n"
	"                       configuration sets [rpc] tls_cert)\n"
	"  --ca FILE            PEM CA bundle that signs the agent's certificate (implies --tls;\n"
	"                       default: /etc/ssl/certs/ca-certificates.crt). The certificate must\n"
	"                       name the --connect host (DNS name or IP address): always checked\n"
	"  --cert FILE --key FILE  a client certificate, for an agent with [rpc] tls_client_ca\n"
	"  --config FILE        configuration to read listen and token from ($TICKWATCH_CONFIG)\n"
	"  --timeout MS         time-out of one attempt (default 5000)\n"
	"  --retries N          attempts after the first, same request id (default 3)\n"
	"  --request-id ID      use this request id instead of a random one\n"
	"  --json               print the raw JSON-RPC response\n"
	"\n"
	"Mutating commands carry a request id; a retry after a time-out reuses it, so the agent\n"
	"executes the command at most once. Exit codes: 0 ok, 1 the agent answered with an error,\n"
	"2 usage, 3 the agent could not be reached (or never answered, or its certificate is not\n"
	"trusted).\n";

#define DEFAULT_CA "/etc/ssl/certs/ca-certificates.crt"

struct opts {
	char host[256];
	uint16_t port;
	const char *token;
	int tls;
	const char *ca, *cert, *key;
	struct tw_tls_config *tls_cfg; /* made once, when tls */
	int timeout_ms;
	int retries;
	int json;
	const char *request_id;
	const char *high, *low, *ticker, *after, *limit;
};

static int usage_err(const char *what, const char *arg)
{
	fprintf(stderr, "tickwatch ctl: %s%s%s (see tickwatch ctl --help)\n", what, arg ? " " : "",
		arg ? arg : "");
	return EXIT_USAGE;
}

static void jstr(char *out, size_t len, const char *s)
{
	struct tw_jw w;

	tw_jw_init(&w, out, len);
	tw_jw_str(&w, s);
}

/* A JSON number from a command-line argument, or NULL when it is not one. */
static const char *num_arg(const char *s, char *out, size_t len)
{
	char *end;
	double v;

	if (s == NULL)
		return "null";
	v = strtod(s, &end);
	if (end == s || *end != '\0')
		return NULL;
	if (!isfinite(v))
		snprintf(out, len, "%s", v > 0 ? "1e999" : "-1e999"); /* let the agent say why */
	else
		snprintf(out, len, "%.17g", v);
	return out;
}

/* Wait until @p fd is ready for @p want, or @p deadline. @return 0 or TW_ERR_TIMEOUT. */
static int wait_for(int fd, unsigned want, tw_mono_t deadline)
{
	struct tw_hal_pollfd pf = {fd, want ? want : TW_HAL_READ, 0};
	int left = (int)((deadline - tw_hal_now()) / TW_MONO_PER_MS);

	if (left <= 0 || tw_hal_wait(&pf, 1, left) <= 0)
		return TW_ERR_TIMEOUT;
	return TW_OK;
}

static int send_all(struct tw_stream *st, int fd, const char *p, size_t n, tw_mono_t deadline)
{
	while (n) {
		unsigned want = 0;
		long w = tw_stream_write(st, p, n, &want);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w != TW_ERR_WOULD_BLOCK)
			return (int)w;
		if (wait_for(fd, want, deadline) != TW_OK)
			return TW_ERR_TIMEOUT;
	}
	return TW_OK;
}

/* The TLS handshake on @p st, within @p deadline. @return 0 or an error with text. */
static int handshake(struct tw_stream *st, int fd, tw_mono_t deadline, char *err, size_t errlen)
{
	for (;;) {
		unsigned want = 0;
		int rc = tw_stream_handshake(st, &want, err, errlen);

		if (rc != TW_ERR_WOULD_BLOCK)
			return rc;
		if (wait_for(fd, want, deadline) != TW_OK) {
			snprintf(err, errlen, "no TLS handshake within the time-out");
			return TW_ERR_TIMEOUT;
		}
	}
}

/* One attempt: connect, [TLS,] send the line, read one response line. @return 0 or an error;
 * TW_ERR_TLS_VERIFY (the agent's certificate is not trusted) is not worth a retry. */
static int attempt(const struct opts *o, const char *req, size_t reqlen, char *resp, size_t cap,
		   size_t *resplen, char *err, size_t errlen)
{
	static struct tw_tls sess;
	tw_mono_t deadline = tw_hal_now() + (tw_mono_t)o->timeout_ms * TW_MONO_PER_MS;
	struct tw_stream st;
	int fd = -1, rc;
	size_t n = 0;

	rc = tw_hal_tcp_connect(o->host, o->port, o->timeout_ms, &fd, err, errlen);
	if (rc != TW_OK)
		return rc;
	tw_stream_init(&st, o->tls_cfg, o->tls_cfg ? &sess : NULL);
	tw_stream_open(&st, fd);
	if (o->tls_cfg) {
		rc = tw_stream_start_tls(&st, o->host, err, errlen);
		if (rc == TW_OK)
			rc = handshake(&st, fd, deadline, err, errlen);
		if ((rc == TW_ERR_CLOSED || rc == TW_ERR_RESET) && o->cert == NULL) {
			size_t m = strlen(err);

			snprintf(err + m, errlen - m, " (an agent with [rpc] tls_client_ca wants "
				 "--cert and --key; or this address is banned after failed "
				 "authentications)");
		}
		if (rc != TW_OK) {
			tw_stream_close(&st);
			tw_hal_close(fd);
			return rc;
		}
	}
	rc = send_all(&st, fd, req, reqlen, deadline);
	while (rc == TW_OK) {
		unsigned want = 0;
		long r;

		if (n + 1 >= cap) {
			rc = TW_ERR_NOMEM;
			break;
		}
		r = tw_stream_read(&st, resp + n, cap - n - 1, &want);
		if (r > 0) {
			char *nl = memchr(resp + n, '\n', (size_t)r);

			n += (size_t)r;
			if (nl) {
				n = (size_t)(nl - resp);
				break;
			}
			continue;
		}
		if (r != TW_ERR_WOULD_BLOCK) {
			rc = (int)r;
			break;
		}
		rc = wait_for(fd, want, deadline);
	}
	tw_stream_close(&st);
	tw_hal_close(fd);
	if (rc != TW_OK && !o->tls_cfg && n > 0 && (resp[0] == 0x15 || resp[0] == 0x16)) {
		snprintf(err, errlen, "the agent answered in TLS: give --tls (and --ca FILE)");
		return TW_ERR_TLS_HANDSHAKE;
	}
	if (rc != TW_OK && rc != TW_ERR_TIMEOUT && o->tls_cfg && o->cert == NULL && n == 0) {
		/* TLS 1.3: a server that wants a client certificate says no after our handshake */
		snprintf(err, errlen, "the agent ended the TLS connection unanswered (an agent with "
			 "[rpc] tls_client_ca wants --cert and --key; or this address is banned after "
			 "failed authentications)");
		return rc;
	}
	if (rc != TW_OK) {
		snprintf(err, errlen, "%s", rc == TW_ERR_TIMEOUT ? "no answer within the time-out"
					    : rc == TW_ERR_CLOSED ? "the agent closed the connection"
								  : "connection failed");
		return rc;
	}
	resp[n] = '\0';
	*resplen = n;
	return TW_OK;
}

/* The token of @p path into @p out: its one line, from a regular file only its owner (us) may
 * read. @return 0, or -1 with the reason in @p err. */
static int read_token_file(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	char buf[512];
	struct stat sb;
	ssize_t n;
	size_t m;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "--token-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "--token-file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (sb.st_mode & 077) {
		snprintf(err, errlen, "--token-file %s: permissions %04o are too open: group or others "
			 "may read or change it; make it readable by its owner only (chmod 600 %s)",
			 path, (unsigned)(sb.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	if (sb.st_uid != geteuid() && geteuid() != 0) {
		snprintf(err, errlen, "--token-file %s: owned by uid %u, not by you (uid %u)", path,
			 (unsigned)sb.st_uid, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "--token-file %s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	m = strlen(buf);
	if (m != (size_t)n) {
		snprintf(err, errlen, "--token-file %s: holds a NUL byte, not a token", path);
		return -1;
	}
	while (m && (buf[m - 1] == '\n' || buf[m - 1] == '\r' || buf[m - 1] == ' ' ||
		     buf[m - 1] == '\t'))
		buf[--m] = '\0';
	if (m == 0 || strchr(buf, '\n') || m >= len) {
		snprintf(err, errlen, "--token-file %s: %s", path,
			 m == 0 ? "empty" : m >= len ? "token longer than [rpc] token allows (127 bytes)"
						     : "more than one line: give the token alone");
		return -1;
	}
	memcpy(out, buf, m + 1);
	memset(buf, 0, sizeof buf);
	return 0;
}

static int get_str(const struct tw_json *j, int obj, const char *k, char *out, size_t len)
{
	int v = tw_json_member(j, obj, k);

	out[0] = '\0';
	if (v < 0 || tw_json_is_null(j, v))
		return -1;
	if (j->t[v].type == TW_J_STRING)
		return tw_json_string(j, v, out, len);
	snprintf(out, len, "%.*s", j->t[v].end - j->t[v].start, j->js + j->t[v].start);
	return 0;
}

static void print_alert(const struct tw_json *j, int a)
{
	char id[24], ticker[32], kind[16], lv[40], lv2[40], fq[16], cd[24], rp[40], ex[24], en[8],
		why[16];

	get_str(j, a, "id", id, sizeof id);
	get_str(j, a, "ticker", ticker, sizeof ticker);
	get_str(j, a, "kind", kind, sizeof kind);
	if (get_str(j, a, "level", lv, sizeof lv) != 0)
		snprintf(lv, sizeof lv, "-");
	if (get_str(j, a, "level2", lv2, sizeof lv2) != 0)
		snprintf(lv2, sizeof lv2, "-");
	get_str(j, a, "frequency", fq, sizeof fq);
	get_str(j, a, "cooldown_s", cd, sizeof cd);
	get_str(j, a, "rearm_pct", rp, sizeof rp);
	if (get_str(j, a, "expires_ms", ex, sizeof ex) != 0)
		snprintf(ex, sizeof ex, "never");
	get_str(j, a, "enabled", en, sizeof en);
	get_str(j, a, "disabled_reason", why, sizeof why);
	printf("alert %-4s %-10s %-6s %s %s  %s cooldown %s s rearm %s%%  expires %s  %s%s%s\n", id,
	       ticker, kind, lv, lv2, fq, cd, rp, ex,
	       strcmp(en, "true") == 0 ? "enabled" : "disabled", why[0] ? ": " : "", why);
}

static void print_user(const struct tw_json *j, int u)
{
	char email[300], ticker[32], high[40], low[40];

	get_str(j, u, "email", email, sizeof email);
	get_str(j, u, "ticker", ticker, sizeof ticker);
	if (get_str(j, u, "high", high, sizeof high) != 0)
		snprintf(high, sizeof high, "-");
	if (get_str(j, u, "low", low, sizeof low) != 0)
		snprintf(low, sizeof low, "-");
	printf("%-40s %-10s high %-12s low %s\n", email, ticker, high, low);
}

static void print_time(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char b[32];

	gmtime_r(&t, &tm);
	strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s", b);
}

/* Human output of a result. */
static void print_result(const char *cmd, const struct tw_json *j, int res)
{
	char a[300], b[64], c[64];

	if (strcmp(cmd, "delete") == 0) {
		get_str(j, res, "deleted", a, sizeof a);
		printf("deleted %s\n", a);
	} else if (strcmp(cmd, "last") == 0) {
		get_str(j, res, "ticker", a, sizeof a);
		get_str(j, res, "value", b, sizeof b);
		get_str(j, res, "time_ms", c, sizeof c);
		printf("%s %s at ", a, b);
		print_time(strtoll(c, NULL, 10));
		printf("\n");
	} else if (strcmp(cmd, "average") == 0) {
		get_str(j, res, "ticker", a, sizeof a);
		get_str(j, res, "average", b, sizeof b);
		get_str(j, res, "n", c, sizeof c);
		printf("%s average %s over the last %s quotes\n", a, b, c);
	} else if (strcmp(cmd, "list") == 0) {
		int users = tw_json_member(j, res, "users"), n = 0;

		for (int i = users + 1; users >= 0 && i < j->n && j->t[i].start < j->t[users].end;
		     i = tw_json_skip(j, i), n++)
			print_user(j, i);
		printf("(%d user%s)\n", n, n == 1 ? "" : "s");
		if (get_str(j, res, "next", a, sizeof a) == 0)
			printf("more: tickwatch ctl list --after %s\n", a);
	} else if (strcmp(cmd, "deadletters") == 0) {
		int dl = tw_json_member(j, res, "dead_letters"), n = 0;
		char nid[160], em[300], why[600], at[32], rd[8];

		for (int i = dl + 1; dl >= 0 && i < j->n && j->t[i].start < j->t[dl].end;
		     i = tw_json_skip(j, i), n++) {
			get_str(j, i, "id", a, sizeof a);
			get_str(j, i, "notification_id", nid, sizeof nid);
			get_str(j, i, "email", em, sizeof em);
			get_str(j, i, "attempts", at, sizeof at);
			get_str(j, i, "redrivable", rd, sizeof rd);
			get_str(j, i, "reason", why, sizeof why);
			get_str(j, i, "created_ms", c, sizeof c);
			printf("%s  %s  %s  attempts %s  %s  ", a, nid, em, at,
			       strcmp(rd, "true") == 0 ? "re-drivable" : "not re-drivable");
			print_time(strtoll(c, NULL, 10));
			printf("\n    %s\n", why);
		}
		printf("(%d dead letter%s)\n", n, n == 1 ? "" : "s");
		if (get_str(j, res, "next", a, sizeof a) == 0)
			printf("more: tickwatch ctl deadletters --after %s\n", a);
	} else if (strcmp(cmd, "alert") == 0) {
		int al = tw_json_member(j, res, "alerts"), rm = tw_json_member(j, res, "removed"),
		    n = 0;

		int hi = tw_json_member(j, res, "history");

		if (hi >= 0) {
			char st[16], tk[32], cd[16], why[600];

			for (int i = hi + 1; i < j->n && j->t[i].start < j->t[hi].end;
			     i = tw_json_skip(j, i), n++) {
				if (get_str(j, i, "id", a, sizeof a) != 0) { /* expired: no e-mail */
					get_str(j, i, "alert", b, sizeof b);
					snprintf(a, sizeof a, "alert %s", b);
				}
				get_str(j, i, "state", st, sizeof st);
				get_str(j, i, "time_ms", c, sizeof c);
				printf("%s  %-8s  ", a, st);
				print_time(strtoll(c, NULL, 10));
				if (get_str(j, i, "ticker", tk, sizeof tk) == 0) {
					printf("  %s", tk);
					if (get_str(j, i, "condition", cd, sizeof cd) == 0) {
						get_str(j, i, "value", b, sizeof b);
						printf(" %s %s", cd, b);
					}
				}
				if (strcmp(st, "expired") != 0 &&
				    get_str(j, i, "alert", b, sizeof b) == 0 && strcmp(b, "0") != 0)
					printf("  alert %s", b);
				if (get_str(j, i, "attempts", b, sizeof b) == 0)
					printf("  attempts %s", b);
				if (get_str(j, i, "next_ms", b, sizeof b) == 0) {
					printf("  next ");
					print_time(strtoll(b, NULL, 10));
				}
				if (get_str(j, i, "reason", why, sizeof why) == 0)
					printf("\n    %s", why);
				printf("\n");
			}
			printf("(%d e-mail%s)\n", n, n == 1 ? "" : "s");
			if (get_str(j, res, "next", a, sizeof a) == 0)
				printf("more: --after %s\n", a);
		} else if (al >= 0) {
			for (int i = al + 1; i < j->n && j->t[i].start < j->t[al].end;
			     i = tw_json_skip(j, i), n++)
				print_alert(j, i);
			printf("(%d alert%s)\n", n, n == 1 ? "" : "s");
			if (get_str(j, res, "next", a, sizeof a) == 0)
				printf("more: --after %s\n", a);
		} else if (rm >= 0) {
			get_str(j, rm, "id", a, sizeof a);
			printf("removed alert %s\n", a);
		} else {
			print_alert(j, res);
		}
	} else if (strcmp(cmd, "redrive") == 0) {
		get_str(j, res, "redriven", a, sizeof a);
		get_str(j, res, "notification_id", b, sizeof b);
		printf("dead letter %s re-driven: %s is due in the retry schedule\n", a, b);
	} else if (strcmp(cmd, "status") == 0) {
		int roles = tw_json_member(j, res, "roles");
		char st[1024];

		get_str(j, res, "version", a, sizeof a);
		get_str(j, res, "uptime_s", b, sizeof b);
		printf("tickwatch %s, up %s s\n", a, b);
		for (int i = roles + 1; roles >= 0 && i < j->n && j->t[i].start < j->t[roles].end;
		     i = tw_json_skip(j, i)) {
			get_str(j, i, "name", a, sizeof a);
			get_str(j, i, "status", st, sizeof st);
			printf("role %-10s %s\n", a, st);
		}
		get_str(j, res, "db", st, sizeof st);
		printf("db: %s\n", st);
	} else {
		print_user(j, res);
	}
}

/* @return 1 when @p s is a whole number as strtoll reads it, all of it. */
static int whole(const char *s)
{
	char *end;

	(void)strtoll(s, &end, 10);
	return *s != '\0' && *end == '\0';
}

/* The method and the paging params of a list (--after, --limit) into @p w.
 * @return EXIT_OK, or EXIT_USAGE (said on stderr) when --limit is not a number. */
static int page(struct tw_jw *w, const char *method, const struct opts *o)
{
	char ab[600];

	tw_jw_printf(w, "\"%s\",\"params\":{", method);
	if (o->after) {
		jstr(ab, sizeof ab, o->after);
		tw_jw_printf(w, "\"after\":%s", ab);
	}
	if (o->limit) {
		if (!whole(o->limit))
			return usage_err("--limit: not a whole number:", o->limit);
		tw_jw_printf(w, "%s\"limit\":%s", o->after ? "," : "", o->limit);
	}
	return EXIT_OK;
}

/* KEY=VALUE arguments of alert add / update into @p w (each after a comma): strings for
 * ticker, kind and frequency, true/false for enabled, null or a number for the others.
 * @return EXIT_OK or EXIT_USAGE (said on stderr). */
static int alert_keys(struct tw_jw *w, int argc, char **argv, int update)
{
	static const char *const strs[] = {"ticker", "kind", "frequency"};
	static const char *const nums[] = {"level", "level2", "cooldown_s", "rearm_pct",
					   "expires_ms"};
	char v[600], nb[40];

	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t kl = eq ? (size_t)(eq - argv[i]) : 0;
		int done = 0;

		if (eq == NULL || kl == 0 || kl > 16)
			return usage_err("alert: expected KEY=VALUE, got", argv[i]);
		for (size_t k = 0; k < sizeof strs / sizeof strs[0] && !done; k++) {
			if (strlen(strs[k]) == kl && strncmp(argv[i], strs[k], kl) == 0 &&
			    (update || strcmp(strs[k], "frequency") == 0)) {
				jstr(v, sizeof v, eq + 1);
				tw_jw_printf(w, ",\"%s\":%s", strs[k], v);
				done = 1;
			}
		}
		for (size_t k = 0; k < sizeof nums / sizeof nums[0] && !done; k++) {
			if (strlen(nums[k]) == kl && strncmp(argv[i], nums[k], kl) == 0 &&
			    (update || k >= 2)) {
				const char *nv = strcmp(eq + 1, "null") == 0 ? "null"
									  : num_arg(eq + 1, nb, sizeof nb);

				if (nv == NULL)
					return usage_err("alert: not a number:", argv[i]);
				tw_jw_printf(w, ",\"%s\":%s", nums[k], nv);
				done = 1;
			}
		}
		if (!done && update && kl == 7 && strncmp(argv[i], "enabled", 7) == 0) {
			if (strcmp(eq + 1, "true") != 0 && strcmp(eq + 1, "false") != 0)
				return usage_err("alert: enabled=true or enabled=false, got", argv[i]);
			tw_jw_printf(w, ",\"enabled\":%s", eq + 1);
			done = 1;
		}
		if (!done)
			return usage_err("alert: unknown key (see tickwatch ctl --help):", argv[i]);
	}
	return EXIT_OK;
}

/* alert add|list|update|remove (argv[0] the subcommand) into @p w; *mut = 1 for the
 * mutating ones. @return EXIT_OK or EXIT_USAGE. */
static int alert_request(struct tw_jw *w, int argc, char **argv, const struct opts *o, int *mut)
{
	const char *sub = argc > 0 ? argv[0] : "";
	char e[600], t[64], k[32], nb[40], nb2[40];
	const char *lv, *lv2;
	int opt;

	if (argc < 2)
		return usage_err("alert takes add|list|update|remove EMAIL ...", NULL);
	jstr(e, sizeof e, argv[1]);
	if (strcmp(sub, "list") == 0 || strcmp(sub, "history") == 0) {
		if (argc != 2)
			return usage_err("alert list / history take EMAIL (use --after and --limit)",
					 NULL);
		if (page(w, sub[0] == 'l' ? "alert.list" : "alert.history", o) != EXIT_OK)
			return EXIT_USAGE;
		tw_jw_printf(w, "%s\"email\":%s", o->after || o->limit ? "," : "", e);
		return EXIT_OK;
	}
	*mut = 1;
	if (strcmp(sub, "add") == 0) {
		if (argc < 5)
			return usage_err("alert add takes EMAIL TICKER KIND LEVEL [LEVEL2] "
					 "[KEY=VALUE...]", NULL);
		jstr(t, sizeof t, argv[2]);
		jstr(k, sizeof k, argv[3]);
		if ((lv = num_arg(argv[4], nb, sizeof nb)) == NULL)
			return usage_err("alert add: LEVEL is not a number:", argv[4]);
		tw_jw_printf(w, "\"alert.add\",\"params\":{\"email\":%s,\"ticker\":%s,\"kind\":%s,"
				"\"level\":%s", e, t, k, lv);
		opt = 5;
		if (argc > 5 && strchr(argv[5], '=') == NULL) {
			if ((lv2 = num_arg(argv[5], nb2, sizeof nb2)) == NULL)
				return usage_err("alert add: LEVEL2 is not a number:", argv[5]);
			tw_jw_printf(w, ",\"level2\":%s", lv2);
			opt = 6;
		}
		return alert_keys(w, argc - opt, argv + opt, 0);
	}
	if (argc < 3 || !whole(argv[2]))
		return usage_err("alert update / remove take EMAIL ID (a whole number)", NULL);
	if (strcmp(sub, "remove") == 0) {
		if (argc != 3)
			return usage_err("alert remove takes EMAIL ID", NULL);
		tw_jw_printf(w, "\"alert.remove\",\"params\":{\"email\":%s,\"id\":%s", e, argv[2]);
		return EXIT_OK;
	}
	if (strcmp(sub, "update") == 0) {
		tw_jw_printf(w, "\"alert.update\",\"params\":{\"email\":%s,\"id\":%s", e, argv[2]);
		return alert_keys(w, argc - 3, argv + 3, 1);
	}
	return usage_err("alert: unknown subcommand (add, list, update, remove):", sub);
}

static int build_request(const char *cmd, int argc, char **argv, const struct opts *o,
			 const char *reqid, char *req, size_t len)
{
	char e[600], t[64], h[64], l[64], hb[40], lb[40], ab[600], rid[160];
	const char *hv, *lv;
	struct tw_jw w;
	int mut = 0;

	tw_jw_init(&w, req, len);
	tw_jw_lit(&w, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
	jstr(e, sizeof e, argc > 0 ? argv[0] : "");
	jstr(t, sizeof t, argc > 1 ? argv[1] : "");
	hv = num_arg(o->high, hb, sizeof hb);
	lv = num_arg(o->low, lb, sizeof lb);
	if (hv == NULL || lv == NULL)
		return usage_err("--high/--low: not a number:", hv ? o->low : o->high);
	snprintf(h, sizeof h, "%s", hv);
	snprintf(l, sizeof l, "%s", lv);
	if (strcmp(cmd, "register") == 0) {
		if (argc != 2)
			return usage_err("register takes EMAIL TICKER", NULL);
		tw_jw_printf(&w, "\"user.register\",\"params\":{\"email\":%s,\"ticker\":%s,\"high\":%s,"
				 "\"low\":%s", e, t, h, l);
		mut = 1;
	} else if (strcmp(cmd, "update-ticker") == 0) {
		if (argc != 2)
			return usage_err("update-ticker takes EMAIL TICKER", NULL);
		tw_jw_printf(&w, "\"user.update_ticker\",\"params\":{\"email\":%s,\"ticker\":%s", e, t);
		mut = 1;
	} else if (strcmp(cmd, "thresholds") == 0) {
		if (argc != 1)
			return usage_err("thresholds takes EMAIL [--high X] [--low Y]", NULL);
		tw_jw_printf(&w, "\"user.update_thresholds\",\"params\":{\"email\":%s,\"high\":%s,"
				 "\"low\":%s", e, h, l);
		mut = 1;
	} else if (strcmp(cmd, "delete") == 0) {
		if (argc != 1)
			return usage_err("delete takes EMAIL", NULL);
		tw_jw_printf(&w, "\"user.delete\",\"params\":{\"email\":%s", e);
		mut = 1;
	} else if (strcmp(cmd, "get") == 0) {
		if (argc != 1)
			return usage_err("get takes EMAIL", NULL);
		tw_jw_printf(&w, "\"user.get\",\"params\":{\"email\":%s", e);
	} else if (strcmp(cmd, "last") == 0) {
		if ((argc != 1) == (o->ticker == NULL))
			return usage_err("last takes EMAIL or --ticker T", NULL);
		jstr(ab, sizeof ab, o->ticker ? o->ticker : "");
		tw_jw_printf(&w, "\"quote.last\",\"params\":{\"%s\":%s", o->ticker ? "ticker" : "email",
			     o->ticker ? ab : e);
	} else if (strcmp(cmd, "average") == 0) {
		if (argc < 1 || (argc != 2) == (o->ticker == NULL))
			return usage_err("average takes N and EMAIL, or N and --ticker T", NULL);
		if (!whole(argv[0]))
			return usage_err("average: N is not a whole number:", argv[0]);
		jstr(ab, sizeof ab, o->ticker ? o->ticker : (argc > 1 ? argv[1] : ""));
		tw_jw_printf(&w, "\"quote.average\",\"params\":{\"n\":%s,\"%s\":%s", argv[0],
			     o->ticker ? "ticker" : "email", ab);
	} else if (strcmp(cmd, "list") == 0) {
		if (argc != 0)
			return usage_err("list takes no argument (use --after and --limit)", NULL);
		if (page(&w, "user.list", o) != EXIT_OK)
			return EXIT_USAGE;
	} else if (strcmp(cmd, "deadletters") == 0) {
		if (argc != 0)
			return usage_err("deadletters takes no argument (use --after and --limit)",
					 NULL);
		if (page(&w, "deadletter.list", o) != EXIT_OK)
			return EXIT_USAGE;
	} else if (strcmp(cmd, "redrive") == 0) {
		if (argc != 1)
			return usage_err("redrive takes ID (a dead letter id, from deadletters)", NULL);
		if (!whole(argv[0]))
			return usage_err("redrive: ID is not a whole number:", argv[0]);
		tw_jw_printf(&w, "\"deadletter.redrive\",\"params\":{\"id\":%s", argv[0]);
		mut = 1;
	} else if (strcmp(cmd, "alert") == 0) {
		if (alert_request(&w, argc, argv, o, &mut) != EXIT_OK)
			return EXIT_USAGE;
	} else if (strcmp(cmd, "status") == 0) {
		if (argc != 0)
			return usage_err("status takes no argument", NULL);
		tw_jw_lit(&w, "\"agent.status\",\"params\":{");
	} else {
		return usage_err("unknown command", cmd);
	}
	if (mut) {
		jstr(rid, sizeof rid, reqid);
		tw_jw_printf(&w, ",\"request_id\":%s", rid);
	}
	tw_jw_lit(&w, "}");
	if (o->token && *o->token) {
		char tk[300];

		jstr(tk, sizeof tk, o->token);
		tw_jw_printf(&w, ",\"token\":%s", tk);
	}
	tw_jw_lit(&w, "}\n");
	return w.overflow ? usage_err("arguments too long", NULL) : EXIT_OK;
}

static int parse_hostport(const char *hp, struct opts *o)
{
	const char *colon = strrchr(hp, ':');
	char *end;
	long p;

	if (colon == NULL || (size_t)(colon - hp) >= sizeof o->host)
		return -1;
	memcpy(o->host, hp, (size_t)(colon - hp));
	o->host[colon - hp] = '\0';
	if (strcmp(o->host, "0.0.0.0") == 0 || o->host[0] == '\0')
		snprintf(o->host, sizeof o->host, "127.0.0.1");
	if (strcmp(o->host, "[::]") == 0)
		snprintf(o->host, sizeof o->host, "::1");
	p = strtol(colon + 1, &end, 10);
	if (*end || p <= 0 || p > 65535)
		return -1;
	o->port = (uint16_t)p;
	return 0;
}

int tw_ctl_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"connect", required_argument, NULL, 'c'}, {"token", required_argument, NULL, 'T'},
		{"config", required_argument, NULL, 'f'},  {"timeout", required_argument, NULL, 't'},
		{"retries", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
		{"request-id", required_argument, NULL, 'i'}, {"high", required_argument, NULL, 'H'},
		{"low", required_argument, NULL, 'L'},     {"ticker", required_argument, NULL, 'k'},
		{"after", required_argument, NULL, 'a'},   {"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},          {"token-file", required_argument, NULL, 'F'},
		{"tls", no_argument, NULL, 'S'},           {"ca", required_argument, NULL, 'C'},
		{"cert", required_argument, NULL, 'E'},    {"key", required_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	static struct tw_config cfg;
	static struct tw_tls_config tls_cfg;
	static char file_token[sizeof cfg.rpc.token];
	const char *token_file = NULL;
	static char resp[RESP_MAX];
	static tw_jtok toks[4096];
	struct opts o = {.timeout_ms = 5000, .retries = 3};
	const char *connect = NULL, *config = getenv("TICKWATCH_CONFIG"), *cmd;
	char err[TW_CFG_ERR_LEN], req[REQ_MAX], reqid[64];
	const char *retrying;
	int from_flag;
	unsigned char rnd[16];
	size_t resplen = 0;
	int ch, rc = EXIT_UNREACHABLE;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;

		switch (ch) {
		case 'c': connect = optarg; break;
		case 'T': o.token = optarg; break;
		case 'F': token_file = optarg; break;
		case 'S': o.tls = 1; break;
		case 'C': o.ca = optarg; o.tls = 1; break;
		case 'E': o.cert = optarg; o.tls = 1; break;
		case 'K': o.key = optarg; o.tls = 1; break;
		case 'f': config = optarg; break;
		case 't':
			o.timeout_ms = (int)strtol(optarg, &end, 10);
			if (*end || o.timeout_ms < 100 || o.timeout_ms > 600000)
				return usage_err("--timeout: give 100..600000 ms, not", optarg);
			break;
		case 'r':
			o.retries = (int)strtol(optarg, &end, 10);
			if (*end || o.retries < 0 || o.retries > 100)
				return usage_err("--retries: give 0..100, not", optarg);
			break;
		case 'j': o.json = 1; break;
		case 'i': o.request_id = optarg; break;
		case 'H': o.high = optarg; break;
		case 'L': o.low = optarg; break;
		case 'k': o.ticker = optarg; break;
		case 'a': o.after = optarg; break;
		case 'l': o.limit = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return usage_err("unknown or incomplete option", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_err("no command", NULL);
	cmd = argv[optind];
	if (tw_config_load(&cfg, NULL, config, environ, err, sizeof err) != TW_OK) {
		fprintf(stderr, "tickwatch ctl: %s\n", err);
		return EXIT_USAGE;
	}
	if (token_file && o.token)
		return usage_err("give --token-file or --token, not both", NULL);
	if (token_file) {
		if (read_token_file(token_file, file_token, sizeof file_token, err, sizeof err) != 0) {
			fprintf(stderr, "tickwatch ctl: %s\n", err);
			return EXIT_USAGE;
		}
		o.token = file_token;
	}
	if (o.token == NULL)
		o.token = cfg.rpc.token; /* TICKWATCH_RPC_TOKEN, when set, is in it already */
	from_flag = connect != NULL;
	if ((o.cert == NULL) != (o.key == NULL))
		return usage_err("--cert and --key go together", NULL);
	if (connect == NULL && cfg.rpc.tls_cert[0])
		o.tls = 1; /* the agent of this configuration speaks TLS */
	if (o.tls) {
		if (tw_tls_config_init(&tls_cfg, o.ca ? o.ca : DEFAULT_CA, 1, err, sizeof err) !=
			    TW_OK ||
		    (o.cert && tw_tls_config_own_cert(&tls_cfg, o.cert, o.key, err, sizeof err) !=
				       TW_OK)) {
			fprintf(stderr, "tickwatch ctl: %s\n", err);
			return EXIT_USAGE;
		}
		o.tls_cfg = &tls_cfg;
	}
	if (connect == NULL) {
		connect = cfg.rpc.listen;
		if (strcmp(connect, "none") == 0) {
			fprintf(stderr, "tickwatch ctl: [rpc] listen is none: give --connect HOST:PORT\n");
			return EXIT_USAGE;
		}
	}
	if (parse_hostport(connect, &o) != 0)
		return usage_err("--connect: not HOST:PORT:", connect);
	if (o.request_id) {
		snprintf(reqid, sizeof reqid, "%s", o.request_id);
	} else {
		if (tw_hal_entropy(rnd, sizeof rnd) != TW_OK) {
			fprintf(stderr, "tickwatch ctl: no entropy for a request id\n");
			return EXIT_APP;
		}
		snprintf(reqid, sizeof reqid, "ctl-");
		for (size_t i = 0; i < sizeof rnd; i++)
			snprintf(reqid + 4 + 2 * i, sizeof reqid - 4 - 2 * i, "%02x", rnd[i]);
	}
	rc = build_request(cmd, argc - optind - 1, argv + optind + 1, &o, reqid, req, sizeof req);
	if (rc != EXIT_OK)
		return rc;
	/* only a mutating call carries a request id (status, get, last ... do not) */
	retrying = strstr(req, "\"request_id\":") ? " (retrying with the same request id)"
						     : " (retrying)";
	for (int a = 0; a <= o.retries; a++) {
		struct tw_json j;
		int n, e, code = 0;

		if (a > 0) { /* back off: 200 ms, 400 ms, ... capped at 3 s */
			struct tw_hal_pollfd none;
			int ms = 200 << (a - 1 < 4 ? a - 1 : 4);

			(void)tw_hal_wait(&none, 0, ms > 3000 ? 3000 : ms);
		}
		e = attempt(&o, req, strlen(req), resp, sizeof resp, &resplen, err, sizeof err);
		if (e == TW_ERR_TLS_VERIFY || e == TW_ERR_TLS_HANDSHAKE) {
			/* The same certificate and the same ciphers fail again: no retry. */
			fprintf(stderr, "tickwatch ctl: %s:%u: %s\n", o.host, o.port, err);
			return EXIT_UNREACHABLE;
		}
		if (e != TW_OK) {
			/* nobody listening: say where ctl looked, and where that came from */
			if (e == TW_ERR_REFUSED || strstr(err, "refused"))
				snprintf(err + strlen(err), sizeof err - strlen(err),
					 "; is the agent running? (%s%s)",
					 from_flag ? "--connect " : "rpc.listen = ", connect);
			fprintf(stderr, "tickwatch ctl: %s:%u: %s%s\n", o.host, o.port, err,
				a < o.retries ? retrying : "");
			rc = EXIT_UNREACHABLE;
			continue;
		}
		n = tw_json_parse(&j, resp, resplen, toks, (int)(sizeof toks / sizeof toks[0]));
		if (n < 0 || j.t[0].type != TW_J_OBJECT) {
			fprintf(stderr, "tickwatch ctl: the agent's answer is not JSON: %.200s\n", resp);
			return EXIT_APP;
		}
		e = tw_json_member(&j, 0, "error");
		if (e >= 0) {
			char m[600], num[16];

			get_str(&j, e, "code", num, sizeof num);
			code = atoi(num);
			if ((code == -32005 || code == -32007) && a < o.retries) {
				get_str(&j, e, "message", m, sizeof m);
				fprintf(stderr, "tickwatch ctl: %s%s\n", m, retrying);
				rc = EXIT_UNREACHABLE;
				continue;
			}
		}
		if (o.json) {
			printf("%s\n", resp);
		} else if (e >= 0) {
			char m[600], field[64];

			get_str(&j, e, "message", m, sizeof m);
			if (get_str(&j, tw_json_member(&j, e, "data"), "field", field, sizeof field) == 0)
				fprintf(stderr, "error %d: %s (field %s)\n", code, m, field);
			else
				fprintf(stderr, "error %d: %s\n", code, m);
		} else {
			print_result(cmd, &j, tw_json_member(&j, 0, "result"));
		}
		return e >= 0 ? EXIT_APP : EXIT_OK;
	}
	return rc;
}
