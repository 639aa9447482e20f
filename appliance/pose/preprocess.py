"""Frame -> model input tensor: stretch the whole image to the model input, as Coral's examples do."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["RESAMPLE", "to_input_tensor"]

RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}


def to_input_tensor(
    image: NDArray[np.uint8], input_size: tuple[int, int], resample: str = "bilinear"
) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 RGB -> (1, h_in, w_in, 3) uint8, stretched (no aspect preservation).

    ``input_size`` is the model input as (height, width). An image already that size is not copied.
    """
    h_in, w_in = input_size
    if image.shape[0] == h_in and image.shape[1] == w_in:
        return np.ascontiguousarray(image)[None]
    resized = Image.fromarray(image).resize((w_in, h_in), RESAMPLE[resample])
    return np.asarray(resized, dtype=np.uint8)[None]
