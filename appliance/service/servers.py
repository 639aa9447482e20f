"""The control-plane servers (OSC control port, HTTP, OSCQuery, discovery) for the network settings in
force, and a change of those settings on trial, so that no setting can cut the owner off.

A change of ports, the bind address or discovery is not saved at once (``Application.update``): it
goes on trial. The servers it names are started on their new addresses **beside** the old ones (or
instead of them where both cannot listen at once: the same port on an overlapping address, and
discovery, which advertises one set of addresses). The owner confirms from the new address
(``Application.confirm_network``): the change is saved and the old servers close. Without a
confirmation within ``TRIAL_SECONDS`` (or if a new server cannot start) the trial servers close, the
old ones run again, and nothing was ever saved, as a display's resolution change reverts by itself.
A restart during the trial also comes back on the old settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from appliance.config.models import AppConfig
from appliance.core.app import Application
from appliance.core.status import NetworkTrial
from appliance.service.components import (
    Component,
    ControlPortComponent,
    DiscoveryComponent,
    HttpComponent,
    OscQueryComponent,
)
from appliance.service.registry import ServerRegistry

__all__ = ["ORDER", "ControlPlane"]

logger = logging.getLogger(__name__)

#: Start order (shutdown is the reverse).
ORDER = ("osc_control", "http", "oscquery", "discovery")


def _build(app: Application, registry: ServerRegistry, cfg: AppConfig) -> dict[str, Component]:
    """The servers ``cfg`` asks for, by name, not started."""
    out: dict[str, Component] = {}
    if cfg.osc_control.port:
        out["osc_control"] = ControlPortComponent(app, registry, "0.0.0.0", cfg.osc_control.port)
    out["http"] = HttpComponent(app, registry, cfg.http.bind, cfg.http.port)
    if cfg.network.oscquery_port:
        out["oscquery"] = OscQueryComponent(app, registry, cfg.http.bind, cfg.network.oscquery_port)
    if cfg.network.discovery:
        out["discovery"] = DiscoveryComponent(app, registry, cfg.network, app.store.path.parent)
    return out


def _address(part: Component | None) -> Any:
    """What makes a server the same one: where it listens (or, for discovery, where it advertises)."""
    if part is None:
        return None
    if isinstance(part, DiscoveryComponent):
        return ("discovery", tuple(part.network.interfaces) if part.network is not None else ())
    return (getattr(part, "host", ""), getattr(part, "port", 0))


def _both_fit(new: Component, old: Component) -> bool:
    """Whether ``new`` can listen while ``old`` still does (different ports; discovery never)."""
    if isinstance(new, DiscoveryComponent):
        return False
    return getattr(new, "port", 0) != getattr(old, "port", 0)


class ControlPlane:
    """Starts, swaps and closes the control-plane servers; all methods on the event loop."""

    def __init__(self, app: Application, registry: ServerRegistry) -> None:
        self.app, self.registry = app, registry
        self.current: dict[str, Component] = {}
        self._trial: NetworkTrial | None = None
        self._new: dict[str, Component] = {}  # servers started for the trial
        self._stopped: dict[str, Component] = {}  # current servers closed for the trial (restarted on revert)
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._lock = asyncio.Lock()

    @property
    def http(self) -> HttpComponent | None:
        """The HTTP server in force."""
        part = self.current.get("http")
        return part if isinstance(part, HttpComponent) else None

    def prepare(self) -> None:
        """Make (not start) the servers of the configuration in force: building the web apps takes a
        moment, which is better spent before the pipeline starts sending than after."""
        if not self.current:
            self.current = _build(self.app, self.registry, self.app.config)

    async def start(self) -> None:
        """Start the servers of the configuration in force, in ``ORDER``; follow network trials."""
        self._loop = asyncio.get_running_loop()
        self.prepare()
        for name in ORDER:
            if name in self.current:
                await self.current[name].start()
        self.app.on_network_trial(self._hear)

    async def close(self) -> None:
        """Close every server (trial ones first), in reverse order; idempotent."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        parts = [*self._new.values(), *(self.current[n] for n in reversed(ORDER) if n in self.current)]
        self._new, self.current = {}, {}
        for part in parts:
            await part.close()

    def _hear(self, event: str, trial: NetworkTrial) -> None:
        """From any thread: a trial began, was confirmed or is undone."""
        loop = self._loop
        if loop is None or self._closing:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._spawn, event, trial)

    def _spawn(self, event: str, trial: NetworkTrial) -> None:
        step = {"begin": self._begin, "commit": self._commit, "revert": self._revert}[event]
        task = asyncio.get_running_loop().create_task(self._in_turn(step, trial))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _in_turn(self, step: Any, trial: NetworkTrial) -> None:
        """One step at a time, in the order they were asked for (a confirmation can arrive while the
        trial's last server is still starting)."""
        async with self._lock:
            await step(trial)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("network settings trial step failed", exc_info=task.exception())

    async def _begin(self, trial: NetworkTrial) -> None:
        """Start the servers the trial's settings name on their new addresses."""
        if self._closing:
            return
        self._trial = trial
        wanted = _build(self.app, self.registry, trial.config)
        try:
            for name in ORDER:
                new, old = wanted.get(name), self.current.get(name)
                if _address(new) == _address(old):
                    continue
                if old is not None and (new is None or not _both_fit(new, old)):
                    await old.close()
                    self._stopped[name] = old
                if new is not None:
                    new.name = f"{name}_trial" if old is not None and name not in self._stopped else name
                    await new.start()
                    self._new[name] = new
                    error = new.status().error if hasattr(new, "status") else ""
                    if error:
                        raise OSError(error)
        except OSError as exc:  # a port taken since it was checked: undo at once, and say why
            logger.error("network settings trial failed: %s", exc)
            self.app.revert_network(trial, f"a new server could not start: {exc}")
            return
        left = max(0.0, trial.deadline - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(left, self.app.revert_network, trial)

    async def _commit(self, trial: NetworkTrial) -> None:
        """The trial is kept: the old servers it replaced close, the new ones take their names."""
        if self._timer is not None:
            self._timer.cancel()
        retired = []
        for name, new in self._new.items():  # the new ones take the names first: the status never lies
            old = self.current.pop(name, None)
            if old is not None and name not in self._stopped:
                retired.append(old)
            if new.name != name:
                self.registry.unregister_server(new.name)
                new.name = name
                self.registry.register_server(name, new.status)
            self.current[name] = new
        for old in retired:
            await old.close()
        for name in self._stopped:  # replaced, and not wanted any more (discovery turned off ...)
            if name not in self._new:
                self.current.pop(name, None)
                self.registry.unregister_server(name)
        self._new, self._stopped, self._trial = {}, {}, None
        discovery = self.current.get("discovery")
        if isinstance(discovery, DiscoveryComponent):
            discovery.reannounce()

    async def _revert(self, trial: NetworkTrial) -> None:
        """The trial is undone: its servers close, the ones it stopped start again."""
        if self._timer is not None:
            self._timer.cancel()
        for new in self._new.values():
            self.registry.unregister_server(new.name)  # first: the status never shows a server that is going
            await new.close()
        again = _build(self.app, self.registry, self.app.config)
        for name in ORDER:
            if name in self._stopped and name in again:
                self.current[name] = again[name]
                await again[name].start()
        self._new, self._stopped, self._trial = {}, {}, None
