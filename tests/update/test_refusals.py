"""Every refusal is one clear line and changes nothing on the box."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from pathlib import Path

import pytest

from appliance.update.bundle import UpdateRefused, keygen
from appliance.update.install import Installer
from tests.update.helpers import Box, flip, member_offset
from tests.update.standin import make_update


def snapshot(box: Box) -> dict[str, str]:
    """Every file, folder and link under the prefix and the state directory (the updater's own
    bookkeeping aside: its lock, and the status that reports the refusal)."""
    out: dict[str, str] = {}
    for root in (box.layout.prefix, box.layout.state_dir):
        for p in sorted(root.rglob("*")):
            if p.relative_to(root).parts[0] == "update" and p.name in ("update", "lock", "status.json"):
                continue
            if p.is_symlink():
                out[str(p)] = "-> " + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = "dir"
    return out


def refuse(box: Box, file: Path, expected: str, **kw: object) -> None:
    before = snapshot(box)
    force = bool(kw.pop("force", False))
    with pytest.raises(UpdateRefused, match=expected) as info:
        Installer(box.layout, box.public, **kw).apply(file, force=force)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    print(f"refused: {info.value}")
    assert snapshot(box) == before
    assert box.runs() == "standin 0.1.0 dep-1.0"


def test_a_bad_signature_is_refused(box: Box) -> None:
    file = box.update("0.2.0")
    flip(file, member_offset(file, "manifest.sig") + 10)
    refuse(box, file, "bad signature")


def test_a_tampered_byte_in_a_wheel_is_refused(box: Box) -> None:
    file = box.update("0.2.0")
    flip(file, member_offset(file, "wheels/posenet_appliance-0.2.0-py3-none-any.whl") + 100)
    refuse(box, file, "does not match its signed hash")


def test_a_tampered_manifest_is_refused(box: Box) -> None:
    file = box.update("0.2.0")
    data = file.read_bytes().replace(b'"version": "0.2.0"', b'"version": "9.2.0"', 1)
    file.write_bytes(data)
    refuse(box, file, "bad signature")


def test_a_file_signed_with_another_key_is_refused(box: Box, tmp_path: Path) -> None:
    other, _ = keygen(tmp_path / "other")
    refuse(box, make_update(tmp_path, other, "0.2.0"), "signed with another key")


def test_a_wrong_machine_is_refused(box: Box) -> None:
    refuse(box, box.update("0.2.0", machine="armv7l"), "this update is for armv7l; this box is")


def test_a_wrong_python_is_refused(box: Box) -> None:
    refuse(box, box.update("0.2.0", python="3.13"), "this update is for Python 3.13; this box runs Python 3.11")


def test_an_older_or_same_version_is_refused_unless_forced(box: Box) -> None:
    Installer(box.layout, box.public).apply(box.update("0.3.0"))
    box.layout.trial.unlink()
    before = snapshot(box)
    for version in ("0.2.0", "0.3.0"):
        with pytest.raises(UpdateRefused, match=re.escape(f"version {version} is not newer than the running 0.3.0")):
            Installer(box.layout, box.public).apply(box.update(version))
    with pytest.raises(UpdateRefused, match=re.escape("version 0.3.0 is the one running")):
        Installer(box.layout, box.public).apply(box.update("0.3.0", behaviour="hang"), force=True)
    assert snapshot(box) == before


def test_too_little_disk_is_refused(box: Box) -> None:
    refuse(box, box.update("0.2.0"), "too little free disk", reserve=1 << 60)


def test_no_key_on_the_box_is_refused(box: Box) -> None:
    box.public.unlink()
    refuse(box, box.update("0.2.0"), "no update key is installed on this box")


def test_not_an_update_file_is_refused(box: Box, tmp_path: Path) -> None:
    junk = tmp_path / "junk.update"
    junk.write_bytes(os.urandom(5000))
    refuse(box, junk, "not an update file")


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_member_not_in_the_manifest_or_outside_wheels_is_refused(box: Box, tmp_path: Path) -> None:
    good = box.update("0.2.0")
    with tarfile.open(good) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    for extra in ("../../etc/evil", "wheels/extra.whl", "/abs"):
        bad = _tar(tmp_path / "extra.update", [*members, (extra, b"x")])
        refuse(box, bad, "is not in the signed manifest")
        assert not (box.layout.prefix.parent / "etc/evil").exists()
    missing = _tar(tmp_path / "missing.update", members[:-1])
    refuse(box, missing, "signed files are missing")


def test_a_huge_manifest_is_refused_before_parsing(box: Box, tmp_path: Path) -> None:
    bad = _tar(tmp_path / "huge.update", [("manifest.json", b"{" * (300 * 1024)), ("manifest.sig", b"0" * 64)])
    refuse(box, bad, "manifest.json must come first and be small")
