"""Application: builds the data plane from the configuration and keeps it in step with changes.

Changes take effect without restarting the process: targets and decoder thresholds are swapped
live; a new source, model or backend rebuilds the pipeline (old one stopped and joined first). If
building fails (model missing, camera gone), the application stays up in a reported degraded
state: the control plane keeps serving and the status says what is wrong. It implements
``appliance.core.facade.Control`` for the control plane.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from appliance import __version__
from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore
from appliance.core.checks import check_change
from appliance.core.facade import Change
from appliance.core.factory import Folders, build_engine, build_source
from appliance.core.status import ServerStatus, Status
from appliance.errors import ApplianceError
from appliance.models.engine import PoseEngine
from appliance.pipeline.listeners import ListenerSet, PoseListener
from appliance.pipeline.runner import PipelineRunner
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec
from appliance.types import Poses

__all__ = ["Application", "target_specs"]

logger = logging.getLogger(__name__)


def target_specs(config: AppConfig) -> list[TargetSpec]:
    """The TargetSpecs of a configuration (the saved, permanent targets)."""
    return [TargetSpec(t.host, t.port, t.format, t.coords, t.mirror) for t in config.targets]


class Application:
    """Owns the store, the targets and the pipeline; all public methods are thread-safe."""

    def __init__(self, store: ConfigStore, folders: Folders | None = None) -> None:
        self.store = store
        self.folders = folders or Folders.default(store.path.parent)
        self._config = store.config
        self._subscriptions: tuple[TargetSpec, ...] = ()  # leased over the control port, never saved
        self.targets = TargetSet(target_specs(self._config))
        self.listeners = ListenerSet()  # the page's streams and other subscribers, across rebuilds
        self.runner: PipelineRunner | None = None
        self.engine: PoseEngine | None = None
        self.degraded = ""  # why the pipeline is not running; empty when it is
        self.started_at = time.time()
        self._lock = threading.RLock()
        self._servers: dict[str, Callable[[], ServerStatus]] = {}
        self._on_change: list[Callable[[AppConfig], None]] = []
        self._started = False
        store.subscribe(self.apply)

    # -- the Control facade -------------------------------------------------------------------
    @property
    def config(self) -> AppConfig:
        """The configuration in force."""
        return self._config

    def update(self, change: Change) -> AppConfig:
        """Read-modify-write under the store's lock, checked, saved, then in force (``Control.update``)."""

        def check(old: AppConfig, new: AppConfig) -> None:
            ours = [s.port for s in self.status().servers.values() if s.port]
            check_change(old, new, self.folders.models, ours)

        return self.store.update(change, check)

    @property
    def subscriptions(self) -> tuple[TargetSpec, ...]:
        """The targets leased over the OSC control port (in memory only)."""
        return self._subscriptions

    def set_subscriptions(self, specs: Sequence[TargetSpec]) -> None:
        """Replace the leased targets; they stream alongside the saved ones until removed or expired."""
        with self._lock:
            self._subscriptions = tuple(specs)
            self.targets.set_targets([*target_specs(self._config), *self._subscriptions])

    def subscribe(self, listener: PoseListener) -> Callable[[], None]:
        """Every frame's poses to ``listener`` (on the "send" thread); returns the unsubscribe."""
        return self.listeners.add(listener)

    def on_change(self, fn: Callable[[AppConfig], None]) -> None:
        """Call ``fn(config)`` after every change is in force."""
        self._on_change.append(fn)

    def register_server(self, name: str, status: Callable[[], ServerStatus]) -> None:
        """Report a control-plane component's status under ``name``."""
        self._servers[name] = status

    def latest(self) -> Poses:
        """The newest frame's poses (none before the first frame)."""
        runner = self.runner
        return runner.latest if runner is not None else Poses()

    # -- pipeline ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Build and start the pipeline (blocking: model loading, device probing)."""
        with self._lock:
            self._started = True
            self._build(self._config)

    def _build(self, config: AppConfig) -> None:
        try:
            engine = build_engine(config.inference, config.decoder, self.folders.models)
        except ApplianceError as exc:
            self.degraded = f"no model: {exc}"
            logger.error("pipeline not started: %s", self.degraded)
            return
        source = build_source(config.source, engine, self.folders.media)
        runner = PipelineRunner(source, engine, self.targets, self.listeners)
        runner.start()
        self.engine, self.runner, self.degraded = engine, runner, ""

    def _teardown(self) -> None:
        runner, engine = self.runner, self.engine
        self.runner = self.engine = None
        if runner is not None and not runner.stop():
            logger.error("pipeline threads did not stop in time")
        if engine is not None:
            engine.model.close()

    def stop(self) -> None:
        """Stop the pipeline and close the targets (reverse of start); idempotent."""
        with self._lock:
            self._started = False
            self._teardown()
            self.targets.close()

    def apply(self, new: AppConfig) -> None:
        """Make ``new`` the running configuration, restarting only what changed."""
        with self._lock:
            old, self._config = self._config, new
            if new.targets != old.targets:
                self.targets.set_targets([*target_specs(new), *self._subscriptions])
            if new.decoder != old.decoder and self.engine is not None:
                self.engine.params = new.decoder
            rebuild = new.source != old.source or new.inference != old.inference or self.runner is None
            if self._started and rebuild:
                logger.info("source or model changed: rebuilding the pipeline")
                self._teardown()
                self._build(new)
        for fn in list(self._on_change):
            fn(new)

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> Status:
        """Everything a person or a patch wants to know."""
        runner, engine, config = self.runner, self.engine, self._config
        stats = runner.stats() if runner is not None else None
        if stats is not None:  # a format that failed to encode is a pipeline error too
            stats = dataclasses.replace(stats, errors=stats.errors + self.targets.encode_errors)
        state = "running"
        if self.store.safe_mode:
            state = "safe mode"
        if self.degraded:
            state = "degraded"
        elif stats is not None and stats.source_state != "ok":
            state = f"source {stats.source_state}"
        return Status(
            version=__version__,
            device_name=config.device_name,
            state=state,
            safe_mode=self.store.safe_mode,
            degraded=self.degraded,
            uptime_s=time.time() - self.started_at,
            model=Path(engine.model.info.path).name if engine else config.inference.model,
            backend=engine.model.name if engine else "none",
            source=config.source,
            pipeline=stats,
            targets=self.targets.stats() if stats is not None else (),
            servers={name: fn() for name, fn in list(self._servers.items())},
        )

    def status_line(self) -> str:
        """One line for a terminal or systemd STATUS=."""
        runner, engine = self.runner, self.engine
        if runner is None:
            return f"degraded: {self.degraded}"
        backend = engine.model.name if engine else "?"
        send_errors = sum(t.errors for t in self.targets.stats())
        return f"{backend}; {runner.stats().line(send_errors)}; {len(self.targets.specs)} target(s)"
