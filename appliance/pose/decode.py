"""PoseNet decoding: RawHeads -> keypoints in **(y, x)** model-input pixels.

``decode_multi`` is the libcoral algorithm (``coral/pose_estimation/posenet_decoder.cc``), the one
the Edge TPU models' ``PosenetDecoderOp`` runs: 3x3 local maxima of the heatmap logits above the
threshold become root candidates; each root's pose is found by following the mid-range
displacements along the 16 skeleton edges (both directions) with five bilinear short-offset
refinements per keypoint; roots close to an already accepted pose's keypoint are skipped; poses are
rescored with a soft keypoint NMS.

It gives the op's output exactly, not just closely: quantised heatmaps have many equal scores, and
libcoral takes its root candidates from a ``std::priority_queue`` (a binary heap), which does not
keep tied candidates in any simple order. Both decoders take them in the heap's own order
(``_queue_order``), and compute in float32 expression for expression as the op does (its bilinear
formula, its threshold logit, scores summed from the best keypoint down). The C decoder then equals
the op bit for bit; the numpy one equals it in poses, order and positions, its sigmoid rounding
(numpy, not libm) off by at most a bit in a rare keypoint score. (One corner is left: the op sorts
accepted poses by score with ``std::sort``, stable only up to 16 elements, so two of more than 16
poses with exactly equal float scores may come in the other order.)

Speed comes from two observations. First, from a given root the keypoint tree is always walked the
same way (each keypoint is reached from its one neighbour nearer the root), so the best-first queue
of the C++ code's pose walk only changes the visiting order, not the result. Second, a rejected
root changes nothing, so every candidate can be decoded speculatively in one batch, level by level
of the tree (at most 8 levels), and the sequential part is left with a tiny greedy loop over the few
poses whose score passes. Everything inside a level is a handful of numpy calls over all rows at
once.

That vectorised numpy decoder is the readable reference and the fallback. The product runs the same
algorithm in C (``_decode.c``, compiled when the appliance is installed, called through ctypes):
tens of microseconds for four people against one to three milliseconds, with no JIT and no LLVM in
the process (README, "The decoder"). The tests hold both to outputs recorded from Google's op.
"""

from __future__ import annotations

import ctypes
import heapq
import importlib.util
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.pose.heads import RawHeads
from appliance.pose.params import DecoderConfig
from appliance.types import DECODE_EDGES, NUM_KEYPOINTS

__all__ = [
    "DEFAULT_IMPLEMENTATION",
    "DecodedPoses",
    "available_implementations",
    "decode_multi",
    "decode_single",
    "warm_up",
]

_REFINE_STEPS = 5
_F32 = np.float32
_DEFAULTS = DecoderConfig()  # the configuration's defaults are the decoder's


@dataclass(frozen=True, slots=True)
class DecodedPoses:
    """Decoder output in **(y, x)** model-input pixels, best pose first.

    ``yx`` float32 (N, 17, 2); ``keypoint_scores`` float32 (N, 17) in [0, 1]; ``scores`` float32
    (N,) pose scores in [0, 1].
    """

    yx: NDArray[np.float32]
    keypoint_scores: NDArray[np.float32]
    scores: NDArray[np.float32]

    @classmethod
    def empty(cls) -> DecodedPoses:
        """No pose: arrays of length 0 with the right trailing shapes."""
        return cls(
            np.zeros((0, NUM_KEYPOINTS, 2), _F32),
            np.zeros((0, NUM_KEYPOINTS), _F32),
            np.zeros((0,), _F32),
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])


@dataclass(frozen=True, slots=True)
class _Level:
    """Directed edges walked at one depth of the tree, per root keypoint type (padded)."""

    src: NDArray[np.intp]  # (17, M) source keypoint
    tgt: NDArray[np.intp]  # (17, M) target keypoint
    mid_ch: NDArray[np.intp]  # (17, M) mid-offset dy channel (dx = dy + 16)
    mask: NDArray[np.bool_]  # (17, M) real entries


def _build_levels() -> tuple[_Level, ...]:
    adjacency: dict[int, list[tuple[int, int]]] = {k: [] for k in range(NUM_KEYPOINTS)}
    for e, (parent, child) in enumerate(DECODE_EDGES):
        adjacency[parent].append((child, e))  # forward displacement: channels e, 16 + e
        adjacency[child].append((parent, 32 + e))  # backward displacement: channels 32 + e, 48 + e
    per_root: list[list[list[tuple[int, int, int]]]] = []
    for root in range(NUM_KEYPOINTS):
        levels: list[list[tuple[int, int, int]]] = []
        frontier, seen = [root], {root}
        while frontier:
            step: list[tuple[int, int, int]] = []
            for src in frontier:
                for tgt, ch in adjacency[src]:
                    if tgt not in seen:
                        seen.add(tgt)
                        step.append((src, tgt, ch))
            if step:
                levels.append(step)
            frontier = [t for _, t, _ in step]
        per_root.append(levels)
    depth = max(len(levels) for levels in per_root)
    out = []
    for d in range(depth):
        width = max(len(levels[d]) if d < len(levels) else 0 for levels in per_root)
        src_a = np.zeros((NUM_KEYPOINTS, width), np.intp)
        tgt_a = np.zeros((NUM_KEYPOINTS, width), np.intp)
        ch_a = np.zeros((NUM_KEYPOINTS, width), np.intp)
        mask = np.zeros((NUM_KEYPOINTS, width), np.bool_)
        for root, levels in enumerate(per_root):
            if d < len(levels):
                for j, (s, t, c) in enumerate(levels[d]):
                    src_a[root, j], tgt_a[root, j], ch_a[root, j], mask[root, j] = s, t, c, True
        out.append(_Level(src_a, tgt_a, ch_a, mask))
    return tuple(out)


_LEVELS = _build_levels()
_NEIGHBOURS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], np.intp)


class _Sampler:
    """Bilinear sampling of one flat (h, w, K) table at many (y, x) grid positions at once.

    Rows are the last axis everywhere (positions are (2, R)), so every numpy call runs over
    contiguous rows. Each row names its channel; ``pair`` > 0 also samples channel + pair (dy and
    its dx). Corner indices past the last row or column only ever get weight 0, so
    ``take(mode="clip")`` replaces padding the table.
    """

    def __init__(self, table: NDArray[np.float32], width: int, pair: int) -> None:
        k = table.shape[-1]
        self.flat = table.reshape(-1)
        self.strides = np.array([width * k, k], _F32)
        corners = np.array([0, k, width * k, width * k + k], _F32)  # (y0,x0) (y0,x1) (y1,x0) (y1,x1)
        if pair:
            corners = (corners[:, None] + np.array([0, pair], _F32)).reshape(-1)
        self.corners = corners[:, None]
        self.pair = bool(pair)

    def offsets(self, channels: NDArray[np.intp]) -> NDArray[np.float32]:
        """Per-row corner offsets (4 or 8, R) for ``channels`` (R,), reused across samples."""
        out: NDArray[np.float32] = self.corners + channels.astype(_F32)
        return out

    def __call__(self, pos: NDArray[np.float32], offsets: NDArray[np.float32]) -> NDArray[np.float32]:
        """Sample at ``pos`` (2, R) = (y, x) in cells, clamped to the grid; returns (2, R) or (R,)."""
        frac, cell = np.modf(pos)
        idx = (self.strides @ cell) + offsets
        g = self.flat.take(idx.astype(np.intp), mode="clip")
        fy, fx = frac[0], frac[1]
        # libcoral's expression, in float32: (1 - a)((1 - b) tl + b tr) + a((1 - b) bl + b br).
        g = g.reshape(2, 2, 2, -1) if self.pair else g.reshape(2, 2, -1)  # [y corner, x corner, (dy/dx,) row]
        gx = (1 - fx) * g[:, 0] + fx * g[:, 1]
        res: NDArray[np.float32] = (1 - fy) * gx[0] + fy * gx[1]
        return res


class _Priority(float):
    """A root candidate in the queue: compares as its score only, so tied candidates compare equal
    (as libcoral's comparator, which looks at nothing else); ``index`` says which candidate it is."""

    __slots__ = ("index",)
    index: int


def _queue_order(scores: NDArray[np.float32]) -> list[int]:
    """The order libcoral's root priority queue pops candidates pushed in ``scores`` order.

    Ties are many (quantised heatmaps) and a binary heap does not keep them in push order: the
    order follows from the heap's moves. ``heapq`` is a min-heap that moves items exactly as
    libstdc++'s ``std::priority_queue`` does (sift up on push; on pop, the hole goes down to a
    leaf along the better child, ties taking the right one, then the last item sifts up), so
    negated scores come out in the C++ queue's order.
    """
    heap: list[_Priority] = []
    for i, s in enumerate((-scores.astype(np.float64)).tolist()):
        item = _Priority(s)
        item.index = i
        heapq.heappush(heap, item)
    return [heapq.heappop(heap).index for _ in range(len(heap))]


@dataclass(frozen=True, slots=True)
class _Thresholds:
    """The decoder's parameters as float32, computed as the op computes them from its options."""

    score: np.float32  # minimum pose score and root probability (0..1)
    logit: np.float32  # ``score`` as a heatmap logit (libcoral's Logodds: in double, then float)
    r2: np.float32  # the squared NMS radius in grid cells

    @classmethod
    def of(cls, score_threshold: float, nms_radius: float, stride: int) -> _Thresholds:
        """From the options (``nms_radius`` in model-input pixels)."""
        score = _F32(score_threshold)
        logit = _F32(-math.log(1.0 / (float(score) + 1e-6) - 1.0))
        radius = _F32(nms_radius) / _F32(stride)
        return cls(score, logit, _F32(radius * radius))


@lru_cache(maxsize=64)
def _thresholds(score_threshold: float, nms_radius: float, stride: int) -> _Thresholds:
    """``_Thresholds.of``, remembered (the same few settings come every frame)."""
    return _Thresholds.of(score_threshold, nms_radius, stride)


def _sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """float32 sigmoid as the op computes it: 1 / (1 + expf(-x)) (exp in double, rounded to float,
    is what glibc's expf returns; numpy's own float32 exp may differ in the last bit)."""
    e = np.exp(-x.astype(np.float64)).astype(_F32)
    out: NDArray[np.float32] = _F32(1.0) / (_F32(1.0) + e)
    return out


def _mean_desc(probs: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per row of (m, 17) probabilities (0 where left out), their float32 sum from the largest down
    over 17, as the op sums them (a sequential sum: ``cumsum``, not numpy's pairwise ``sum``)."""
    ordered = np.sort(probs, axis=1)[:, ::-1]
    out: NDArray[np.float32] = np.cumsum(ordered, axis=1, dtype=_F32)[:, -1] / _F32(NUM_KEYPOINTS)
    return out


def _steps_table() -> NDArray[np.int64]:
    """(17, 16, 3) int64: per root type, the directed edges in walk order (src, tgt, dy channel)."""
    table = np.zeros((NUM_KEYPOINTS, len(DECODE_EDGES), 3), np.int64)
    for root in range(NUM_KEYPOINTS):
        walk = [
            (int(lv.src[root, j]), int(lv.tgt[root, j]), int(lv.mid_ch[root, j]))
            for lv in _LEVELS
            for j in range(lv.mask.shape[1])
            if lv.mask[root, j]
        ]
        table[root] = walk
    return table


_STEPS = _steps_table()


def _load_c() -> Any:
    """The C decoder (``_decode.c``, built at install) through ctypes, or None when not built."""
    try:
        spec = importlib.util.find_spec("appliance.pose._posenet_decode")
        if spec is None or spec.origin is None:
            return None
        fn = ctypes.CDLL(spec.origin).posenet_decode
    except (OSError, AttributeError, ImportError):
        return None
    ptr, dbl, num = ctypes.c_void_p, ctypes.c_double, ctypes.c_int
    fn.restype = num
    fn.argtypes = [ptr, ptr, ptr, num, num, dbl, dbl, dbl, dbl, num, ptr, ptr, ptr, ptr]
    return fn


_c_decode: Any = None


def _choose() -> str:
    wanted = os.environ.get("POSENET_DECODER", "")
    if wanted not in ("", "c", "numpy"):
        raise ValueError(f"POSENET_DECODER={wanted!r}: choose c or numpy")
    if wanted in ("", "c") and _load_c() is not None:
        return "c"
    return "numpy"


#: "c" (the compiled decoder, built at install) when built, else "numpy"; ``$POSENET_DECODER``
#: chooses one (for measurements).
DEFAULT_IMPLEMENTATION = _choose()
if DEFAULT_IMPLEMENTATION == "c":
    _c_decode = _load_c()


def available_implementations() -> list[str]:
    """The decoders this installation can run: "numpy" always, "c" when it was built."""
    return ["numpy", "c"] if _load_c() is not None else ["numpy"]


def warm_up() -> None:
    """Decode once now (loading the compiled decoder), so the first frame does not pay for it."""
    h, w = 3, 3
    heads = RawHeads(
        np.zeros((h, w, NUM_KEYPOINTS), _F32), np.zeros((h, w, 34), _F32), np.zeros((h, w, 64), _F32), 16, (33, 33)
    )
    decode_multi(heads, max_poses=1)


def decode_multi(
    heads: RawHeads,
    *,
    max_poses: int = _DEFAULTS.max_poses,
    score_threshold: float = _DEFAULTS.min_pose_score,
    nms_radius: float = _DEFAULTS.posenet.nms_radius,
    implementation: str | None = None,
) -> DecodedPoses:
    """Decode every person, as the Coral PosenetDecoderOp does.

    Args:
        heads: the three dequantised heads of one frame.
        max_poses: most poses returned (the op's ``max_detections``).
        score_threshold: minimum keypoint probability of a root and minimum pose score (0..1).
        nms_radius: in model-input pixels; roots and keypoints closer than this to the same
            keypoint of a better pose are suppressed.
        implementation: "c" (compiled at install), "numpy" (vectorised), or None for the fastest
            available. Both give the same poses.

    Returns:
        Poses in **(y, x)** model-input pixels, best first.
    """
    if max_poses <= 0:
        return DecodedPoses.empty()
    impl = implementation or DEFAULT_IMPLEMENTATION
    limits = _thresholds(score_threshold, nms_radius, heads.stride)
    if impl == "c":
        return _decode_c(heads, max_poses, limits)
    if impl == "numpy":
        accepted = _accept_numpy(heads, max_poses, limits)
        return _rescore(*accepted, limits=limits, stride=heads.stride)
    raise ValueError(f"unknown decoder implementation {impl!r}")


def _address(a: NDArray[Any]) -> int:
    """The data pointer of an array (cheaper than ``a.ctypes.data``)."""
    address: int = a.__array_interface__["data"][0]
    return address


_STEPS_ADDRESS = _address(_STEPS)


def _decode_c(heads: RawHeads, max_poses: int, limits: _Thresholds) -> DecodedPoses:
    global _c_decode
    fn = _c_decode = _c_decode if _c_decode is not None else _load_c()
    if fn is None:
        raise RuntimeError("the C decoder is not built (it needs a C compiler when installing)")
    heat = np.ascontiguousarray(heads.heatmaps, _F32)
    short = np.ascontiguousarray(heads.short_offsets, _F32)
    mid = np.ascontiguousarray(heads.mid_offsets, _F32)
    h, w, _ = heat.shape
    out = np.empty(max_poses * NUM_KEYPOINTS * 3 + max_poses, _F32)  # one buffer: positions, probs, scores
    pos = out[: max_poses * NUM_KEYPOINTS * 2].reshape(max_poses, NUM_KEYPOINTS, 2)
    probs = out[max_poses * NUM_KEYPOINTS * 2 : max_poses * NUM_KEYPOINTS * 3].reshape(max_poses, NUM_KEYPOINTS)
    scores = out[max_poses * NUM_KEYPOINTS * 3 :]
    n = fn(
        _address(heat),
        _address(short),
        _address(mid),
        h,
        w,
        1.0 / heads.stride,
        limits.logit,
        limits.score,
        limits.r2,
        max_poses,
        _STEPS_ADDRESS,
        _address(pos),
        _address(probs),
        _address(scores),
    )
    if n < 0:
        raise MemoryError("the C decoder could not allocate its buffers")
    return DecodedPoses(pos[:n] * _F32(heads.stride), probs[:n], scores[:n])


_Accepted = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]


def _accept_numpy(heads: RawHeads, max_poses: int, limits: _Thresholds) -> _Accepted:
    """Vectorised steps 1-3: accepted poses in root order as ((m, 17, 2) cells, probs, scores)."""
    heat = heads.heatmaps
    h, w, _ = heat.shape
    stride = float(heads.stride)
    lim = np.array([[h - 1], [w - 1]], _F32)
    inv_stride = _F32(1.0 / stride)

    # 1. Root candidates: logit above threshold and no strictly greater 3x3 neighbour.
    ys, xs, ks = np.nonzero(heat >= limits.logit)
    if ys.size == 0:
        return np.zeros((0, NUM_KEYPOINTS, 2), _F32), np.zeros((0, NUM_KEYPOINTS), _F32), heat[0, 0, :0]
    vals = heat[ys, xs, ks]
    ny = np.clip(ys[:, None] + _NEIGHBOURS[:, 0], 0, h - 1)
    nx = np.clip(xs[:, None] + _NEIGHBOURS[:, 1], 0, w - 1)
    keep = (heat[ny, nx, ks[:, None]] <= vals[:, None]).all(axis=1)
    ys, xs, ks, vals = ys[keep], xs[keep], ks[keep], vals[keep]
    order = np.array(_queue_order(vals), np.intp)  # libcoral's priority queue, ties included
    ys, xs, ks = ys[order], xs[order], ks[order]
    n = ks.size
    root = np.empty((2, n), _F32)  # (y, x) in cells
    root[0] = ys + heads.short_offsets[ys, xs, ks] * inv_stride
    root[1] = xs + heads.short_offsets[ys, xs, ks + NUM_KEYPOINTS] * inv_stride
    np.clip(root, 0, lim, out=root)

    # 2. Decode every candidate's pose at once, one tree level at a time, in grid cells.
    short = _Sampler(heads.short_offsets * inv_stride, w, NUM_KEYPOINTS)
    mid = _Sampler(heads.mid_offsets * inv_stride, w, 16)
    pos_all = np.empty((2, n, NUM_KEYPOINTS), _F32)
    pos_all[:, np.arange(n), ks] = root
    for level in _LEVELS:
        rows, j = np.nonzero(level.mask[ks])
        if rows.size == 0:
            break
        kr = ks[rows]
        tgt = level.tgt[kr, j]
        pos = pos_all[:, rows, level.src[kr, j]]
        pos += mid(pos, mid.offsets(level.mid_ch[kr, j]))
        np.clip(pos, 0, lim, out=pos)
        refine = short.offsets(tgt)
        for _ in range(_REFINE_STEPS):
            pos += short(pos, refine)
            np.clip(pos, 0, lim, out=pos)
        pos_all[:, rows, tgt] = pos
    heat_sampler = _Sampler(heat, w, 0)
    channels = np.tile(np.arange(NUM_KEYPOINTS), n)
    logits = heat_sampler(pos_all.reshape(2, -1), heat_sampler.offsets(channels))
    kp_scores = _sigmoid(logits).reshape(n, NUM_KEYPOINTS)
    inst = _mean_desc(kp_scores)
    yx_all = pos_all.transpose(1, 2, 0)  # (n, 17, 2) view

    # 3. Greedy acceptance in root order among poses that pass the score: only they can matter.
    eligible = np.flatnonzero(inst >= limits.score)
    if eligible.size == 0:
        return np.zeros((0, NUM_KEYPOINTS, 2), _F32), np.zeros((0, NUM_KEYPOINTS), _F32), inst[:0]
    e_pos = yx_all[eligible]  # (m, 17, 2)
    # near[j, i]: pose j's keypoint of root type k_i lies within the radius of root i.
    diff = e_pos[:, ks[eligible]] - root.T[eligible][None, :, :]
    near = (diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1] <= limits.r2).tolist()
    accepted: list[int] = []
    for i in range(eligible.size):
        if not any(near[a][i] for a in accepted):
            accepted.append(i)
            if len(accepted) == max_poses:
                break
    sel = eligible[accepted]
    return yx_all[sel], kp_scores[sel], inst[sel]


def _rescore(
    pos: NDArray[np.float32],
    probs: NDArray[np.float32],
    inst: NDArray[np.float32],
    *,
    limits: _Thresholds,
    stride: int,
) -> DecodedPoses:
    """Step 4, soft keypoint NMS: rescore without keypoints a better pose already claims.

    ``pos`` (m, 17, 2) accepted poses in grid cells (y, x), ``probs`` (m, 17), ``inst`` (m,).
    """
    m = inst.shape[0]
    if m == 0:
        return DecodedPoses.empty()
    by_inst = np.argsort(-inst, kind="stable")
    p, probs = pos[by_inst], probs[by_inst]
    d = p[:, None] - p[None, :]
    close = d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] <= limits.r2  # (m, m, 17)
    earlier = np.tri(m, m, -1, dtype=np.bool_)[:, :, None]
    occluded = (earlier & close).any(axis=1)
    rescored = _mean_desc(np.where(occluded, _F32(0), probs))
    final = np.argsort(-rescored, kind="stable")
    below = np.flatnonzero(rescored[final] < limits.score)
    final = final[: below[0]] if below.size else final
    return DecodedPoses(
        (p[final] * _F32(stride)).astype(_F32),
        probs[final].astype(_F32),
        rescored[final].astype(_F32),
    )


def decode_single(heads: RawHeads) -> DecodedPoses:
    """The most prominent single person: per keypoint the heatmap argmax plus its short offset.

    Returns one pose in **(y, x)** model-input pixels (score = mean keypoint probability), or none
    when the heatmaps are empty.
    """
    heat = heads.heatmaps
    h, w, k = heat.shape
    if h * w == 0:
        return DecodedPoses.empty()
    flat = heat.reshape(h * w, k)
    cell = flat.argmax(axis=0)
    cy, cx = np.divmod(cell, w)
    kk = np.arange(k)
    yx = np.empty((1, k, 2), _F32)
    yx[0, :, 0] = cy * heads.stride + heads.short_offsets[cy, cx, kk]
    yx[0, :, 1] = cx * heads.stride + heads.short_offsets[cy, cx, kk + k]
    in_h, in_w = heads.input_size if heads.input_size != (0, 0) else (h * heads.stride, w * heads.stride)
    np.clip(yx, 0, np.array([in_h - 1, in_w - 1], _F32), out=yx)
    scores = _sigmoid(flat[cell, kk])[None, :].astype(_F32)
    return DecodedPoses(yx, scores, scores.mean(axis=1).astype(_F32))
