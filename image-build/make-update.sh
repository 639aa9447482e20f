#!/usr/bin/env bash
# Build a signed update file from this checkout (README "Updating a box"):
#   bash image-build/make-update.sh PRIVATE_KEY OUT [--version V]
# PRIVATE_KEY: made with 'posenet-appliance update keygen DIR' (DIR/update-key; the boxes carry
# DIR/update-key.pub, given to install-on-pi.sh / build-image.sh as --update-key).
# The file holds the appliance's wheel and every dependency of the hash-locked requirements file as
# wheels (a box installs it offline), for THIS machine's architecture and Python: the appliance's
# wheel carries its compiled C decoder, so build updates for Pis on a Pi (or an arm64 root under
# qemu, as tests/integration/test_arm64.py does), with the Python the boxes run (3.11 on Bookworm).
#   --version V   the version the update says it is (default: appliance/__init__.py's __version__,
#                 which must then be newer than the boxes' own)
#   PYTHON=...    the Python to build with (default python3)
#   SRC=DIR       build from this project tree instead of this checkout (tests build a broken version)
set -euo pipefail
die() { echo "make-update: $*" >&2; exit 2; }
(($# >= 2)) || die "usage: make-update.sh PRIVATE_KEY OUT [--version V]"
KEY=$(realpath "$1"); OUT=$(realpath -m "$2"); shift 2
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SRC/appliance/__init__.py")
while (($#)); do
    case "$1" in
        --version) VERSION=$2; shift ;;
        *) die "unknown option $1" ;;
    esac
    shift
done
[[ -f "$KEY" ]] || die "no such private key: $KEY"
PY=${PYTHON:-python3}
PYV=$("$PY" -c 'import sys; print("%d%d" % sys.version_info[:2])')
LOCK="$SRC/image-build/requirements-py$PYV.txt"
[[ -f "$LOCK" ]] || die "no lock file for this Python ($LOCK): the update must hold exactly the tested set"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# A copy of the committed project, so that --version changes nothing in the checkout.
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$SRC" && git ls-files -z | tar --null -cf - -T - ) | tar -xf - -C "$WORK" --one-top-level=src
else
    cp -a "$SRC" "$WORK/src"
fi
if [[ "$VERSION" != "$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$WORK/src/appliance/__init__.py")" ]]; then
    sed -i "s/^__version__ = .*/__version__ = \"$VERSION\"/" "$WORK/src/appliance/__init__.py"
    sed -i "s/^version = .*/version = \"$VERSION\"/" "$WORK/src/pyproject.toml"
fi
"$PY" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip --disable-pip-version-check -q)
echo "dependencies from $(basename "$LOCK") (hash-checked wheels)"
"${PIP[@]}" download --only-binary=:all: --require-hashes -r "$LOCK" -d "$WORK/wheels"
"${PIP[@]}" install --no-index --find-links "$WORK/wheels" --require-hashes -r "$LOCK"
echo "the appliance's wheel, version $VERSION"
"${PIP[@]}" wheel --no-deps -w "$WORK/wheels" "$WORK/src"
PYTHONPATH="$WORK/src" "$WORK/venv/bin/python" -m appliance update build "$KEY" "$OUT" \
    --wheels "$WORK/wheels" --requirements "$LOCK" --version "$VERSION"
