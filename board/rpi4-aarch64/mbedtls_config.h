/* SPDX-License-Identifier: MIT */
/* mbedtls_config.h - Mbed TLS 3.6 configuration of the rpi4-aarch64 board: the common set, as is.
 *
 * The top-level CMake passes this file as TW_MBEDTLS_CONFIG; third_party/build.sh installs it as
 * <mbedtls/mbedtls_config.h> with board/common/mbedtls_common.h beside it (what every board
 * shares, and why; see there).
 *
 * Board notes: Cortex-A72 (no ARMv8 crypto extensions): AES in software from ROM tables.
 */
#ifndef TW_BOARD_MBEDTLS_CONFIG_H
#define TW_BOARD_MBEDTLS_CONFIG_H

#include "mbedtls_common.h"

#endif /* TW_BOARD_MBEDTLS_CONFIG_H */
