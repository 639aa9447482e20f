"""Facts about the machine we run on: a short stable id, and whether it is a Raspberry Pi."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

__all__ = ["is_raspberry_pi", "machine_id"]


def machine_id() -> str:
    """4 hex digits, stable for this machine (from /etc/machine-id, else the host name)."""
    try:
        seed = Path("/etc/machine-id").read_text().strip()
    except OSError:
        seed = ""
    return hashlib.sha256((seed or socket.gethostname()).encode()).hexdigest()[:4]


def is_raspberry_pi() -> bool:
    """True on a Raspberry Pi (from the device tree model string)."""
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False
