"""A hostile update file against the verifier (``appliance.update.bundle.verify``): whoever hands the
owner a file (or has the token) controls every byte of it, and tarfile parses headers before the
signature can be checked. Each attack must end in one line of refusal, within a small memory bound,
and with nothing written outside (or inside) the destination."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from appliance.update.bundle import MAX_EXTENSION, UpdateRefused, build, keygen, load_public_key, verify

BOMB = 64 * 2**20  # bytes of one header extension (the upload allows 200 MiB)


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    """A genuine signed update (tiny stand-in wheels) and the box's public key."""
    private, public = keygen(tmp_path / "keys")
    (tmp_path / "w").mkdir()
    wheel = tmp_path / "w/posenet_appliance-9.0-py3-none-any.whl"
    dep = tmp_path / "w/dep-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel" * 100)
    dep.write_bytes(b"dep" * 100)
    req = tmp_path / "w/requirements.txt"
    req.write_text("dep==1.0\n")
    out = tmp_path / "good.update"
    build(private, out, wheel=wheel, wheels=[dep], requirements=req, version="9.0")
    return out, public


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def _rewrite(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _peak_refusal(path: Path, public: Path, dest: Path | None = None) -> tuple[str, float]:
    """verify's one-line refusal and the Python memory it peaked at (MB)."""
    tracemalloc.start()
    try:
        with pytest.raises(UpdateRefused) as info:
            verify(path, load_public_key(public), dest)
        return str(info.value), tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_the_genuine_file_verifies(signed: tuple[Path, Path], tmp_path: Path) -> None:
    good, public = signed
    assert verify(good, load_public_key(public), tmp_path / "out").version == "9.0"


@pytest.mark.parametrize("where", ["before the signature", "after the signature"])
def test_a_huge_pax_header_is_refused_unread(signed: tuple[Path, Path], tmp_path: Path, where: str) -> None:
    """Before: a 100 MB PAX record on manifest.json peaked at 300 MB of memory (0.9 s), and the
    refusal came only after it was parsed; tarfile reads an extension whole. After: refused from its
    header, peak < 1 MB. After the signature the file is still the attacker's: a record added to a
    genuine file's third member (not covered by the signature) is refused the same way."""
    good, public = signed
    members = _members(good)
    members[0 if where == "before the signature" else 2][0].pax_headers = {"comment": "A" * BOMB}
    bad = _rewrite(tmp_path / "pax.update", members)
    assert bad.stat().st_size > BOMB
    line, peak = _peak_refusal(bad, public, tmp_path / "out")
    print(f"{where}: {line} (peak {peak:.2f} MB)")
    assert "header extension" in line and "\n" not in line
    assert peak < 1.0
    assert not (tmp_path / "out/wheels").exists() or where == "after the signature"


def test_a_huge_gnu_long_name_is_refused_unread(signed: tuple[Path, Path], tmp_path: Path) -> None:
    """A GNU long-name header (``././@LongLink``) is read whole the same way: 64 MB of name."""
    good, public = signed
    members = _members(good)
    members[0][0].name = "wheels/" + "a" * BOMB + ".whl"
    bad = _rewrite(tmp_path / "gnu.update", members, tarfile.GNU_FORMAT)
    line, peak = _peak_refusal(bad, public)
    print(f"{line} (peak {peak:.2f} MB)")
    assert "header extension" in line and peak < 1.0


def test_small_extensions_still_verify(signed: tuple[Path, Path], tmp_path: Path) -> None:
    """The bound leaves room for what make-update.sh writes (long wheel names in PAX records)."""
    good, public = signed
    members = _members(good)
    members[2][0].pax_headers = {"comment": "x" * (MAX_EXTENSION // 2)}
    ok = _rewrite(tmp_path / "ok.update", members)
    assert verify(ok, load_public_key(public)).version == "9.0"


def _link(kind: bytes, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, "/etc/passwd", 0
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize(
    "kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.DIRTYPE]
)
def test_a_signed_name_as_a_link_or_device_is_refused(signed: tuple[Path, Path], tmp_path: Path, kind: bytes) -> None:
    """A member under a name the signed manifest lists, but as a link, device, FIFO or folder: refused,
    and the destination holds nothing of it (no link followed, no device made)."""
    good, public = signed
    members = _members(good)
    name = members[2][0].name
    members[2] = (_link(kind, name), b"")
    bad = _rewrite(tmp_path / "link.update", members)
    line, _ = _peak_refusal(bad, public, tmp_path / "out")
    assert "is not in the signed manifest as it is" in line
    out = tmp_path / "out" / name
    assert not out.exists() and not out.is_symlink()
