"""Probe the Edge TPU in a child process, so a crash or hang there cannot kill us.

libedgetpu can segfault or block when the device is missing, half-enumerated or held by another
process, and it segfaults while *preparing a model* when it was built against a different TF Lite
than the runtime that loads it (Coral's libedgetpu 16.0 was built against TF 2.5; see the README,
"Edge TPU runtime"). So the child does everything the service will do: open the delegate, build the
interpreter with the model, allocate and invoke once. ``probe_edgetpu`` runs
``python -m appliance.inference.probe MODULE DEVICE [NAME]`` with a timeout (the model's runnable
bytes on standard input, so the child needs no model-specific code) and reports success, or what
failed, at which stage.
"""

from __future__ import annotations

import ctypes.util
import importlib
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from appliance.errors import ModelError
from appliance.inference.io import read_model_file

__all__ = [
    "DELEGATE_LIBRARY",
    "ProbeResult",
    "delegate_options",
    "edgetpu_library_present",
    "probe_edgetpu",
]

DELEGATE_LIBRARY = "libedgetpu.so.1"
#: Seconds the child may take to open the device (USB enumeration on a Pi takes ~1-3 s) and to
#: load and run the model once (its parameters go to the TPU on the first invoke).
PROBE_TIMEOUT = 30.0
_MARK = "probe-error: "
_STAGE = "probe-stage: "
_OPENING = "opening the device"  # the child's first stage

ProbeFailure = Literal["", "absent", "crash", "hang", "error"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Whether the Edge TPU works, and a one-line reason when it does not.

    ``failure``: "" (ok), "absent" (no library or no device), "crash" (the child died of a signal),
    "hang" (timeout) or "error" (anything else the runtime raised).
    """

    ok: bool
    reason: str
    failure: ProbeFailure = ""


def delegate_options(device: str) -> dict[str, str]:
    """libedgetpu options for "usb", "usb:N", "pci", "pci:N"; "" or "any" picks the first device."""
    return {} if device in ("", "any") else {"device": device}


def probe_edgetpu(
    runtime_module: str,
    device: str,
    timeout: float = PROBE_TIMEOUT,
    *,
    model: str | Path | None = None,
    prepare: Callable[[bytes], bytes] | None = None,
    require_library: bool = True,
) -> ProbeResult:
    """Try the Edge TPU for ``device`` in a child process: the delegate, and ``model`` if given.

    With ``model`` (its bytes passed through ``prepare``, as the service will load them), the child
    builds the interpreter with the delegate, allocates its tensors and invokes it once on a zero
    image, which is where a libedgetpu built for another TF Lite crashes. ``require_library``
    False skips the cheap "is libedgetpu installed" check (tests use it).
    """
    if require_library and not edgetpu_library_present():
        return ProbeResult(False, f"{DELEGATE_LIBRARY} is not installed (apt install libedgetpu1-std)", "absent")
    cmd = [sys.executable, "-m", "appliance.inference.probe", runtime_module, device]
    content = b""
    if model is not None:
        try:
            raw = read_model_file(model)
            content = prepare(raw) if prepare is not None else raw
        except ModelError as exc:
            return ProbeResult(False, str(exc), "error")
        cmd.append(Path(model).name)
    try:
        proc = subprocess.run(cmd, input=content, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        stage = _last(_text(exc.stderr), _STAGE) or _OPENING
        where = f"while {stage} (device {device or 'any'})"
        return ProbeResult(False, f"Edge TPU probe hung for {timeout:.0f} s {where}", "hang")
    except OSError as exc:
        return ProbeResult(False, f"cannot start the Edge TPU probe: {exc}", "error")
    if proc.returncode == 0:
        return ProbeResult(True, "ok")
    stderr = _text(proc.stderr)
    stage = _last(stderr, _STAGE) or _OPENING
    if proc.returncode < 0:
        reason = f"Edge TPU delegate crashed ({_signal_name(-proc.returncode)}) while {stage}"
        if stage != _OPENING:
            reason += ": libedgetpu does not match this TF Lite runtime (README: Edge TPU runtime)"
        return ProbeResult(False, reason, "crash")
    # The runtime may print more after our line (e.g. a harmless __del__ error): take ours.
    reason = _last(stderr, _MARK) or f"probe exited with {proc.returncode}"
    return ProbeResult(False, reason, "absent" if stage == _OPENING else "error")


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def _last(stderr: str, mark: str) -> str:
    lines = [ln[len(mark) :] for ln in stderr.splitlines() if ln.startswith(mark)]
    return lines[-1] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return f"signal {number}, {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


def edgetpu_library_present() -> bool:
    """Whether the dynamic linker can find libedgetpu (cheap; no device access)."""
    return ctypes.util.find_library("edgetpu") is not None


def _child(runtime_module: str, device: str = "", name: str = "") -> int:
    mod = importlib.import_module(runtime_module)
    try:
        _stage(_OPENING)
        delegate = mod.load_delegate(DELEGATE_LIBRARY, delegate_options(device))
        if name:
            import numpy as np

            _stage(f"reading {name}")
            content = sys.stdin.buffer.read()
            _stage(f"preparing {name}")
            interp = mod.Interpreter(model_content=content, experimental_delegates=[delegate])
            interp.allocate_tensors()
            _stage(f"running {name}")
            detail = interp.get_input_details()[0]
            interp.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
            interp.invoke()
    except (OSError, ValueError, RuntimeError) as exc:
        print(_MARK + f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr, flush=True)
        return 1
    return 0


def _stage(text: str) -> None:
    print(_STAGE + text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:4]))
