"""OSC output: wire primitives and the output formats."""

from __future__ import annotations

from appliance.output.osc.base import Coords, OutputOptions
from appliance.output.osc.formats import FORMATS

__all__ = ["FORMATS", "Coords", "OutputOptions", "encode"]


def encode(fmt: str, poses: object, options: OutputOptions) -> list[bytes]:
    """Encode with the format named ``fmt`` (a key of FORMATS)."""
    return FORMATS[fmt](poses, options)  # type: ignore[arg-type]
