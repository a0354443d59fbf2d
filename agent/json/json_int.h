/* SPDX-License-Identifier: MIT */
/* json_int.h - inside agent/json: the permissive jsmn instance lenient.c builds for json.c. */
#ifndef TW_JSON_INT_H
#define TW_JSON_INT_H

#include <stddef.h>

#include "json.h"

/** jsmn_parse() in its permissive mode (no JSMN_STRICT): a count or a JSMN_ERROR_* value. */
int tw_json_jsmn_permissive(const char *js, size_t len, tw_jtok *toks, int max);

#endif
