/* SPDX-License-Identifier: MIT */
/* test_rpc_server.c - the JSON-RPC line server over scripted peers and a scripted CQRS stand-in:
 * framing (partial, pipelined, overlong, long lines), UTF-8, wrong types, error mapping,
 * request ids (required, passed on, replayed), token, slots, idle and slow-client time-outs; the
 * auth-failure limiter (trips, refuses, recovers on the fake clock; its table when full); TLS on
 * the port (a handshake and a request through an in-process Mbed TLS client, the handshake
 * time-out, plaintext refused at start off loopback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/agent.h"
#include "core/log.h"
#include "cqrs/cqrs.h"
#include "fake_hal.h"
#include "notif/notif.h"
#include "rpc/rpc.h"
#include "rpc/rpc_int.h"
#include "tls/tls.h"

/* ---- a scripted CQRS: answers on the next loop turn, keeps request ids like the real one:
 * the outcome as data (rc, field, msg, row) replayed in the result, or the answer text a build
 * before that format stored (legacy) ---- */

struct tw_cqrs {
	int dummy;
};

static struct tw_cqrs fake_q;
static struct tw_agent ag;
static struct tw_rpc *srv;
static int next_rc;          /* outcome of the next operation */
static int sync_fail;        /* the next call fails at once with next_rc */
static int executed;         /* commands actually executed */
static char last_reqid[80], last_method[48];
static struct {
	char id[80], method[48], params[128], legacy[TW_CQRS_RESPONSE_MAX];
	int rc;
	const char *field;
	char msg[TW_CQRS_MSG_MAX];
	struct tw_user user;
	int has_user;
} stored[16];
static int nstored;

struct pending {
	struct tw_cqrs_op *op;
	char params[128];
	char reqid[80], method[48]; /* copies: the caller's strings do not outlive the call */
};
static struct pending pend;

static int64_t complete(struct tw_loop *l, void *arg)
{
	struct tw_cqrs_op *op = arg;
	struct tw_cqrs_result *r = &op->res;

	(void)l;
	memset(r, 0, sizeof *r);
	r->rc = next_rc;
	r->msg = next_rc ? "scripted failure" : "";
	r->field = next_rc == TW_ERR_CQRS_INVALID ? "email" : NULL;
	if (next_rc == 0) {
		snprintf(op->user.email, sizeof op->user.email, "a@example.com");
		snprintf(op->user.ticker, sizeof op->user.ticker, "AAPL");
		op->user.has_high = 1;
		op->user.high = 200;
		r->user = &op->user;
		snprintf(op->quote.ticker, sizeof op->quote.ticker, "AAPL");
		op->quote.value = 123.5;
		r->quote = &op->quote;
		r->average = 120.25;
		r->count = 3;
	}
	if (pend.reqid[0]) {
		int i;

		for (i = 0; i < nstored && strcmp(stored[i].id, pend.reqid) != 0; i++)
			;
		if (i < nstored) {
			memset(r, 0, sizeof *r);
			if (strcmp(stored[i].method, pend.method) != 0 ||
			    strcmp(stored[i].params, pend.params) != 0) {
				r->rc = TW_ERR_CQRS_REUSED;
				r->msg = "request_id reused";
				r->field = "request_id";
			} else if (stored[i].legacy[0]) {
				r->replayed = 1;
				r->legacy_response = stored[i].legacy;
			} else {
				r->replayed = 1;
				r->rc = stored[i].rc;
				r->field = stored[i].field;
				r->msg = stored[i].msg;
				r->user = stored[i].has_user ? &stored[i].user : NULL;
			}
		} else {
			executed++;
			if (r->rc == 0 || r->rc == TW_ERR_CQRS_EXISTS || r->rc == TW_ERR_CQRS_NOT_FOUND) {
				snprintf(stored[nstored].id, sizeof stored[0].id, "%s", pend.reqid);
				snprintf(stored[nstored].method, sizeof stored[0].method, "%s",
					 pend.method);
				snprintf(stored[nstored].params, sizeof stored[0].params, "%s", pend.params);
				stored[nstored].legacy[0] = '\0';
				stored[nstored].rc = r->rc;
				stored[nstored].field = r->field;
				snprintf(stored[nstored].msg, sizeof stored[0].msg, "%s", r->msg);
				stored[nstored].has_user = r->user != NULL;
				if (r->user)
					stored[nstored].user = *r->user;
				nstored++;
			}
		}
	} else {
		executed++;
	}
	op->done(op->arg, r);
	return TW_TIMER_STOP;
}

static int start_op(struct tw_cqrs_op *op, const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done,
		    void *arg, const char *params)
{
	memset(&op->res, 0, sizeof op->res);
	op->done = done;
	op->arg = arg;
	pend.reqid[0] = pend.method[0] = '\0';
	if (idem) {
		snprintf(last_reqid, sizeof last_reqid, "%s", idem->request_id ? idem->request_id : "");
		snprintf(last_method, sizeof last_method, "%s", idem->method ? idem->method : "");
	}
	if (sync_fail) {
		sync_fail = 0;
		op->res.rc = next_rc;
		op->res.msg = "scripted synchronous failure";
		op->res.field = next_rc == TW_ERR_CQRS_INVALID ? "ticker" : NULL;
		return next_rc;
	}
	pend.op = op;
	snprintf(pend.params, sizeof pend.params, "%s", params);
	if (idem && idem->request_id) {
		snprintf(pend.reqid, sizeof pend.reqid, "%s", idem->request_id);
		snprintf(pend.method, sizeof pend.method, "%s", idem->method ? idem->method : "");
	}
	assert_true(tw_loop_add_timer(&ag.loop, 0, complete, op) > 0);
	return TW_OK;
}

int tw_cqrs_register_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, double high, double low,
			  const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	char p[128];

	(void)q;
	snprintf(p, sizeof p, "%s|%s|%g|%g", email, ticker, high, low);
	return start_op(op, idem, done, arg, p);
}

/* The ticker check's register (rpc/tickercheck.c): never called, the check is off here. */
int tw_cqrs_register_user_verified(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
				   const char *ticker, double high, double low, int verified,
				   const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done,
				   void *arg)
{
	(void)q, (void)op, (void)email, (void)ticker, (void)high, (void)low, (void)verified;
	(void)idem, (void)done, (void)arg;
	fail_msg("RegisterUser with a verdict called with [rpc] check_tickers off");
	return TW_ERR_ARG;
}

int tw_cqrs_update_ticker(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			  const char *ticker, const struct tw_cqrs_idem *idem,
			  tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)ticker;
	return start_op(op, idem, done, arg, email);
}

int tw_cqrs_update_thresholds(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			      double high, double low, const struct tw_cqrs_idem *idem,
			      tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)high;
	(void)low;
	return start_op(op, idem, done, arg, email);
}

int tw_cqrs_delete_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	return start_op(op, idem, done, arg, email);
}

int tw_cqrs_get_user(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		     tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	return start_op(op, NULL, done, arg, email);
}

int tw_cqrs_last_value(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		       const char *ticker, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)ticker;
	return start_op(op, NULL, done, arg, email ? email : "");
}

int tw_cqrs_average(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		    const char *ticker, long long n, tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)ticker;
	(void)n;
	return start_op(op, NULL, done, arg, email ? email : "");
}

int tw_cqrs_list_users(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *after,
		       long long limit, tw_cqrs_user_fn row, tw_cqrs_done_fn done, void *arg)
{
	struct tw_user u = {.email = "a@example.com", .ticker = "AAPL"};

	(void)q;
	(void)after;
	for (long long i = 0; i < limit && i < 2; i++)
		row(arg, &u);
	return start_op(op, NULL, done, arg, "");
}

int tw_cqrs_deadletter_list(struct tw_cqrs *q, struct tw_cqrs_op *op, long long after_id,
			    long long limit, tw_cqrs_dead_fn row, tw_cqrs_done_fn done, void *arg)
{
	struct tw_cqrs_dead_row r = {.id = 7, .notification_id = "n7", .email = "a@example.com",
				     .reason = "max_retry_age", .attempts = 9, .redrivable = 1};

	(void)q;
	(void)after_id;
	for (long long i = 0; i < limit && i < 2; i++)
		row(arg, &r);
	return start_op(op, NULL, done, arg, "");
}

int tw_cqrs_deadletter_redrive(struct tw_cqrs *q, struct tw_cqrs_op *op, long long dead_id,
			       const struct tw_cqrs_idem *idem, tw_cqrs_done_fn done, void *arg)
{
	char params[32];

	(void)q;
	snprintf(params, sizeof params, "%lld", dead_id);
	return start_op(op, idem, done, arg, params);
}

/* The alert.* methods (agent/rpc/alerts.c) go through the same scripted op; this test covers
 * the server, the alert commands are tested on PostgreSQL (tests/integration/rpc). */
int tw_cqrs_add_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
		      const struct tw_alert_spec *spec, long long limit,
		      const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
		      tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)spec;
	(void)limit;
	memset(out, 0, sizeof *out);
	return start_op(op, idem, done, arg, email);
}

int tw_cqrs_update_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_alert_spec *spec,
			 const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)id;
	(void)spec;
	memset(out, 0, sizeof *out);
	return start_op(op, idem, done, arg, email);
}

int tw_cqrs_remove_alert(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 long long id, const struct tw_cqrs_idem *idem, struct tw_alert_row *out,
			 tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)id;
	memset(out, 0, sizeof *out);
	return start_op(op, idem, done, arg, email);
}

int tw_cqrs_list_alerts(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			long long after_id, long long limit, tw_cqrs_alert_fn row,
			tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)after_id;
	(void)limit;
	(void)row;
	return start_op(op, NULL, done, arg, email);
}

int tw_cqrs_list_history(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
			 const char *after, long long limit, tw_cqrs_history_fn row,
			 tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)after;
	(void)limit;
	(void)row;
	return start_op(op, NULL, done, arg, email);
}

const char *tw_cqrs_history_state_name(int state)
{
	return state == TW_HS_SENT ? "sent" : "";
}

/* alert.history reads stored messages with agent/notif: no key here, nothing is read. */
const struct tw_notif_key *tw_notif_key_poll(struct tw_cqrs *q)
{
	(void)q;
	return NULL;
}

int tw_notif_parse(struct tw_notif *n, const char *value, size_t len, const char *key,
		   size_t keylen, const struct tw_notif_key *sk, char *err, size_t errlen)
{
	(void)n;
	(void)value;
	(void)len;
	(void)key;
	(void)keylen;
	(void)sk;
	snprintf(err, errlen, "stand-in");
	return TW_ERR_ARG;
}

const char *tw_cqrs_alert_kind_name(int kind)
{
	return kind == TW_AK_ABOVE ? "above" : "none";
}

int tw_cqrs_alert_kind_of(const char *name)
{
	return strcmp(name, "above") == 0 ? TW_AK_ABOVE : -1;
}

const char *tw_cqrs_alert_freq_name(int freq)
{
	(void)freq;
	return "change";
}

int tw_cqrs_alert_freq_of(const char *name)
{
	return strcmp(name, "change") == 0 ? TW_AF_CHANGE : -1;
}

int tw_cqrs_expire_requests(struct tw_cqrs *q, struct tw_cqrs_op *op, int64_t ttl_ms,
			    tw_cqrs_done_fn done, void *arg)
{
	(void)q;
	(void)op;
	(void)ttl_ms;
	(void)done;
	(void)arg;
	return TW_OK;
}

/* The ticker check's flag (rpc/tickercheck.c): never written, the check is off here. */
int tw_cqrs_set_ticker_verified(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *email,
				const char *ticker, int verified, tw_cqrs_done_fn done, void *arg)
{
	(void)q, (void)op, (void)email, (void)ticker, (void)verified, (void)done, (void)arg;
	fail_msg("SetTickerVerified called with [rpc] check_tickers off");
	return TW_ERR_ARG;
}

int tw_cqrs_ready(const struct tw_cqrs *q)
{
	(void)q;
	return 1;
}

void tw_cqrs_status(const struct tw_cqrs *q, char *buf, size_t len)
{
	(void)q;
	snprintf(buf, len, "fake db");
}

const struct tw_cqrs_result *tw_cqrs_op_result(const struct tw_cqrs_op *op)
{
	return &op->res;
}

/* ---- harness ---- */

static int listen_fd;

static const char *tls_cert, *tls_key; /* set before setup_with(): a TLS port */

static int setup_with(size_t slots, const char *token)
{
	char err[256];

	fake_reset();
	tw_log_set_stderr(0);
	memset(&ag, 0, sizeof ag);
	tw_config_defaults(&ag.cfg, ag.origins);
	snprintf(ag.cfg.rpc.listen, sizeof ag.cfg.rpc.listen, "127.0.0.1:0");
	snprintf(ag.cfg.rpc.token, sizeof ag.cfg.rpc.token, "%s", token);
	ag.cfg.limits.rpc_slots = (int64_t)slots;
	ag.cfg.rpc.check_tickers = 0; /* the ticker check asks a quote source: integration */
	ag.cfg.limits.rpc_max_line = 4096;
	ag.cfg.limits.rpc_long_lines = 1;
	ag.cfg.rpc.slow_timeout_ms = 2000;
	ag.cfg.rpc.idle_timeout_ms = 10000;
	ag.cfg.rpc.auth_failures = 3;
	ag.cfg.rpc.auth_window_ms = 60000;
	ag.cfg.rpc.auth_ban_ms = 5000;
	if (tls_cert) {
		snprintf(ag.cfg.rpc.tls_cert, sizeof ag.cfg.rpc.tls_cert, "%s", tls_cert);
		snprintf(ag.cfg.rpc.tls_key, sizeof ag.cfg.rpc.tls_key, "%s", tls_key);
	}
	assert_int_equal(tw_arena_init(&ag.arena, 4 << 20), TW_OK);
	assert_int_equal(tw_loop_init(&ag.loop, &ag.arena, 32, 32), TW_OK);
	next_rc = 0;
	sync_fail = 0;
	executed = 0;
	nstored = 0;
	last_reqid[0] = last_method[0] = '\0';
	assert_int_equal(tw_rpc_start(&srv, &ag, &fake_q, err, sizeof err), TW_OK);
	listen_fd = FAKE_FD_BASE; /* the first fake peer made: the listener */
	fake_peer_data(listen_fd, "!", 1, 0, 0); /* keeps the listener readable */
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_with(2, "");
}

static int teardown(void **state)
{
	(void)state;
	tw_rpc_stop(srv);
	tw_arena_free(&ag.arena);
	return 0;
}

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		tw_loop_run_once(&ag.loop, 10);
}

static int connect_peer(void)
{
	int fd = fake_peer_new();

	fake_accept_push(fd);
	turns(1);
	return fd;
}

/* Send @p line to a new connection, run the loop, return what came back. */
static const char *ask(int fd, const char *line, size_t chunk)
{
	size_t len;

	fake_peer_data(fd, line, strlen(line), chunk, 0);
	turns(20);
	return fake_peer_sent(fd, &len);
}

static const char *sent(int fd)
{
	size_t len;

	return fake_peer_sent(fd, &len);
}

/* The errors count of the server's status line. */
static unsigned long long errors_count(void)
{
	char st[512];
	const char *e;
	unsigned long long n = 0;

	tw_rpc_status(srv, st, sizeof st);
	e = strstr(st, " requests, ");
	assert_non_null(e);
	assert_int_equal(sscanf(e, " requests, %llu errors", &n), 1);
	return n;
}

/* The answer to the request with JSON-RPC id @p id in @p got, from just after the id. */
static void answer_after_id(const char *got, const char *id, char *out, size_t len)
{
	char key[64];
	const char *a;

	snprintf(key, sizeof key, "\"id\":%s,", id);
	a = strstr(got, key);
	assert_non_null(a);
	a += strlen(key);
	snprintf(out, len, "%.*s", (int)strcspn(a, "\n"), a);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- tests ---- */

static void partial_lines_are_assembled(void **state)
{
	int fd = connect_peer();
	const char *got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"agent.status\"}\n", 5);

	(void)state;
	assert_non_null(strstr(got, "\"id\":7,\"result\":{\"version\""));
	assert_int_equal(count_lines(got), 1);
	assert_true(fake_peer_recv_calls(fd) > 5); /* it really came in pieces */
}

static void pipelined_lines_answered_in_order(void **state)
{
	int fd = connect_peer();
	const char *got = ask(fd,
			      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":{\"email\":\"a@example.com\"}}\r\n"
			      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"agent.status\"}\n"
			      "\n"
			      "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"user.get\",\"params\":{\"email\":\"a@example.com\"}}\n",
			      0);

	(void)state;
	assert_int_equal(count_lines(got), 3);
	assert_true(strstr(got, "\"id\":1,") < strstr(got, "\"id\":2,"));
	assert_true(strstr(got, "\"id\":2,") < strstr(got, "\"id\":3,"));
	assert_int_equal(executed, 2);
}

static void overlong_line_gets_error_and_close(void **state)
{
	static char big[5200];
	int fd = connect_peer();
	const char *got;

	(void)state;
	memset(big, 'x', sizeof big - 1);
	fake_peer_data(fd, big, sizeof big - 1, 0, 0);
	turns(30);
	got = sent(fd);
	assert_non_null(strstr(got, "\"code\":-32600"));
	assert_non_null(strstr(got, "longer than 4096 bytes"));
	assert_true(fake_peer_closed(fd));
}

static void long_line_borrows_a_buffer(void **state)
{
	static char line[3600];
	int fd = connect_peer();
	const char *got;
	int n;

	(void)state;
	n = snprintf(line, sizeof line,
		     "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"user.get\",\"params\":{\"email\":\"");
	memset(line + n, 'b', 3000);
	snprintf(line + n + 3000, sizeof line - (size_t)n - 3000, "@example.com\"}}\n");
	got = ask(fd, line, 0);
	assert_non_null(strstr(got, "\"id\":4,\"error\":{\"code\":-32002"));
	assert_non_null(strstr(got, "email is longer than 254"));
	assert_false(fake_peer_closed(fd));
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"agent.status\"}\n", 0);
	assert_non_null(strstr(got, "\"id\":5,\"result\""));
}

static void invalid_utf8_is_a_parse_error(void **state)
{
	int fd = connect_peer();
	const char *got = ask(fd,
			      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":{\"email\":\"\xc3\x28@x.com\"}}\n"
			      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"user.get\",\"params\":{\"email\":\"\xed\xa0\x80@x.com\"}}\n"
			      "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"agent.status\"}\n",
			      0);

	(void)state;
	assert_int_equal(count_lines(got), 3);
	assert_non_null(strstr(got, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700"));
	assert_non_null(strstr(got, "not valid UTF-8"));
	assert_non_null(strstr(got, "\"id\":3,\"result\""));
	assert_int_equal(executed, 0);
}

static void wrong_types_and_envelopes(void **state)
{
	static const struct {
		const char *line;
		const char *want;
	} cases[] = {
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.register\",\"params\":{\"email\":\"a@b.c\",\"ticker\":\"X\",\"high\":\"1\",\"request_id\":\"r\"}}",
		 "\"code\":-32602,\"message\":\"high must be a number"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":{\"email\":5}}",
		 "\"code\":-32602,\"message\":\"email must be a string"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":[\"a@b.c\"]}",
		 "\"code\":-32602"},
		{"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"agent.status\"}", "\"code\":-32600"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1}", "\"code\":-32600"},
		{"{\"jsonrpc\":2,\"id\":1,\"method\":\"agent.status\"}", "\"code\":-32600"},
		{"[1,2]", "batch requests are not supported"},
		{"\"str\"", "\"code\":-32600"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.status\"", "\"code\":-32700"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":{\"email\":NaN}}",
		 "\"code\":-32700"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x.y\"}", "\"code\":-32601"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"quote.average\",\"params\":{\"ticker\":\"A\",\"n\":1.5}}",
		 "n must be a whole number"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":{\"email\":\"a@b.c\",\"bogus\":1}}",
		 "unknown param 'bogus'"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":{\"email\":\"a\\u0000b\"}}",
		 "\"code\":-32602"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.get\",\"params\":{\"email\":\"\\ud800\"}}",
		 "\"code\":-32602"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int fd = connect_peer();
		char line[512];
		const char *got;

		snprintf(line, sizeof line, "%s\n", cases[i].line);
		got = ask(fd, line, 0);
		if (strstr(got, cases[i].want) == NULL)
			fail_msg("case %zu: %s\nwant %s\ngot %s", i, cases[i].line, cases[i].want, got);
		tw_rpc_stop(srv);
		teardown(NULL);
		setup(NULL);
	}
	assert_int_equal(executed, 0);
}

static void error_mapping(void **state)
{
	static const struct {
		int rc, code;
	} map[] = {
		{TW_ERR_CQRS_INVALID, -32002},  {TW_ERR_CQRS_NOT_FOUND, -32003},
		{TW_ERR_CQRS_EXISTS, -32004},   {TW_ERR_DB_UNAVAILABLE, -32005},
		{TW_ERR_DB_TIMEOUT, -32005},    {TW_ERR_CQRS_REUSED, -32006},
		{TW_ERR_DB_SQL, -32603},        {TW_ERR_DB_BUSY, -32007},
	};

	(void)state;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		char want[64];
		int fd;
		const char *got;

		assert_int_equal(tw_rpc_error_code(map[i].rc), map[i].code);
		/* asynchronous failure */
		fd = connect_peer();
		next_rc = map[i].rc;
		got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"user.get\",\"params\":{\"email\":\"a@example.com\"}}\n", 0);
		snprintf(want, sizeof want, "\"id\":9,\"error\":{\"code\":%d", map[i].code);
		assert_non_null(strstr(got, want));
		/* synchronous failure (validation before any database work) */
		sync_fail = 1;
		got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"user.get\",\"params\":{\"email\":\"a@example.com\"}}\n", 0);
		snprintf(want, sizeof want, "\"id\":10,\"error\":{\"code\":%d", map[i].code);
		assert_non_null(strstr(got, want));
		tw_rpc_stop(srv);
		teardown(NULL);
		setup(NULL);
	}
	next_rc = TW_ERR_CQRS_INVALID;
	sync_fail = 1;
	assert_non_null(strstr(ask(connect_peer(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.update_ticker\",\"params\":{\"email\":\"a@example.com\",\"ticker\":\"??\",\"request_id\":\"r1\"}}\n", 0),
			       "\"field\":\"ticker\""));
}

static void request_ids(void **state)
{
	int fd = connect_peer();
	const char *got;
	const char *first, *second;
	char a[512], b[512];
	unsigned long long errors;

	(void)state;
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"user.register\",\"params\":{\"email\":\"a@example.com\",\"ticker\":\"AAPL\"}}\n", 0);
	assert_non_null(strstr(got, "\"code\":-32602"));
	assert_non_null(strstr(got, "\"field\":\"request_id\""));
	assert_int_equal(executed, 0);
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"user.register\",\"params\":{\"email\":\"a@example.com\",\"ticker\":\"AAPL\",\"high\":200,\"request_id\":\"req-1\"}}\n", 0);
	assert_string_equal(last_reqid, "req-1");
	assert_string_equal(last_method, "user.register");
	first = strstr(got, "\"id\":2,");
	assert_non_null(first);
	snprintf(a, sizeof a, "%.*s", (int)strcspn(first + 7, "\n"), first + 7);
	/* the same id again: the stored response, under the new JSON-RPC id, nothing executed */
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"again\",\"method\":\"user.register\",\"params\":{\"request_id\":\"req-1\",\"high\":200,\"ticker\":\"AAPL\",\"email\":\"a@example.com\"}}\n", 0);
	second = strstr(got, "\"id\":\"again\",");
	assert_non_null(second);
	snprintf(b, sizeof b, "%.*s", (int)strcspn(second + 13, "\n"), second + 13);
	assert_string_equal(a, b);
	assert_int_equal(executed, 1);
	/* the same id with other params */
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"user.register\",\"params\":{\"email\":\"a@example.com\",\"ticker\":\"MSFT\",\"request_id\":\"req-1\"}}\n", 0);
	assert_non_null(strstr(got, "\"id\":3,\"error\":{\"code\":-32006"));
	/* an error outcome is stored and replayed as well */
	next_rc = TW_ERR_CQRS_EXISTS;
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"user.register\",\"params\":{\"email\":\"b@example.com\",\"ticker\":\"AAPL\",\"request_id\":\"req-2\"}}\n", 0);
	assert_non_null(strstr(got, "\"id\":4,\"error\":{\"code\":-32004"));
	errors = errors_count();
	next_rc = 0;
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"user.register\",\"params\":{\"email\":\"b@example.com\",\"ticker\":\"AAPL\",\"request_id\":\"req-2\"}}\n", 0);
	assert_non_null(strstr(got, "\"id\":5,\"error\":{\"code\":-32004"));
	assert_int_equal(executed, 2);
	/* the same bytes as the first answer; a repeat is not counted as a new error */
	answer_after_id(got, "4", a, sizeof a);
	answer_after_id(got, "5", b, sizeof b);
	assert_string_equal(a, b);
	assert_int_equal(errors_count(), errors);
	/* a request id that is not a string */
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"user.delete\",\"params\":{\"email\":\"b@example.com\",\"request_id\":17}}\n", 0);
	assert_non_null(strstr(got, "\"id\":6,\"error\":{\"code\":-32602"));
	/* a request id longer than 64 characters */
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"user.delete\",\"params\":{\"email\":\"b@example.com\",\"request_id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}}\n", 0);
	assert_non_null(strstr(got, "\"id\":7,\"error\":{\"code\":-32002"));
	/* an id stored by a build before the outcome format: the answer text it stored, as is */
	snprintf(stored[nstored].id, sizeof stored[0].id, "req-old");
	snprintf(stored[nstored].method, sizeof stored[0].method, "user.delete");
	snprintf(stored[nstored].params, sizeof stored[0].params, "old@example.com");
	snprintf(stored[nstored].legacy, sizeof stored[0].legacy,
		 "\"result\":{\"deleted\":\"old@example.com\"}");
	nstored++;
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"user.delete\",\"params\":{\"email\":\"old@example.com\",\"request_id\":\"req-old\"}}\n", 0);
	assert_non_null(strstr(got, "\n{\"jsonrpc\":\"2.0\",\"id\":8,"
				    "\"result\":{\"deleted\":\"old@example.com\"}}\n"));
	assert_int_equal(executed, 2);
}

static void slow_client_is_cut(void **state)
{
	int fd = connect_peer();
	const char *got;

	(void)state;
	fake_peer_data(fd, "{\"jsonrpc\":\"2.0\",", 17, 0, 0);
	turns(3);
	assert_false(fake_peer_closed(fd));
	fake_clock_advance_ms(2500);
	turns(3);
	got = sent(fd);
	assert_non_null(strstr(got, "\"code\":-32600"));
	assert_non_null(strstr(got, "slow_timeout"));
	assert_true(fake_peer_closed(fd));
}

static void idle_connection_is_closed(void **state)
{
	int fd = connect_peer();

	(void)state;
	fake_clock_advance_ms(5000);
	turns(2);
	assert_false(fake_peer_closed(fd));
	fake_clock_advance_ms(6000);
	turns(2);
	assert_true(fake_peer_closed(fd));
	assert_int_equal(strlen(sent(fd)), 0);
}

static void slots_are_bounded(void **state)
{
	int a = connect_peer(), b = connect_peer(), c = connect_peer();

	(void)state;
	assert_false(fake_peer_closed(a));
	assert_false(fake_peer_closed(b));
	assert_true(fake_peer_closed(c));
	assert_non_null(strstr(sent(c), "\"code\":-32007"));
	assert_non_null(strstr(ask(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.status\"}\n", 0),
			       "\"result\""));
}

static void token_is_required(void **state)
{
	int fd;

	(void)state;
	teardown(NULL);
	setup_with(2, "t0ken");
	fd = connect_peer();
	assert_non_null(strstr(ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.status\"}\n", 0),
			       "\"id\":1,\"error\":{\"code\":-32001"));
	assert_non_null(strstr(ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"agent.status\",\"token\":\"t0ke\"}\n", 0),
			       "\"id\":2,\"error\":{\"code\":-32001"));
	assert_non_null(strstr(ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"agent.status\",\"token\":\"t0ken\"}\n", 0),
			       "\"id\":3,\"result\""));
}

static int added(struct tw_agent *a, const char *params, size_t len, char *out, size_t outlen,
		 void *arg)
{
	(void)a;
	(void)arg;
	snprintf(out, outlen, "{\"echo\":%.*s}", (int)len, params);
	return TW_OK;
}

static void added_methods_and_results(void **state)
{
	int fd = connect_peer();
	const char *got;

	(void)state;
	assert_int_equal(tw_agent_add_method(&ag, "kafka.metadata", added, NULL), TW_OK);
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"kafka.metadata\",\"params\":{\"x\":1}}\n", 0);
	assert_non_null(strstr(got, "\"id\":1,\"result\":{\"echo\":{\"x\":1}}"));
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"quote.last\",\"params\":{\"ticker\":\"aapl\"}}\n", 0);
	assert_non_null(strstr(got, "\"id\":2,\"result\":{\"ticker\":\"AAPL\",\"value\":123.5"));
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"quote.average\",\"params\":{\"ticker\":\"aapl\",\"n\":3}}\n", 0);
	assert_non_null(strstr(got, "\"id\":3,\"result\":{\"ticker\":\"AAPL\",\"average\":120.25,\"n\":3}"));
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"user.list\",\"params\":{\"limit\":2}}\n", 0);
	assert_non_null(strstr(got, "\"id\":4,\"result\":{\"users\":[{\"email\":\"a@example.com\""));
	assert_non_null(strstr(got, "],\"next\":\"a@example.com\"}}"));
	/* a notification runs but is not answered */
	got = ask(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"agent.status\"}\n", 0);
	assert_null(strstr(got, "\"id\":null,\"result\""));
}

/* ---- the auth-failure limiter ---- */

#define BAD_TOKEN "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"agent.status\",\"token\":\"nope\"}\n"
#define GOOD_TOKEN "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"agent.status\",\"token\":\"t0ken\"}\n"

static void status_line(char *st, size_t len) { tw_rpc_status(srv, st, len); }

static void limiter_trips_and_recovers(void **state)
{
	char st[512];
	int a, b, c, d;

	(void)state;
	teardown(NULL);
	setup_with(4, "t0ken");
	a = connect_peer();
	b = connect_peer(); /* the same address ("fake"), another connection */
	assert_non_null(strstr(ask(a, BAD_TOKEN, 0), "-32001"));
	assert_non_null(strstr(ask(a, BAD_TOKEN, 0), "-32001"));
	assert_false(fake_peer_closed(a));
	assert_false(fake_peer_closed(b));
	status_line(st, sizeof st);
	assert_non_null(strstr(st, "auth failures 2, banned 0"));
	/* the third failure within the window bans the address: its error goes out, then every
	 * connection of the address closes */
	assert_non_null(strstr(ask(a, BAD_TOKEN, 0), "-32001"));
	assert_true(fake_peer_closed(a));
	assert_true(fake_peer_closed(b));
	status_line(st, sizeof st);
	assert_non_null(strstr(st, "banned 1: fake (5 s left)"));
	/* a new connection of a banned address is refused at once, with the reason */
	c = connect_peer();
	assert_true(fake_peer_closed(c));
	assert_non_null(strstr(sent(c), "\"code\":-32001"));
	assert_non_null(strstr(sent(c), "too many failed authentications"));
	/* the ban runs out on the clock */
	fake_clock_advance_ms(5001);
	status_line(st, sizeof st);
	assert_non_null(strstr(st, "banned 0"));
	d = connect_peer();
	assert_false(fake_peer_closed(d));
	assert_non_null(strstr(ask(d, GOOD_TOKEN, 0), "\"id\":8,\"result\""));
	/* and its count starts afresh: one failure does not ban again */
	assert_non_null(strstr(ask(d, BAD_TOKEN, 0), "-32001"));
	assert_false(fake_peer_closed(d));
}

static void limiter_window_expires(void **state)
{
	int a;

	(void)state;
	teardown(NULL);
	setup_with(2, "t0ken");
	a = connect_peer();
	ask(a, BAD_TOKEN, 0);
	ask(a, BAD_TOKEN, 0);
	fake_clock_advance_ms(60001); /* past [rpc] auth_window: the two are forgotten */
	ask(a, BAD_TOKEN, 0);
	ask(a, BAD_TOKEN, 0);
	assert_false(fake_peer_closed(a));
	ask(a, BAD_TOKEN, 0);
	assert_true(fake_peer_closed(a));
}

static void limiter_table_when_full(void **state)
{
	struct tw_rpc_ban t[2];
	struct tw_rpc_authlimit l;
	char buf[128], addr[48];
	tw_mono_t now = 1000 * TW_MONO_PER_MS;

	(void)state;
	tw_rpc_peer_addr("10.0.0.1:4711", addr, sizeof addr);
	assert_string_equal(addr, "10.0.0.1");
	tw_rpc_peer_addr("::1:4711", addr, sizeof addr);
	assert_string_equal(addr, "::1");
	tw_rpc_authlimit_init(&l, t, 2, 2, 60000, 10000);
	assert_int_equal(tw_rpc_authlimit_fail(&l, "a", now), 0);
	assert_int_equal(tw_rpc_authlimit_fail(&l, "a", now), 1); /* a banned */
	assert_int_equal(tw_rpc_authlimit_fail(&l, "b", now + 1), 0);
	/* c takes b's entry (not banned, oldest): the live ban of a is never dropped */
	assert_int_equal(tw_rpc_authlimit_fail(&l, "c", now + 2), 0);
	assert_true(tw_rpc_authlimit_banned(&l, "a", now + 3) > 0);
	assert_int_equal(tw_rpc_authlimit_fail(&l, "c", now + 3), 1);
	/* every entry a live ban: d is not counted, a and c stay banned */
	assert_int_equal(tw_rpc_authlimit_fail(&l, "d", now + 4), 0);
	assert_int_equal(tw_rpc_authlimit_fail(&l, "d", now + 5), 0);
	assert_int_equal(l.untracked, 2);
	assert_int_equal(tw_rpc_authlimit_list(&l, now + 5, buf, sizeof buf), 2);
	assert_non_null(strstr(buf, "a (10 s left)"));
	assert_non_null(strstr(buf, "c (10 s left)"));
	assert_int_equal(tw_rpc_authlimit_banned(&l, "a", now + 10000 * TW_MONO_PER_MS), 0);
}

static void console_is_never_counted(void **state)
{
	(void)state;
	teardown(NULL);
	setup_with(2, "t0ken");
	/* the console needs no token: nothing it sends is a failed authentication */
	for (int i = 0; i < 5; i++)
		tw_rpc_auth_failed(srv->console);
	assert_int_equal(srv->auth.failures_seen, 0);
}

/* ---- TLS on the port ---- */

struct client {
	mbedtls_ssl_context ssl;
	struct tw_tls_config cfg;
	int fd;
	size_t consumed;
};

static struct client cli;

/* The client's records become data the server's recv() sees; it reads what the server sent. */
static int cli_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct client *c = ctx;

	fake_peer_data(c->fd, buf, len, 0, 0);
	return (int)len;
}

static int cli_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct client *c = ctx;
	size_t have;
	const char *out = fake_peer_sent(c->fd, &have);
	size_t n = have - c->consumed;

	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n > len)
		n = len;
	memcpy(buf, out + c->consumed, n);
	c->consumed += n;
	return (int)n;
}

static int setup_tls(void **state)
{
	(void)state;
	tls_cert = TW_TLS_CERTS "/server.pem";
	tls_key = TW_TLS_CERTS "/server.key";
	setup_with(2, "");
	tls_cert = tls_key = NULL;
	return 0;
}

static void tls_handshake_and_request(void **state)
{
	char err[256], got[4096], st[512];
	int rc = MBEDTLS_ERR_SSL_WANT_READ, n;
	size_t len = 0;

	(void)state;
	memset(&cli, 0, sizeof cli);
	assert_int_equal(tw_tls_config_init(&cli.cfg, TW_TLS_CERTS "/ca.pem", 1, err, sizeof err),
			 TW_OK);
	mbedtls_ssl_init(&cli.ssl);
	assert_int_equal(mbedtls_ssl_setup(&cli.ssl, &cli.cfg.conf), 0);
	assert_int_equal(mbedtls_ssl_set_hostname(&cli.ssl, "localhost"), 0);
	cli.fd = connect_peer();
	mbedtls_ssl_set_bio(&cli.ssl, &cli, cli_send, cli_recv, NULL);
	for (int i = 0; i < 200 && rc != 0; i++) {
		rc = mbedtls_ssl_handshake(&cli.ssl);
		assert_true(rc == 0 || rc == MBEDTLS_ERR_SSL_WANT_READ);
		turns(1); /* the server's handshake runs on the loop */
	}
	assert_int_equal(rc, 0);
	assert_int_equal(mbedtls_ssl_write(&cli.ssl, (const unsigned char *)GOOD_TOKEN,
					   strlen(GOOD_TOKEN)),
			 (int)strlen(GOOD_TOKEN));
	for (int i = 0; i < 50 && memchr(got, '\n', len) == NULL; i++) {
		turns(1);
		n = mbedtls_ssl_read(&cli.ssl, (unsigned char *)got + len, sizeof got - 1 - len);
		if (n > 0)
			len += (size_t)n;
	}
	got[len] = '\0';
	assert_non_null(strstr(got, "\"id\":8,\"result\":{\"version\""));
	/* no request text crossed the socket in clear */
	assert_null(strstr(fake_peer_sent(cli.fd, &len), "\"result\""));
	status_line(st, sizeof st);
	assert_non_null(strstr(st, "(TLS)"));
	mbedtls_ssl_free(&cli.ssl);
	tw_tls_config_free(&cli.cfg);
}

static void tls_handshake_times_out(void **state)
{
	char st[512];
	int fd = connect_peer();

	(void)state;
	fake_clock_advance_ms(9000);
	turns(2);
	assert_false(fake_peer_closed(fd));
	fake_clock_advance_ms(1500); /* past [rpc] tls_handshake_timeout (10 s) */
	turns(2);
	assert_true(fake_peer_closed(fd));
	status_line(st, sizeof st);
	assert_non_null(strstr(st, "TLS handshakes failed 0 timed out 1"));
}

static void plaintext_client_on_tls_port_is_closed(void **state)
{
	int fd = connect_peer();

	(void)state;
	fake_peer_data(fd, GOOD_TOKEN, strlen(GOOD_TOKEN), 0, 0);
	turns(5);
	assert_true(fake_peer_closed(fd));
	assert_null(strstr(sent(fd), "result"));
}

static void plaintext_off_loopback_is_refused(void **state)
{
	char err[512];
	struct tw_rpc *r2 = NULL;

	(void)state;
	teardown(NULL);
	setup_with(2, "t0ken");
	snprintf(ag.cfg.rpc.listen, sizeof ag.cfg.rpc.listen, "0.0.0.0:7070");
	assert_int_equal(tw_rpc_start(&r2, &ag, &fake_q, err, sizeof err), TW_ERR_ARG);
	assert_non_null(strstr(err, "[rpc] tls_cert: required when [rpc] listen (0.0.0.0:7070) is "
				    "not a loopback address"));
	snprintf(ag.cfg.rpc.tls_cert, sizeof ag.cfg.rpc.tls_cert, TW_TLS_CERTS "/server.pem");
	assert_int_equal(tw_rpc_start(&r2, &ag, &fake_q, err, sizeof err), TW_ERR_ARG);
	assert_non_null(strstr(err, "set both"));
	snprintf(ag.cfg.rpc.tls_key, sizeof ag.cfg.rpc.tls_key, TW_TLS_CERTS "/other-ca.key");
	assert_int_equal(tw_rpc_start(&r2, &ag, &fake_q, err, sizeof err), TW_ERR_ARG);
	assert_non_null(strstr(err, "does not belong to certificate"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(partial_lines_are_assembled, setup, teardown),
		cmocka_unit_test_setup_teardown(pipelined_lines_answered_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(overlong_line_gets_error_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(long_line_borrows_a_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(invalid_utf8_is_a_parse_error, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_types_and_envelopes, setup, teardown),
		cmocka_unit_test_setup_teardown(error_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(request_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_client_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_connection_is_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(slots_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(token_is_required, setup, teardown),
		cmocka_unit_test_setup_teardown(added_methods_and_results, setup, teardown),
		cmocka_unit_test_setup_teardown(limiter_trips_and_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(limiter_window_expires, setup, teardown),
		cmocka_unit_test(limiter_table_when_full),
		cmocka_unit_test_setup_teardown(console_is_never_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(tls_handshake_and_request, setup_tls, teardown),
		cmocka_unit_test_setup_teardown(tls_handshake_times_out, setup_tls, teardown),
		cmocka_unit_test_setup_teardown(plaintext_client_on_tls_port_is_closed, setup_tls, teardown),
		cmocka_unit_test_setup_teardown(plaintext_off_loopback_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
