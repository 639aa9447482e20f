"""Load a PoseNet .tflite file: cut the decoder op, then read input size, quantisation and heads.

Everything is read from the model itself, never from its file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ModelError
from appliance.inference.modelcut import cut_posenet_decoder

__all__ = ["HeadInfo", "ModelInfo", "load_model_bytes", "read_model_file"]

#: Channels of the three heads: heatmaps, short offsets, mid offsets.
HEAD_CHANNELS = {"heatmaps": 17, "short_offsets": 34, "mid_offsets": 64}


@dataclass(frozen=True, slots=True)
class HeadInfo:
    """One output head: interpreter tensor index, name, shape and (scale, zero point)."""

    index: int
    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the appliance needs to know about a loaded model.

    ``input_size`` is (height, width) in pixels; ``stride`` input pixels per output cell.
    """

    path: str
    input_index: int
    input_size: tuple[int, int]
    input_dtype: str
    heads: dict[str, HeadInfo]
    stride: int
    was_cut: bool
    edgetpu: bool

    @property
    def grid(self) -> tuple[int, int]:
        """Output grid as (h, w) cells."""
        shape = self.heads["heatmaps"].shape
        return shape[1], shape[2]


def read_model_file(path: str | Path) -> bytes:
    """Read a model file, with a one-line error when it is missing or unreadable."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file not found: {p}") from None
    except IsADirectoryError:
        raise ModelError(f"model path is a directory, not a .tflite file: {p}") from None
    except OSError as exc:
        raise ModelError(f"cannot read model {p}: {exc.strerror}") from exc


def load_model_bytes(content: bytes) -> tuple[bytes, bool, bool]:
    """Cut the decoder off ``content``; returns (runnable bytes, was_cut, needs the Edge TPU)."""
    result = cut_posenet_decoder(content)
    return result.content, result.was_cut, b"edgetpu-custom-op" in content


def describe(path: str, interpreter: object, was_cut: bool, edgetpu: bool) -> ModelInfo:
    """Build ModelInfo from an allocated interpreter; refuse anything that is not PoseNet.

    Raises:
        ModelError: the input is not an RGB image or the outputs are not the three heads.
    """
    inputs = interpreter.get_input_details()  # type: ignore[attr-defined]
    outputs = interpreter.get_output_details()  # type: ignore[attr-defined]
    if len(inputs) != 1:
        raise ModelError(f"not a PoseNet model: {len(inputs)} inputs, expected 1 image ({path})")
    inp = inputs[0]
    shape = tuple(int(v) for v in inp["shape"])
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
        raise ModelError(f"not a PoseNet model: input shape {list(shape)} is not [1, H, W, 3] ({path})")
    heads: dict[str, HeadInfo] = {}
    for out in outputs:
        oshape = tuple(int(v) for v in out["shape"])
        for name, channels in HEAD_CHANNELS.items():
            if len(oshape) == 4 and oshape[3] == channels:
                scale, zero = out["quantization"]
                heads[name] = HeadInfo(int(out["index"]), str(out["name"]), oshape, float(scale), int(zero))
    if len(heads) != 3 or len(outputs) != 3:
        found = [list(map(int, o["shape"])) for o in outputs]
        raise ModelError(f"not a PoseNet model: outputs {found} are not the 17/34/64-channel heads ({path})")
    grid = {h.shape[1:3] for h in heads.values()}
    if len(grid) != 1:
        raise ModelError(f"not a PoseNet model: heads disagree on the grid {sorted(grid)} ({path})")
    gh, _gw = grid.pop()
    height, width = shape[1], shape[2]
    stride = round((height - 1) / max(gh - 1, 1))
    return ModelInfo(
        path=path,
        input_index=int(inp["index"]),
        input_size=(height, width),
        input_dtype=str(inp["dtype"].__name__ if hasattr(inp["dtype"], "__name__") else inp["dtype"]),
        heads=heads,
        stride=int(stride),
        was_cut=was_cut,
        edgetpu=edgetpu,
    )
