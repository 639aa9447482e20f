"""The interfaces the control plane (HTTP API, OSC control port, OSCQuery, discovery) uses to see and
change the box, split by what a module needs. ``appliance.core.app.Application`` implements them all.

* ``Reading``: the state: configuration, status, the newest poses and frame, health, choices, peers,
  the leased targets and a network trial. Never changes anything.
* ``Commanding``: changes: ``update`` (serialised, validated, saved), the leased targets, a network
  trial's confirmation or undoing, recordings (``RecordingDesk``), a hub's calibration walk started
  over (``restart_walk``).
* ``Subscribing``: the poses of every frame, and every change once in force.
* ``Control``: all three (the HTTP routes); ``Steering`` (reading and commanding: the OSC control
  port), ``Watching`` (reading and subscribing: OSCQuery, discovery).

The service's own wiring (which servers run, where the peers come from) is not here: it lives in
``appliance.service.registry``, and the application reads it through ``ServiceReport``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from appliance.config.models import AppConfig
from appliance.core.recordings import RecordingInfo
from appliance.core.status import Check, NetworkTrial, Peer, ServerStatus, Status
from appliance.pipeline.listeners import PoseListener
from appliance.recording.recorder import RecorderStatus
from appliance.transport.udp import TargetSpec
from appliance.types import Frame, Poses

__all__ = [
    "Change",
    "Commanding",
    "Control",
    "Reading",
    "RecordingDesk",
    "ServiceReport",
    "Steering",
    "Subscribing",
    "Watching",
]

#: A change: the current configuration as JSON data in, the wanted one out.
Change = Callable[[dict[str, Any]], dict[str, Any]]


class RecordingDesk(Protocol):
    """The recordings folder and the one recording in progress (``appliance.core.recordings``).
    Every method may block briefly on the disk: call off the event loop."""

    def list(self) -> list[RecordingInfo]:
        """The recordings, newest first."""
        ...

    def path(self, name: str) -> Path:
        """The file of recording ``name``. Raises ConfigError (bad name), FileNotFoundError."""
        ...

    def file(self, name: str) -> Path:
        """A recording or its video (``NAME.mp4``). Raises ConfigError (bad name), FileNotFoundError."""
        ...

    def delete(self, name: str) -> None:
        """Delete a recording. Raises ConfigError, FileNotFoundError, RecordingError (in progress)."""
        ...

    def start(self, name: str | None = None, seconds: float | None = None, *, video: bool = False) -> RecorderStatus:
        """Start recording. Raises ConfigError (name, seconds), RecordingError (busy, exists, disk)."""
        ...

    def stop(self) -> RecorderStatus | None:
        """Stop the recording in progress; None when there was none."""
        ...

    def status(self) -> RecorderStatus | None:
        """The recording in progress, or the last one."""
        ...


class Reading(Protocol):
    """What the box is and does now; nothing here changes anything."""

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

    def latest_frame(self) -> tuple[Frame, Poses] | None:
        """The newest frame (its image, (H, W, 3) uint8 RGB) with its poses; None before the first."""
        ...

    @property
    def subscriptions(self) -> tuple[TargetSpec, ...]:
        """The OSC targets leased over the control port (in memory, never saved)."""
        ...

    @property
    def state_dir(self) -> Path:
        """The folder of the saved configuration (and of an uploaded update waiting to be installed)."""
        ...

    @property
    def trial(self) -> NetworkTrial | None:
        """A change of the network settings awaiting the owner's confirmation from the new address."""
        ...


class Commanding(Protocol):
    """The one serialised way to change the configuration, the leased targets, network trials."""

    @property
    def recordings(self) -> RecordingDesk:
        """Recordings of this box's poses (start, stop, list, download, delete)."""
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

    def restart_walk(self, box: str) -> None:
        """A hub: forget the calibration pairs collected for ``box`` (its floor calibration changed),
        so its next correction comes from a new walk. Any thread; never blocks."""
        ...

    def set_subscriptions(self, specs: Sequence[TargetSpec]) -> None:
        """Replace the leased targets (the control port owns the leases and their expiry)."""
        ...

    def confirm_network(self, host: str, port: int) -> NetworkTrial:
        """Keep the network settings on trial; the request arrived at ``host``:``port`` of this box
        (blocking: call off the loop). Raises RefusedChange when nothing is on trial or the request came
        through the old address."""
        ...

    def revert_network(self, trial: NetworkTrial, why: str = ...) -> bool:
        """Undo ``trial`` now if it is still on trial; returns whether it was."""
        ...


class Subscribing(Protocol):
    """Hearing of every frame's poses and every change."""

    def subscribe(self, listener: PoseListener) -> Callable[[], None]:
        """Call ``listener.on_poses`` with every frame (on the "send" thread); returns the unsubscribe."""
        ...

    def on_change(self, fn: Callable[[AppConfig], None]) -> None:
        """Call ``fn(config)`` after every change is in force (from the thread that made it)."""
        ...


class Steering(Reading, Commanding, Protocol):
    """Reading and commanding (the OSC control port)."""


class Watching(Reading, Subscribing, Protocol):
    """Reading and subscribing (OSCQuery, discovery)."""


class Control(Reading, Commanding, Subscribing, Protocol):
    """Everything the control plane may do (the HTTP routes)."""


class ServiceReport(Protocol):
    """What the running service tells the application about itself (``appliance.service.registry``)."""

    def servers(self) -> dict[str, ServerStatus]:
        """The control-plane servers' status by name ("http", "oscquery", ...)."""
        ...

    def peers(self) -> list[Peer]:
        """The other boxes discovery has seen; [] without discovery."""
        ...
