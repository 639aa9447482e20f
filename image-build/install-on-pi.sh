#!/usr/bin/env bash
# Install the PoseNet OSC appliance as a boot-time service on Raspberry Pi OS Lite (Bookworm or
# Trixie, arm64). Run as root from a checkout of the project:  sudo bash image-build/install-on-pi.sh
#
# Options:
#   --skip-pi-repos     do not install what only Raspberry Pi's / Coral's apt repositories have
#                       (python3-picamera2, libedgetpu1-std): for plain Debian and the tests
#   --edgetpu-deb FILE  install this libedgetpu1-std/-max package instead of Coral's apt one (a
#                       build that matches the TF Lite runtime; README: "Edge TPU runtime")
#   --models-from DIR   copy the pinned models from DIR instead of downloading them
#   --config FILE       initial settings (config.json), used only if none is saved yet
#   --prefix DIR        install location (default /opt/posenet-appliance)
#   --update-key FILE   the public key signed updates must carry (update-key.pub, made by
#                       'posenet-appliance update keygen DIR'); without one the box refuses updates
#   --no-enable         install but do not enable the service
#   --image             building an SD-card image (pi-gen's chroot): touch nothing live on this
#                       machine, leave no caches behind
#
# Python packages come from image-build/requirements-pyXY.txt (hash-locked, made by lock.py) when one
# matches this Python (3.11 on Bookworm, 3.13 on Trixie), so every device runs what was tested.
set -euo pipefail

PREFIX=/opt/posenet-appliance
SKIP_PI=0
MODELS_FROM=""
EDGETPU_DEB=""
UPDATE_KEY=""
CONFIG=""
ENABLE=1
IMAGE=0
SRC=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t MODELS < <(grep -v -e '^#' -e '^$' "$SRC/image-build/models.txt")

while (($#)); do
    case "$1" in
        --skip-pi-repos) SKIP_PI=1 ;;
        --models-from) MODELS_FROM=$2; shift ;;
        --edgetpu-deb) EDGETPU_DEB=$2; shift ;;
        --config) CONFIG=$2; shift ;;
        --prefix) PREFIX=$2; shift ;;
        --update-key) UPDATE_KEY=$2; shift ;;
        --no-enable) ENABLE=0 ;;
        --image) IMAGE=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "install-on-pi: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
die() { echo "install-on-pi: $*" >&2; exit 2; }
if [[ -n "$EDGETPU_DEB" ]]; then  # checked before anything is changed
    [[ -f "$EDGETPU_DEB" ]] || die "no such file: $EDGETPU_DEB"
    EDGETPU_DEB=$(realpath "$EDGETPU_DEB")
    pkg=$(dpkg-deb --field "$EDGETPU_DEB" Package 2>/dev/null) || die "not a Debian package: $EDGETPU_DEB"
    [[ "$pkg" == libedgetpu1-std || "$pkg" == libedgetpu1-max ]] \
        || die "$EDGETPU_DEB is package '$pkg', not libedgetpu1-std or libedgetpu1-max"
fi
if [[ -n "$UPDATE_KEY" ]]; then
    [[ -f "$UPDATE_KEY" ]] || die "no such file: $UPDATE_KEY"
    read -r tag _ < "$UPDATE_KEY" || true
    [[ "$tag" == posenet-update-ed25519 ]] || die "$UPDATE_KEY is not an update public key (update-key.pub)"
fi
[[ $(id -u) -eq 0 ]] || die "run as root (sudo)"
step() { printf '\n== %s\n' "$*"; }
# Live actions (daemon-reload, udev) only on a running system, never in a chroot or image build.
live() { ((!IMAGE)) && [[ -d /run/systemd/system ]] && ! systemd-detect-virt --quiet --chroot 2>/dev/null; }

step "system packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# gcc and libc6-dev: the pose decoder is C, compiled when the appliance is installed (no JIT at run time)
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip ca-certificates gcc libc6-dev >/dev/null
# chrony: one clock for several boxes (serve time to the LAN, or follow a box that does; clock.* settings).
# It replaces systemd-timesyncd (Debian's packages conflict); its drop-in and sources are ours (posenet-clock).
apt-get install -y -qq --no-install-recommends chrony >/dev/null
install -d -m 755 /etc/chrony/conf.d /etc/chrony/posenet.d
if ((SKIP_PI)); then
    echo "skipping python3-picamera2 and Coral's libedgetpu1-std (--skip-pi-repos)"
else
    apt-get install -y -qq --no-install-recommends python3-picamera2 >/dev/null
fi
installed_edgetpu() {  # "libedgetpu1-max 16.0…" for each installed libedgetpu1-*, or nothing
    { dpkg-query -W -f='${db:Status-Status} ${Package} ${Version}\n' 'libedgetpu1-*' 2>/dev/null || true; } \
        | sed -n 's/^installed //p'
}
KEEP_EDGETPU=$(installed_edgetpu)
if [[ -n "$EDGETPU_DEB" ]]; then
    # Replaces whichever libedgetpu1-* is installed (the packages conflict with each other).
    echo "Edge TPU runtime from $(basename "$EDGETPU_DEB") (sha256 $(sha256sum "$EDGETPU_DEB" | cut -c1-16)…)"
    apt-get install -y -qq --no-install-recommends --allow-downgrades "$EDGETPU_DEB" >/dev/null
elif ((SKIP_PI)); then
    :  # Coral's repository is one of those skipped
elif [[ -n "$KEEP_EDGETPU" ]]; then
    echo "keeping the installed Edge TPU runtime: $KEEP_EDGETPU"
else
    if ! apt-cache show libedgetpu1-std >/dev/null 2>&1; then
        # Coral's apt repository provides the Edge TPU runtime.
        echo "deb [signed-by=/usr/share/keyrings/coral-edgetpu.gpg] https://packages.cloud.google.com/apt coral-edgetpu-stable main" \
            > /etc/apt/sources.list.d/coral-edgetpu.list
        apt-get install -y -qq --no-install-recommends curl gnupg >/dev/null
        curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | gpg --dearmor --yes -o /usr/share/keyrings/coral-edgetpu.gpg
        apt-get update -qq
    fi
    apt-get install -y -qq --no-install-recommends libedgetpu1-std >/dev/null
fi

step "user and groups"
install -D -m 644 "$SRC/systemd/posenet-appliance.sysusers" /usr/lib/sysusers.d/posenet-appliance.conf
if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers /usr/lib/sysusers.d/posenet-appliance.conf
else
    id posenet >/dev/null 2>&1 || useradd --system --home-dir /var/lib/posenet-appliance --shell /usr/sbin/nologin posenet
    usermod -a -G video,plugdev posenet
fi

step "application (venv with system site packages, for apt's picamera2)"
install -d -m 755 "$PREFIX" "$PREFIX/models" "$PREFIX/bin"
# Each version has its own venv in versions/<version>/venv; "venv" is a link to the one in use,
# switched atomically by updates (README "Updating a box"). Re-running upgrades the linked one in
# place; a venv directory from before updates is kept as it is (the first update adopts it).
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SRC/appliance/__init__.py")
if [[ ! -x "$PREFIX/venv/bin/python" ]]; then
    python3 -m venv --system-site-packages "$PREFIX/versions/$VERSION/venv"
    ln -sfn "versions/$VERSION/venv" "$PREFIX/venv"
fi
PIP=("$PREFIX/venv/bin/python" -m pip --disable-pip-version-check --no-cache-dir)
PYV=$("$PREFIX/venv/bin/python" -c 'import sys; print("%d%d" % sys.version_info[:2])')
LOCK="$SRC/image-build/requirements-py$PYV.txt"
if [[ -f "$LOCK" ]]; then
    echo "dependencies from $(basename "$LOCK") (hash-checked)"
    "${PIP[@]}" install -q --require-hashes -r "$LOCK"
    "${PIP[@]}" install -q --no-deps "$SRC"
else
    echo "no lock file for Python ${PYV:0:1}.${PYV:1}: installing the newest compatible dependencies" >&2
    "${PIP[@]}" install -q "$SRC"
fi
install -m 644 "$SRC/README.md" "$PREFIX/README.md"
# The boot check (standard library only, run by the system's python3 before every start).
install -m 755 "$SRC/appliance/update/layout.py" "$PREFIX/bin/posenet-update-check"
if [[ -L "$PREFIX/venv" ]]; then
    current=$(basename "$(dirname "$(readlink "$PREFIX/venv")")")
    printf '{"version": "%s", "installed": "install-on-pi.sh"}\n' "$current" > "$PREFIX/versions/$current/complete.json"
fi
[[ -z "$UPDATE_KEY" ]] || install -m 644 "$UPDATE_KEY" "$PREFIX/update-key.pub"
# The C pose decoder must have been built (gcc is installed above): say so, or stop here.
DECODER=$("$PREFIX/venv/bin/python" -c 'from appliance.pose.decode import DEFAULT_IMPLEMENTATION as d; print(d)')
echo "pose decoder: $DECODER"
[[ "$DECODER" == c ]] || { echo "the C pose decoder was not built (is gcc installed?)" >&2; exit 1; }
{   # what is installed, for whoever debugs this box later
    if [[ -f "$SRC/build/BUILD-INFO" ]]; then cat "$SRC/build/BUILD-INFO"
    elif git -C "$SRC" rev-parse HEAD >/dev/null 2>&1; then echo "appliance $(git -C "$SRC" describe --always --dirty)"; fi
    echo "installed $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), Python ${PYV:0:1}.${PYV:1}, $( [[ -f "$LOCK" ]] && basename "$LOCK" || echo 'no lock')"
    echo "Edge TPU runtime: $(installed_edgetpu | paste -sd ' ')"
    echo "pose decoder: $DECODER"
    "${PIP[@]}" freeze --local 2>/dev/null | sed 's/^/  /'
} > "$PREFIX/INSTALL-INFO"

step "models (pinned, sha256-checked)"
if [[ -n "$MODELS_FROM" ]]; then
    "$PREFIX/venv/bin/posenet-appliance" models fetch "${MODELS[@]}" --dir "$PREFIX/models" --from "$MODELS_FROM"
else
    "$PREFIX/venv/bin/posenet-appliance" models fetch "${MODELS[@]}" --dir "$PREFIX/models"
fi

step "settings"
install -d -m 700 -o posenet -g posenet /var/lib/posenet-appliance
if [[ -n "$CONFIG" && ! -e /var/lib/posenet-appliance/config.json ]]; then
    "$PREFIX/venv/bin/posenet-appliance" validate-config "$CONFIG"
    install -m 600 -o posenet -g posenet "$CONFIG" /var/lib/posenet-appliance/config.json
fi
if ! ((IMAGE)); then
    # This box's owner is whoever installs it: an access token now (printed once), so the box is never
    # open to the first visitor. An image gets its own token per box at first boot instead.
    "$PREFIX/venv/bin/posenet-appliance" claim --if-unclaimed --state-dir /var/lib/posenet-appliance
fi

step "service and udev rules"
install -m 644 "$SRC/systemd/posenet-appliance.service" /etc/systemd/system/posenet-appliance.service
install -m 644 "$SRC/systemd/posenet-firstboot.service" /etc/systemd/system/posenet-firstboot.service
install -m 644 "$SRC/systemd/posenet-update.service" /etc/systemd/system/posenet-update.service
install -m 644 "$SRC/systemd/posenet-update.path" /etc/systemd/system/posenet-update.path
install -m 644 "$SRC/systemd/99-posenet-coral.rules" /etc/udev/rules.d/99-posenet-coral.rules
install -m 644 "$SRC/systemd/posenet-clock.service" /etc/systemd/system/posenet-clock.service
install -m 644 "$SRC/systemd/posenet-clock.path" /etc/systemd/system/posenet-clock.path
install -m 644 "$SRC/systemd/99-posenet-led.rules" /etc/udev/rules.d/99-posenet-led.rules
if live; then
    systemctl daemon-reload
    udevadm control --reload-rules 2>/dev/null || true
fi
if ((ENABLE)); then
    systemctl enable posenet-firstboot.service posenet-appliance.service posenet-update.path posenet-clock.service posenet-clock.path
fi
if ((IMAGE)); then
    apt-get clean
    rm -rf /root/.cache/pip
fi
echo
echo "installed in $PREFIX; start with: systemctl start posenet-appliance; web page on port 8080"
