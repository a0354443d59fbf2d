/* SPDX-License-Identifier: MIT */
/* mbedtls_config.h - Mbed TLS 3.6 configuration of the host board: the common set, as is.
 *
 * The top-level CMake passes this file as TW_MBEDTLS_CONFIG; third_party/build.sh installs it as
 * <mbedtls/mbedtls_config.h> with board/common/mbedtls_common.h beside it (what every board
 * shares, and why; see there).
 *
 * Board notes: the host build also runs the unit tests (tests/unit/test_tls.c drives the client
 * against an in-process Mbed TLS server, test_rpc_server.c the RPC port's server against an
 * in-process client); the server side is in the common set since the RPC port speaks TLS
 * (issue 13). tests/cross/t_boards.sh checks that every board's effective set is the same.
 */
#ifndef TW_BOARD_MBEDTLS_CONFIG_H
#define TW_BOARD_MBEDTLS_CONFIG_H

#include "mbedtls_common.h"

#endif /* TW_BOARD_MBEDTLS_CONFIG_H */
