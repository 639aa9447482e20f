"""Building the data plane from configuration: the one way ``detect``, ``run`` and the
benchmarks make an engine and a source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.capture import FrameSource, PoseSource, create_source
from appliance.config.models import InferenceConfig
from appliance.models import load_model
from appliance.models.catalog import models_dir, resolve_model
from appliance.models.engine import PoseEngine
from appliance.pose.params import DecoderConfig

__all__ = ["Folders", "build_engine", "build_source"]


@dataclass(frozen=True, slots=True)
class Folders:
    """Where the box reads model and media files from. Set by the owner (command line, environment,
    the unit's directories), never by a configuration change: those name files inside them."""

    models: Path
    media: Path
    recordings: Path | None = None  # None: <state dir>/recordings

    @classmethod
    def default(cls, state_dir: Path) -> Folders:
        """The models folder (``$POSENET_MODELS_DIR`` ...), ``<state dir>/media`` and
        ``<state dir>/recordings``."""
        return cls(models_dir(), state_dir / "media", state_dir / "recordings")


def build_engine(inference: InferenceConfig, decoder: DecoderConfig, models: Path | None = None) -> PoseEngine:
    """Load the configured model from ``models`` (Edge TPU probed, CPU twin as fallback).

    Raises:
        ModelError: missing, unreadable or unknown model.
        HardwareUnavailable: no TF Lite runtime.
    """
    model = load_model(
        resolve_model(inference.model, models),
        inference.accelerator,
        device=inference.device,
        threads=inference.threads,
    )
    return PoseEngine(model, decoder)


def build_source(
    source: str, engine: PoseEngine | None, media: Path | None = None, recordings: Path | None = None
) -> FrameSource | PoseSource:
    """The configured source, not yet opened: files from ``media`` (a replay: from ``recordings``); a
    camera sized for the model (``engine``: None for a source of poses, which needs no model)."""
    size = engine.input_size if engine is not None else None
    return create_source(source, media=media, input_size=size, recordings=recordings)
