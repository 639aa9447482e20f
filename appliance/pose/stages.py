"""PoseStage: one step of the chain that decoded poses pass through before the listeners.

Stages run on the "send" thread, in order, one frame at a time: tracking (stable ids, enter and
leave events, cuts between scenes), then smoothing (One Euro per person). Each is pure given its own
state: it returns a new Poses and never blocks.
"""

from __future__ import annotations

from typing import Protocol

from appliance.types import Poses

__all__ = ["PoseStage"]


class PoseStage(Protocol):
    """Poses in, Poses out (source pixels, (x, y, score)); ``reset`` forgets everything seen."""

    name: str

    def __call__(self, poses: Poses) -> Poses:
        """The next frame's poses, transformed."""
        ...

    def reset(self) -> None:
        """Start over (a new source or model)."""
        ...
