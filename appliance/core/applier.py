"""Applier: the one worker that rebuilds the pipeline, so that nothing else waits for a rebuild.

A saved change is put in force in two parts (``appliance.core.app.Application``): its live settings
(targets, thresholds, tracking, smoothing) at once, in save order, under the store's lock; a new
source or model by this worker, which stops and joins the old pipeline and loads the new model (the
Edge TPU probe may take seconds) on its own thread named "applier". Requests coalesce: a second
rebuild asked for while one runs replaces any still waiting (the newest configuration wins), so a
burst of model changes costs at most one rebuild beyond the one under way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Applier"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Applier(Generic[T]):
    """Runs ``work(item)`` on the "applier" thread for the newest item asked for; ``start`` once,
    ``stop`` (joins) once or more. ``work`` must not raise (it is wrapped: a raise is logged).
    ``merge(waiting, new)`` combines a request with one still waiting (default: the new one wins)."""

    def __init__(self, work: Callable[[T], None], merge: Callable[[T, T], T] | None = None) -> None:
        self._work = work
        self._merge = merge
        self._cond = threading.Condition()
        self._wanted: T | None = None
        self._pending = False
        self._running = False  # work in progress
        self._stop = False
        self._thread: threading.Thread | None = None
        self.done = 0  # items worked on (coalesced requests count once)

    def start(self) -> None:
        """Start the "applier" thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="applier", daemon=True)
            self._thread.start()

    def want(self, item: T) -> None:
        """Ask for ``item`` to be worked on (replacing any request not yet started); never blocks."""
        with self._cond:
            if self._pending and self._merge is not None:
                item = self._merge(self._wanted, item)  # type: ignore[arg-type]
            self._wanted, self._pending = item, True
            self._cond.notify()

    @property
    def busy(self) -> bool:
        """Work is under way or waiting."""
        with self._cond:
            return self._running or self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Until nothing is under way or waiting (tests, shutdown); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not (self._running or self._pending), timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Finish the work under way, drop what waits, end the thread; True if it ended in time."""
        with self._cond:
            self._stop, self._pending, self._wanted = True, False, None
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stop)
                if self._stop:
                    return
                item, self._wanted, self._pending, self._running = self._wanted, None, False, True
            try:
                self._work(item)  # type: ignore[arg-type]
            except Exception:  # the work reports its own faults; this is the last line
                logger.exception("applying a configuration failed")
            finally:
                with self._cond:
                    self._running = False
                    self.done += 1
                    self._cond.notify_all()
