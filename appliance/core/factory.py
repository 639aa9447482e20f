"""Building the data plane from configuration: the one way ``detect``, ``run`` and the
benchmarks make an engine and a source."""

from __future__ import annotations

from appliance.capture import FrameSource, create_source, parse_source
from appliance.config.models import InferenceConfig
from appliance.models import load_model
from appliance.models.catalog import resolve_model
from appliance.models.engine import PoseEngine
from appliance.pose.params import DecoderConfig

__all__ = ["build_engine", "build_source"]


def build_engine(inference: InferenceConfig, decoder: DecoderConfig) -> PoseEngine:
    """Load the configured model (Edge TPU probed, CPU twin as fallback) behind a PoseEngine.

    Raises:
        ModelError: missing, unreadable or unknown model.
        HardwareUnavailable: no TF Lite runtime.
    """
    model = load_model(
        resolve_model(inference.model), inference.backend, device=inference.device, threads=inference.threads
    )
    return PoseEngine(model, decoder)


def build_source(source: str, engine: PoseEngine) -> FrameSource:
    """The configured source, not yet opened; the Pi camera's preview stream sized for the model."""
    spec = parse_source(source)
    if spec.type == "picamera2":
        return create_source(spec, input_size=engine.input_size)
    return create_source(spec)
