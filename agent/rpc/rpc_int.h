/* SPDX-License-Identifier: MIT */
/* rpc_int.h - the rpc files' shared parts: slots (server.c), dispatch, methods, replies, the limiter.
 *
 * The calls point one way: server.c (connections) hands a line to tw_rpc_dispatch()
 * (dispatch.c: envelope, auth, params), which runs a handler of the method table
 * (methods.c: one handler per method over agent/cqrs); every answer goes out
 * through reply.c (the JSON-RPC envelope), which calls nothing of the others. A
 * request that waits for the database tells the server it is over through the
 * callback the server gave tw_rpc_dispatch(), from the event loop, never from
 * inside the dispatch: a line is never handled while another is.
 */
#ifndef TW_RPC_INT_H
#define TW_RPC_INT_H

#include "cqrs/cqrs.h"
#include "hal.h"
#include "rpc.h"
#include "tls/stream.h"

struct tw_tls;
struct tw_tls_config;

/* SLOT_HANDSHAKE: a TLS port's connection before its handshake is done (no line read yet). */
enum slot_state { SLOT_FREE = 0, SLOT_HANDSHAKE, SLOT_READ, SLOT_BUSY };

struct rpc_slot;

/** The request of a slot, answered later: the server goes on with the slot's next line. */
typedef void (*tw_rpc_over_fn)(struct rpc_slot *s);

struct rpc_slot {
	struct tw_rpc *rpc;
	int state;
	int fd;       /* -1 once closed (a request may still be in flight) */
	int console;  /* the console's slot: no fd, responses go to the console */
	int closing;  /* close once the response is sent */
	char peer[64];
	struct tw_stream st;  /* the connection's bytes: clear, or TLS on a TLS port */
	struct tw_tls *tls;   /* this slot's TLS session storage (carved at start), or NULL */
	unsigned rd_want, wr_want; /* what the last blocked read / write waits for (TLS: either) */
	tw_mono_t hs_started; /* accept time, for [rpc] tls_handshake_timeout */
	char *in;     /* small buffer or a borrowed long-line buffer */
	size_t in_cap;
	size_t in_len;
	int long_idx; /* borrowed long-line buffer, or -1 */
	size_t line_drop; /* bytes of the line in progress, newline included */
	size_t out_len, out_off;
	tw_mono_t last_rx, line_started, write_started;
	uint64_t requests;
	/* the request in flight */
	int notify; /* no id: no response */
	char id[TW_RPC_ID_MAX + 1];
	tw_rpc_over_fn over; /* a pending request calls it once answered */
	struct tw_cqrs_op op;
	/* a user.list page being streamed into out */
	struct tw_jw list;
	int list_rows;
	long long list_limit;
	char list_last[TW_CQRS_EMAIL_MAX + 1];
	struct tw_alert_row alert; /* alert.add / update / remove: the row (agent/rpc/alerts.c) */
	char small[TW_RPC_IN_SMALL];
	char out[TW_RPC_OUT];
};

/* ---- authlimit.c: failed authentications per peer address, and bans ---- */

#define TW_RPC_AUTH_PEERS 64 /* addresses the limiter tracks at once */

struct tw_rpc_ban {
	char addr[48]; /* the peer's address without its port */
	tw_mono_t first, last, until; /* first failure of the window, latest one; ban end (0: none) */
	int64_t fails;
	int used;
};

struct tw_rpc_authlimit {
	struct tw_rpc_ban *t;
	size_t n;
	int64_t failures;     /* [rpc] auth_failures */
	tw_mono_t window, ban; /* [rpc] auth_window, auth_ban */
	uint64_t bans, failures_seen, untracked;
};

/** The address part of "host:port" @p peer (what the limiter keys on), into @p addr. */
void tw_rpc_peer_addr(const char *peer, char *addr, size_t len);

/** Set the limiter up over @p table (@p n entries, owned by the caller). */
void tw_rpc_authlimit_init(struct tw_rpc_authlimit *l, struct tw_rpc_ban *table, size_t n,
			   int64_t failures, int64_t window_ms, int64_t ban_ms);

/** @return ms the ban of @p addr still runs at @p now (> 0), or 0 when it is not banned. */
int64_t tw_rpc_authlimit_banned(struct tw_rpc_authlimit *l, const char *addr, tw_mono_t now);

/** Count one failure of @p addr at @p now. @return 1 when @p addr is banned now, else 0. */
int tw_rpc_authlimit_fail(struct tw_rpc_authlimit *l, const char *addr, tw_mono_t now);

/**
 * The live bans as "addr (N s left), ..." into @p buf (cut at a whole entry when
 * it does not fit). @return how many there are.
 */
size_t tw_rpc_authlimit_list(const struct tw_rpc_authlimit *l, tw_mono_t now, char *buf, size_t len);

/* ---- server.c ---- */

/**
 * The request of @p s failed authentication (a wrong or missing token; called
 * by dispatch.c after it queued the error): counted against the peer's
 * address; when that bans it, @p s closes once the error is sent and the
 * peer's other connections close now. The console is never counted.
 */
void tw_rpc_auth_failed(struct rpc_slot *s);

struct tw_rpc {
	struct tw_agent *ag;
	struct tw_loop *loop;
	struct tw_cqrs *q;
	int listen_fd;
	int port;
	struct rpc_slot *slots;
	size_t nslots;
	struct rpc_slot *console;
	char **longbuf;
	int *long_owner;
	size_t nlong;
	size_t max_line;
	const char *token;
	int64_t idle_ms, slow_ms, ttl_ms;
	long long sweep;
	int stopped;
	struct tw_cqrs_op expire_op;
	tw_jtok toks[TW_RPC_TOKENS];
	char scratch[TW_RPC_OUT];    /* console response lines */
	char method_out[TW_RPC_OUT]; /* results of methods other roles added */
	uint64_t accepted, refused, requests, errors, closed_idle, closed_slow, closed_long;
	struct tw_tls_config *tls_cfg; /* the TLS port's configuration, or NULL: plaintext */
	int64_t hs_ms;                 /* [rpc] tls_handshake_timeout */
	uint64_t hs_failed, hs_timeout, banned_refused;
	int untracked_logged;
	struct tw_rpc_authlimit auth;
	struct tw_tcheck *tc; /* [rpc] check_tickers (tickercheck.c), or NULL: off */
};

/* ---- dispatch.c: one request line ---- */

enum { RPC_DONE = 0, RPC_PENDING = 1 };

/**
 * Run the request line @p line of @p s (without its newline). @return RPC_DONE:
 * the request is over, its answer (none for a notification or a blank line)
 * queued; RPC_PENDING: it waits for the database, and @p over(s) is called
 * exactly once, later, from the event loop, once its answer is queued.
 */
int tw_rpc_dispatch(struct rpc_slot *s, const char *line, size_t len, tw_rpc_over_fn over);

/* ---- methods.c: the method table ---- */

/* The params a method may take, one bit each (P_* in pnames' order). */
enum { P_EMAIL, P_TICKER, P_HIGH, P_LOW, P_REQID, P_N, P_AFTER, P_LIMIT, P_ID,
       P_KIND, P_LEVEL, P_LEVEL2, P_FREQUENCY, P_COOLDOWN, P_REARM, P_EXPIRES, P_ENABLED,
       P_COUNT };
#define RPC_P(name) (1u << P_##name)

/** The name of param P_*. */
extern const char *const tw_rpc_pnames[P_COUNT];

/* The params of any method, decoded. Strings get room for one byte past their limit. */
struct rpc_params {
	char email[TW_CQRS_EMAIL_MAX + 2];
	char ticker[TW_CQRS_TICKER_MAX + 2];
	char request_id[TW_CQRS_REQID_MAX + 2];
	char after[TW_CQRS_EMAIL_MAX + 2];
	double high, low, n, limit;
	double id; /* deadletter.redrive: a dead letter id; alert.*: an alert id */
	unsigned seen; /* RPC_P() of every param given */
	/* alert.add / alert.update (agent/rpc/alerts.c) */
	char kind[10], frequency[10];
	double level, level2, cooldown_s, rearm_pct, expires_ms; /* expires_ms null: 0 */
	int enabled;
};

/** One method, as Redis' command table: its name, the params it takes and needs, its handler. */
struct rpc_method {
	const char *name;
	unsigned params;   /* RPC_P() bits it takes; any other param is an error */
	unsigned required; /* RPC_P() bits it needs (checked in P_* order) */
	/** Run it with @p p (params checked). @return RPC_DONE or RPC_PENDING (as tw_rpc_dispatch). */
	int (*run)(struct rpc_slot *s, const struct rpc_method *m, const struct rpc_params *p);
};

extern const struct rpc_method tw_rpc_methods[];

/* methods.c's helpers for the method files (alerts.c): a call that did not start answers at
 * once; an at-most-once outcome with nothing to render is answered (@return 1); the
 * request's at-most-once id; the request is over. */
int tw_rpc_started(struct rpc_slot *s, int rc);
int tw_rpc_command_answered(struct rpc_slot *s, const struct tw_cqrs_result *r);
struct tw_cqrs_idem tw_rpc_idem_of(const struct rpc_slot *s, const struct rpc_method *m,
				   const struct rpc_params *p);
void tw_rpc_over(struct rpc_slot *s);

/* ---- alerts.c: alert.add, alert.list, alert.update, alert.remove ---- */
int tw_rpc_run_alert_add(struct rpc_slot *s, const struct rpc_method *m,
			 const struct rpc_params *p);
int tw_rpc_run_alert_list(struct rpc_slot *s, const struct rpc_method *m,
			  const struct rpc_params *p);
int tw_rpc_run_alert_update(struct rpc_slot *s, const struct rpc_method *m,
			    const struct rpc_params *p);
int tw_rpc_run_alert_remove(struct rpc_slot *s, const struct rpc_method *m,
			    const struct rpc_params *p);
extern const size_t tw_rpc_nmethods;

/* ---- tickercheck.c: [rpc] check_tickers, the quote source asked before register and
 * update_ticker (docs/rpc.md) ---- */

struct tw_tcheck;

/** Arena bytes of the check ([rpc] check_tickers on and a network [quotes] source; else 0). */
size_t tw_rpc_tcheck_budget(const struct tw_config *cfg);
/** Open the check's quote sources (r->tc; NULL when off). @return 0 or an error with text. */
int tw_rpc_tcheck_open(struct tw_rpc *r, char *err, size_t errlen);
/** Close them (pending checks are dropped: the agent is stopping). Safe twice. */
void tw_rpc_tcheck_close(struct tw_rpc *r);
/** @return 1 when the call of @p s with @p p goes through the check (on, valid params). */
int tw_rpc_tcheck_wanted(const struct rpc_slot *s, const struct rpc_params *p);
/**
 * Check @p p's ticker, then run @p m (user.register or user.update_ticker) with @p answer as
 * its done, or answer -32002 "unknown ticker". @return RPC_PENDING (over() comes later).
 */
int tw_rpc_tcheck_start(struct rpc_slot *s, const struct rpc_method *m,
			const struct rpc_params *p, tw_cqrs_done_fn answer);

/* ---- reply.c: every answer, in the JSON-RPC envelope {"jsonrpc":"2.0","id":ID,...} ---- */

/*
 * Answers of a TCP slot are queued after what it has queued already (the server
 * sends them); the console's are written to the console at once. A notification
 * (no id) is never answered, nor a slot whose connection has gone. An answer too
 * large for the buffer becomes error -32603.
 */

/** Answer "result": @p json (@p len bytes of JSON text). */
void tw_rpc_respond_result(struct rpc_slot *s, const char *json, size_t len);

/** Answer an error, counted in the server's errors. @p msg "" or NULL: the code's name. */
void tw_rpc_respond_error(struct rpc_slot *s, int code, const char *msg, const char *field);

/**
 * Answer the failed CQRS outcome @p r (code from tw_rpc_error_code(r->rc)); a
 * replayed outcome repeats an answer already counted, so it is not counted again.
 */
void tw_rpc_respond_failure(struct rpc_slot *s, const struct tw_cqrs_result *r);

/** Answer with @p fragment ("result":... or "error":{...}) as stored by an earlier build. */
void tw_rpc_respond_stored(struct rpc_slot *s, const char *fragment);

/**
 * A result streamed into the slot's own buffer as rows arrive: open writes the
 * envelope and "result": into @p w, the caller appends the JSON value, close
 * sends it, or error -32603 with @p too_big when it did not fit.
 */
void tw_rpc_result_open(struct rpc_slot *s, struct tw_jw *w);
void tw_rpc_result_close(struct rpc_slot *s, struct tw_jw *w, const char *too_big);

/**
 * A whole error line -32007 for a peer no slot reads (a connection refused, a
 * full console queue), into @p buf: id null, no "data". @return its length, 0 when it does not fit.
 */
size_t tw_rpc_refusal(char *buf, size_t len, const char *msg);

#endif
