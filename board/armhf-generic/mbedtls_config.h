/* SPDX-License-Identifier: MIT */
/* mbedtls_config.h - Mbed TLS 3.6 configuration of the armhf-generic board: the common set, as is.
 *
 * The top-level CMake passes this file as TW_MBEDTLS_CONFIG; third_party/build.sh installs it as
 * <mbedtls/mbedtls_config.h> with board/common/mbedtls_common.h beside it (what every board
 * shares, and why; see there).
 *
 * Board notes: any ARMv7-A with hard float (Cortex-A7/A9/A15...): AES in software from ROM tables.
 */
#ifndef TW_BOARD_MBEDTLS_CONFIG_H
#define TW_BOARD_MBEDTLS_CONFIG_H

#include "mbedtls_common.h"

#endif /* TW_BOARD_MBEDTLS_CONFIG_H */
