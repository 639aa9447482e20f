"""Control: the one small interface the control plane (HTTP API, OSC control port, OSCQuery,
discovery) uses to see and change the box. ``appliance.core.app.Application`` implements it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from appliance.config.models import AppConfig
from appliance.core.status import Check, NetworkTrial, Peer, ServerStatus, Status
from appliance.pipeline.listeners import PoseListener
from appliance.transport.udp import TargetSpec
from appliance.types import Frame, Poses

__all__ = ["Change", "Control"]

#: A change: the current configuration as JSON data in, the wanted one out.
Change = Callable[[dict[str, Any]], dict[str, Any]]


class Control(Protocol):
    """Status, the newest poses, one serialised way to change the configuration, subscriptions."""

    @property
    def config(self) -> AppConfig:
        """The configuration in force."""
        ...

    def status(self) -> Status:
        """A snapshot of everything (never blocks the data plane)."""
        ...

    def latest(self) -> Poses:
        """The newest frame's poses (none before the first frame)."""
        ...

    def health(self) -> list[Check]:
        """The doctor's checks with what the running service knows (blocking: call off the loop)."""
        ...

    def choices(self) -> dict[str, list[dict[str, Any]]]:
        """What the settings can name: ``sources`` (cameras found, media files) and ``models``
        (installed, with family and size). Blocking: call off the loop."""
        ...

    def peers(self) -> list[Peer]:
        """The other boxes seen on the network (mDNS), newest knowledge first; [] without discovery."""
        ...

    def register_peers(self, peers: Callable[[], list[Peer]]) -> None:
        """Where ``peers`` comes from (the discovery component)."""
        ...

    def latest_frame(self) -> tuple[Frame, Poses] | None:
        """The newest frame (its image, (H, W, 3) uint8 RGB) with its poses; None before the first."""
        ...

    def update(self, change: Change) -> AppConfig:
        """Apply ``change`` to the current configuration, validate, save, put in force; serialised
        with every other change, so none is lost.

        Raises:
            pydantic.ValidationError: invalid; nothing changed.
            RefusedChange: valid but impossible here (a port that cannot be bound...); nothing changed.
            OSError: could not be saved; nothing changed.
        """
        ...

    @property
    def subscriptions(self) -> tuple[TargetSpec, ...]:
        """The OSC targets leased over the control port (in memory, never saved)."""
        ...

    def set_subscriptions(self, specs: Sequence[TargetSpec]) -> None:
        """Replace the leased targets (the control port owns the leases and their expiry)."""
        ...

    def subscribe(self, listener: PoseListener) -> Callable[[], None]:
        """Call ``listener.on_poses`` with every frame (on the "send" thread); returns the unsubscribe."""
        ...

    def on_change(self, fn: Callable[[AppConfig], None]) -> None:
        """Call ``fn(config)`` after every change is in force (from the thread that made it)."""
        ...

    def register_server(self, name: str, status: Callable[[], ServerStatus]) -> None:
        """Report a control-plane component's status under ``name`` ("http", "oscquery", ...)."""
        ...

    def unregister_server(self, name: str) -> None:
        """Forget a component that stopped for good."""
        ...

    @property
    def trial(self) -> NetworkTrial | None:
        """A change of the network settings awaiting the owner's confirmation from the new address."""
        ...

    def confirm_network(self, host: str, port: int) -> NetworkTrial:
        """Keep the network settings on trial; the request arrived at ``host``:``port`` of this box
        (blocking: call off the loop). Raises RefusedChange when nothing is on trial or the request came
        through the old address."""
        ...

    def revert_network(self, trial: NetworkTrial, why: str = ...) -> bool:
        """Undo ``trial`` now if it is still on trial; returns whether it was."""
        ...

    @property
    def state_dir(self) -> Path:
        """The folder of the saved configuration (and of an uploaded update waiting to be installed)."""
        ...
