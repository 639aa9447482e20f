"""OSC output: wire primitives (``wire``), the format contract (``base``) and the format registry
(``formats``: one module per format)."""

from __future__ import annotations

from appliance.output.osc.base import COORDS, TIMETAGS, Coords, OscAddress, OscFormat, OutputOptions, TimeTag
from appliance.output.osc.formats import DEFAULT_FORMAT, FORMAT_NAMES, FORMATS

__all__ = [
    "COORDS",
    "DEFAULT_FORMAT",
    "FORMATS",
    "FORMAT_NAMES",
    "TIMETAGS",
    "Coords",
    "OscAddress",
    "OscFormat",
    "OutputOptions",
    "TimeTag",
]
