#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# image.sh - build a small bootable image of one ARM board into dist/BOARD/image/.
#
# usage: scripts/image.sh BOARD        (BOARD: armhf-generic or rpi4-aarch64)
#
# From Debian bookworm's own packages of the board's architecture (fetched with apt-get into a
# private apt state under ~/.cache/tickwatch/device, the host's dpkg is never touched):
#   vmlinuz      the kernel (linux-image-armmp for armhf, linux-image-arm64 for arm64)
#   initrd.gz    initramfs: busybox-static as init and shell, the virtio/ext4 kernel modules, the
#                static tickwatch of scripts/cross.sh BOARD (built first when missing), the
#                board's default configuration, the system CA bundle and the scripts of
#                scripts/image/ (rc: DHCP on eth0, /data mounted; tickwatch-run: the agent on
#                /dev/ttyAMA0 at the board's baud rate with --config /data/tickwatch.conf)
#   data.img     the persistent ext4 data partition (16 MiB) mounted at /data, seeded with
#                tickwatch.conf; `config save` writes there, so it survives a reboot
#   cmdline.txt  the kernel command line;  qemu.sh  boots the image under qemu-system (-M virt)
#   SHA256SUMS, SIZES   sha256sum and byte size of every file above
# docs/device.md says how to write it to an SD card and what a Raspberry Pi 4 needs beyond it.
# Needs: scripts/bootstrap.sh (scripts/packages/device.txt); runs as root, or under fakeroot.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'image: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'image: %s\n' "$*" >&2; }

[ $# -eq 1 ] || die "usage: scripts/image.sh BOARD (armhf-generic or rpi4-aarch64)"
case "$1" in -h | --help) sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
board=$1
# Board -> Debian architecture, kernel meta package, QEMU system binary and CPU.
case "$board" in
armhf-generic) arch=armhf kpkg=linux-image-armmp qemu=qemu-system-arm cpu=cortex-a15 ;;
rpi4-aarch64) arch=arm64 kpkg=linux-image-arm64 qemu=qemu-system-aarch64 cpu=cortex-a72 ;;
*) die "unknown board '$board' (known: armhf-generic rpi4-aarch64)" ;;
esac
console=/dev/ttyAMA0
conf_src=$repo/board/$board/tickwatch.conf
[ -f "$conf_src" ] || die "board/$board/tickwatch.conf is missing"
baud=$(sed -n 's/^[[:space:]]*console_baud[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$conf_src" | head -n1)
[ -n "$baud" ] || die "board/$board/tickwatch.conf has no [agent] console_baud"

# mknod (the initramfs' /dev/console) needs root; fakeroot is enough.
if [ "$(id -u)" -ne 0 ]; then
	command -v fakeroot >/dev/null || die "run as root, or install fakeroot (scripts/bootstrap.sh)"
	exec fakeroot -- "$0" "$@"
fi
for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio gzip mkfs.ext4 sha256sum truncate; do
	command -v "$tool" >/dev/null || die "'$tool' not found: run scripts/bootstrap.sh (scripts/packages/device.txt)"
done

cache=${TW_DEVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tickwatch/device}
bin=$repo/dist/$board/tickwatch
if [ ! -x "$bin" ]; then
	log "no $bin yet: scripts/cross.sh $board"
	"$repo/scripts/cross.sh" "$board"
fi
[ -x "$bin" ] || die "no binary at $bin"

# ---- 1. the debs, through a private apt state that reuses the host's sources lists
ap=$cache/apt/$arch
mkdir -p "$ap/state/lists/partial" "$ap/cache/archives/partial" "$ap/etc/preferences.d" "$ap/etc/apt.conf.d"
touch "$ap/state/status"
cat >"$ap/apt.conf" <<EOF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Dir::State "$ap/state";
Dir::State::status "$ap/state/status";
Dir::Cache "$ap/cache";
Dir::Etc::SourceList "/etc/apt/sources.list";
Dir::Etc::SourceParts "/etc/apt/sources.list.d";
Dir::Etc::Preferences "$ap/etc/preferences";
Dir::Etc::PreferencesParts "$ap/etc/preferences.d";
Dir::Etc::Parts "$ap/etc/apt.conf.d";
EOF
export APT_CONFIG=$ap/apt.conf
# Refresh the lists when they are missing or older than a day (security updates move the ABI).
if [ -z "$(find "$ap/state/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
	log "apt-get update ($arch lists)"
	apt-get -q update >"$ap/update.log" 2>&1 || { tail -n 20 "$ap/update.log" >&2; die "apt-get update for $arch failed"; }
fi
# The meta package depends on exactly one linux-image-<abi>-<flavour>.
kimg=$(apt-cache depends "$kpkg" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
[ -n "$kimg" ] || die "apt cannot resolve $kpkg for $arch (is bookworm in /etc/apt/sources.list without an [arch=] limit?)"
kver=${kimg#linux-image-}
debs=$cache/debs/$arch
mkdir -p "$debs"
(
	cd "$debs"
	ls "${kimg}"_*.deb >/dev/null 2>&1 || { log "downloading $kimg ($arch)"; apt-get -q download "$kimg" >&2; }
	ls busybox-static_*.deb >/dev/null 2>&1 || { log "downloading busybox-static ($arch)"; apt-get -q download busybox-static >&2; }
) || die "apt-get download failed"
x=$cache/x/$arch
if [ ! -e "$x/boot/vmlinuz-$kver" ] || [ ! -e "$x/lib/modules/$kver/modules.dep" ]; then
	rm -rf "$x"; mkdir -p "$x"
	for f in "$debs/${kimg}"_*.deb "$debs"/busybox-static_*.deb; do dpkg-deb -x "$f" "$x"; done
	depmod -b "$x" "$kver"   # the debs ship no modules.dep (their postinst makes it)
fi

# ---- 2. the initramfs tree
work=$(mktemp -d "${TMPDIR:-/tmp}/tw-image-$board.XXXXXX")
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc/tickwatch,etc/ssl/certs,proc,sys,dev,tmp,run,data,root} \
	"$r/lib/modules/$kver" "$r/usr/share/udhcpc"
cp "$x/bin/busybox" "$r/bin/busybox"
ln -s busybox "$r/bin/sh"          # the other applet links are made at boot (busybox --install -s)
ln -s /bin/busybox "$r/init"       # busybox init as PID 1 (so poweroff and reboot work)
mknod -m 600 "$r/dev/console" c 5 1
mknod -m 666 "$r/dev/null" c 1 3
# Kernel modules and their dependencies, in load order (modprobe --show-depends).
# CPU-feature modules (crc32-arm-ce, ...) fail with ENODEV on cores without the extension.
: >"$r/etc/modules.order"
for m in virtio_mmio virtio_blk virtio_net virtio-rng virtio_console ext4; do
	modprobe -d "$x" -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}' | while read -r p; do
		rel=${p#"$x/lib/modules/$kver/"}
		case "$rel" in */crc32-arm-ce.ko | */crc32c-arm64-ce.ko | */crct10dif-ce.ko) continue ;; esac
		grep -qxF "$rel" "$r/etc/modules.order" && continue
		mkdir -p "$r/lib/modules/$kver/$(dirname "$rel")"
		cp "$p" "$r/lib/modules/$kver/$rel"
		echo "$rel" >>"$r/etc/modules.order"
	done
done
[ -s "$r/etc/modules.order" ] || die "no kernel modules found for $kver"
for f in inittab rc rc.shutdown tickwatch-run test-shell; do
	install -m "$( [ "$f" = inittab ] && echo 0644 || echo 0755 )" "$repo/scripts/image/$f" "$r/etc/$f"
done
install -m 0755 "$repo/scripts/image/udhcpc.script" "$r/usr/share/udhcpc/default.script"
install -m 0755 "$bin" "$r/usr/bin/tickwatch"
# The board's configuration with the image's console; copied to /data on the first boot.
sed -e "s|^\([[:space:]]*console[[:space:]]*=\).*|\1 $console|" "$conf_src" >"$r/etc/tickwatch/tickwatch.conf"
chmod 0600 "$r/etc/tickwatch/tickwatch.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	install -m 0644 /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
fi
cat >"$r/etc/board.env" <<EOF
BOARD=$board
CONSOLE=$console
BAUD=$baud
DATA_DEVICES="/dev/vda /dev/mmcblk0p2 /dev/sda2"
EOF
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
printf '%s\n' 'root:x:0:' >"$r/etc/group"
printf '%s\n' '127.0.0.1 localhost' >"$r/etc/hosts"
printf '%s\n' 'hosts: files dns' >"$r/etc/nsswitch.conf"

# ---- 3. assemble dist/BOARD/image (in a temp folder beside it, then swapped in)
out=$repo/dist/$board/image
stage=$work/out
mkdir -p "$stage"
# Reproducible archive: sorted names, owner root, mtimes of the source date.
find "$r" -exec touch -h -d @"${SOURCE_DATE_EPOCH:-0}" {} +
(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet | gzip -9n) >"$stage/initrd.gz"
cp "$x/boot/vmlinuz-$kver" "$stage/vmlinuz"
seed=$work/seed
mkdir -p "$seed"
install -m 0600 "$r/etc/tickwatch/tickwatch.conf" "$seed/tickwatch.conf"
truncate -s 16M "$stage/data.img"
mkfs.ext4 -q -F -L twdata -m 0 -d "$seed" "$stage/data.img"
echo "console=ttyAMA0,$baud quiet panic=-1" >"$stage/cmdline.txt"
cat >"$stage/qemu.sh" <<EOF
#!/bin/sh
# qemu.sh - boot this image (written by scripts/image.sh $board): the serial console on a host
# pty (QEMU prints its name), user-mode network, data.img as the persistent /data.
# The emulated machine is QEMU's "virt" with a $cpu, not the board itself (docs/device.md).
here=\$(cd "\$(dirname "\$0")" && pwd)
exec $qemu -M virt -cpu $cpu -smp 1 -m 256 -display none -monitor none \\
	-serial pty -kernel "\$here/vmlinuz" -initrd "\$here/initrd.gz" -append "\$(cat "\$here/cmdline.txt")" \\
	-netdev user,id=n0 -device virtio-net-device,netdev=n0 \\
	-drive file="\$here/data.img",format=raw,if=none,id=d0 -device virtio-blk-device,drive=d0 \\
	-device virtio-rng-device "\$@"
EOF
chmod 0755 "$stage/qemu.sh"
echo "$kver" >"$stage/kernel-version"
files="vmlinuz initrd.gz data.img cmdline.txt qemu.sh kernel-version"
# shellcheck disable=SC2086 # $files is a list of plain names
(cd "$stage" && sha256sum $files >SHA256SUMS && stat -c '%s %n' $files >SIZES)
mkdir -p "$repo/dist/$board"
rm -rf "$out.tmp"; mv "$stage" "$out.tmp"
rm -rf "$out"; mv -T "$out.tmp" "$out"
log "$board: kernel $kver, console $console at $baud baud -> dist/$board/image/"
sed 's/^/image:   /' "$out/SIZES" >&2
