"""The update file: one tar holding the appliance's wheel, its locked dependencies as wheels, a
manifest and an Ed25519 signature over the manifest, which names every other member's sha256.

Members (in this order)::

    manifest.json     {"format": 1, "package": "posenet-appliance", "version", "python", "machine",
                      "config_schema", "wheel", "requirements", "files": {name: {"sha256", "size"}}}
    manifest.sig      64 bytes: Ed25519 over SIGNED_PREFIX + manifest.json
    requirements.txt  the hash-locked dependency list (pip --require-hashes)
    wheels/*.whl      the appliance's wheel and every locked dependency's wheel

``verify`` trusts nothing before the signature checks out: the manifest is parsed only after, every
member must be named by it with the same size and hash, none may be missing, repeated, outside
``wheels/`` or other than a regular file, and the whole is bounded (``MAX_MEMBERS``, the file's own
size cap at upload). Refusals are one line, and nothing is written outside the destination given.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import platform
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.errors import ConfigError

__all__ = [
    "MAX_MEMBERS",
    "Manifest",
    "UpdateRefused",
    "build",
    "keygen",
    "load_public_key",
    "parse_version",
    "verify",
]

FORMAT = 1
PACKAGE = "posenet-appliance"
SIGNED_PREFIX = b"posenet-appliance update v1\n"
MAX_MEMBERS = 400
MAX_MANIFEST = 256 * 1024
#: Largest tar header extension (a PAX record set, a GNU long name) read: tarfile reads one whole
#: into memory, before the signature is checked (a 100 MB one peaked at 300 MB).
MAX_EXTENSION = 64 * 1024
_EXTENSIONS = frozenset(
    (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
)
PUBLIC_TAG = "posenet-update-ed25519"
_NAME = re.compile(r"^(requirements\.txt|wheels/[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}\.whl)$")
_VERSION = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")


class UpdateRefused(ConfigError):
    """An update file that may not be installed (one-line reason); nothing was changed."""


@dataclass(frozen=True)
class Manifest:
    """What an update file says it is (trusted only once its signature checked out)."""

    version: str
    python: str
    machine: str
    config_schema: int
    wheel: str
    requirements: str
    files: dict[str, tuple[str, int]]

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            doc = json.loads(raw)
            files = {str(k): (str(v["sha256"]), int(v["size"])) for k, v in doc["files"].items()}
            out = cls(
                version=str(doc["version"]),
                python=str(doc["python"]),
                machine=str(doc["machine"]),
                config_schema=int(doc.get("config_schema", 1)),
                wheel=str(doc["wheel"]),
                requirements=str(doc["requirements"]),
                files=files,
            )
            if doc.get("format") != FORMAT or doc.get("package") != PACKAGE:
                raise UpdateRefused(f"not a {PACKAGE} update of format {FORMAT}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UpdateRefused(f"the manifest is malformed ({type(exc).__name__})") from None
        parse_version(out.version)
        if any(not _NAME.match(n) for n in files) or out.wheel not in files or out.requirements not in files:
            raise UpdateRefused("the manifest names a file outside wheels/ or misses the wheel or requirements")
        return out


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.2.0"`` -> ``(0, 2, 0)`` (numbers and dots only: what ``make-update.sh`` writes)."""
    if not _VERSION.match(text):
        raise UpdateRefused(f"version {text[:40]!r} is not numbers and dots")
    return tuple(int(p) for p in text.split("."))


def this_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def keygen(directory: Path) -> tuple[Path, Path]:
    """A new key pair in ``directory``: ``update-key`` (private, 0600, PEM) and ``update-key.pub``."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "update-key", directory / "update-key.pub"
    if private.exists() or public.exists():
        raise ConfigError(f"{directory} already holds a key pair: not overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private.touch(mode=0o600)
    private.write_bytes(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public.write_text(f"{PUBLIC_TAG} {base64.b64encode(raw).decode()}\n")
    return private, public


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The box's update key (``posenet-update-ed25519 <base64>``, made by ``keygen``)."""
    try:
        tag, _, b64 = path.read_text().strip().partition(" ")
        if tag != PUBLIC_TAG:
            raise ValueError(tag)
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True))
    except FileNotFoundError:
        raise UpdateRefused(f"no update key is installed on this box ({path}): see README 'Updating a box'") from None
    except (OSError, ValueError) as exc:
        raise UpdateRefused(f"the update key {path} is unreadable ({type(exc).__name__})") from None


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key")
    return key


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def build(
    private_key: Path,
    out: Path,
    *,
    wheel: Path,
    wheels: list[Path],
    requirements: Path,
    version: str,
    machine: str = "",
    python: str = "",
) -> Manifest:
    """Write a signed update file to ``out`` (the appliance's ``wheel``, the dependency ``wheels``
    and the hash-locked ``requirements``), for ``python`` ("3.11") and ``machine`` (default: this one's)."""
    parse_version(version)
    key = _load_private_key(private_key)
    members = {"requirements.txt": requirements, **{f"wheels/{w.name}": w for w in [wheel, *wheels]}}
    files = {name: {"sha256": _sha256(p), "size": p.stat().st_size} for name, p in members.items()}
    doc = {
        "format": FORMAT,
        "package": PACKAGE,
        "version": version,
        "python": python or this_python(),
        "machine": machine or platform.machine(),
        "config_schema": 1,
        "wheel": f"wheels/{wheel.name}",
        "requirements": "requirements.txt",
        "files": files,
    }
    raw = json.dumps(doc, indent=1, sort_keys=True).encode()
    sig = key.sign(SIGNED_PREFIX + raw)
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "manifest.json", raw)
        _add_bytes(tar, "manifest.sig", sig)
        for name, path in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = path.stat().st_size, 0o644
            with path.open("rb") as f:
                tar.addfile(info, f)
    tmp.replace(out)
    return Manifest.parse(raw)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


class _BoundedInfo(tarfile.TarInfo):
    """A tar header whose extensions (PAX records, GNU long names) are refused above ``MAX_EXTENSION``
    bytes before tarfile reads them."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENSIONS and self.size > MAX_EXTENSION:
            raise UpdateRefused(f"not an update file: a tar header extension of {self.size} bytes")
        member: tarfile.TarInfo = super()._proc_member(tar)  # type: ignore[misc]
        return member


def verify(path: Path, key: Ed25519PublicKey, dest: Path | None = None) -> Manifest:
    """Check the update file ``path`` against the box's ``key``; with ``dest``, also unpack its
    members there (only after each one's hash matched). Raises ``UpdateRefused`` (one line)."""
    try:
        with tarfile.open(path, "r:", tarinfo=_BoundedInfo) as tar:
            return _verify_members(tar, key, dest)
    except (tarfile.TarError, EOFError) as exc:
        raise UpdateRefused(f"not an update file (a tar: {exc})") from None


def _read_small(tar: tarfile.TarFile, info: tarfile.TarInfo | None, name: str, limit: int) -> bytes:
    if info is None or info.name != name or not info.isreg() or info.size > limit:
        raise UpdateRefused(f"not an update file: {name} must come first and be small")
    f = tar.extractfile(info)
    assert f is not None
    return f.read()


def _verify_members(tar: tarfile.TarFile, key: Ed25519PublicKey, dest: Path | None) -> Manifest:
    raw = _read_small(tar, tar.next(), "manifest.json", MAX_MANIFEST)
    sig = _read_small(tar, tar.next(), "manifest.sig", 64)
    try:
        key.verify(sig, SIGNED_PREFIX + raw)
    except InvalidSignature:
        raise UpdateRefused("bad signature: the file was changed, or signed with another key than this box's") from None
    manifest = Manifest.parse(raw)
    seen: set[str] = set()
    count = 2
    while (info := tar.next()) is not None:
        count += 1
        if count > MAX_MEMBERS:
            raise UpdateRefused(f"more than {MAX_MEMBERS} files in the update")
        expected = manifest.files.get(info.name)
        if expected is None or info.name in seen or not info.isreg() or info.size != expected[1]:
            raise UpdateRefused(f"{info.name[:80]!r} is not in the signed manifest as it is (tampered file)")
        seen.add(info.name)
        f = tar.extractfile(info)
        assert f is not None
        if _copy_hashed(f, dest / info.name if dest is not None else None) != expected[0]:
            raise UpdateRefused(f"{info.name} does not match its signed hash (tampered file)")
    if missing := set(manifest.files) - seen:
        raise UpdateRefused(f"{len(missing)} signed files are missing, e.g. {sorted(missing)[0]}")
    return manifest


def _copy_hashed(src: IO[bytes], dest: Path | None) -> str:
    h = hashlib.sha256()
    out = None
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = dest.open("wb")
    try:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    return h.hexdigest()


def describe(manifest: Manifest) -> dict[str, Any]:
    return {"version": manifest.version, "python": manifest.python, "machine": manifest.machine}
