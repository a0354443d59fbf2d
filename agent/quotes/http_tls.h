/* SPDX-License-Identifier: MIT */
/* http_tls.h - context of the HTTP client's TLS transport (tw_http_tls_ops). */
#ifndef TW_HTTP_TLS_H
#define TW_HTTP_TLS_H

#include "tls/tls.h"

struct tw_http_tls {
	struct tw_tls_config *cfg; /* shared, owned by the caller */
	struct tw_tls s;
	int active;
};

/** Use @p cfg (CA, verification) for every session of this transport. */
void tw_http_tls_setup(struct tw_http_tls *t, struct tw_tls_config *cfg);

#endif
