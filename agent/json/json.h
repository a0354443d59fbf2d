/* SPDX-License-Identifier: MIT */
/* json.h - JSON for every module that speaks it: a jsmn tokenizer (no allocation), readers, and
 * the bounded writer every module formats text with (JSON or not: agent/smtp/message.c too). */
#ifndef TW_JSON_H
#define TW_JSON_H

#include <stddef.h>

/* Same layout as jsmntok_t (checked in json.c and lenient.c): four ints, so a caller that sizes
 * a token array in bytes (agent/quotes/yahoo.c) keeps its budget. */
typedef struct {
	int type; /* TW_J_* */
	int start;
	int end;
	int size; /* children: members of an object (keys), elements of an array, 1 for a key */
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

/**
 * Tokenize foreign text that is JSON in spirit only, with jsmn's permissive mode and none of
 * tw_json_parse()'s checks: any unquoted run is a primitive (NaN, Infinity, bare words) and the
 * text is not checked to hold exactly one value. For answers of servers we do not control
 * (Yahoo's chart API has written NaN for a price), so the caller can refuse such a value by
 * name; never for a format this project defines. The readers below work on its tokens
 * (tw_json_number() refuses a primitive that is not a number).
 * @return the token count, TW_ERR_JSON_PARSE (not even that) or TW_ERR_JSON_TOKENS.
 */
int tw_json_parse_lenient(struct tw_json *j, const char *js, size_t len, tw_jtok *toks, int max);

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

/**
 * The bounded writer, for JSON and for any other bounded text (agent/smtp/message.c formats
 * e-mails with it). It never writes past @c cap and never cuts silently: the first append
 * that does not fit sets @c overflow and is dropped whole, as is every append after it, while
 * @c need goes on counting every byte asked for (the size that would have held it all).
 *
 * - tw_jw_init(): a C string: @c buf stays NUL-terminated, so it holds at most cap - 1 bytes.
 * - tw_jw_init_bytes(): bytes: all @p cap bytes can be filled and no NUL is kept; @p buf may be
 *   NULL with @p cap 0 to measure only (every append then overflows and counts in @c need).
 *
 * tw_jw_printf() formats in place with vsnprintf(), which always writes a NUL: its output
 * needs one byte of room beyond it, also in a bytes writer (there, a printf that would end
 * exactly at the capacity sets overflow; append such text with tw_jw_raw()).
 */
struct tw_jw {
	char *buf;
	size_t cap;
	size_t len;    /* bytes held */
	int overflow;  /* an append did not fit: buf holds what came before it */
	size_t need;   /* bytes asked for, held or not */
	int bytes;     /* from tw_jw_init_bytes(): no NUL kept */
};

void tw_jw_init(struct tw_jw *w, char *buf, size_t cap);
void tw_jw_init_bytes(struct tw_jw *w, char *buf, size_t cap);
void tw_jw_raw(struct tw_jw *w, const char *s, size_t n);
void tw_jw_lit(struct tw_jw *w, const char *s);
void tw_jw_printf(struct tw_jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Escapes a tw_jw_strx() adds to the ones JSON requires (", \ and U+0000..U+001F as \u00XX). */
enum {
	TW_JW_ESC_NL = 1,  /**< a line feed as \n instead of \u000a */
	TW_JW_ESC_DEL = 2, /**< DEL (0x7f) as \u007f instead of as is */
};

/** A quoted, escaped JSON string (NULL: null); UTF-8 passes through as is. */
void tw_jw_str(struct tw_jw *w, const char *s);
/** tw_jw_str() with the extra escapes @p esc (TW_JW_ESC_*). */
void tw_jw_strx(struct tw_jw *w, const char *s, unsigned esc);
/** A number ("%.15g"); non-finite values become null. */
void tw_jw_num(struct tw_jw *w, double v);
void tw_jw_int(struct tw_jw *w, long long v);

#endif
