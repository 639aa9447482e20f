"""Tiny Debian packages for the install tests: a stand-in for an Edge TPU runtime .deb."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_deb(folder: Path, package: str = "libedgetpu1-std", version: str = "16.0test1", arch: str = "all") -> Path:
    """Build ``package_version_arch.deb`` in ``folder`` holding one small file; returns its path.

    The file (/usr/share/doc/PACKAGE/STAND-IN) says it is no Edge TPU runtime, so nobody mistakes it.
    """
    tree = folder / f"{package}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    doc = tree / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "STAND-IN").write_text("test stand-in, not an Edge TPU runtime\n")
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\n"
        "Maintainer: tests <tests@localhost>\nDescription: stand-in for the install tests\n"
    )
    out = folder / f"{package}_{version}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)], check=True, capture_output=True)
    return out
