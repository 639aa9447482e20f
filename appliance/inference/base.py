"""InferenceBackend: a loaded model that turns an input tensor into dequantised output tensors."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from appliance.inference.io import ModelIO

__all__ = ["InferenceBackend", "InterpreterBackend", "Outputs", "dequantize"]

#: A model's outputs in interpreter order, dequantised float32 copies without the batch axis.
Outputs = tuple[NDArray[np.float32], ...]


def dequantize(q: NDArray[np.generic], scale: float, zero_point: int) -> NDArray[np.float32]:
    """``scale * (q - zero_point)`` as float32; float input with scale 0 is returned as float32."""
    if scale == 0.0:
        return np.array(q, dtype=np.float32)
    out = q.astype(np.float32)
    out -= np.float32(zero_point)
    out *= np.float32(scale)
    return out


class InferenceBackend(Protocol):
    """Runs one model. ``name`` says which hardware and why (shown in status and logs)."""

    name: str
    io: ModelIO

    def infer(self, tensor: NDArray[np.uint8]) -> Outputs:
        """Run (1, H, W, 3) uint8 RGB and return every output dequantised (copies, not views)."""
        ...

    def close(self) -> None:
        """Release the interpreter and device; idempotent."""
        ...


class InterpreterBackend:
    """Any TFLite-interpreter-like object (CPU or Edge TPU delegate) behind InferenceBackend."""

    def __init__(self, interpreter: Any, io: ModelIO, name: str) -> None:
        self._interp = interpreter
        self.io = io
        self.name = name

    def infer(self, tensor: NDArray[np.uint8]) -> Outputs:
        """Set the input, invoke, dequantise every output (float32 copies, batch axis dropped)."""
        interp = self._interp
        if interp is None:
            raise RuntimeError("backend is closed")
        interp.set_tensor(self.io.input_index, tensor)
        interp.invoke()
        return tuple(dequantize(interp.get_tensor(t.index)[0], t.scale, t.zero_point) for t in self.io.outputs)

    def close(self) -> None:
        """Drop the interpreter (and with it the delegate)."""
        self._interp = None
