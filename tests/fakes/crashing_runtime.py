"""A fake TFLite runtime module whose Edge TPU delegate misbehaves, per $FAKE_DELEGATE.

``segv``, ``hang``, ``fail``: load_delegate crashes, blocks, or raises as libedgetpu does without a
device. ``segv-prepare`` and ``hang-invoke``: the delegate loads, then the interpreter crashes in
allocate_tensors (what a libedgetpu built for another TF Lite does) or blocks in invoke. ``ok``:
everything works; the interpreter is the real ai-edge-litert one on the CPU (the delegate is dropped).
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from ai_edge_litert.interpreter import Interpreter as _RealInterpreter  # noqa: TID251 - a fake runtime wraps the real one


def _mode() -> str:
    return os.environ.get("FAKE_DELEGATE", "segv")


class Interpreter(_RealInterpreter):  # type: ignore[misc]
    """The real interpreter without delegates, crashing or blocking where $FAKE_DELEGATE says."""

    def __init__(self, *args: Any, experimental_delegates: list[object] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def allocate_tensors(self) -> None:
        if _mode() == "segv-prepare":
            ctypes.string_at(0)  # dereference NULL: SIGSEGV in the child
        super().allocate_tensors()

    def invoke(self) -> None:
        if _mode() == "hang-invoke":
            time.sleep(60)
        super().invoke()


def load_delegate(library: str, options: dict[str, str] | None = None) -> object:
    mode = _mode()
    if mode == "segv":
        ctypes.string_at(0)
    if mode == "hang":
        time.sleep(60)
    if mode in ("ok", "segv-prepare", "hang-invoke"):
        return object()
    raise ValueError(f"Failed to load delegate from {library}")
