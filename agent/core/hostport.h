/* SPDX-License-Identifier: MIT */
/* hostport.h - "host:port" and "[v6]:port" listen addresses split into their two parts. */
#ifndef TW_HOSTPORT_H
#define TW_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

/**
 * Split @p hp ("127.0.0.1:7070", "[::1]:0", "name:80") into @p host (brackets
 * removed) and @p port (0..65535; 0 lets the kernel pick, for tests).
 * @return 0, or TW_ERR_ARG when there is no port, the host does not fit or is
 *         empty, or the port is not a number in range.
 */
int tw_hostport_split(const char *hp, char *host, size_t hostlen, uint16_t *port);

#endif
