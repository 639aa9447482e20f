"""ReplayBackend: replays recorded outputs after a fixed delay, standing in for an Edge TPU.

Used by the benchmark (what does the Python side cost when the TPU does the network?) and by
demos and tests that need a backend without an interpreter. The delay is a sleep, which releases
the GIL like a real ``invoke()`` does.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from appliance.inference.base import Outputs
from appliance.inference.io import ModelIO

__all__ = ["ReplayBackend"]


class ReplayBackend:
    """Returns ``outputs`` in turn (cycling), each after ``delay`` seconds; ignores the input."""

    def __init__(self, io: ModelIO, outputs: Sequence[Outputs], delay: float = 0.010, name: str = "") -> None:
        if not outputs:
            raise ValueError("ReplayBackend needs at least one recorded output")
        self.io = io
        self.delay = delay
        self.name = name or f"replay ({delay * 1e3:.0f} ms per frame)"
        self._cycle: Iterator[Outputs] = itertools.cycle(outputs)

    def infer(self, tensor: NDArray[np.uint8]) -> Outputs:
        """The next recorded outputs, after the configured delay."""
        if self.delay > 0:
            time.sleep(self.delay)
        return next(self._cycle)

    def close(self) -> None:
        """Nothing to release."""
