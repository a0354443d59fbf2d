# SPDX-License-Identifier: MIT
# linux-gnu-cross.cmake - common part of the Debian cross toolchain files (included by them).
#
# Expects TW_TOOLCHAIN_TRIPLET (e.g. aarch64-linux-gnu), TW_TOOLCHAIN_TARGET (the
# third_party/build.sh target: aarch64, armhf), TW_TOOLCHAIN_QEMU and CMAKE_SYSTEM_PROCESSOR.
#
# The target's OpenSSL, zlib and zstd live in a sysroot made by third_party/sysroot.sh, found as:
#   1. -DTW_SYSROOT=DIR, 2. the environment variable TW_SYSROOT,
#   3. TW_SYSROOT= in ${TW_DEPS_PREFIX}/deps.env when -DTW_DEPS_PREFIX=DIR is given,
#   4. otherwise third_party/sysroot.sh TARGET is run (cached: costs milliseconds once made).
# The C library comes with the cross compiler (/usr/<triplet>); the deps prefixes are found
# under the cache folder (${TICKWATCH_CACHE:-$HOME/.cache/tickwatch}/prefix) or TW_DEPS_PREFIX.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${TW_TOOLCHAIN_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${TW_TOOLCHAIN_TRIPLET})

if(NOT TW_SYSROOT AND NOT "$ENV{TW_SYSROOT}" STREQUAL "")
  set(TW_SYSROOT "$ENV{TW_SYSROOT}")
endif()
if(NOT TW_SYSROOT AND TW_DEPS_PREFIX AND EXISTS "${TW_DEPS_PREFIX}/deps.env")
  file(STRINGS "${TW_DEPS_PREFIX}/deps.env" _tw_line REGEX "^TW_SYSROOT=")
  string(REGEX REPLACE "^TW_SYSROOT=" "" TW_SYSROOT "${_tw_line}")
endif()
if(NOT TW_SYSROOT)
  execute_process(
    COMMAND "${CMAKE_CURRENT_LIST_DIR}/../third_party/sysroot.sh" ${TW_TOOLCHAIN_TARGET}
    OUTPUT_VARIABLE _tw_out RESULT_VARIABLE _tw_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _tw_rc EQUAL 0)
    message(FATAL_ERROR "third_party/sysroot.sh ${TW_TOOLCHAIN_TARGET} failed (see above)")
  endif()
  string(REGEX REPLACE ".*\n" "" TW_SYSROOT "${_tw_out}")
endif()
if(NOT IS_DIRECTORY "${TW_SYSROOT}/usr/lib/${TW_TOOLCHAIN_TRIPLET}")
  message(FATAL_ERROR "TW_SYSROOT=${TW_SYSROOT} is not a ${TW_TOOLCHAIN_TRIPLET} sysroot "
                      "(make one with third_party/sysroot.sh ${TW_TOOLCHAIN_TARGET})")
endif()
set(TW_SYSROOT "${TW_SYSROOT}" CACHE PATH "Sysroot of the target's OpenSSL, zlib, zstd")

# Roots: the sysroot, the cross compiler's C library, and the deps prefix. The prefix is often
# known only after project() (the build runs third_party/build.sh then), so the cache folder
# holding every prefix is a root too: find_library(... PATHS <prefix>/lib) then finds its files
# (a path already under a root is not re-rooted).
if(NOT "$ENV{TICKWATCH_CACHE}" STREQUAL "")
  set(_tw_cache "$ENV{TICKWATCH_CACHE}")
else()
  set(_tw_cache "$ENV{HOME}/.cache/tickwatch")
endif()
set(CMAKE_FIND_ROOT_PATH "${TW_SYSROOT}" "/usr/${TW_TOOLCHAIN_TRIPLET}" "${_tw_cache}/prefix")
if(TW_DEPS_PREFIX)
  list(APPEND CMAKE_FIND_ROOT_PATH "${TW_DEPS_PREFIX}")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The cross gcc does not know the sysroot: give it the headers (as system headers) and libraries.
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES
    "${TW_SYSROOT}/usr/include/${TW_TOOLCHAIN_TRIPLET}" "${TW_SYSROOT}/usr/include")
set(_tw_libdir "${TW_SYSROOT}/usr/lib/${TW_TOOLCHAIN_TRIPLET}")
set(_tw_ldflags "-L${_tw_libdir} -Wl,-rpath-link,${_tw_libdir}")
string(APPEND _tw_ldflags " -Wl,-rpath-link,${TW_SYSROOT}/lib/${TW_TOOLCHAIN_TRIPLET}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_tw_ldflags}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_tw_ldflags}")

# try_compile projects read this file again: hand them the same values.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TW_SYSROOT TW_DEPS_PREFIX)

# Lets ctest and add_custom_command run target programs through qemu-user-static.
find_program(TW_QEMU_PROGRAM ${TW_TOOLCHAIN_QEMU})
if(TW_QEMU_PROGRAM)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${TW_QEMU_PROGRAM}")
endif()
