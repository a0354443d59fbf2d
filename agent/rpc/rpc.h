/* SPDX-License-Identifier: MIT */
/* rpc.h - the JSON-RPC 2.0 line server of the rpc role: TCP slots and the console, no allocation.
 *
 * One JSON object per line. Every buffer is carved from the agent's arena at
 * start: [limits] rpc_slots connection slots (each with a 2 KiB input buffer,
 * a response buffer and one CQRS operation), [limits] rpc_long_lines buffers
 * of [limits] rpc_max_line bytes that a slot borrows while it reads a longer
 * line. Each connection handles one request at a time, in order.
 */
#ifndef TW_RPC_H
#define TW_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "json/json.h"

struct tw_agent;
struct tw_config;
struct tw_cqrs;
struct tw_rpc;

/* JSON-RPC error codes: the standard ones and tickwatch's application codes. */
enum {
	TW_RPC_PARSE_ERROR = -32700,
	TW_RPC_INVALID_REQUEST = -32600,
	TW_RPC_METHOD_NOT_FOUND = -32601,
	TW_RPC_INVALID_PARAMS = -32602,
	TW_RPC_INTERNAL = -32603,
	TW_RPC_UNAUTHORISED = -32001,
	TW_RPC_VALIDATION = -32002,
	TW_RPC_NOT_FOUND = -32003,
	TW_RPC_EXISTS = -32004,
	TW_RPC_DB_UNAVAILABLE = -32005,
	TW_RPC_REQUEST_ID_REUSED = -32006,
	TW_RPC_BUSY = -32007,
	TW_RPC_METHOD_FAILED = -32008,
};

#define TW_RPC_IN_SMALL 2048 /* per-slot input buffer; longer lines borrow a long-line buffer */
#define TW_RPC_OUT 10240     /* per-slot response buffer */
#define TW_RPC_TOKENS 128    /* JSON tokens of one request */
#define TW_RPC_ID_MAX 96     /* raw JSON text of a request's "id" */

/** Arena bytes the server will carve for @p cfg. */
size_t tw_rpc_budget(const struct tw_config *cfg);

/**
 * Carve the slots, listen on [rpc] listen (unless "none"), route console JSON
 * lines here. @p q is the CQRS service. @return 0 or an error with text.
 */
int tw_rpc_start(struct tw_rpc **out, struct tw_agent *ag, struct tw_cqrs *q, char *err,
		 size_t errlen);

/** Close the listener and every connection (a request in flight is abandoned). Safe twice. */
void tw_rpc_stop(struct tw_rpc *r);

/** Periodic housekeeping (expired request ids). @return ms until the next call. */
int64_t tw_rpc_step(struct tw_rpc *r);

/** One status line: port, slots in use, requests, errors. */
void tw_rpc_status(const struct tw_rpc *r, char *buf, size_t len);

/** @return the TCP port listened on, or -1. */
int tw_rpc_port(const struct tw_rpc *r);

/** Map a CQRS/db error code to a JSON-RPC error code. */
int tw_rpc_error_code(int rc);

#endif
