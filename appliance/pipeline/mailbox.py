"""LatestFrame: a one-slot mailbox. ``put`` overwrites an unread item and counts it as dropped."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["LatestFrame"]

T = TypeVar("T")


class LatestFrame(Generic[T]):
    """Hands the newest item from one producer thread to one consumer thread; never queues."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self.dropped = 0

    def put(self, item: T) -> None:
        """Store ``item``; an item nobody took yet is discarded and counted."""
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def get(self, timeout: float) -> T | None:
        """Take the newest item, waiting at most ``timeout`` seconds; None on timeout."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item
