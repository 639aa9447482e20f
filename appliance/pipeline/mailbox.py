"""The pipeline's one-slot hand-offs: ``LatestFrame`` ("capture" -> "prepare", "process" -> "send")
overwrites an unread item and counts it as dropped; ``Handoff`` ("prepare" -> "process") makes
the producer wait instead. Each has exactly one producer and one consumer thread."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["Handoff", "LatestFrame"]

T = TypeVar("T")


class LatestFrame(Generic[T]):
    """Hands the newest item from one producer thread to one consumer thread; never queues."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self.dropped = 0  # written under the condition's lock by the producer only

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


class Handoff(Generic[T]):
    """A one-slot hand-off with back-pressure: the producer waits until the slot is empty.

    The "prepare" thread uses it to preprocess exactly one frame ahead of the "process" thread:
    it resizes the next frame while the current one is being inferred, and never more.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None

    def wait_empty(self, timeout: float) -> bool:
        """Wait until the slot is empty; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._item is None, timeout)

    def put(self, item: T) -> None:
        """Fill the (empty) slot; replaces an item if called without ``wait_empty``."""
        with self._cond:
            self._item = item
            self._cond.notify_all()

    def get(self, timeout: float) -> T | None:
        """Take the item, waiting at most ``timeout`` seconds; None on timeout."""
        with self._cond:
            if self._item is None:
                self._cond.wait_for(lambda: self._item is not None, timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item
