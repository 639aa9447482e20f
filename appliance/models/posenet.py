"""The PoseNet family (Coral's multi-pose PoseNet models, CPU and Edge TPU).

Files: every Coral ``*_decoder*.tflite`` (its trailing ``PosenetDecoderOp`` is cut off in memory,
``modelcut``) and the raw-head component models. Input: the whole frame **stretched** to the model
input, as Coral's examples do. Outputs: three heads (heatmaps, short and mid offsets, stride 16),
decoded by ``appliance.pose.decode`` in **(y, x)** model-input pixels and mapped back to **(x, y)**
source pixels by the input transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from appliance.errors import ModelError
from appliance.inference import InferenceBackend
from appliance.inference.io import TensorInfo
from appliance.models.base import Decoded, ModelInfo
from appliance.models.modelcut import cut_posenet_decoder
from appliance.pose.decode import DecodedPoses, decode_multi, decode_single, warm_up
from appliance.pose.geometry import InputTransform, to_source_xy
from appliance.pose.heads import RawHeads
from appliance.pose.params import DecoderConfig

__all__ = ["FAMILY", "PoseNetFamily", "PoseNetInfo", "PoseNetModel"]

#: Channels of the three heads: heatmaps, short offsets, mid offsets.
HEAD_CHANNELS = {"heatmaps": 17, "short_offsets": 34, "mid_offsets": 64}


@dataclass(frozen=True, slots=True)
class PoseNetInfo(ModelInfo):
    """ModelInfo plus PoseNet's own: the output ``grid`` (h, w) cells, ``stride`` input pixels per
    cell, whether the decoder op was cut, and which output index holds which head."""

    grid: tuple[int, int] = (0, 0)
    stride: int = 16
    was_cut: bool = False
    head_order: tuple[int, int, int] = (0, 1, 2)


class PoseNetModel:
    """A loaded PoseNet model: stretched input, three heads out, Coral's multi-pose decoder."""

    def __init__(self, backend: InferenceBackend, info: PoseNetInfo) -> None:
        self.backend = backend
        self.info = info
        self.name = backend.name
        warm_up()  # compile (or load) the decoder kernel now, not on the first frame

    def input_transform(self, frame_size: tuple[int, int]) -> InputTransform:
        """The whole frame stretched to the whole input."""
        return InputTransform.stretch(frame_size, self.info.input_size)

    def infer(self, tensor: NDArray[np.uint8]) -> RawHeads:
        """The three dequantised heads of one (1, H, W, 3) uint8 input."""
        outputs = self.backend.infer(tensor)
        heat, short, mid = (outputs[i] for i in self.info.head_order)
        return RawHeads(heat, short, mid, self.info.stride, self.info.input_size)

    def decode(self, raw: RawHeads, transform: InputTransform, params: DecoderConfig) -> Decoded:
        """Decode (multi- or single-pose, as ``params.mode`` says) and map to source pixels."""
        if params.mode == "single":
            decoded = decode_single(raw)
            if len(decoded) and decoded.scores[0] < params.min_pose_score:
                decoded = DecodedPoses.empty()
        else:
            decoded = decode_multi(
                raw,
                max_poses=params.max_poses,
                score_threshold=params.min_pose_score,
                nms_radius=params.posenet.nms_radius,
            )
        keypoints = to_source_xy(decoded, self.info.input_size, transform.frame_size, transform)
        return Decoded(keypoints, decoded.scores)

    def close(self) -> None:
        """Release the backend; idempotent."""
        self.backend.close()


def _heads(outputs: tuple[TensorInfo, ...], path: str) -> tuple[tuple[int, int, int], tuple[int, int]]:
    """Which output is which head, and the grid; ModelError if they are not PoseNet's heads."""
    order: dict[str, int] = {}
    for i, out in enumerate(outputs):
        for name, channels in HEAD_CHANNELS.items():
            if len(out.shape) == 4 and out.shape[3] == channels:
                order[name] = i
    if len(order) != 3 or len(outputs) != 3:
        found = [list(o.shape) for o in outputs]
        raise ModelError(f"not a PoseNet model: outputs {found} are not the 17/34/64-channel heads ({path})")
    grids = {outputs[i].shape[1:3] for i in order.values()}
    if len(grids) != 1:
        raise ModelError(f"not a PoseNet model: heads disagree on the grid {sorted(grids)} ({path})")
    gh, gw = grids.pop()
    return (order["heatmaps"], order["short_offsets"], order["mid_offsets"]), (gh, gw)


class PoseNetFamily:
    """Recognises Coral PoseNet files, cuts their decoder op, binds loaded ones as PoseNetModel."""

    name = "posenet"
    label = "PoseNet"

    def recognise(self, content: bytes) -> str:
        """ "" for a PoseNet decoder model or a 3-output raw-head model, else why not."""
        try:
            cut_posenet_decoder(content)
        except ModelError as exc:
            return str(exc).removeprefix("not a PoseNet model: ")
        return ""

    def prepare(self, content: bytes) -> bytes:
        """The model without its ``PosenetDecoderOp`` (raw-head models unchanged)."""
        return cut_posenet_decoder(content).content

    def bind(self, backend: InferenceBackend) -> PoseNetModel:
        """A PoseNetModel over ``backend``; ModelError if its outputs are not the three heads."""
        io = backend.io
        order, grid = _heads(io.outputs, io.path)
        height = io.input_size[0]
        stride = round((height - 1) / max(grid[0] - 1, 1))
        info = PoseNetInfo(
            path=io.path,
            family=self.name,
            input_size=io.input_size,
            edgetpu=io.edgetpu,
            description=f"PoseNet multi-pose, {io.input_size[1]}x{io.input_size[0]}, stride {stride}",
            grid=grid,
            stride=int(stride),
            was_cut=io.prepared,
            head_order=order,
        )
        return PoseNetModel(backend, info)


FAMILY = PoseNetFamily()
