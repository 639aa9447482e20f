"""OSC output: wire primitives (``wire``), the format contract (``base``) and the format registry
(``formats``: one module per format)."""

from __future__ import annotations

from appliance.output.osc.base import Coords, OscAddress, OscFormat, OutputOptions
from appliance.output.osc.formats import FORMAT_NAMES, FORMATS

__all__ = ["FORMATS", "FORMAT_NAMES", "Coords", "OscAddress", "OscFormat", "OutputOptions"]
