"""Application: builds the data plane from the configuration and keeps it in step with changes.

Changes take effect without restarting the process: targets, decoder thresholds, tracking and
smoothing settings are swapped live; a new source, model or backend rebuilds the pipeline (old one
stopped and joined first). If building fails (model missing, camera gone), the application stays up
in a reported degraded state: the control plane keeps serving and the status says what is wrong. A
pipeline that started and then died (a thread ended on an exception nobody expected) is rebuilt by
``heal`` with back-off; after ``HEAL_LIMIT`` rebuilt pipelines in a row died within
``STABLE_SECONDS`` it gives up, and the watchdog lets systemd restart the process. It implements
``appliance.core.facade.Control`` for the control plane.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.config.models import NETWORK_SETTINGS, AppConfig
from appliance.config.store import ConfigStore
from appliance.core.checks import check_change
from appliance.core.choices import list_models, list_sources
from appliance.core.doctor import run_checks
from appliance.core.facade import Change
from appliance.core.factory import Folders, build_engine, build_source
from appliance.core.status import Check, NetworkTrial, Peer, ServerStatus, Status
from appliance.errors import ApplianceError, RefusedChange
from appliance.models.engine import PoseEngine
from appliance.pipeline.listeners import ListenerSet, PoseListener
from appliance.pipeline.runner import PipelineRunner
from appliance.pose.smoothing import Smoother
from appliance.pose.stages import PoseStage
from appliance.pose.tracking import Tracker
from appliance.sysinfo import temperature_c
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec
from appliance.types import Frame, Poses

__all__ = ["Application", "target_specs"]

logger = logging.getLogger(__name__)

#: Rebuilding a pipeline that died: first and longest wait (seconds). The wait doubles only while
#: rebuilt pipelines die again within STABLE_SECONDS (a crash loop); after HEAL_LIMIT such deaths in a
#: row the application gives up (the watchdog then has systemd restart the process). A pipeline that
#: ran longer than that before dying is rebuilt after the first wait again.
HEAL_BACKOFF = (1.0, 30.0)
HEAL_LIMIT = 5
STABLE_SECONDS = 60.0
#: The "process" thread's heartbeat older than this: inference is reported as hung.
HUNG_SECONDS = 10.0
#: Seconds the owner has to confirm a change of the network settings from the new address.
TRIAL_SECONDS = 120.0


def _network(config: dict[str, Any]) -> dict[str, Any]:
    """The network settings (``NETWORK_SETTINGS``) of a configuration as JSON data, by dotted name."""
    return {f"{sec}.{key}": (config.get(sec) or {}).get(key) for sec, key in NETWORK_SETTINGS}


def _with_network(config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``config`` (JSON data) with the network settings ``values`` (by dotted name) put in."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    for name, value in values.items():
        sec, key = name.split(".")
        out.setdefault(sec, {})[key] = value
    return out


def target_specs(config: AppConfig) -> list[TargetSpec]:
    """The TargetSpecs of a configuration (the saved, permanent targets)."""
    limit = config.osc.max_datagram
    return [TargetSpec(t.host, t.port, t.format, t.coords, t.mirror, t.timetag, limit) for t in config.targets]


class Application:
    """Owns the store, the targets and the pipeline; all public methods are thread-safe."""

    def __init__(
        self,
        store: ConfigStore,
        folders: Folders | None = None,
        engine_factory: Callable[..., PoseEngine] = build_engine,
    ) -> None:
        self.store = store
        self.folders = folders or Folders.default(store.path.parent)
        self._build_engine = engine_factory  # (inference, decoder, models folder) -> PoseEngine
        self._config = store.config
        self._subscriptions: tuple[TargetSpec, ...] = ()  # leased over the control port, never saved
        self.targets = TargetSet(target_specs(self._config))
        self.listeners = ListenerSet()  # the page's streams and other subscribers, across rebuilds
        self.runner: PipelineRunner | None = None
        self.engine: PoseEngine | None = None
        self.degraded = ""  # why the pipeline is not running; empty when it is
        # Kept across rebuilds (ids never repeat); their settings are swapped live.
        self.tracker = Tracker(self._config.tracking)
        self.smoother = Smoother(self._config.smoothing)
        self.stages: tuple[PoseStage, ...] = (self.tracker, self.smoother)
        self.restarts = 0  # pipelines rebuilt after dying
        self._past_errors = 0  # errors counted by pipelines since replaced (the status counts since start)
        self.fault = ""  # the last time the pipeline died, why (kept after it recovered)
        self.gave_up = False  # too many deaths: the watchdog stops petting
        self._streak = 0  # rebuilt pipelines that died again within STABLE_SECONDS, in a row
        self._rebuilt_at = -STABLE_SECONDS
        self._heal_due = 0.0
        self.started_at = time.time()
        self._lock = threading.RLock()
        self._servers: dict[str, Callable[[], ServerStatus]] = {}
        self._on_change: list[Callable[[AppConfig], None]] = []
        self._peers: Callable[[], list[Peer]] = list
        self.trial: NetworkTrial | None = None  # a change of the network settings awaiting confirmation
        self._trial_hooks: list[Callable[[str, NetworkTrial], None]] = []
        #: The event loop's worst recent lag in ms (set by the service's loop-lag monitor).
        self.loop_lag: Callable[[], float] = lambda: 0.0
        self._started = False
        store.subscribe(self.apply)

    # -- the Control facade -------------------------------------------------------------------
    @property
    def config(self) -> AppConfig:
        """The configuration in force."""
        return self._config

    def update(self, change: Change) -> AppConfig:
        """Read-modify-write under the store's lock, checked, saved, then in force (``Control.update``).

        A change of the network settings (``NETWORK_SETTINGS``: ports, bind address, discovery) is
        checked like any other but not saved: it goes on trial (``self.trial``), served by the new
        servers until ``confirm_network`` (from the new address) keeps it, or ``TRIAL_SECONDS`` undo it.
        The rest of the change is saved and in force at once.
        """
        trial: list[NetworkTrial] = []

        def check(old: AppConfig, new: AppConfig) -> None:
            ours = [s.port for s in self.status().servers.values() if s.port]
            check_change(old, new, self.folders.models, ours)

        def split(current: dict[str, Any]) -> dict[str, Any]:
            wanted = change(current)
            before, after = _network(current), _network(wanted)
            if after == before:
                return wanted
            changes = {k: v for k, v in after.items() if before[k] != v}
            if self.trial is not None:
                left = max(0, round(self.trial.deadline - time.monotonic()))
                loc = tuple(next(iter(changes)).split("."))
                raise RefusedChange(loc, f"a change of the network settings is on trial: confirm it or wait {left} s")
            full = AppConfig.model_validate(wanted)  # invalid: refused as a whole, as usual
            check(self._config, full)  # the new addresses can be listened on
            trial.append(NetworkTrial(full, changes, time.monotonic() + TRIAL_SECONDS))
            return _with_network(wanted, before)

        config = self.store.update(split, check)
        if trial:
            with self._lock:
                self.trial = trial[0]
            logger.warning("network settings on trial for %.0f s: %s", TRIAL_SECONDS, trial[0].changes)
            self._tell_trial("begin", trial[0])
        return config

    def on_network_trial(self, fn: Callable[[str, NetworkTrial], None]) -> None:
        """Call ``fn(event, trial)`` for "begin", "commit" and "revert" of a network-settings trial
        (from the thread that caused it: ``fn`` must hand work to its own loop)."""
        self._trial_hooks.append(fn)

    def _tell_trial(self, event: str, trial: NetworkTrial) -> None:
        for fn in list(self._trial_hooks):
            fn(event, trial)

    def confirm_network(self, host: str, port: int) -> NetworkTrial:
        """Keep the network settings on trial (saved); the request arrived at ``host``:``port`` of this
        box, which must be the new HTTP address when that changed (blocking: call off the loop).

        Raises:
            RefusedChange: nothing is on trial, or the confirmation came through the old address.
        """
        with self._lock:
            trial = self.trial
            if trial is None:
                raise RefusedChange(("network",), "no change of the network settings is waiting for confirmation")
            if not trial.arrived_at(host, port):
                http = trial.config.http
                where = f"port {http.port}" + ("" if http.bind in ("0.0.0.0", "::") else f" of {http.bind}")
                raise RefusedChange(("http",), f"confirm from the new address ({where}), to prove it reaches the box")
            values = _network(trial.config.model_dump(mode="json"))
            self.store.update(lambda current: _with_network(current, values))
            self.trial = None
        logger.warning("network settings confirmed and saved: %s", trial.changes)
        self._tell_trial("commit", trial)
        return trial

    def revert_network(self, trial: NetworkTrial, why: str = "not confirmed in time") -> bool:
        """Undo ``trial`` if it is still the one on trial (nothing was saved); returns whether it was."""
        with self._lock:
            if self.trial is not trial:
                return False
            self.trial = None
        logger.warning("network settings undone (%s): %s", why, trial.changes)
        self._tell_trial("revert", trial)
        return True

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

    def unregister_server(self, name: str) -> None:
        """Forget a component that stopped for good (a network change moved it)."""
        self._servers.pop(name, None)

    def refused(self) -> int:
        """Packets and requests the control-plane servers refused so far (a running total)."""
        return sum(fn().rejected for fn in list(self._servers.values()))

    def latest(self) -> Poses:
        """The newest frame's poses (none before the first frame)."""
        runner = self.runner
        return runner.latest if runner is not None else Poses()

    def health(self) -> list[Check]:
        """The doctor's checks, with this service's live status (``Control.health``; blocking)."""
        return run_checks(self._config, self.folders.models, self.store.path.parent, live=self.status())

    def choices(self) -> dict[str, list[dict[str, Any]]]:
        """Sources and models to choose from (``Control.choices``)."""
        return {"sources": list_sources(self.folders.media), "models": list_models(self.folders.models)}

    def peers(self) -> list[Peer]:
        """The other boxes discovery has seen (``Control.peers``)."""
        return self._peers()

    def register_peers(self, peers: Callable[[], list[Peer]]) -> None:
        """Where the other boxes come from (the discovery component)."""
        self._peers = peers

    def latest_frame(self) -> tuple[Frame, Poses] | None:
        """The newest frame with its poses (``Control.latest_frame``)."""
        runner = self.runner
        return runner.latest_frame if runner is not None else None

    # -- pipeline ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Build and start the pipeline (blocking: model loading, device probing)."""
        with self._lock:
            self._started = True
            self._build(self._config)

    def _build(self, config: AppConfig) -> None:
        try:
            engine = self._build_engine(config.inference, config.decoder, self.folders.models)
        except ApplianceError as exc:
            self.degraded = f"no model: {exc}"
            logger.error("pipeline not started: %s", self.degraded)
            return
        for stage in self.stages:
            stage.reset()
        self._start_runner(engine, config)

    def _start_runner(self, engine: PoseEngine, config: AppConfig) -> None:
        source = build_source(config.source, engine, self.folders.media)
        runner = PipelineRunner(source, engine, self.targets, self.listeners, stages=self.stages)
        runner.start()
        self.engine, self.runner, self.degraded = engine, runner, ""

    def heal(self) -> None:
        """If the pipeline died, rebuild it (same model, the source reopened) once its back-off is
        over; give up after too many (call it periodically, off the event loop: it may block)."""
        with self._lock:
            runner, engine = self.runner, self.engine
            if runner is None or engine is None or not runner.died or self.gave_up or not self._started:
                return
            now = time.monotonic()
            if not self.degraded:  # just noticed
                self.fault = runner.failure or "a pipeline thread ended"
                self._streak = self._streak + 1 if now - self._rebuilt_at < STABLE_SECONDS else 0
                delay = min(HEAL_BACKOFF[0] * 2**self._streak, HEAL_BACKOFF[1])
                self._heal_due = now + delay
                if self._streak >= HEAL_LIMIT:
                    self.gave_up = True
                    self.degraded = f"pipeline failed ({self.fault}); gave up after {self._streak} quick deaths"
                    logger.error("%s: the watchdog will have the service restarted", self.degraded)
                    return
                self.degraded = f"pipeline failed ({self.fault}); restarting in {delay:.0f} s"
                logger.error("%s (restart %d)", self.degraded, self.restarts + 1)
                return
            if now < self._heal_due:
                return
            runner.stop()
            self._past_errors += runner.stats().errors
            self._rebuilt_at = time.monotonic()
            self.restarts += 1
            try:
                self._start_runner(engine, self._config)
            except Exception as exc:  # the next call tries again, later
                self.degraded = f"pipeline failed ({self.fault}); restart failed: {exc}"
                self._heal_due = now + HEAL_BACKOFF[1]
                logger.exception("rebuilding the pipeline failed")
                return
            logger.warning("pipeline rebuilt after: %s (restart %d)", self.fault, self.restarts)

    def _teardown(self) -> None:
        runner, engine = self.runner, self.engine
        self.runner = self.engine = None
        if runner is not None:
            self._past_errors += runner.stats().errors
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
            if new.targets != old.targets or new.osc != old.osc:
                self.targets.set_targets([*target_specs(new), *self._subscriptions])
            if new.decoder != old.decoder and self.engine is not None:
                self.engine.params = new.decoder
            self.tracker.config, self.smoother.config = new.tracking, new.smoothing  # read once per frame
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
            errors = stats.errors + self._past_errors + self.targets.encode_errors
            stats = dataclasses.replace(stats, errors=errors)
        state = "running"
        degraded = self.degraded
        if runner is not None and runner.running and time.monotonic() - runner.heartbeat > HUNG_SECONDS:
            degraded = f"inference has not returned for {time.monotonic() - runner.heartbeat:.0f} s"
        if self.store.safe_mode:
            state = "safe mode"
        if degraded:
            state = "degraded"
        elif stats is not None and stats.source_state != "ok":
            state = f"source {stats.source_state}"
        return Status(
            version=__version__,
            device_name=config.device_name,
            state=state,
            safe_mode=self.store.safe_mode,
            degraded=degraded,
            uptime_s=time.time() - self.started_at,
            model=Path(engine.model.info.path).name if engine else config.inference.model,
            backend=engine.model.name if engine else "none",
            source=config.source,
            pipeline=stats,
            targets=self.targets.stats() if stats is not None else (),
            servers={name: fn() for name, fn in list(self._servers.items())},
            restarts=self.restarts,
            fault=self.fault,
            temperature_c=temperature_c(),
            loop_lag_ms=self.loop_lag(),
            trial=self.trial,
        )

    def status_line(self) -> str:
        """One line for a terminal or systemd STATUS=."""
        runner, engine = self.runner, self.engine
        if runner is None or self.degraded:
            return f"degraded: {self.degraded}"
        backend = engine.model.name if engine else "?"
        send_errors = sum(t.errors for t in self.targets.stats())
        return f"{backend}; {runner.stats().line(send_errors)}; {len(self.targets.specs)} target(s)"
