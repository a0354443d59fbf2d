/* SPDX-License-Identifier: MIT */
/* mbedtls_config.h - Mbed TLS 3.6 configuration of the host board: the common set plus a server.
 *
 * The top-level CMake passes this file as TW_MBEDTLS_CONFIG; third_party/build.sh installs it as
 * <mbedtls/mbedtls_config.h> with board/common/mbedtls_common.h beside it (what every board
 * shares, and why; see there).
 *
 * Board notes: the host build also runs the unit tests, and tests/unit/test_tls.c drives the
 * client against an in-process Mbed TLS SERVER: so this board alone adds MBEDTLS_SSL_SRV_C
 * (and nothing else). The agent never configures a server endpoint. tests/cross/t_boards.sh
 * checks that the boards' effective sets differ by that one macro.
 */
#ifndef TW_BOARD_MBEDTLS_CONFIG_H
#define TW_BOARD_MBEDTLS_CONFIG_H

#include "mbedtls_common.h"

#define MBEDTLS_SSL_SRV_C               /* host only: the TLS unit test's in-process server */

#endif /* TW_BOARD_MBEDTLS_CONFIG_H */
