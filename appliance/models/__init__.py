"""Pose model families, the model files we know, and loading a model of any family.

* ``FAMILIES``: the explicit registry of families (one module each, imported when first needed):
  adding a family is one module declaring ``FAMILY`` plus one line here.
* ``load_model(path, kind)``: recognise the file's family, load it on the Edge TPU or the CPU
  (``appliance.inference``), and bind it: a ``PoseModel`` whose poses come in source pixels.
* ``catalog``: the models folder, the pinned downloads (``models fetch``).
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from appliance.errors import ModelError
from appliance.inference import BackendKind, cpu_twin, create_backend
from appliance.inference.io import read_model_file
from appliance.models.base import ModelFamily, ModelInfo, PoseModel

__all__ = ["FAMILIES", "ModelFamily", "ModelInfo", "PoseModel", "family", "identify", "load_model"]

#: family name -> module declaring ``FAMILY``; imported only when needed.
FAMILIES: dict[str, str] = {
    "posenet": "appliance.models.posenet",
    "movenet": "appliance.models.movenet",
}

_TFLITE_IDENT = b"TFL3"


@cache
def family(name: str) -> ModelFamily:
    """The family registered as ``name``."""
    fam: ModelFamily = importlib.import_module(FAMILIES[name]).FAMILY
    return fam


def identify(content: bytes, where: str = "") -> ModelFamily:
    """The family of a .tflite file's bytes.

    Raises:
        ModelError: not a TFLite model, or of no known family (naming why, per family).
    """
    suffix = f" ({where})" if where else ""
    if content[4:8] != _TFLITE_IDENT:
        raise ModelError(f"not a TFLite model (missing TFL3 identifier){suffix}")
    reasons = []
    for name in FAMILIES:
        fam = family(name)
        why = fam.recognise(content)
        if not why:
            return fam
        reasons.append(f"{fam.label}: {why}" if len(FAMILIES) > 1 else why)
    labels = " or ".join(family(n).label for n in FAMILIES)
    raise ModelError(f"not a {labels} model{suffix}: {'; '.join(reasons)}")


def load_model(
    path: str | Path, kind: BackendKind = "auto", *, device: str = "usb", threads: int = 2, runtime: str | None = None
) -> PoseModel:
    """Load a pose model of any family on the Edge TPU (probed, CPU twin as fallback) or the CPU.

    A missing ``x_edgetpu.tflite`` whose CPU twin exists is loaded as the twin unless ``kind`` is
    "edgetpu".

    Raises:
        ModelError: missing, unreadable, or not a pose model we know.
        HardwareUnavailable: no TF Lite runtime.
    """
    p = Path(path)
    if not p.exists() and kind != "edgetpu" and cpu_twin(p).exists():
        p = cpu_twin(p) if kind == "cpu" else p
    probe_path = p if p.exists() else cpu_twin(p)
    if not probe_path.exists():
        raise ModelError(
            f"model not found: {p}; pass --model, set POSENET_MODELS_DIR, or run 'posenet-appliance models fetch'"
        )
    fam = identify(read_model_file(probe_path), str(probe_path))
    backend = create_backend(p, kind, device=device, threads=threads, runtime=runtime, prepare=fam.prepare)
    try:
        return fam.bind(backend)
    except ModelError:
        backend.close()
        raise
