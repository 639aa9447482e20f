"""A change of the network settings on trial: not saved until the owner confirms it from the new
address, undone by itself after ``TRIAL_SECONDS`` (``Application.update`` puts it here).

``NetworkTrials`` holds the one trial at a time and tells its hooks (the service's control plane,
which starts and closes the servers) of "begin", "commit" and "revert".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.config.models import NETWORK_SETTINGS, AppConfig
from appliance.config.store import ConfigStore
from appliance.core.status import NetworkTrial
from appliance.errors import RefusedChange

__all__ = ["TRIAL_SECONDS", "NetworkTrials", "network", "with_network"]

logger = logging.getLogger(__name__)

#: Seconds the owner has to confirm a change of the network settings from the new address.
TRIAL_SECONDS = 120.0


def network(config: dict[str, Any]) -> dict[str, Any]:
    """The network settings (``NETWORK_SETTINGS``) of a configuration as JSON data, by dotted name."""
    return {f"{sec}.{key}": (config.get(sec) or {}).get(key) for sec, key in NETWORK_SETTINGS}


def with_network(config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``config`` (JSON data) with the network settings ``values`` (by dotted name) put in."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    for name, value in values.items():
        sec, key = name.split(".")
        out.setdefault(sec, {})[key] = value
    return out


class NetworkTrials:
    """The network settings on trial (at most one), and who hears of it; thread-safe."""

    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self.current: NetworkTrial | None = None
        self._hooks: list[Callable[[str, NetworkTrial], None]] = []
        self._lock = threading.Lock()

    def on_event(self, fn: Callable[[str, NetworkTrial], None]) -> None:
        """Call ``fn(event, trial)`` for "begin", "commit" and "revert" (from the thread that caused
        it: ``fn`` must hand work to its own loop)."""
        self._hooks.append(fn)

    def _tell(self, event: str, trial: NetworkTrial) -> None:
        for fn in list(self._hooks):
            fn(event, trial)

    def split(
        self, current: dict[str, Any], wanted: dict[str, Any], check: Callable[[AppConfig], None]
    ) -> tuple[dict[str, Any], NetworkTrial | None]:
        """``wanted`` (JSON data) without its changes of the network settings, and those as a trial
        (None when there are none). ``check`` is called with the full wanted configuration (the new
        addresses can be listened on). Raises RefusedChange while another trial runs."""
        before, after = network(current), network(wanted)
        if after == before:
            return wanted, None
        changes = {k: v for k, v in after.items() if before[k] != v}
        running = self.current
        if running is not None:
            left = max(0, round(running.deadline - time.monotonic()))
            loc = tuple(next(iter(changes)).split("."))
            raise RefusedChange(loc, f"a change of the network settings is on trial: confirm it or wait {left} s")
        full = AppConfig.model_validate(wanted)  # invalid: refused as a whole, as usual
        check(full)
        return with_network(wanted, before), NetworkTrial(full, changes, time.monotonic() + TRIAL_SECONDS)

    def begin(self, trial: NetworkTrial) -> None:
        """``trial`` runs from now (the rest of its change is saved)."""
        with self._lock:
            self.current = trial
        logger.warning("network settings on trial for %.0f s: %s", TRIAL_SECONDS, trial.changes)
        self._tell("begin", trial)

    def confirm(self, host: str, port: int) -> NetworkTrial:
        """Keep the settings on trial (saved); the request arrived at ``host``:``port`` of this box,
        which must be the new HTTP address when that changed (blocking: call off the loop).

        Raises:
            RefusedChange: nothing is on trial, or the confirmation came through the old address.
        """
        with self._lock:
            trial = self.current
            if trial is None:
                raise RefusedChange(("network",), "no change of the network settings is waiting for confirmation")
            if not trial.arrived_at(host, port):
                http = trial.config.http
                where = f"port {http.port}" + ("" if http.bind in ("0.0.0.0", "::") else f" of {http.bind}")
                raise RefusedChange(("http",), f"confirm from the new address ({where}), to prove it reaches the box")
            values = network(trial.config.model_dump(mode="json"))
            self.store.update(lambda current: with_network(current, values))
            self.current = None
        logger.warning("network settings confirmed and saved: %s", trial.changes)
        self._tell("commit", trial)
        return trial

    def revert(self, trial: NetworkTrial, why: str) -> bool:
        """Undo ``trial`` if it is still the one on trial (nothing was saved); returns whether it was."""
        with self._lock:
            if self.current is not trial:
                return False
            self.current = None
        logger.warning("network settings undone (%s): %s", why, trial.changes)
        self._tell("revert", trial)
        return True
