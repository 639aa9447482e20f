"""The MoveNet SinglePose family (Lightning 192x192, Thunder 256x256; CPU and Edge TPU files).

Files: Google's ``movenet_single_pose_{lightning,thunder}_ptq{,_edgetpu}.tflite``: one uint8
[1, S, S, 3] input, one float32 [1, 1, 17, 3] output of **(y, x, score)** per keypoint, y and x in
0..1 of the input, in PoseNet's keypoint order. No custom op but the Edge TPU's, so the bytes run
as they are.

Input: the frame **letterboxed** (scaled to fit the square input keeping its aspect ratio, the rest
padded black), as Google's MoveNet examples do. With ``decoder.movenet.crop_to_person`` the next frame is
cut to a square around the person just found (Google's Raspberry Pi example's cropping: centred
on the hips, wide enough for the torso times 1.9 and every confident keypoint times 1.2), which
gives a small or distant performer more of the model's pixels. One person per frame, pose score =
the mean of the keypoint scores above 0.1 (Google's examples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from appliance.errors import ModelError
from appliance.inference import InferenceBackend
from appliance.models.base import Decoded, ModelInfo
from appliance.models.modelcut import io_shapes
from appliance.pose.geometry import InputTransform
from appliance.pose.params import DecoderConfig
from appliance.types import NUM_KEYPOINTS

__all__ = ["FAMILY", "MoveNetFamily", "MoveNetModel", "crop_region"]

#: Input side -> variant name.
VARIANTS = {192: "Lightning", 256: "Thunder"}
#: Keypoints above this score count for the crop and the pose score (Google's examples).
CROP_MIN_SCORE = 0.2
POSE_MIN_KEYPOINT = 0.1
TORSO_EXPANSION, BODY_EXPANSION = 1.9, 1.2
_HIPS, _SHOULDERS = (11, 12), (5, 6)

Region = tuple[float, float, float, float]


def crop_region(kp: NDArray[np.float32], frame_size: tuple[int, int]) -> Region | None:
    """The square (x0, y0, x1, y1) in **source pixels** to look at in the next frame, from this
    frame's keypoints (17, 3) = (x, y, score) in source pixels; None for the whole frame (torso not
    confidently seen, or the person fills most of it).

    Google's ``_determine_crop_region``, with one fix: its body range measures every keypoint's
    distance with the last torso joint's coordinates; here each keypoint's own are used.
    """
    w, h = frame_size
    ok = kp[:, 2] > CROP_MIN_SCORE
    if not (ok[list(_HIPS)].any() and ok[list(_SHOULDERS)].any()):
        return None
    cx, cy = (kp[_HIPS[0], :2] + kp[_HIPS[1], :2]) / 2
    torso = np.abs(kp[[*_SHOULDERS, *_HIPS], :2] - (cx, cy)).max(axis=0)
    body = np.abs(kp[ok, :2] - (cx, cy)).max(axis=0)
    half = max(float(torso.max()) * TORSO_EXPANSION, float(body.max()) * BODY_EXPANSION)
    half = min(half, max(cx, w - cx, cy, h - cy))
    if half > max(w, h) / 2 or half < 1.0:
        return None
    return (float(cx - half), float(cy - half), float(cx + half), float(cy + half))


class MoveNetModel:
    """A loaded MoveNet SinglePose model: letterboxed (optionally cropped) input, one person out."""

    def __init__(self, backend: InferenceBackend, info: ModelInfo) -> None:
        self.backend = backend
        self.info = info
        self.name = backend.name
        # Where to look in the next frame: (frame size, region), set on the "send" thread by decode,
        # read on the "prepare" thread (one reference, replaced whole).
        self._next: tuple[tuple[int, int], Region] | None = None

    def input_transform(self, frame_size: tuple[int, int]) -> InputTransform:
        """The frame (or the region around the last person) letterboxed into the square input."""
        nxt = self._next
        region = nxt[1] if nxt is not None and nxt[0] == frame_size else None
        return InputTransform.letterbox(frame_size, self.info.input_size, region)

    def infer(self, tensor: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The (17, 3) output of one (1, S, S, 3) uint8 input: (y, x, score), y and x 0..1 of the input."""
        out: NDArray[np.float32] = self.backend.infer(tensor)[0].reshape(NUM_KEYPOINTS, 3)
        return out

    def decode(self, raw: NDArray[np.float32], transform: InputTransform, params: DecoderConfig) -> Decoded:
        """Keypoints in source pixels (x, y, score); no one when the pose score is below
        ``params.min_pose_score``. Sets the next frame's crop when ``params.movenet.crop_to_person``."""
        h_in, w_in = self.info.input_size
        yx = raw[:, :2] * np.array([h_in, w_in], np.float32)  # (y, x) model-input pixels
        kp = np.empty((1, NUM_KEYPOINTS, 3), np.float32)
        kp[0, :, :2] = transform.to_source(yx)
        kp[0, :, 2] = raw[:, 2]
        good = raw[:, 2][raw[:, 2] > POSE_MIN_KEYPOINT]
        score = float(good.mean()) if good.size else 0.0
        found = score >= params.min_pose_score
        region = crop_region(kp[0], transform.frame_size) if found and params.movenet.crop_to_person else None
        self._next = (transform.frame_size, region) if region is not None else None
        if not found:
            return Decoded(np.zeros((0, NUM_KEYPOINTS, 3), np.float32), np.zeros(0, np.float32))
        return Decoded(kp, np.array([score], np.float32))

    def close(self) -> None:
        """Release the backend; idempotent."""
        self.backend.close()


@dataclass(frozen=True, slots=True)
class _Shape:
    side: int


def _check(inputs: list[tuple[int, ...]], outputs: list[tuple[int, ...]]) -> _Shape | str:
    if len(inputs) != 1 or len(inputs[0]) != 4 or inputs[0][0] != 1 or inputs[0][3] != 3:
        return f"input {[list(i) for i in inputs]} is not one [1, S, S, 3] image"
    if inputs[0][1] != inputs[0][2]:
        return f"input {list(inputs[0])} is not square"
    if len(outputs) != 1 or tuple(outputs[0]) != (1, 1, NUM_KEYPOINTS, 3):
        return f"outputs {[list(o) for o in outputs]} are not one [1, 1, 17, 3] (y, x, score)"
    return _Shape(inputs[0][1])


class MoveNetFamily:
    """Recognises MoveNet SinglePose files (by their input and output shapes) and binds them."""

    name = "movenet"
    label = "MoveNet"

    def recognise(self, content: bytes) -> str:
        """ "" for a MoveNet SinglePose model, else why not."""
        try:
            inputs, outputs = io_shapes(content)
        except ModelError as exc:
            return str(exc)
        checked = _check(inputs, outputs)
        return checked if isinstance(checked, str) else ""

    def prepare(self, content: bytes) -> bytes:
        """Unchanged: MoveNet needs no surgery."""
        return content

    def bind(self, backend: InferenceBackend) -> MoveNetModel:
        """A MoveNetModel over ``backend``; ModelError if its tensors are not MoveNet's."""
        io = backend.io
        checked = _check([(1, *io.input_size, 3)], [o.shape for o in io.outputs])
        if isinstance(checked, str):
            raise ModelError(f"not a MoveNet model: {checked} ({io.path})")
        variant = VARIANTS.get(checked.side, f"{checked.side}x{checked.side}")
        info = ModelInfo(
            path=io.path,
            family=self.name,
            input_size=io.input_size,
            edgetpu=io.edgetpu,
            description=f"MoveNet SinglePose {variant}, {checked.side}x{checked.side} (one person)",
        )
        return MoveNetModel(backend, info)


FAMILY = MoveNetFamily()
