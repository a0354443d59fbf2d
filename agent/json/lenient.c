/* SPDX-License-Identifier: MIT */
/* lenient.c - jsmn in its permissive mode, for foreign answers that are JSON in spirit only. */
#define JSMN_STATIC
#include "json_int.h"

#include <jsmn.h>

/* jsmn is a header of static functions configured by macros: its strict instance lives in
 * json.c, this one is built without JSMN_STRICT. Both fill the same tokens and return the
 * same error values (json.c maps them). */
_Static_assert(sizeof(tw_jtok) == sizeof(jsmntok_t), "tw_jtok mirrors jsmntok_t");
_Static_assert(JSMN_ERROR_NOMEM == -1, "json.c maps jsmn's errors of either instance");

int tw_json_jsmn_permissive(const char *js, size_t len, tw_jtok *toks, int max)
{
	jsmn_parser p;

	jsmn_init(&p);
	return jsmn_parse(&p, js, len, (jsmntok_t *)toks, (unsigned)max);
}
