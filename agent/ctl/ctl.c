/* SPDX-License-Identifier: MIT */
/* ctl.c - `tickwatch ctl`: a JSON-RPC client of a running agent; mutating calls retry with the same request id. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "hal.h"
#include "json/json.h"

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
	"\n"
	"options:\n"
	"  --connect HOST:PORT  the agent's RPC address (default: [rpc] listen of the configuration)\n"
	"  --token TOKEN        the RPC token (default: [rpc] token; env TICKWATCH_RPC_TOKEN)\n"
	"  --config FILE        configuration to read listen and token from ($TICKWATCH_CONFIG)\n"
	"  --timeout MS         time-out of one attempt (default 5000)\n"
	"  --retries N          attempts after the first, same request id (default 3)\n"
	"  --request-id ID      use this request id instead of a random one\n"
	"  --json               print the raw JSON-RPC response\n"
	"\n"
	"Mutating commands carry a request id; a retry after a time-out reuses it, so the agent\n"
	"executes the command at most once. Exit codes: 0 ok, 1 the agent answered with an error,\n"
	"2 usage, 3 the agent could not be reached (or never answered).\n";

struct opts {
	char host[256];
	uint16_t port;
	const char *token;
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

static int send_all(int fd, const char *p, size_t n, tw_mono_t deadline)
{
	while (n) {
		long w = tw_hal_send(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w != TW_ERR_WOULD_BLOCK)
			return (int)w;
		{
			struct tw_hal_pollfd pf = {fd, TW_HAL_WRITE, 0};
			int left = (int)((deadline - tw_hal_now()) / TW_MONO_PER_MS);

			if (left <= 0 || tw_hal_wait(&pf, 1, left) <= 0)
				return TW_ERR_TIMEOUT;
		}
	}
	return TW_OK;
}

/* One attempt: connect, send the line, read one response line. @return 0 or a HAL error. */
static int attempt(const struct opts *o, const char *req, size_t reqlen, char *resp, size_t cap,
		   size_t *resplen, char *err, size_t errlen)
{
	tw_mono_t deadline = tw_hal_now() + (tw_mono_t)o->timeout_ms * TW_MONO_PER_MS;
	int fd = -1, rc;
	size_t n = 0;

	rc = tw_hal_tcp_connect(o->host, o->port, o->timeout_ms, &fd, err, errlen);
	if (rc != TW_OK)
		return rc;
	rc = send_all(fd, req, reqlen, deadline);
	while (rc == TW_OK) {
		long r;

		if (n + 1 >= cap) {
			rc = TW_ERR_NOMEM;
			break;
		}
		r = tw_hal_recv(fd, resp + n, cap - n - 1);
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
		{
			struct tw_hal_pollfd pf = {fd, TW_HAL_READ, 0};
			int left = (int)((deadline - tw_hal_now()) / TW_MONO_PER_MS);

			if (left <= 0 || tw_hal_wait(&pf, 1, left) <= 0)
				rc = TW_ERR_TIMEOUT;
		}
	}
	tw_hal_close(fd);
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
		char *end;

		if (argc < 1 || (argc != 2) == (o->ticker == NULL))
			return usage_err("average takes N and EMAIL, or N and --ticker T", NULL);
		(void)strtoll(argv[0], &end, 10);
		if (*argv[0] == '\0' || *end != '\0')
			return usage_err("average: N is not a whole number:", argv[0]);
		jstr(ab, sizeof ab, o->ticker ? o->ticker : (argc > 1 ? argv[1] : ""));
		tw_jw_printf(&w, "\"quote.average\",\"params\":{\"n\":%s,\"%s\":%s", argv[0],
			     o->ticker ? "ticker" : "email", ab);
	} else if (strcmp(cmd, "list") == 0) {
		if (argc != 0)
			return usage_err("list takes no argument (use --after and --limit)", NULL);
		tw_jw_lit(&w, "\"user.list\",\"params\":{");
		if (o->after) {
			jstr(ab, sizeof ab, o->after);
			tw_jw_printf(&w, "\"after\":%s", ab);
		}
		if (o->limit) {
			char *end;

			(void)strtoll(o->limit, &end, 10);
			if (*o->limit == '\0' || *end != '\0')
				return usage_err("--limit: not a whole number:", o->limit);
			tw_jw_printf(&w, "%s\"limit\":%s", o->after ? "," : "", o->limit);
		}
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
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	static struct tw_config cfg;
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
	if (o.token == NULL)
		o.token = cfg.rpc.token;
	from_flag = connect != NULL;
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
