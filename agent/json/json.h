/* SPDX-License-Identifier: MIT */
/* json.h - JSON for every module that speaks it: a jsmn tokenizer (no allocation), readers and a bounded writer. */
#ifndef TW_JSON_H
#define TW_JSON_H

#include <stddef.h>

/* Same layout as jsmntok_t built with JSMN_PARENT_LINKS (checked in json.c). */
typedef struct {
	int type; /* TW_J_* */
	int start;
	int end;
	int size;
	int parent;
} tw_jtok;

enum { TW_J_OBJECT = 1, TW_J_ARRAY = 2, TW_J_STRING = 3, TW_J_PRIMITIVE = 4 };

/* Errors of the json module (-200..-249; rpc keeps -250..-299). */
enum {
	TW_ERR_JSON_PARSE = -201,    /**< not JSON (or not UTF-8) */
	TW_ERR_JSON_TOKENS = -202,   /**< more tokens than the parser holds */
	TW_ERR_JSON_TYPE = -203,     /**< a value of the wrong type */
	TW_ERR_JSON_TOOLONG = -204,  /**< a string longer than its buffer */
};

struct tw_json {
	const char *js;
	size_t len;
	tw_jtok *t;
	int n;
};

/**
 * Tokenize exactly one JSON value filling @p js (whitespace around it allowed).
 * @return the token count, TW_ERR_JSON_PARSE or TW_ERR_JSON_TOKENS.
 */
int tw_json_parse(struct tw_json *j, const char *js, size_t len, tw_jtok *toks, int max);

/** @return the index just past the value at @p i and everything inside it. */
int tw_json_skip(const struct tw_json *j, int i);

/** @return the value token of member @p key of object @p obj, or -1. */
int tw_json_member(const struct tw_json *j, int obj, const char *key);

/** @return 1 when token @p i is a string whose raw text equals @p s. */
int tw_json_eq(const struct tw_json *j, int i, const char *s);

/** @return 1 when token @p i is the literal null. */
int tw_json_is_null(const struct tw_json *j, int i);

/**
 * Decode string token @p i (escapes resolved, to UTF-8) into @p out.
 * @return 0, TW_ERR_JSON_TYPE when not a string or it holds \u0000 or a lone
 *         surrogate, TW_ERR_JSON_TOOLONG when it does not fit.
 */
int tw_json_string(const struct tw_json *j, int i, char *out, size_t outlen);

/** Number token @p i as a double (may be ±inf when huge). @return 0 or TW_ERR_JSON_TYPE. */
int tw_json_number(const struct tw_json *j, int i, double *v);

/** @return 1 when @p s (length @p len) is well-formed UTF-8 without NUL bytes. */
int tw_json_utf8_ok(const char *s, size_t len);

/** A bounded writer: output past the capacity sets overflow and is dropped. */
struct tw_jw {
	char *buf;
	size_t cap;
	size_t len;
	int overflow;
};

void tw_jw_init(struct tw_jw *w, char *buf, size_t cap);
void tw_jw_raw(struct tw_jw *w, const char *s, size_t n);
void tw_jw_lit(struct tw_jw *w, const char *s);
/** A quoted, escaped JSON string (NULL: null). */
void tw_jw_str(struct tw_jw *w, const char *s);
/** A number ("%.15g"); non-finite values become null. */
void tw_jw_num(struct tw_jw *w, double v);
void tw_jw_int(struct tw_jw *w, long long v);
void tw_jw_printf(struct tw_jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
