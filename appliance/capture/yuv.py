"""Pixel-format conversions the camera adapters need, in numpy (no OpenCV)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["bgr_to_rgb", "yuv420_to_rgb"]

# Full-range BT.601 (JPEG / sYCC), the colour space libcamera gives the Pi's YUV420 streams by default.
_R_V, _G_U, _G_V, _B_U = 1.402, -0.344136, -0.714136, 1.772


def yuv420_to_rgb(buf: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    """Planar YUV420 (I420: Y, then U, then V at half resolution) -> (height, width, 3) RGB.

    ``buf`` is what picamera2 returns for a YUV420 stream: a 2-D array of height*3/2 rows whose
    row length is the stride (>= width; padding is dropped) or any flat buffer of that layout.
    """
    flat = np.ascontiguousarray(buf).reshape(-1)
    stride = buf.shape[1] if buf.ndim == 2 else width
    if flat.size < stride * height * 3 // 2:
        raise ValueError(f"YUV420 buffer of {flat.size} bytes is too small for {width}x{height} (stride {stride})")
    y = flat[: stride * height].reshape(height, stride)[:, :width].astype(np.float32)
    c_stride, c_h, c_w = stride // 2, height // 2, width // 2
    u0 = stride * height
    v0 = u0 + c_stride * c_h
    u = flat[u0:v0].reshape(c_h, c_stride)[:, :c_w].astype(np.float32) - 128.0
    v = flat[v0 : v0 + c_stride * c_h].reshape(c_h, c_stride)[:, :c_w].astype(np.float32) - 128.0
    u = u.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    v = v.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    rgb = np.empty((height, width, 3), np.float32)
    rgb[:, :, 0] = y + _R_V * v
    rgb[:, :, 1] = y + _G_U * u + _G_V * v
    rgb[:, :, 2] = y + _B_U * u
    out: NDArray[np.uint8] = np.clip(rgb, 0, 255).astype(np.uint8)
    return out


def bgr_to_rgb(buf: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(H, W, 3 or 4) B,G,R[,X] in memory -> contiguous (H, W, 3) RGB."""
    out: NDArray[np.uint8] = np.ascontiguousarray(buf[:, :, 2::-1])
    return out
