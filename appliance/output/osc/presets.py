"""Presets: a format with the coordinates and port the receivers people already run expect.

Choosing one on the page, in the API (``"preset": "p5-poses-osc"``) or at the control port
(``/posenet/listeners/add p5-poses-osc``) fills in what the preset says; anything given explicitly
wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.output.osc.base import Coords

__all__ = ["PRESETS", "Preset", "resolve"]


@dataclass(frozen=True, slots=True)
class Preset:
    """``format``, ``coords`` and (when the receiver has a fixed one) ``port``."""

    format: str
    coords: Coords
    port: int | None
    description: str


PRESETS: dict[str, Preset] = {
    "p5-poses-osc": Preset(
        "individual", "pixels", 12000, "p5-poses-osc and the seed's ml5.js sketches: camera pixels, port 12000"
    ),
    "poseosc": Preset("arr", "pixels", None, "PoseOSC / VisionOSC patches: /poses/arr in camera pixels"),
    "wekinator": Preset("wekinator", "normalized", 6448, "Wekinator: 51 inputs, 0..1, on its port 6448"),
}


def resolve(name: str) -> tuple[str, Coords | None, int | None]:
    """A format or preset name -> (format, coordinates, port): a preset's own; a format's default
    coordinates and no port; an unknown name as it is with neither (the caller refuses it)."""
    from appliance.output.osc import FORMATS

    preset = PRESETS.get(name)
    if preset is not None:
        return preset.format, preset.coords, preset.port
    known = FORMATS.get(name)
    return name, known.default_coords if known is not None else None, None
