"""InferenceBackend: a loaded model that turns an input tensor into RawHeads."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from appliance.inference.model import ModelInfo
from appliance.pose.heads import RawHeads, dequantize

__all__ = ["InferenceBackend", "InterpreterBackend"]


class InferenceBackend(Protocol):
    """Runs one model. ``name`` says which hardware and why (shown in status and logs)."""

    name: str
    info: ModelInfo

    def infer(self, tensor: NDArray[np.uint8]) -> RawHeads:
        """Run (1, H, W, 3) uint8 RGB and return the dequantised heads (copies, not views)."""
        ...

    def close(self) -> None:
        """Release the interpreter and device; idempotent."""
        ...


class InterpreterBackend:
    """Any TFLite-interpreter-like object (CPU or Edge TPU delegate) behind InferenceBackend."""

    def __init__(self, interpreter: Any, info: ModelInfo, name: str) -> None:
        self._interp = interpreter
        self.info = info
        self.name = name

    def infer(self, tensor: NDArray[np.uint8]) -> RawHeads:
        """Set the input, invoke, dequantise the three heads (float32 copies)."""
        interp = self._interp
        if interp is None:
            raise RuntimeError("backend is closed")
        interp.set_tensor(self.info.input_index, tensor)
        interp.invoke()
        heads = {
            key: dequantize(interp.get_tensor(h.index)[0], h.scale, h.zero_point) for key, h in self.info.heads.items()
        }
        return RawHeads(
            heads["heatmaps"],
            heads["short_offsets"],
            heads["mid_offsets"],
            self.info.stride,
            self.info.input_size,
        )

    def close(self) -> None:
        """Drop the interpreter (and with it the delegate)."""
        self._interp = None
