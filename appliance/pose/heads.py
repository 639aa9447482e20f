"""RawHeads: PoseNet's three dequantised output heads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["RawHeads"]


@dataclass(frozen=True, slots=True)
class RawHeads:
    """Dequantised float32 heads in the model's own layout, all in **(y, x)** order.

    ``heatmaps`` (h, w, 17) logits; ``short_offsets`` (h, w, 34): 17 dy then 17 dx channels, in
    model input pixels; ``mid_offsets`` (h, w, 64): 16 forward dy, 16 forward dx, 16 backward dy,
    16 backward dx, in input pixels. ``stride`` is input pixels per grid cell and ``input_size``
    the model input as (height, width).
    """

    heatmaps: NDArray[np.float32]
    short_offsets: NDArray[np.float32]
    mid_offsets: NDArray[np.float32]
    stride: int = 16
    input_size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        h, w, k = self.heatmaps.shape
        if k != 17 or self.short_offsets.shape != (h, w, 34) or self.mid_offsets.shape != (h, w, 64):
            raise ValueError(
                "heads must be (h, w, 17), (h, w, 34), (h, w, 64); got "
                f"{self.heatmaps.shape}, {self.short_offsets.shape}, {self.mid_offsets.shape}"
            )

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) cells."""
        return int(self.heatmaps.shape[0]), int(self.heatmaps.shape[1])
