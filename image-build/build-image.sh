#!/usr/bin/env bash
# Build the SD-card image: Raspberry Pi OS Lite (arm64) + the appliance, with pi-gen.
#   sudo bash image-build/build-image.sh [options]      → deploy/…-posenet-appliance-posenet.img.xz
#
# Options:
#   --pigen-dir DIR     pi-gen checkout to use or create (default: build/pi-gen)
#   --pigen-ref REF     pi-gen branch or tag to check out (default: arm64, the 64-bit branch; pin a
#                       release tag such as YYYY-MM-DD-raspios-trixie-arm64 for a repeatable build)
#   --models-from DIR   put the pinned models from DIR into the image instead of downloading them
#                       (their sha256 is checked either way)
#   --config FILE       settings (posenet.json format) baked in as the initial configuration
#   --edgetpu-deb FILE  put this libedgetpu1-std/-max package in the image instead of Coral's apt
#                       one (README: "Edge TPU runtime")
#   --update-key FILE   the public key the boxes accept signed updates with (update-key.pub, from
#                       'posenet-appliance update keygen DIR'; README "Updating a box")
#   --pigen-config FILE more pi-gen settings (sourced after image-build/pigen/config)
#   --docker            build with pi-gen's build-docker.sh instead of build.sh
#   --prepare-only      set pi-gen up (stage, files, config) but do not build
# Needs: git, and pi-gen's own dependencies (see its README; build-docker.sh needs only docker).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PIGEN_DIR="$ROOT/build/pi-gen"
PIGEN_REF=arm64
PIGEN_URL=https://github.com/RPi-Distro/pi-gen.git
MODELS_FROM=""
CONFIG=""
EDGETPU_DEB=""
UPDATE_KEY=""
EXTRA=""
DOCKER=0
PREPARE_ONLY=0
mapfile -t MODELS < <(grep -v -e '^#' -e '^$' "$HERE/models.txt")
die() { echo "build-image: $*" >&2; exit 2; }

while (($#)); do
    case "$1" in
        --pigen-dir) PIGEN_DIR=$2; shift ;;
        --pigen-ref) PIGEN_REF=$2; shift ;;
        --models-from) MODELS_FROM=$2; shift ;;
        --config) CONFIG=$2; shift ;;
        --edgetpu-deb) EDGETPU_DEB=$2; shift ;;
        --update-key) UPDATE_KEY=$2; shift ;;
        --pigen-config) EXTRA=$2; shift ;;
        --docker) DOCKER=1 ;;
        --prepare-only) PREPARE_ONLY=1 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ "$PIGEN_DIR" == *" "* ]] && die "pi-gen cannot build in a path with spaces: $PIGEN_DIR"
[[ -z "$CONFIG" || -f "$CONFIG" ]] || die "no such settings file: $CONFIG"
[[ -z "$EXTRA" || -f "$EXTRA" ]] || die "no such pi-gen config: $EXTRA"
if [[ -n "$UPDATE_KEY" ]]; then
    [[ -f "$UPDATE_KEY" ]] || die "no such file: $UPDATE_KEY"
    read -r tag _ < "$UPDATE_KEY" || true
    [[ "$tag" == posenet-update-ed25519 ]] || die "$UPDATE_KEY is not an update public key (update-key.pub)"
fi
if [[ -n "$EDGETPU_DEB" ]]; then
    [[ -f "$EDGETPU_DEB" ]] || die "no such file: $EDGETPU_DEB"
    [[ "$EDGETPU_DEB" == *_arm64.deb ]] || die "the image is arm64: $EDGETPU_DEB is not an *_arm64.deb"
fi
if [[ -n "$MODELS_FROM" ]]; then
    for m in "${MODELS[@]}"; do [[ -f "$MODELS_FROM/$m" ]] || die "missing model $MODELS_FROM/$m"; done
fi

if [[ ! -d "$PIGEN_DIR/.git" ]]; then
    git clone --quiet --branch "$PIGEN_REF" "$PIGEN_URL" "$PIGEN_DIR"
fi
PIGEN_COMMIT=$(git -C "$PIGEN_DIR" rev-parse HEAD)

# The stage goes inside the pi-gen tree (build-docker.sh only sees that tree), after stage2 (Lite).
STAGE="$PIGEN_DIR/stage2-posenet"
rm -rf "$STAGE"
cp -r "$HERE/pigen/stage2-posenet" "$STAGE"
FILES="$STAGE/00-posenet/files"
mkdir -p "$FILES"
# Exactly the committed project (plus uncommitted edits to tracked files), and where it came from.
APP_COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
printf 'appliance %s\npi-gen %s (%s)\nbuilt %s\n' "$APP_COMMIT" "$PIGEN_COMMIT" "$PIGEN_REF" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$FILES/BUILD-INFO"
(cd "$ROOT" && git ls-files -z | tar --null -czf "$FILES/posenet-appliance-src.tar.gz" -T -)
if [[ -n "$MODELS_FROM" ]]; then
    mkdir -p "$FILES/models"
    for m in "${MODELS[@]}"; do cp "$MODELS_FROM/$m" "$FILES/models/"; done
fi
[[ -z "$CONFIG" ]] || install -m 600 "$CONFIG" "$FILES/posenet.json"
[[ -z "$EDGETPU_DEB" ]] || install -m 644 "$EDGETPU_DEB" "$FILES/$(basename "$EDGETPU_DEB")"
[[ -z "$UPDATE_KEY" ]] || install -m 644 "$UPDATE_KEY" "$FILES/update-key.pub"

# Lite image stages + ours; only our stage exports an image.
touch "$PIGEN_DIR/stage2/SKIP_IMAGES"
for s in stage3 stage4 stage5; do
    [[ -d "$PIGEN_DIR/$s" ]] && touch "$PIGEN_DIR/$s/SKIP" "$PIGEN_DIR/$s/SKIP_IMAGES"
done
{
    cat "$HERE/pigen/config"
    [[ -z "$EXTRA" ]] || cat "$EXTRA"
    echo 'STAGE_LIST="stage0 stage1 stage2 stage2-posenet"'
} > "$PIGEN_DIR/config-posenet"
echo "pi-gen $PIGEN_REF at $PIGEN_COMMIT prepared in $PIGEN_DIR (appliance $APP_COMMIT)"
((PREPARE_ONLY)) && exit 0

cd "$PIGEN_DIR"
if ((DOCKER)); then
    ./build-docker.sh -c config-posenet
else
    [[ $(id -u) -eq 0 ]] || die "pi-gen's build.sh must run as root (or use --docker)"
    ./build.sh -c config-posenet
fi
ls -l "$PIGEN_DIR/deploy"
