"""Application: builds the data plane from the configuration and keeps it in step with changes.

The change path: a change is validated, checked (only what it must: ports it would listen on, files it
names) and saved under the store's lock, one at a time, newest wins (``ConfigStore.update``). Its
live settings (targets, decoder thresholds, tracking, smoothing) are in force before the lock is let
go, in save order. A new source or model is rebuilt by the "applier" thread (``core/applier.py``),
which owns rebuilding: the old pipeline is stopped and joined, the model loaded (Edge TPU probe
included), coalescing bursts; reads and other changes never wait for it. A change of the network
settings goes on trial instead (``update``). If building fails for any reason, the application stays
up in a reported degraded state; the service's heal policy (``appliance.service.heal``) retries, and
rebuilds a pipeline that died. It implements the protocols of ``appliance.core.facade`` for the
control plane; the service's wiring (servers, peers) it reads from ``appliance.service.registry``
through ``ServiceReport`` (``attach``).
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
from appliance.capture import source_kind
from appliance.config.models import SECURITY_SETTINGS, AppConfig
from appliance.config.store import ConfigStore
from appliance.core.applier import Applier
from appliance.core.checks import check_change
from appliance.core.choices import list_models, list_sources
from appliance.core.doctor import run_checks
from appliance.core.facade import Change, ServiceReport
from appliance.core.factory import Folders, build_engine, build_source
from appliance.core.recordings import Recordings
from appliance.core.status import Check, NetworkTrial, Peer, ServerStatus, Status
from appliance.core.trial import NetworkTrials
from appliance.errors import ApplianceError
from appliance.models.engine import PoseEngine
from appliance.pipeline.listeners import ListenerSet, PoseListener
from appliance.pipeline.runner import PipelineRunner
from appliance.pipeline.stats import StageTimings
from appliance.pose.calibrate import RESTARTS
from appliance.pose.fusion import HubReport
from appliance.pose.smoothing import Smoother
from appliance.pose.stages import PoseStage
from appliance.pose.tracking import Tracker
from appliance.recording.fileformat import Header
from appliance.recording.recorder import RecordingTap
from appliance.stages import STAGES, SettingsStage
from appliance.stages.hub import CLOCK
from appliance.sysinfo import MachineFacts
from appliance.timesync import ChronyWatch
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec
from appliance.types import Frame, Poses

__all__ = ["Application", "target_specs"]

logger = logging.getLogger(__name__)

#: The "process" thread's heartbeat older than this: inference is reported as hung.
HUNG_SECONDS = 10.0
#: The status's model while the source gives poses (``SourceKind.poses``): no model is loaded.
NO_MODEL = "none: the source gives poses"


def target_specs(config: AppConfig) -> list[TargetSpec]:
    """The TargetSpecs of a configuration (the saved, permanent targets), with their stages' messages."""
    return [t.spec(config.osc.max_datagram) for t in config.targets]


class _Alone:
    """No service around the application (tests, benchmarks, the CLI's one-shot commands)."""

    def servers(self) -> dict[str, ServerStatus]:
        return {}

    def peers(self) -> list[Peer]:
        return []


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
        # The recording tap sees the decoded poses first and, as a listener, the same frame last.
        self.recording_tap = RecordingTap(lambda: self.runner.current_frame if self.runner is not None else None)
        #: Stages with settings of their own (``appliance.stages``), after tracking and smoothing.
        self.extra_stages: dict[str, SettingsStage] = {
            name: kind.make(getattr(self._config, name)) for name, kind in STAGES.items()
        }
        self.stages: tuple[PoseStage, ...] = (
            self.recording_tap,
            self.tracker,
            self.smoother,
            *self.extra_stages.values(),
        )
        self.listeners.add(self.recording_tap)
        recordings = self.folders.recordings or store.path.parent / "recordings"
        self.recordings = Recordings(recordings, self.recording_tap, self._recording_header)
        self.restarts = 0  # pipelines rebuilt after dying
        self.rebuilds = 0  # pipelines started after the first, for any reason (a change, a heal, a retry)
        self.config_changes = 0  # configurations saved and put in force
        self.machine = MachineFacts()  # temperature, throttling, clock (tests give a fake sysfs)
        self.chrony = ChronyWatch()  # chrony's estimate of the offset, asked off the caller's thread
        CLOCK.set(self.clock_word)  # what the box says of its clock to the hubs that follow it
        self.timings = StageTimings()  # every frame's stage times, across rebuilds (the metrics' histograms)
        self._past_errors = 0  # errors counted by pipelines since replaced (the status counts since start)
        self.fault = ""  # the last time the pipeline died, why (kept after it recovered)
        self.generation = store.generation  # of the configuration whose live settings are in force
        self.built_generation = 0  # of the configuration the pipeline was last built from
        self._asked: AppConfig | None = None  # the newest configuration handed to the applier (or built)
        self._applier: Applier[bool] = Applier(self._rebuild, merge=lambda waiting, new: waiting or new)
        self.started_at = time.time()
        self._lock = threading.RLock()  # the pipeline's owner: start, stop and the applier's rebuilds
        self._service: ServiceReport = _Alone()  # the running service's servers and peers (``attach``)
        self._on_change: list[Callable[[AppConfig], None]] = []
        self.trials = NetworkTrials(store)  # a change of the network settings awaiting confirmation
        #: The event loop's worst recent lag in ms (set by the service's loop-lag monitor).
        self.loop_lag: Callable[[], float] = lambda: 0.0
        self._started = False
        self.runner_started = 0  # 1 once a first pipeline ran (the next ones count as rebuilds)
        store.subscribe(self._saved)

    # -- the facade's protocols -------------------------------------------------------------------
    @property
    def config(self) -> AppConfig:
        """The configuration in force."""
        return self._config

    def update(self, change: Change) -> AppConfig:
        """Read-modify-write under the store's lock, checked, saved, then in force (``Commanding.update``).

        A change of the network settings (``NETWORK_SETTINGS``: ports, bind address, discovery) is
        checked like any other but not saved: it goes on trial (``self.trial``, ``core/trial.py``),
        served by the new servers until ``confirm_network`` (from the new address) keeps it, or
        ``TRIAL_SECONDS`` undo it. The rest of the change is saved and in force at once.
        """
        trial: list[NetworkTrial] = []

        def check(old: AppConfig, new: AppConfig) -> None:
            ours = [server.port for server in self._service.servers().values()]
            check_change(old, new, self.folders.models, [p for p in ours if p])

        def split(current: dict[str, Any]) -> dict[str, Any]:
            rest, wanted = self.trials.split(current, change(current), lambda full: check(self._config, full))
            trial.extend([wanted] if wanted is not None else [])
            return rest

        config = self.store.update(split, check)
        if trial:
            self.trials.begin(trial[0])
        return config

    @property
    def trial(self) -> NetworkTrial | None:
        """The change of the network settings awaiting confirmation, if any (``Reading.trial``)."""
        return self.trials.current

    def on_network_trial(self, fn: Callable[[str, NetworkTrial], None]) -> None:
        """Call ``fn(event, trial)`` for "begin", "commit" and "revert" of a network-settings trial
        (from the thread that caused it: ``fn`` must hand work to its own loop)."""
        self.trials.on_event(fn)

    def confirm_network(self, host: str, port: int) -> NetworkTrial:
        """Keep the network settings on trial (``Commanding.confirm_network``; blocking)."""
        return self.trials.confirm(host, port)

    def revert_network(self, trial: NetworkTrial, why: str = "not confirmed in time") -> bool:
        """Undo ``trial`` if it is still the one on trial (nothing was saved); returns whether it was."""
        return self.trials.revert(trial, why)

    @property
    def subscriptions(self) -> tuple[TargetSpec, ...]:
        """The targets leased over the OSC control port (in memory only)."""
        return self._subscriptions

    def set_subscriptions(self, specs: Sequence[TargetSpec]) -> None:
        """Replace the leased targets; they stream alongside the saved ones until removed or expired."""
        with self._lock:
            self._subscriptions = tuple(specs)
            self.targets.set_targets([*target_specs(self._config), *self._subscriptions])

    def restart_walk(self, box: str) -> None:
        """The hub's calibration walk of ``box`` starts over at its next frame (the hub's thread
        takes it: ``appliance.pose.calibrate.RESTARTS``); nothing when this box is no hub."""
        RESTARTS.ask(box)

    def subscribe(self, listener: PoseListener) -> Callable[[], None]:
        """Every frame's poses to ``listener`` (on the "send" thread); returns the unsubscribe."""
        return self.listeners.add(listener)

    def on_change(self, fn: Callable[[AppConfig], None]) -> None:
        """Call ``fn(config)`` after every change is in force."""
        self._on_change.append(fn)

    def attach(self, service: ServiceReport) -> None:
        """Read the control-plane servers and the peers from ``service`` (the service's registry)."""
        self._service = service

    def latest(self) -> Poses:
        """The newest frame's poses (none before the first frame)."""
        runner = self.runner
        return runner.latest if runner is not None else Poses()

    @property
    def state_dir(self) -> Path:
        """The folder of the saved configuration."""
        return self.store.path.parent

    def health(self) -> list[Check]:
        """The doctor's checks, with this service's live status (``Reading.health``; blocking)."""
        return run_checks(self._config, self.folders.models, self.store.path.parent, live=self.status())

    def choices(self) -> dict[str, list[dict[str, Any]]]:
        """Sources and models to choose from (``Reading.choices``)."""
        return {"sources": list_sources(self.folders.media), "models": list_models(self.folders.models)}

    def peers(self) -> list[Peer]:
        """The other boxes discovery has seen (``Reading.peers``)."""
        return self._service.peers()

    def latest_frame(self) -> tuple[Frame, Poses] | None:
        """The newest frame with its poses (``Reading.latest_frame``)."""
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
        """A new engine and pipeline for ``config`` (no engine for a source of poses); any failure
        leaves the box degraded, saying why."""
        engine = None
        try:
            if not source_kind(config.source).poses:
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
            if engine is not None:
                engine.model.close()
            self._failed(f"pipeline not started: {type(exc).__name__}: {exc}")

    def _failed(self, why: str) -> None:
        self.degraded = self.build_error = why
        logger.error("pipeline not started: %s", why)

    def _start_runner(self, engine: PoseEngine | None, config: AppConfig) -> None:
        source = build_source(config.source, engine, self.folders.media, self.recordings.folder)
        runner = PipelineRunner(source, engine, self.targets, self.listeners, stages=self.stages, timings=self.timings)
        runner.start()
        self.rebuilds += self.runner_started
        self.runner_started = 1
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
        self.config_changes += 1
        if new.targets != old.targets or new.osc != old.osc:
            self.targets.set_targets([*target_specs(new), *self._subscriptions])
        engine = self.engine
        if new.decoder != old.decoder and engine is not None:
            engine.params = new.decoder
        self.tracker.config, self.smoother.config = new.tracking, new.smoothing  # read once per frame
        for name, stage in self.extra_stages.items():
            stage.config = getattr(new, name)
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

    def _recording_header(self) -> Header:
        """A new recording's header: this box, its model, source and settings (no secrets)."""
        config, engine = self._config, self.engine
        settings = config.model_dump(mode="json")
        for section, key in (*SECURITY_SETTINGS, ("hub", "subscribe_key")):  # (the venue's key, on a hub)
            settings.get(section, {}).pop(key, None)
        model = Path(engine.model.info.path).name if engine else self._no_model(self.runner, config)
        return Header(config.device_name, __version__, model, config.source, 0, 0, 0.0, settings)

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> Status:
        """Everything a person or a patch wants to know."""
        runner, engine, config, machine = self.runner, self.engine, self._config, self.machine
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
            model=Path(engine.model.info.path).name if engine else self._no_model(runner, config),
            backend=engine.model.name if engine else "none",
            source=config.source,
            source_name=runner.source.name if runner is not None else "",
            pipeline=stats,
            targets=self.targets.stats() if stats is not None else (),
            servers=self._service.servers(),
            restarts=self.restarts,
            rebuilds=self.rebuilds,
            config_changes=self.config_changes,
            timings=self.timings,
            formats=self.targets.by_format() if stats is not None else {},
            fault=self.fault,
            temperature_c=machine.temperature_c(),
            throttled=machine.throttle_flags(),
            clock=machine.clock(),
            chrony=self.chrony.latest(),
            loop_lag_ms=self.loop_lag(),
            trial=self.trial,
            recording=self.recordings.status(),
            hub=self._hub(config),
        )

    def clock_word(self) -> tuple[bool, float] | None:
        """What this box says of its clock to hubs (``appliance.stages.hub.BoxClock``), never
        blocking: (synchronised within clock.warn_ms, offset in ms, positive: ahead) from chrony's
        estimate when chronyd answered, else the kernel's word and last offset; None when neither."""
        tracked = self.chrony.latest()
        if tracked is not None:
            ms = tracked.offset_s * 1000.0
            return tracked.synchronised and abs(ms) <= self.config.clock.warn_ms, ms
        kernel = self.machine.clock()
        if kernel is None:
            return None
        ms = kernel[1] * 1000.0
        return kernel[0] and abs(ms) <= self.config.clock.warn_ms, ms

    def _hub(self, config: AppConfig) -> HubReport | None:
        """The hub's report when the source is a hub (an empty one before its first frame)."""
        if source_kind(config.source).name != "hub":
            return None
        report = self.latest().extras.get("hub")
        return report if isinstance(report, HubReport) else HubReport()

    @staticmethod
    def _no_model(runner: PipelineRunner | None, config: AppConfig) -> str:
        """The status's model when no engine is loaded: the configured one, or why none is needed."""
        return NO_MODEL if runner is not None and runner.engine is None else config.inference.model

    def status_line(self) -> str:
        """One line for a terminal or systemd STATUS=."""
        runner, engine = self.runner, self.engine
        if runner is None and self._applier.busy:
            return "rebuilding the pipeline"
        if runner is None or self.degraded:
            return f"degraded: {self.degraded}"
        backend = engine.model.name if engine else NO_MODEL
        send_errors = sum(t.errors for t in self.targets.stats())
        return f"{backend}; {runner.stats().line(send_errors)}; {len(self.targets.specs)} target(s)"
