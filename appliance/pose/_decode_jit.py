"""The multi-pose decoder compiled with numba: same algorithm as ``decode._decode_numpy``.

Why a compiled kernel: the exact algorithm's critical path is up to 8 tree levels x 6 dependent
bilinear samples. Vectorised numpy needs ~10 calls per sample, and at 1-2 us per call on small
arrays (measured on the CI machines; several times more on a Pi) it cannot go below ~1 ms.
Compiled, the loop runs like the C++ op (tens of microseconds) and decodes lazily: suppressed
roots are never decoded. Everything is in **(y, x)** grid cells inside; the caller scales.

Only ``decode.py`` imports this module, and only when numba is importable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit  # type: ignore[import-untyped]

__all__ = ["decode_kernel"]


@njit(cache=True, nogil=True, inline="always")  # type: ignore[untyped-decorator]
def _bilinear(t: Any, y: float, x: float, c: int) -> float:  # pragma: no cover - compiled
    h, w = t.shape[0], t.shape[1]
    y = min(max(y, 0.0), h - 1.0)
    x = min(max(x, 0.0), w - 1.0)
    y0 = math.floor(y)
    x0 = math.floor(x)
    y1 = min(y0 + 1, h - 1)
    x1 = min(x0 + 1, w - 1)
    a = np.float32(y - y0)
    b = np.float32(x - x0)
    top = t[y0, x0, c] + b * (t[y0, x1, c] - t[y0, x0, c])
    bot = t[y1, x0, c] + b * (t[y1, x1, c] - t[y1, x0, c])
    return float(top + a * (bot - top))


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def decode_kernel(  # pragma: no cover - compiled
    heat: Any,
    short: Any,
    mid: Any,
    inv_stride: float,
    thr_logit: float,
    score_threshold: float,
    r2: float,
    max_poses: int,
    steps: Any,
) -> tuple[Any, Any, Any, int]:
    """Roots, lazy tree walk, greedy acceptance; returns (pos, probs, inst, count) in cells.

    ``steps`` is int64 (17, 16, 3): for each root type, the 16 directed edges in walk order as
    (source keypoint, target keypoint, mid-offset dy channel).
    """
    h, w, nk = heat.shape
    # Root candidates: logit >= threshold, no strictly greater 3x3 neighbour.
    cand_y = np.empty(h * w * nk, np.int64)
    cand_x = np.empty(h * w * nk, np.int64)
    cand_k = np.empty(h * w * nk, np.int64)
    cand_s = np.empty(h * w * nk, np.float32)
    n = 0
    for y in range(h):
        for x in range(w):
            for k in range(nk):
                v = heat[y, x, k]
                if v < thr_logit:
                    continue
                is_max = True
                for yy in range(max(y - 1, 0), min(y + 2, h)):
                    for xx in range(max(x - 1, 0), min(x + 2, w)):
                        if heat[yy, xx, k] > v:
                            is_max = False
                if is_max:
                    cand_y[n], cand_x[n], cand_k[n], cand_s[n] = y, x, k, v
                    n += 1
    order = np.argsort(-cand_s[:n], kind="mergesort")

    pos = np.zeros((max_poses, nk, 2), np.float32)
    probs = np.zeros((max_poses, nk), np.float32)
    inst = np.zeros(max_poses, np.float32)
    cur = np.zeros((nk, 2), np.float32)
    count = 0
    for oi in range(n):
        if count >= max_poses:
            break
        i = order[oi]
        k = cand_k[i]
        y, x = cand_y[i], cand_x[i]
        ry = min(max(y + short[y, x, k] * inv_stride, 0.0), h - 1.0)
        rx = min(max(x + short[y, x, nk + k] * inv_stride, 0.0), w - 1.0)
        suppressed = False
        for a in range(count):
            dy = pos[a, k, 0] - ry
            dx = pos[a, k, 1] - rx
            if dy * dy + dx * dx <= r2:
                suppressed = True
                break
        if suppressed:
            continue
        cur[k, 0] = ry
        cur[k, 1] = rx
        for s in range(steps.shape[1]):
            src, tgt, ch = steps[k, s, 0], steps[k, s, 1], steps[k, s, 2]
            py, px = cur[src, 0], cur[src, 1]
            dy = _bilinear(mid, py, px, ch) * inv_stride
            dx = _bilinear(mid, py, px, ch + 16) * inv_stride
            py = min(max(py + dy, 0.0), h - 1.0)
            px = min(max(px + dx, 0.0), w - 1.0)
            for _ in range(5):
                dy = _bilinear(short, py, px, tgt) * inv_stride
                dx = _bilinear(short, py, px, tgt + nk) * inv_stride
                py = min(max(py + dy, 0.0), h - 1.0)
                px = min(max(px + dx, 0.0), w - 1.0)
            cur[tgt, 0] = py
            cur[tgt, 1] = px
        total = 0.0
        for kk in range(nk):
            p = 1.0 / (1.0 + math.exp(-_bilinear(heat, cur[kk, 0], cur[kk, 1], kk)))
            probs[count, kk] = p
            total += p
        score = total / nk
        if score >= score_threshold:
            pos[count] = cur
            inst[count] = score
            count += 1
    return pos, probs, inst, count


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def rescore_kernel(  # pragma: no cover - compiled
    pos: Any, probs: Any, inst: Any, count: int, r2: float, score_threshold: float
) -> tuple[Any, Any, Any]:
    """Soft keypoint NMS over the first ``count`` accepted poses; returns (order, scores, n).

    ``order`` indexes the accepted poses best first; only its first ``n`` entries pass the
    threshold. Same rules as ``decode._rescore``.
    """
    nk = pos.shape[1]
    by_inst = np.argsort(-inst[:count], kind="mergesort")
    rescored = np.zeros(count, np.float32)
    for ii in range(count):
        i = by_inst[ii]
        total = np.float32(0.0)
        for k in range(nk):
            occluded = False
            for jj in range(ii):
                j = by_inst[jj]
                dy = pos[i, k, 0] - pos[j, k, 0]
                dx = pos[i, k, 1] - pos[j, k, 1]
                if dy * dy + dx * dx <= r2:
                    occluded = True
                    break
            if not occluded:
                total += probs[i, k]
        rescored[i] = total / np.float32(nk)
    final = np.argsort(-rescored, kind="mergesort")
    n = 0
    while n < count and rescored[final[n]] >= score_threshold:
        n += 1
    return final, rescored, n
