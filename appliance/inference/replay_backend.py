"""ReplayBackend: replays recorded heads after a fixed delay, standing in for an Edge TPU.

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

from appliance.inference.model import ModelInfo
from appliance.pose.heads import RawHeads

__all__ = ["ReplayBackend"]


class ReplayBackend:
    """Returns ``heads`` in turn (cycling), each after ``delay`` seconds; ignores the input."""

    def __init__(self, info: ModelInfo, heads: Sequence[RawHeads], delay: float = 0.010, name: str = "") -> None:
        if not heads:
            raise ValueError("ReplayBackend needs at least one recorded RawHeads")
        self.info = info
        self.delay = delay
        self.name = name or f"replay ({delay * 1e3:.0f} ms per frame)"
        self._cycle: Iterator[RawHeads] = itertools.cycle(heads)

    def infer(self, tensor: NDArray[np.uint8]) -> RawHeads:
        """The next recorded heads, after the configured delay."""
        if self.delay > 0:
            time.sleep(self.delay)
        return next(self._cycle)

    def close(self) -> None:
        """Nothing to release."""
