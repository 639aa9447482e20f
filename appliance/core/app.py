"""Application: builds the data plane from the configuration and keeps it in step with changes.

The change path: a change is validated, checked (only what it must: ports it would listen on, files it
names) and saved under the store's lock, one at a time, newest wins (``ConfigStore.update``). Its
live settings (targets, decoder thresholds, tracking, smoothing) are in force before the lock is let
go, in save order. A new source or model is rebuilt by the "applier" thread (``core/applier.py``),
which owns rebuilding: the old pipeline is stopped and joined, the model loaded (Edge TPU probe
included), coalescing bursts; reads and other changes never wait for it. A change of the network
settings goes on trial instead (``update``). If building fails for any reason, the application stays
up in a reported degraded state; the service's heal policy (``appliance.service.heal``) retries, and
rebuilds a pipeline that died. It implements ``appliance.core.facade.Control`` for the control plane.
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
from appliance.core.applier import Applier
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
        self.build_error = ""  # why the last build failed ("" when it worked): the heal policy retries
        # Kept across rebuilds (ids never repeat); their settings are swapped live.
        self.tracker = Tracker(self._config.tracking)
        self.smoother = Smoother(self._config.smoothing)
        self.stages: tuple[PoseStage, ...] = (self.tracker, self.smoother)
        self.restarts = 0  # pipelines rebuilt after dying
        self._past_errors = 0  # errors counted by pipelines since replaced (the status counts since start)
        self.fault = ""  # the last time the pipeline died, why (kept after it recovered)
        self.generation = store.generation  # of the configuration whose live settings are in force
        self.built_generation = 0  # of the configuration the pipeline was last built from
        self._asked: AppConfig | None = None  # the newest configuration handed to the applier (or built)
        self._applier: Applier[bool] = Applier(self._rebuild, merge=lambda waiting, new: waiting or new)
        self.started_at = time.time()
        self._lock = threading.RLock()  # the pipeline's owner: start, stop and the applier's rebuilds
        self._servers: dict[str, Callable[[], ServerStatus]] = {}
        self._on_change: list[Callable[[AppConfig], None]] = []
        self._peers: Callable[[], list[Peer]] = list
        self.trial: NetworkTrial | None = None  # a change of the network settings awaiting confirmation
        self._trial_hooks: list[Callable[[str, NetworkTrial], None]] = []
        #: The event loop's worst recent lag in ms (set by the service's loop-lag monitor).
        self.loop_lag: Callable[[], float] = lambda: 0.0
        self._started = False
        store.subscribe(self._saved)

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
            ours = [fn().port for fn in list(self._servers.values())]
            check_change(old, new, self.folders.models, [p for p in ours if p])

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

    @property
    def state_dir(self) -> Path:
        """The folder of the saved configuration."""
        return self.store.path.parent

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
        """Build and start the pipeline, then the applier (blocking: model loading, device probing)."""
        with self._lock:
            self._started = True
            self._asked = self._config
            self._build(self._config)
            self.built_generation = self.generation
        self._applier.start()

    def _build(self, config: AppConfig) -> None:
        """A new engine and pipeline for ``config``; any failure leaves the box degraded, saying why."""
        try:
            engine = self._build_engine(config.inference, config.decoder, self.folders.models)
        except Exception as exc:
            kind = "" if isinstance(exc, ApplianceError) else f"{type(exc).__name__}: "
            self._failed(f"no model: {kind}{exc}")
            return
        for stage in self.stages:
            stage.reset()
        try:
            self._start_runner(engine, config)
        except Exception as exc:  # a source that cannot even be built, a bug: reported, then retried
            engine.model.close()
            self._failed(f"pipeline not started: {type(exc).__name__}: {exc}")

    def _failed(self, why: str) -> None:
        self.degraded = self.build_error = why
        logger.error("pipeline not started: %s", why)

    def _start_runner(self, engine: PoseEngine, config: AppConfig) -> None:
        source = build_source(config.source, engine, self.folders.media)
        runner = PipelineRunner(source, engine, self.targets, self.listeners, stages=self.stages)
        runner.start()
        self.engine, self.runner, self.degraded, self.build_error = engine, runner, "", ""

    def rebuild(self, heal: bool = False) -> None:
        """Ask the applier for a new pipeline from the configuration in force: ``heal``, the same model
        with the source reopened (a pipeline that died), else a full rebuild; never blocks."""
        if heal:
            self.restarts += 1
        self._applier.want(not heal)

    @property
    def rebuilding(self) -> bool:
        """The applier is building a pipeline or about to."""
        return self._applier.busy

    def _rebuild(self, full: bool) -> None:
        """On the "applier" thread: replace the pipeline from the newest configuration in force."""
        with self._lock:
            if not self._started:
                return
            config, generation = self._config, self.generation
            if not full and self.engine is not None and self.runner is not None:
                runner = self.runner
                self.runner = None
                runner.stop()
                self._past_errors += runner.stats().errors
                try:
                    self._start_runner(self.engine, config)
                except Exception as exc:
                    self._failed(f"pipeline not restarted: {type(exc).__name__}: {exc}")
                else:
                    logger.warning("pipeline rebuilt after: %s (restart %d)", self.fault, self.restarts)
            else:
                logger.info("source or model changed: rebuilding the pipeline")
                self._teardown()
                self._build(config)
            self.built_generation = generation
        if full:
            self._notify(config)

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
        """Stop the applier and the pipeline and close the targets (reverse of start); idempotent."""
        self._applier.stop()
        with self._lock:
            self._started = False
            self._teardown()
            self.targets.close()

    def _saved(self, new: AppConfig) -> None:
        """A change was saved (called under the store's lock, in save order): its live settings in
        force now; a new source or model to the applier (the change listeners hear of it after the
        rebuild), the rest at once."""
        old, self._config = self._config, new
        self.generation = self.store.generation
        if new.targets != old.targets or new.osc != old.osc:
            self.targets.set_targets([*target_specs(new), *self._subscriptions])
        engine = self.engine
        if new.decoder != old.decoder and engine is not None:
            engine.params = new.decoder
        self.tracker.config, self.smoother.config = new.tracking, new.smoothing  # read once per frame
        asked = self._asked
        stale = asked is None or new.source != asked.source or new.inference != asked.inference
        if self._started and (stale or (self.runner is None and not self._applier.busy)):
            self._asked = new
            self._applier.want(True)
            return
        self._notify(new)

    def _notify(self, config: AppConfig) -> None:
        for fn in list(self._on_change):
            fn(config)

    def wait_applied(self, timeout: float = 30.0) -> bool:
        """Until the applier has nothing under way or waiting (tests, benchmarks); False on timeout."""
        return self._applier.wait_idle(timeout)

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
        if self._applier.busy and runner is None:
            state = "rebuilding"
        elif degraded:
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
        if runner is None and self._applier.busy:
            return "rebuilding the pipeline"
        if runner is None or self.degraded:
            return f"degraded: {self.degraded}"
        backend = engine.model.name if engine else "?"
        send_errors = sum(t.errors for t in self.targets.stats())
        return f"{backend}; {runner.stats().line(send_errors)}; {len(self.targets.specs)} target(s)"
