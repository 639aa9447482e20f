"""Import shim for the TFLite runtime: ai-edge-litert first, tflite-runtime where installed.

The only module (besides the delegate probe's child process) that imports a runtime.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from appliance.errors import HardwareUnavailable

__all__ = ["Runtime", "load_runtime"]

_CANDIDATES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)


@dataclass(frozen=True, slots=True)
class Runtime:
    """A TFLite runtime: its package name, Interpreter class, load_delegate and module path."""

    name: str
    interpreter: Any
    load_delegate: Any
    module: str


def load_runtime(preferred: str | None = None) -> Runtime:
    """Import ``preferred`` ("ai-edge-litert" or "tflite-runtime") or the first available.

    Raises:
        HardwareUnavailable: no runtime can be imported.
    """
    errors = []
    for name, module in _CANDIDATES:
        if preferred and name != preferred:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return Runtime(name, mod.Interpreter, mod.load_delegate, module)
    raise HardwareUnavailable("no TFLite runtime importable (" + "; ".join(errors) + "); pip install ai-edge-litert")
