"""Pose listeners: whoever wants each frame's final poses (UDP targets, the page's live stream,
OSCQuery values, a recorder). Called on the "send" thread after the pose stages, in order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from appliance.types import Poses

__all__ = ["ListenerSet", "PoseListener"]


class PoseListener(Protocol):
    """Receives every frame's poses; must return quickly and never block (drop, don't queue)."""

    def on_poses(self, poses: Poses) -> None:
        """One frame's final poses (source pixels, (x, y, score), ids filled in)."""
        ...


class ListenerSet:
    """A PoseListener that forwards to listeners added and removed at any time, from any thread.

    Copy-on-write: ``on_poses`` iterates a snapshot without locking. A listener that raises does
    not keep the others from their frame; the first exception is re-raised afterwards, for the
    caller to count.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[PoseListener, ...] = ()

    def add(self, listener: PoseListener) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it (idempotent)."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def __len__(self) -> int:
        return len(self._listeners)

    def on_poses(self, poses: Poses) -> None:
        """Forward to every current listener."""
        failed: Exception | None = None
        for listener in self._listeners:
            try:
                listener.on_poses(poses)
            except Exception as exc:  # the others still get the frame
                failed = failed or exc
        if failed is not None:
            raise failed
