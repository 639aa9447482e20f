"""The model-family contract: what a family of pose models (PoseNet, MoveNet, ...) provides.

A ``ModelFamily`` recognises its model files and makes them runnable on a stock TF Lite runtime.
Bound to a loaded backend it becomes a ``PoseModel``, which owns the input transform (how a frame
is fitted to its input), the raw outputs, and decoding them to keypoints in **source pixels**. The
engine and the backends know nothing family-specific.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from appliance.inference import InferenceBackend
from appliance.pose.geometry import InputTransform
from appliance.pose.params import DecoderConfig

__all__ = ["Decoded", "ModelFamily", "ModelInfo", "PoseModel"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What every loaded model tells the status and the page.

    ``input_size`` is the model input as (height, width) pixels; ``family`` the family's name
    ("posenet", ...); ``description`` one line for people.
    """

    path: str
    family: str
    input_size: tuple[int, int]
    edgetpu: bool
    description: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """A family's decoding of one frame: ``keypoints`` float32 (N, 17, 3) = **(x, y, score)** in
    **source pixels**, ``scores`` float32 (N,) pose scores, best first."""

    keypoints: NDArray[np.float32]
    scores: NDArray[np.float32]


class PoseModel(Protocol):
    """A loaded model of one family: transform frames in, decode raw outputs to source pixels.

    ``input_transform`` and ``decode`` may run on different threads for different frames; they
    must not share mutable state unsafely.
    """

    name: str
    info: ModelInfo
    backend: InferenceBackend

    def input_transform(self, frame_size: tuple[int, int]) -> InputTransform:
        """How a frame of ``frame_size`` (width, height) is fitted to the model input."""
        ...

    def infer(self, tensor: NDArray[np.uint8]) -> Any:
        """Run the backend on a (1, H, W, 3) uint8 tensor; the family's raw outputs."""
        ...

    def decode(self, raw: Any, transform: InputTransform, params: DecoderConfig) -> Decoded:
        """Raw outputs of one frame -> keypoints in source pixels, best pose first."""
        ...

    def close(self) -> None:
        """Release the backend; idempotent."""
        ...


class ModelFamily(Protocol):
    """One family of model files (a module in ``appliance.models`` declaring ``FAMILY``)."""

    name: str
    label: str

    def recognise(self, content: bytes) -> str:
        """ "" if ``content`` (a .tflite file's bytes) is of this family, else why not (one line)."""
        ...

    def prepare(self, content: bytes) -> bytes:
        """The bytes a stock TF Lite runtime (plus the Edge TPU delegate) can run."""
        ...

    def bind(self, backend: InferenceBackend) -> PoseModel:
        """A PoseModel over a backend that loaded ``prepare``'s bytes.

        Raises:
            ModelError: the backend's outputs are not what this family produces.
        """
        ...
