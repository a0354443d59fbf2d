#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cross.sh - build the static tickwatch binary of one board into dist/BOARD/.
#
# usage: scripts/cross.sh BOARD        (BOARD: a folder under board/, e.g. rpi4-aarch64)
#
# Configures with the board's CMake preset (build dir build/cross-BOARD), builds the tickwatch
# target, checks it is a static executable for the board's machine, and writes
#   dist/BOARD/tickwatch        stripped binary
#   dist/BOARD/tickwatch.conf   the board's default configuration
#   dist/BOARD/SHA256SUMS       sha256sum of both (check on the device: sha256sum -c SHA256SUMS)
# The dependencies (third_party/build.sh, with the board's Mbed TLS config) are built or reused
# by the configure step. Running it again rebuilds only what changed; dist/BOARD is replaced
# as a whole. Dockerfile.cross runs this same script. Needs: scripts/bootstrap.sh (cross.txt).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'cross: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'cross: %s\n' "$*" >&2; }

# Boards and the preset (CPU target) each one builds with. A new board: one line here, a
# folder board/<name>/ with tickwatch.conf and mbedtls_config.h.
preset_of() {
	case "$1" in
	rpi4-aarch64) echo aarch64 ;;
	armhf-generic) echo armhf ;;
	*) return 1 ;;
	esac
}
known="rpi4-aarch64 armhf-generic"

[ $# -eq 1 ] || die "usage: scripts/cross.sh BOARD (one of: $known)"
case "$1" in -h | --help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
board=$1
preset=$(preset_of "$board") || die "unknown board '$board' (known: $known)"
bdir=$repo/board/$board
[ -f "$bdir/tickwatch.conf" ] || die "board/$board/tickwatch.conf is missing"
[ -f "$bdir/mbedtls_config.h" ] || die "board/$board/mbedtls_config.h is missing"

case "$preset" in
aarch64) triplet=aarch64-linux-gnu machine=AArch64 file_re='ARM aarch64' ;;
armhf) triplet=arm-linux-gnueabihf machine=ARM file_re='32-bit LSB.* ARM, EABI5' ;;
esac
for tool in cmake ninja "$triplet-gcc" "$triplet-strip" file readelf sha256sum; do
	command -v "$tool" >/dev/null ||
		die "'$tool' not found: run scripts/bootstrap.sh (packages in scripts/packages/*.txt)"
done

build=$repo/build/cross-$board
out=$repo/dist/$board
t0=$(date +%s)
mkdir -p "$repo/build"
log "configuring $board (preset $preset, $build)"
if ! cmake --preset "$preset" -B "$build" -DTW_BOARD="$board" -S "$repo" >"$build.configure.log" 2>&1; then
	tail -n 40 "$build.configure.log" >&2
	die "configure failed (full log: $build.configure.log)"
fi
log "building"
cmake --build "$build" --target tickwatch || die "build failed (build dir $build)"

bin=$build/tickwatch
[ -x "$bin" ] || die "no binary at $bin"
desc=$(file -b "$bin")
grep -qE "$file_re" <<<"$desc" || die "$bin is not a $machine binary: $desc"
grep -q 'statically linked' <<<"$desc" || die "$bin is not statically linked: $desc"
readelf -h "$bin" | grep -q "Machine: *$machine" || die "$bin: ELF machine is not $machine"
if readelf -l "$bin" | grep -q 'INTERP'; then die "$bin asks for a program interpreter"; fi

# Assemble in a temp folder beside the target and swap it in: dist/BOARD is never half written.
mkdir -p "$repo/dist"
tmp=$(mktemp -d "$repo/dist/.tmp-$board.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$triplet-strip" -o "$tmp/tickwatch" "$bin"
cp "$bdir/tickwatch.conf" "$tmp/tickwatch.conf"
chmod 0755 "$tmp/tickwatch"
chmod 0644 "$tmp/tickwatch.conf"
(cd "$tmp" && sha256sum tickwatch tickwatch.conf >SHA256SUMS)
chmod 0755 "$tmp"
rm -rf "$out"
mv -T "$tmp" "$out"
trap - EXIT

size=$(stat -c %s "$out/tickwatch")
log "done in $(($(date +%s) - t0)) s: dist/$board/tickwatch ($size bytes, $(file -b "$out/tickwatch" | cut -d, -f1-2))"
printf '%s\n' "$out"
