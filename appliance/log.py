"""Logging helpers: LogOnce logs a repeated fault at WARNING the first time, then at DEBUG."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

__all__ = ["LogOnce"]


class LogOnce:
    """First occurrence of each key at the given level, repeats at DEBUG; ``clear`` re-arms a key.

    Bounded: at most ``max_keys`` keys are remembered (then everything is logged at DEBUG).
    """

    def __init__(self, logger: logging.Logger, max_keys: int = 1024) -> None:
        self._logger = logger
        self._seen: set[Hashable] = set()
        self._lock = threading.Lock()
        self._max = max_keys

    def _first(self, key: Hashable) -> bool:
        with self._lock:
            if key in self._seen or len(self._seen) >= self._max:
                return False
            self._seen.add(key)
            return True

    def warning(self, key: Hashable, msg: str, *args: object, exc_info: bool = False) -> None:
        """WARNING the first time ``key`` is seen, DEBUG after."""
        self._logger.log(logging.WARNING if self._first(key) else logging.DEBUG, msg, *args, exc_info=exc_info)

    def clear(self, key: Hashable) -> bool:
        """Forget ``key`` (the fault went away); returns whether it had been logged."""
        with self._lock:
            if key in self._seen:
                self._seen.discard(key)
                return True
            return False

    def recovered(self, prefix: Hashable) -> bool:
        """Forget every tuple key starting with ``prefix`` (a stage works again: its next fault is
        logged at WARNING again); returns whether any had been logged."""
        with self._lock:
            gone = {k for k in self._seen if isinstance(k, tuple) and k and k[0] == prefix}
            self._seen -= gone
            return bool(gone)
