/* SPDX-License-Identifier: MIT */
/* rpc_int.h - what server.c (connections) and methods.c (requests) share. */
#ifndef TW_RPC_INT_H
#define TW_RPC_INT_H

#include "cqrs/cqrs.h"
#include "hal.h"
#include "rpc.h"

enum slot_state { SLOT_FREE = 0, SLOT_READ, SLOT_BUSY };

struct rpc_slot {
	struct tw_rpc *rpc;
	int state;
	int fd;       /* -1 once closed (a request may still be in flight) */
	int console;  /* the console's slot: no fd, responses go to the console */
	int closing;  /* close once the response is sent */
	char peer[64];
	char *in;     /* small buffer or a borrowed long-line buffer */
	size_t in_cap;
	size_t in_len;
	int long_idx; /* borrowed long-line buffer, or -1 */
	size_t line_drop; /* bytes of the line in progress, newline included */
	int in_handle;    /* inside tw_rpc_handle_line: completion is synchronous */
	size_t out_len, out_off;
	tw_mono_t last_rx, line_started, write_started;
	uint64_t requests;
	/* the request in flight */
	int notify; /* no id: no response */
	char id[TW_RPC_ID_MAX + 1];
	int method;
	struct tw_cqrs_idem idem;
	struct tw_cqrs_op op;
	/* a user.list page being streamed */
	int list_rows;
	long long list_limit;
	char list_last[TW_CQRS_EMAIL_MAX + 1];
	size_t list_mark;
	char small[TW_RPC_IN_SMALL];
	char out[TW_RPC_OUT];
};

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
};

/** Handle one complete line of @p s (without its newline). */
void tw_rpc_handle_line(struct rpc_slot *s, const char *line, size_t len);

/**
 * Queue one complete response line: {"jsonrpc":"2.0","id":ID,FRAGMENT}.
 * @p fragment is "\"result\":..." or "\"error\":{...}".
 */
void tw_rpc_respond(struct rpc_slot *s, const char *fragment, size_t len);

/** The same with the fragment in two pieces (e.g. "\"result\":" and a method's JSON). */
void tw_rpc_respond_parts(struct rpc_slot *s, const char *a, size_t alen, const char *b,
			  size_t blen);

/** A user.list page written straight into the slot's response buffer: send it. */
void tw_rpc_respond_built(struct rpc_slot *s, size_t len);

/** Queue an error response. @p field may be NULL. */
void tw_rpc_respond_error(struct rpc_slot *s, int code, const char *msg, const char *field);

/** The request of @p s is over (response queued or none): go on with the next line. */
void tw_rpc_request_done(struct rpc_slot *s);

/** Write an error fragment ("error":{...}) into @p w. */
void tw_rpc_error_fragment(struct tw_jw *w, int code, const char *msg, const char *field);

#endif
