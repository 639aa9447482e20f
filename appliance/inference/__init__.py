"""Inference backends: Edge TPU through libedgetpu, CPU, with a fallback policy. Model-agnostic.

``create_backend`` is the one entry point. It never lets a broken Edge TPU take the process down:
the delegate is probed in a child process first, and on failure the CPU twin of the model is used
with a warning, and the backend's ``name`` says so. What a model's outputs mean, and how a model
file is made runnable (PoseNet's decoder op is cut off), is the model family's business
(``appliance.models``): it passes ``prepare``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from appliance.errors import ModelError
from appliance.inference.base import InferenceBackend, InterpreterBackend, Outputs
from appliance.inference.io import EDGETPU_OP, ModelIO, describe_io, read_model_file
from appliance.inference.probe import DELEGATE_LIBRARY, delegate_options, probe_edgetpu
from appliance.inference.runtime import Runtime, load_runtime

__all__ = [
    "BackendKind",
    "InferenceBackend",
    "ModelIO",
    "Outputs",
    "Prepare",
    "cpu_twin",
    "create_backend",
    "edgetpu_twin",
]

logger = logging.getLogger(__name__)

BackendKind = Literal["auto", "edgetpu", "cpu"]
#: Turns a model file's bytes into bytes a stock runtime can run (e.g. cutting a custom op).
Prepare = Callable[[bytes], bytes]


def _unchanged(content: bytes) -> bytes:
    return content


def cpu_twin(path: Path) -> Path:
    """``x_edgetpu.tflite`` -> ``x.tflite`` (same folder); other paths unchanged."""
    name = path.name
    return path.with_name(name.replace("_edgetpu.tflite", ".tflite")) if name.endswith("_edgetpu.tflite") else path


def edgetpu_twin(path: Path) -> Path:
    """``x.tflite`` -> ``x_edgetpu.tflite`` (same folder); Edge TPU paths unchanged."""
    name = path.name
    return path if name.endswith("_edgetpu.tflite") else path.with_name(name[: -len(".tflite")] + "_edgetpu.tflite")


def _load(
    runtime: Runtime, path: Path, threads: int, delegate: object | None, name: str, prepare: Prepare
) -> InterpreterBackend:
    raw = read_model_file(path)
    edgetpu = EDGETPU_OP in raw
    content = prepare(raw)
    kwargs: dict[str, object] = {"model_content": content, "num_threads": threads}
    if delegate is not None:
        kwargs["experimental_delegates"] = [delegate]
    try:
        interp = runtime.interpreter(**kwargs)
        interp.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if edgetpu and delegate is None:
            raise ModelError(f"{path.name} needs the Edge TPU; use its CPU twin or plug in a Coral ({first})") from exc
        raise ModelError(f"cannot load {path}: {first}") from exc
    return InterpreterBackend(interp, describe_io(str(path), interp, edgetpu, content != raw), name)


def create_backend(
    model: str | Path,
    kind: BackendKind = "auto",
    *,
    device: str = "usb",
    threads: int = 2,
    runtime: str | None = None,
    prepare: Prepare = _unchanged,
) -> InferenceBackend:
    """Load ``model`` on the Edge TPU or the CPU.

    Args:
        model: a .tflite file.
        kind: "edgetpu" (fall back to CPU when the TPU is missing), "cpu", or "auto" (Edge TPU
            for ``_edgetpu`` files, else CPU).
        device: Edge TPU device: "usb", "usb:N", "pci", "pci:N" or "any".
        threads: CPU interpreter threads.
        runtime: "ai-edge-litert" or "tflite-runtime"; None picks the first installed.
        prepare: applied to the bytes of whichever file is loaded (the model or its twin).

    Raises:
        ModelError: missing or unloadable model, or no usable CPU twin after a TPU failure.
        HardwareUnavailable: no TFLite runtime installed.
    """
    path = Path(model)
    rt = load_runtime(runtime)
    want_tpu = kind == "edgetpu" or (kind == "auto" and path.name.endswith("_edgetpu.tflite"))
    if not want_tpu:
        cpu_path = cpu_twin(path) if kind == "cpu" and not path.exists() else path
        return _load(rt, cpu_path, threads, None, f"cpu ({threads} threads, {rt.name})", prepare)
    tpu_path = edgetpu_twin(path)
    if not tpu_path.exists():
        tpu_path = path
    # The child loads this very model with the delegate: a libedgetpu that crashes on it (one built
    # for another TF Lite does, while preparing) costs a CPU fallback, not the service.
    probe = probe_edgetpu(rt.module, device, model=tpu_path, prepare=prepare)
    failure = probe.failure
    if probe.ok:
        try:
            delegate = rt.load_delegate(DELEGATE_LIBRARY, delegate_options(device))
            return _load(rt, tpu_path, threads, delegate, f"edgetpu ({device})", prepare)
        except (OSError, ValueError, ModelError) as exc:
            reason, failure = str(exc).splitlines()[0], "error"
    else:
        reason = probe.reason
    twin = cpu_twin(tpu_path)
    if not twin.exists():
        raise ModelError(
            f"no Edge TPU ({reason}) and no CPU twin {twin.name} next to {tpu_path.name}; "
            "plug in the Coral or choose a CPU model"
        )
    logger.warning("Edge TPU unavailable on %s (%s); falling back to the CPU model %s", device, reason, twin.name)
    why = {
        "crash": f"Edge TPU on {device} crashed (see log)",
        "hang": f"Edge TPU on {device} hung",
        "error": f"Edge TPU on {device} failed (see log)",
    }.get(failure, f"no Edge TPU on {device}")
    return _load(rt, twin, threads, None, f"cpu fallback ({threads} threads): {why}", prepare)
