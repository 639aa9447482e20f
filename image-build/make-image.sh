#!/usr/bin/env bash
# Pack a root file-system tree into a flashable SD-card image without loop devices or mounting it:
#   sudo bash image-build/make-image.sh ROOTFS OUT.img [options]
#
# The Raspberry Pi layout: an MBR with partition 1 FAT32 "bootfs" (ROOTFS/boot/firmware, or an empty
# one) and partition 2 ext4 "rootfs" (the rest of ROOTFS). /etc/fstab and cmdline.txt's root= are
# written for this image's PARTUUIDs in the image only: ROOTFS itself is not modified (but for an
# empty /etc/fstab created if it has none, as the mount point of the image's own). For
# containers and CI machines where pi-gen's export (losetup, mount) cannot run.
#
# Options:
#   --boot-size MiB   size of the boot partition (default 512, as Raspberry Pi OS)
#   --root-size MiB   size of the root partition (default: the tree's size + 30% + 256 MiB)
#   --disk-id HEX     8 hex digits of the MBR disk identifier (default: random)
#   --boot-file F     also copy F onto the boot partition (repeatable; e.g. a posenet.json)
#   --xz              compress the result to OUT.img.xz
# Needs (Debian packages): fdisk (sfdisk), dosfstools, mtools, e2fsprogs (>= 1.43), util-linux.
set -euo pipefail

die() { echo "make-image: $*" >&2; exit 2; }
BOOT_MB=512
ROOT_MB=""
DISK_ID=""
XZ=0
BOOT_FILES=()
ARGS=()
while (($#)); do
    case "$1" in
        --boot-size) BOOT_MB=$2; shift ;;
        --root-size) ROOT_MB=$2; shift ;;
        --disk-id) DISK_ID=$2; shift ;;
        --boot-file) BOOT_FILES+=("$2"); shift ;;
        --xz) XZ=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
((${#ARGS[@]} == 2)) || die "usage: make-image.sh ROOTFS OUT.img [options] (see --help)"
ROOTFS=$(cd "${ARGS[0]}" 2>/dev/null && pwd) || die "no such directory: ${ARGS[0]}"
OUT=${ARGS[1]}
[[ -x "$ROOTFS/sbin/init" || -L "$ROOTFS/sbin/init" || -e "$ROOTFS/lib/systemd/systemd" ]] \
    || die "$ROOTFS does not look like a root file system (no /sbin/init)"
[[ "$BOOT_MB" =~ ^[0-9]+$ && "$BOOT_MB" -ge 32 ]] || die "--boot-size must be a whole number of MiB >= 32"
[[ -z "$ROOT_MB" || "$ROOT_MB" =~ ^[0-9]+$ ]] || die "--root-size must be a whole number of MiB"
for f in "${BOOT_FILES[@]}"; do [[ -f "$f" ]] || die "no such file: $f"; done
[[ $(id -u) -eq 0 ]] || die "run as root: the image keeps the tree's owners and modes"
for tool in sfdisk mkfs.vfat mcopy mkfs.ext4 e2fsck unshare; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt install fdisk dosfstools mtools e2fsprogs util-linux)"
done
if [[ -z "$DISK_ID" ]]; then
    DISK_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
fi
[[ "$DISK_ID" =~ ^[0-9a-fA-F]{8}$ ]] || die "--disk-id must be 8 hex digits"
DISK_ID=${DISK_ID,,}

export MTOOLS_SKIP_CHECK=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/make-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BOOT_SRC="$ROOTFS/boot/firmware"
[[ -d "$BOOT_SRC" ]] || BOOT_SRC=""

# What the image gets instead of the tree's own files: fstab and cmdline.txt for these PARTUUIDs.
mkdir -p "$WORK/empty" "$WORK/boot-extra"
{
    echo "proc            /proc           proc    defaults          0       0"
    echo "PARTUUID=$DISK_ID-01  /boot/firmware  vfat    defaults          0       2"
    echo "PARTUUID=$DISK_ID-02  /               ext4    defaults,noatime  0       1"
} > "$WORK/fstab"
CMDLINE="console=serial0,115200 console=tty1 root=PARTUUID=$DISK_ID-02 rootfstype=ext4 fsck.repair=yes rootwait"
if [[ -n "$BOOT_SRC" && -f "$BOOT_SRC/cmdline.txt" ]]; then
    CMDLINE=$(sed -E "s/root=[^ ]+/root=PARTUUID=$DISK_ID-02/" "$BOOT_SRC/cmdline.txt" | head -n 1)
    grep -q "root=PARTUUID=$DISK_ID-02" <<< "$CMDLINE" || CMDLINE="$CMDLINE root=PARTUUID=$DISK_ID-02"
fi
printf '%s\n' "$CMDLINE" > "$WORK/boot-extra/cmdline.txt"
for f in "${BOOT_FILES[@]}"; do cp "$f" "$WORK/boot-extra/"; done

# Boot partition: FAT32 built in a file, filled with mtools.
truncate -s "${BOOT_MB}M" "$WORK/boot.vfat"
# (mkfs.fat warns that lowercase labels "might not work"; Raspberry Pi OS's own is lowercase "bootfs")
mkfs.vfat -F 32 -n bootfs -i "$DISK_ID" "$WORK/boot.vfat" 2>&1 >/dev/null | { grep -v 'lowercase labels' >&2 || true; }
if [[ -n "$BOOT_SRC" ]]; then
    for f in "$BOOT_SRC"/* "$BOOT_SRC"/.[!.]*; do
        [[ -e "$f" && "$(basename "$f")" != cmdline.txt ]] || continue
        mcopy -s -p -Q -o -i "$WORK/boot.vfat" "$f" ::
    done
fi
for f in "$WORK/boot-extra"/*; do mcopy -o -p -i "$WORK/boot.vfat" "$f" ::; done

# Root partition: mkfs.ext4 -d copies the tree with owners, modes, links and xattrs. In a private
# mount namespace (gone when it exits), the boot folder is hidden and fstab replaced, so the tree
# itself is untouched.
if [[ -z "$ROOT_MB" ]]; then
    used=$(du -sxm --exclude="$ROOTFS/boot/firmware" "$ROOTFS" | cut -f1)
    ROOT_MB=$((used * 13 / 10 + 256))
fi
truncate -s "${ROOT_MB}M" "$WORK/root.ext4"
[[ -f "$ROOTFS/etc/fstab" ]] || : > "$ROOTFS/etc/fstab"
# shellcheck disable=SC2016  # expanded by the inner shell, from its arguments
unshare --mount --propagation private bash -euc '
    rootfs=$1 work=$2
    [[ -d "$rootfs/boot/firmware" ]] && mount --bind "$work/empty" "$rootfs/boot/firmware"
    mount --bind "$work/fstab" "$rootfs/etc/fstab"
    mkfs.ext4 -q -F -L rootfs -d "$rootfs" "$work/root.ext4"
' make-image "$ROOTFS" "$WORK"
fsck_out=$(e2fsck -fn "$WORK/root.ext4" 2>&1) || die "the new root file system does not check clean: $fsck_out"

# The disk: partitions at 4 MiB boundaries, as Raspberry Pi OS.
START1=8192
SIZE1=$((BOOT_MB * 2048))
START2=$(((START1 + SIZE1 + 8191) / 8192 * 8192))
SIZE2=$((ROOT_MB * 2048))
rm -f "$OUT"
truncate -s $(((START2 + SIZE2) * 512)) "$OUT"
printf 'label: dos\nlabel-id: 0x%s\nunit: sectors\n\n%d,%d,c\n%d,%d,83\n' \
    "$DISK_ID" "$START1" "$SIZE1" "$START2" "$SIZE2" | sfdisk -q "$OUT"
dd if="$WORK/boot.vfat" of="$OUT" bs=1M seek=$((START1 / 2048)) conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$OUT" bs=1M seek=$((START2 / 2048)) conv=notrunc,sparse status=none
echo "$OUT: disk id $DISK_ID, bootfs ${BOOT_MB} MiB at sector $START1, rootfs ${ROOT_MB} MiB at sector $START2"
if ((XZ)); then
    xz -T0 -f "$OUT"
    echo "compressed: $OUT.xz"
fi
