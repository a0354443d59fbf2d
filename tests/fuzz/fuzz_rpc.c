/* SPDX-License-Identifier: MIT */
/* fuzz_rpc.c - the JSON-RPC line server (agent/rpc: framing in server.c, envelope, token and
 * params in dispatch.c, handlers, replies) fed by one scripted TCP peer over the fake HAL,
 * with the scripted cqrs stand-in (standin/cqrs_script.c) behind it.
 *
 * Input: byte 0 picks the stand-in's outcome (bits 0-2), whether a token is required (bit 3)
 * and how the bytes arrive (bits 4-7: recv chunk size); the rest is what the peer sends.
 * Properties: every answer is one line of strict JSON, an object with "jsonrpc":"2.0", an
 * "id" and exactly one of "result" / "error" (with a known code); an id that is not null is
 * text the peer sent; no more answers than lines (+1 for the overlong-line error); params
 * reaching cqrs are within their limits (checked in the stand-in). */
#include "core/agent.h"
#include "core/log.h"
#include "cqrs/cqrs.h"
#include "fake_hal.h"
#include "fuzz_common.h"
#include "json/json.h"
#include "rpc/rpc.h"
#include "standin/cqrs_script.h"

static struct tw_cqrs *fake_q = (struct tw_cqrs *)&fake_q;
static struct tw_agent ag;
static unsigned char *arena_base;
#define ARENA_BYTES (2u << 20)

static const int outcomes[8] = {
	0, TW_ERR_CQRS_NOT_FOUND, TW_ERR_CQRS_EXISTS, TW_ERR_CQRS_INVALID, TW_ERR_CQRS_REUSED,
	TW_ERR_DB_UNAVAILABLE, TW_ERR_DB_BUSY, -1 /* a failure at once */,
};

static int known_code(long long c)
{
	return (c >= -32700 && c <= -32600 && (c == -32700 || c == -32600 || c == -32601 ||
					       c == -32602 || c == -32603)) ||
	       (c <= -32001 && c >= -32008);
}

/* One answer line (without its '\n'), checked against the request bytes @p in. */
static void check_answer(const char *l, size_t n, const char *in, size_t inlen)
{
	tw_jtok t[1024]; /* an alert.list page of 20 alerts is ~620 tokens */
	struct tw_json j;
	int id, res, err;

	FZ_CHECK(tw_json_parse(&j, l, n, t, 1024) > 0 && t[0].type == TW_J_OBJECT,
		 "answer is not one JSON object: %.*s", (int)n, l);
	FZ_CHECK(tw_json_eq(&j, tw_json_member(&j, 0, "jsonrpc"), "2.0"), "no jsonrpc 2.0: %.*s",
		 (int)n, l);
	id = tw_json_member(&j, 0, "id");
	FZ_CHECK(id > 0, "answer without id: %.*s", (int)n, l);
	if (!tw_json_is_null(&j, id)) {
		int st = t[id].type == TW_J_STRING ? t[id].start - 1 : t[id].start;
		int en = t[id].type == TW_J_STRING ? t[id].end + 1 : t[id].end;

		FZ_CHECK(memmem(in, inlen, l + st, (size_t)(en - st)) != NULL,
			 "id %.*s was never sent", en - st, l + st);
	}
	res = tw_json_member(&j, 0, "result");
	err = tw_json_member(&j, 0, "error");
	FZ_CHECK((res > 0) != (err > 0), "not exactly one of result / error: %.*s", (int)n, l);
	if (err > 0) {
		double code = 0;

		FZ_CHECK(tw_json_number(&j, tw_json_member(&j, err, "code"), &code) == 0 &&
				 known_code((long long)code),
			 "unknown error code: %.*s", (int)n, l);
		FZ_CHECK(t[tw_json_member(&j, err, "message")].type == TW_J_STRING,
			 "error without message: %.*s", (int)n, l);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct tw_rpc *srv;
	const char *in, *got;
	size_t inlen, gotlen, lines = 0, answers = 0, chunk;
	int fd, listen_fd;
	uint8_t ctl;

	if (size < 1 || size > 16384)
		return 0;
	ctl = data[0];
	in = (const char *)data + 1;
	inlen = size - 1;
	chunk = (size_t)(ctl >> 4) * 37; /* 0: all at once */

	fake_reset();
	tw_log_set_stderr(0);
	memset(&ag, 0, sizeof ag);
	tw_config_defaults(&ag.cfg, ag.origins);
	snprintf(ag.cfg.rpc.listen, sizeof ag.cfg.rpc.listen, "127.0.0.1:0");
	snprintf(ag.cfg.rpc.token, sizeof ag.cfg.rpc.token, "%s", (ctl & 8) ? "s3cret" : "");
	ag.cfg.limits.rpc_slots = 2;
	ag.cfg.limits.rpc_max_line = 4096;
	ag.cfg.limits.rpc_long_lines = 1;
	/* one arena block for every run (a fresh 2 MiB each time costs more than the parse) */
	if (arena_base == NULL) {
		FZ_CHECK(tw_arena_init(&ag.arena, ARENA_BYTES) == TW_OK, "arena");
		arena_base = ag.arena.base;
	} else {
		ag.arena.base = arena_base;
		ag.arena.size = ARENA_BYTES;
	}
	FZ_CHECK(tw_loop_init(&ag.loop, &ag.arena, 32, 32) == TW_OK, "loop");
	fz_cqrs_loop = &ag.loop;
	fz_cqrs_outcome = outcomes[ctl & 7] < -1 ? outcomes[ctl & 7] : 0;
	fz_cqrs_sync_fail = outcomes[ctl & 7] == -1;
	if (fz_cqrs_sync_fail)
		fz_cqrs_outcome = TW_ERR_CQRS_INVALID;
	fz_cqrs_calls = 0;
	FZ_CHECK(tw_rpc_start(&srv, &ag, fake_q, err, sizeof err) == TW_OK, "start: %s", err);
	listen_fd = FAKE_FD_BASE;
	fake_peer_data(listen_fd, "!", 1, 0, 0); /* keeps the listener readable */
	fd = fake_peer_new();
	fake_accept_push(fd);
	tw_loop_run_once(&ag.loop, 10);
	if (inlen)
		fake_peer_data(fd, in, inlen, chunk, 0);
	/* turns until 3 in a row neither read nor sent anything (at most 60) */
	for (int i = 0, quiet = 0, rc0 = -2; i < 60 && quiet < 3; i++) {
		size_t before;
		int rc;

		fake_peer_sent(fd, &before);
		tw_loop_run_once(&ag.loop, 10);
		fake_peer_sent(fd, &gotlen);
		rc = fake_peer_recv_calls(fd);
		quiet = gotlen == before && rc == rc0 ? quiet + 1 : 0;
		rc0 = rc;
	}

	for (size_t i = 0; i < inlen; i++)
		lines += in[i] == '\n';
	got = fake_peer_sent(fd, &gotlen);
	for (const char *p = got, *e = got + gotlen; p < e;) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));

		FZ_CHECK(nl != NULL, "answer not ended by a newline: %.*s", (int)(e - p), p);
		check_answer(p, (size_t)(nl - p), in, inlen);
		answers++;
		p = nl + 1;
	}
	FZ_CHECK(answers <= lines + 1, "%zu answers to %zu lines", answers, lines);
	tw_rpc_stop(srv);
	return 0;
}
