# SPDX-License-Identifier: MIT
# aarch64-linux-gnu.cmake - cross-compile for 64-bit ARM Linux (Raspberry Pi 4 and similar)
# with Debian's gcc-aarch64-linux-gnu. Pass -DTW_SYSROOT=... (third_party/build.sh aarch64
# writes it to deps.env) or let linux-gnu-cross.cmake find it; see that file.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(TW_TOOLCHAIN_TRIPLET aarch64-linux-gnu)
set(TW_TOOLCHAIN_TARGET aarch64)
set(TW_TOOLCHAIN_QEMU qemu-aarch64-static)
include("${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake")
