"""Reading still images from files (``detect``, the ``images:`` source, benchmarks)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from appliance.errors import SourceError

__all__ = ["load_image"]


def load_image(path: str) -> NDArray[np.uint8]:
    """Read an image file as (H, W, 3) uint8 RGB.

    Raises:
        SourceError: missing, unreadable or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise SourceError(f"image not found: {path}") from None
    except IsADirectoryError:
        raise SourceError(f"not an image (a directory): {path}") from None
    except UnidentifiedImageError:
        raise SourceError(f"not an image: {path}") from None
    except OSError as exc:
        raise SourceError(f"cannot read image {path}: {exc}") from exc
