# SPDX-License-Identifier: MIT
# arm-linux-gnueabihf.cmake - cross-compile for 32-bit ARM Linux, hard float (ARMv7 boards)
# with Debian's gcc-arm-linux-gnueabihf. Pass -DTW_SYSROOT=... (third_party/build.sh armhf
# writes it to deps.env) or let linux-gnu-cross.cmake find it; see that file.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(TW_TOOLCHAIN_TRIPLET arm-linux-gnueabihf)
set(TW_TOOLCHAIN_TARGET armhf)
set(TW_TOOLCHAIN_QEMU qemu-arm-static)
include("${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake")
