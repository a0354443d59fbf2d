/* SPDX-License-Identifier: MIT */
/* lenient.c - jsmn in its permissive mode, for foreign answers that are JSON in spirit only. */
#define JSMN_STATIC
#include "json.h"

#include <jsmn.h>

/* jsmn is a header of static functions configured by macros: its strict instance lives in
 * json.c, this one is built without JSMN_STRICT. Both fill the same tokens. */
_Static_assert(sizeof(tw_jtok) == sizeof(jsmntok_t), "tw_jtok mirrors jsmntok_t");
_Static_assert(TW_J_OBJECT == (int)JSMN_OBJECT && TW_J_ARRAY == (int)JSMN_ARRAY &&
		       TW_J_STRING == (int)JSMN_STRING && TW_J_PRIMITIVE == (int)JSMN_PRIMITIVE,
	       "tw_jtok types are jsmn's");

int tw_json_parse_lenient(struct tw_json *j, const char *js, size_t len, tw_jtok *toks, int max)
{
	jsmn_parser p;
	int n;

	j->js = js;
	j->len = len;
	j->t = toks;
	j->n = 0;
	jsmn_init(&p);
	n = jsmn_parse(&p, js, len, (jsmntok_t *)toks, (unsigned)max);
	if (n == JSMN_ERROR_NOMEM)
		return TW_ERR_JSON_TOKENS;
	if (n <= 0)
		return TW_ERR_JSON_PARSE;
	j->n = n;
	return n;
}
