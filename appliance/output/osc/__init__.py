"""OSC output: wire primitives and the output formats."""

from __future__ import annotations

from appliance.output.osc.base import Coords, OutputOptions
from appliance.output.osc.formats import FORMATS

__all__ = ["FORMATS", "Coords", "OutputOptions"]
