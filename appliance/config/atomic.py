"""write_atomic: a file is either the old version or the new one, whole, even across a power cut.

Write a temporary file in the same directory, flush, fsync it, rename it over the target, fsync the
directory (so the rename itself is durable). The previous version is kept as ``<name>.bak``
(hard link, itself made atomically).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_atomic"]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, keep_backup: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Raises:
        OSError: the write failed; ``path`` is then unchanged.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if keep_backup and path.exists():
            bak_tmp = directory / f".{path.name}.bak-tmp-{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                bak_tmp.unlink()
            os.link(path, bak_tmp)
            bak_tmp.replace(directory / f"{path.name}.bak")
        tmp.replace(path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
