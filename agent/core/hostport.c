/* SPDX-License-Identifier: MIT */
/* hostport.c - listen addresses split into host and port (see hostport.h). */
#include "hostport.h"

#include <stdlib.h>
#include <string.h>

#include "hal.h"

int tw_hostport_split(const char *hp, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(hp, ':');
	size_t n;
	long p;
	char *end;

	if (colon == NULL || colon[1] == '\0')
		return TW_ERR_ARG;
	n = (size_t)(colon - hp);
	if (n >= 2 && hp[0] == '[' && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return TW_ERR_ARG;
	memcpy(host, hp, n);
	host[n] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return TW_ERR_ARG;
	*port = (uint16_t)p;
	return TW_OK;
}
