"""A fake TFLite runtime module whose load_delegate segfaults, hangs or fails, per $FAKE_DELEGATE."""

from __future__ import annotations

import ctypes
import os
import time


class Interpreter:  # pragma: no cover - never constructed
    """Unused; present so the module looks like a runtime."""


def load_delegate(library: str, options: dict[str, str] | None = None) -> object:
    mode = os.environ.get("FAKE_DELEGATE", "segv")
    if mode == "segv":
        ctypes.string_at(0)  # dereference NULL: SIGSEGV in the child
    if mode == "hang":
        time.sleep(60)
    if mode == "ok":
        return object()
    raise ValueError(f"Failed to load delegate from {library}")
