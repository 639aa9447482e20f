"""Probe the Edge TPU delegate in a child process, so a crash or hang there cannot kill us.

libedgetpu can segfault or block when the device is missing, half-enumerated or held by another
process. ``probe_edgetpu`` runs ``python -m appliance.inference.probe MODULE DEVICE`` with a timeout
and reports success or the child's last error line.
"""

from __future__ import annotations

import ctypes.util
import importlib
import subprocess
import sys
from dataclasses import dataclass

__all__ = [
    "DELEGATE_LIBRARY",
    "ProbeResult",
    "delegate_options",
    "edgetpu_library_present",
    "probe_edgetpu",
]

DELEGATE_LIBRARY = "libedgetpu.so.1"
#: Seconds the child may take to open the device (USB enumeration on a Pi takes ~1-3 s).
PROBE_TIMEOUT = 20.0
_MARK = "probe-error: "


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Whether the delegate loaded, and a one-line reason when it did not."""

    ok: bool
    reason: str


def delegate_options(device: str) -> dict[str, str]:
    """libedgetpu options for "usb", "usb:N", "pci", "pci:N"; "" or "any" picks the first device."""
    return {} if device in ("", "any") else {"device": device}


def probe_edgetpu(
    runtime_module: str, device: str, timeout: float = PROBE_TIMEOUT, *, require_library: bool = True
) -> ProbeResult:
    """Try ``load_delegate(libedgetpu.so.1)`` for ``device`` in a child process.

    ``require_library`` False skips the cheap "is libedgetpu installed" check (tests use it).
    """
    if require_library and not edgetpu_library_present():
        return ProbeResult(False, f"{DELEGATE_LIBRARY} is not installed (apt install libedgetpu1-std)")
    cmd = [sys.executable, "-m", "appliance.inference.probe", runtime_module, device]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"Edge TPU probe hung for {timeout:.0f} s (device {device or 'any'})")
    except OSError as exc:
        return ProbeResult(False, f"cannot start the Edge TPU probe: {exc}")
    if proc.returncode == 0:
        return ProbeResult(True, "ok")
    if proc.returncode < 0:
        return ProbeResult(False, f"Edge TPU delegate crashed (signal {-proc.returncode})")
    # The runtime may print more after our line (e.g. a harmless __del__ error): take ours.
    marked = [ln[len(_MARK) :] for ln in (proc.stderr or "").splitlines() if ln.startswith(_MARK)]
    return ProbeResult(False, marked[-1] if marked else f"probe exited with {proc.returncode}")


def edgetpu_library_present() -> bool:
    """Whether the dynamic linker can find libedgetpu (cheap; no device access)."""
    return ctypes.util.find_library("edgetpu") is not None


def _child(runtime_module: str, device: str) -> int:
    mod = importlib.import_module(runtime_module)
    try:
        mod.load_delegate(DELEGATE_LIBRARY, delegate_options(device))
    except (OSError, ValueError, RuntimeError) as exc:
        print(_MARK + f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))
