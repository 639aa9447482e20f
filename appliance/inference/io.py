"""Reading model files and describing a loaded interpreter's input and outputs.

Model-agnostic: what the outputs mean is for the model family (``appliance.models``) to say.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ModelError

__all__ = ["EDGETPU_OP", "MAX_MODEL_BYTES", "ModelIO", "TensorInfo", "describe_io", "read_model_file"]

#: Largest model file read (Coral's PoseNet and MoveNet files are 1.1 to 7 MB).
MAX_MODEL_BYTES = 64 * 1024 * 1024

#: The custom operator an Edge-TPU-compiled model runs on the TPU (needs the libedgetpu delegate).
EDGETPU_OP = b"edgetpu-custom-op"


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One output tensor: interpreter index, name, shape (batch axis included), (scale, zero point)."""

    index: int
    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int


@dataclass(frozen=True, slots=True)
class ModelIO:
    """A loaded model's interface: its one image input and its outputs, in interpreter order.

    ``input_size`` is (height, width) in pixels of the [1, H, W, 3] input; ``edgetpu`` says whether
    the file needs the Edge TPU delegate; ``prepared`` whether the bytes run differ from the file's
    (the model family changed them, e.g. cut an operator off).
    """

    path: str
    input_index: int
    input_size: tuple[int, int]
    input_dtype: str
    outputs: tuple[TensorInfo, ...]
    edgetpu: bool
    prepared: bool = False


def read_model_file(path: str | Path) -> bytes:
    """Read a model file, with a one-line error when it is missing, unreadable, not a regular file
    (``/dev/zero`` would be read until memory runs out) or larger than ``MAX_MODEL_BYTES``."""
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"model path is not a regular file: {p}")
        if st.st_size > MAX_MODEL_BYTES:
            raise ModelError(f"model file is larger than {MAX_MODEL_BYTES >> 20} MiB: {p}")
        with p.open("rb") as f:
            return f.read(MAX_MODEL_BYTES + 1)[:MAX_MODEL_BYTES]
    except FileNotFoundError:
        raise ModelError(f"model file not found: {p}") from None
    except IsADirectoryError:
        raise ModelError(f"model path is a directory, not a .tflite file: {p}") from None
    except OSError as exc:
        raise ModelError(f"cannot read model {p}: {exc.strerror}") from exc


def describe_io(path: str, interpreter: Any, edgetpu: bool, prepared: bool = False) -> ModelIO:
    """ModelIO of an allocated interpreter; refuse anything without one [1, H, W, 3] image input.

    Raises:
        ModelError: the input is not one RGB image.
    """
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    if len(inputs) != 1:
        raise ModelError(f"not a pose model: {len(inputs)} inputs, expected 1 image ({path})")
    inp = inputs[0]
    shape = tuple(int(v) for v in inp["shape"])
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
        raise ModelError(f"not a pose model: input shape {list(shape)} is not [1, H, W, 3] ({path})")
    infos = []
    for out in outputs:
        scale, zero = out["quantization"]
        oshape = tuple(int(v) for v in out["shape"])
        infos.append(TensorInfo(int(out["index"]), str(out["name"]), oshape, float(scale), int(zero)))
    dtype = inp["dtype"]
    return ModelIO(
        path=path,
        input_index=int(inp["index"]),
        input_size=(shape[1], shape[2]),
        input_dtype=str(getattr(dtype, "__name__", dtype)),
        outputs=tuple(infos),
        edgetpu=edgetpu,
        prepared=prepared,
    )
