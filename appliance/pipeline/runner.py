"""PipelineRunner: four named threads joined by one-slot hand-offs, none of which queues.

* "capture": source -> LatestFrame (a frame nobody took is replaced and counted as dropped);
* "prepare": newest frame -> input tensor (fit and resize), exactly one frame ahead of inference,
  so resizing overlaps ``invoke()`` (which releases the GIL) instead of adding to it;
* "process": only the backend (``invoke()`` and dequantisation), so the accelerator is never idle
  waiting for Python; stamps ``heartbeat`` on every iteration, timed-out waits included, so a
  watchdog can tell a hung native call from an idle camera;
* "send": decode to source pixels, the pose stages (tracking, ...), then every pose listener (UDP
  targets, the page's stream, ...), all overlapping the next ``invoke()``.

A source of poses (``PoseSource``, no engine) needs no model: its decoded poses go from "capture"
straight to "send" (stages, listeners), with no "prepare" or "process" thread; "send" then stamps
``heartbeat``, and the frame published with them is a black image of their size.

Every counter has one writer thread; ``stats()`` reads and sums them. A frame's timings travel with
it through the hand-offs, and the "send" thread publishes them as one immutable value. A failing or
absent source is reopened with backoff and reported in the stats. A frame that fails in a stage is
counted and dropped, its fault logged once (again after the stage recovers). A thread that dies
(an exception no stage expected) is reported in ``failure``: the owner rebuilds the pipeline.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance import failpoints
from appliance.capture.base import EndOfSource, FrameSource, PoseSource
from appliance.errors import ApplianceError
from appliance.log import LogOnce
from appliance.models.engine import PoseEngine
from appliance.pipeline.listeners import PoseListener
from appliance.pipeline.mailbox import Handoff, LatestFrame
from appliance.pipeline.stats import FrameTimes, PipelineStats, StageTimings
from appliance.pose.geometry import InputTransform
from appliance.pose.stages import PoseStage
from appliance.pose.tracking import Tracker
from appliance.types import Frame, Poses

__all__ = ["PipelineRunner"]

logger = logging.getLogger(__name__)
_log_once = LogOnce(logger)

#: Seconds a read or mailbox wait blocks before the loop checks for stop.
READ_TIMEOUT = 0.25
#: A source with no frame for this many seconds is reported as stalled.
STALL_SECONDS = 2.0
#: Reopen back-off after a source error: first and longest wait in seconds.
REOPEN_BACKOFF = (0.5, 10.0)
_WINDOW = 2.0  # seconds over which fps is measured
_SLOW_WINDOW = 10.0  # ... or, below one frame per _WINDOW, over this many


@dataclass(slots=True)
class _Counters:
    """Counters of one thread; only that thread writes them. ``faulty``: stages whose last item failed."""

    items: int = 0
    errors: int = 0
    faulty: set[str] = field(default_factory=set)

    def failed(self, stage: str, exc: Exception, what: str) -> None:
        """Count a failed item and log it once (with its traceback) until the stage recovers."""
        self.errors += 1
        self.faulty.add(stage)
        _log_once.warning((stage, type(exc).__name__), "%s failed: %s", what, exc, exc_info=True)

    def ok(self, stage: str, what: str) -> None:
        """An item went through: if the stage had failed, say it recovered and re-arm its log."""
        if stage in self.faulty:
            self.faulty.discard(stage)
            if _log_once.recovered(stage):
                logger.warning("%s works again", what)


@dataclass(frozen=True, slots=True)
class _Prepared:
    frame: Frame
    tensor: NDArray[np.uint8]
    transform: InputTransform
    prepare_s: float


@dataclass(frozen=True, slots=True)
class _Inferred:
    frame: Frame
    raw: Any
    transform: InputTransform
    prepare_s: float
    inference_s: float


class PipelineRunner:
    """Owns the four data-plane threads; ``start`` once, ``stop`` (joins) once or more.

    ``listeners`` receive every frame's final poses in order (the UDP targets first, usually);
    ``stages`` transform decoded poses before that (default: tracking only); ``timings`` receives
    every frame's stage times (histograms the owner keeps across rebuilds). ``engine`` is None
    exactly when ``source`` is a ``PoseSource``.
    """

    def __init__(
        self,
        source: FrameSource | PoseSource,
        engine: PoseEngine | None,
        *listeners: PoseListener,
        stages: Sequence[PoseStage] | None = None,
        timings: StageTimings | None = None,
    ) -> None:
        self.source = source
        self.engine = engine
        self.listeners = listeners
        self.stages: tuple[PoseStage, ...] = tuple(stages) if stages is not None else (Tracker(),)
        self.mailbox: LatestFrame[Frame] = LatestFrame()
        #: The frame the "send" thread is decoding (for the stages that want its picture: a video).
        self.current_frame: Frame | None = None
        self._prepared: Handoff[_Prepared] = Handoff()
        self._outbox: LatestFrame[_Inferred | Poses] = LatestFrame()  # Poses: from a PoseSource
        self._blank = np.zeros((0, 0, 3), np.uint8)  # the picture published with a PoseSource's poses
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failure = ""  # why a thread died, "" while all live (written once, by the dying thread)
        # "capture" writes these
        self._capture = _Counters()
        self._source_state = "starting"
        self._last_frame = time.monotonic()
        self._in_times: collections.deque[float] = collections.deque(maxlen=256)
        # "prepare" and "process" write these
        self._prepare = _Counters()
        self._process = _Counters()
        self.heartbeat = time.monotonic()
        # "send" writes these
        self._send = _Counters()
        # The newest frame and its poses (the page's camera view, ``latest``): one reference swapped
        # per frame (nothing is copied or encoded unless someone asks).
        self.latest_frame: tuple[Frame, Poses] | None = None
        self._times = FrameTimes()
        self._out_times: collections.deque[float] = collections.deque(maxlen=256)
        self._latency: collections.deque[float] = collections.deque(maxlen=512)
        self.timings = timings if timings is not None else StageTimings()  # histograms, across rebuilds

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the "capture", "prepare", "process" and "send" threads."""
        if self._threads:
            raise RuntimeError("pipeline already started")
        loops = [
            ("capture", self._capture_loop, self._capture),
            ("prepare", self._prepare_loop, self._prepare),
            ("process", self._process_loop, self._process),
            ("send", self._send_loop, self._send),
        ]
        if self.engine is None:  # poses from the source: nothing to prepare or infer
            loops = [loops[0], loops[3]]
        self._threads = [
            threading.Thread(target=self._guard(loop, counters), name=name, daemon=True)
            for name, loop, counters in loops
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the threads to stop, join them, close the source; True if all ended in time."""
        self._stop.set()
        ok = True
        for t in self._threads:
            t.join(timeout)
            ok = ok and not t.is_alive()
        if ok:
            self.source.close()
        return ok

    def _guard(self, loop: Callable[[], None], counters: _Counters) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception as exc:  # never a silent, half-dead pipeline: say so, the owner rebuilds
                name = threading.current_thread().name
                logger.exception("pipeline thread %s died", name)
                counters.errors += 1
                self.failure = self.failure or f'thread "{name}" died: {type(exc).__name__}: {exc}'

        return run

    @property
    def running(self) -> bool:
        """All threads alive."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    @property
    def died(self) -> bool:
        """Started, not asked to stop, and a thread has ended: not the same as never started."""
        return bool(self._threads) and not self._stop.is_set() and not self.running

    # -- capture ------------------------------------------------------------------------------
    def _capture_loop(self) -> None:
        opened = False
        backoff = REOPEN_BACKOFF[0]
        while not self._stop.is_set():
            if not opened:
                try:
                    self.source.open()
                except (ApplianceError, OSError) as exc:
                    self._source_state = f"error: {exc}"
                    _log_once.warning(("source", "open", str(exc)), "source %s unavailable: %s", self.source.name, exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, REOPEN_BACKOFF[1])
                    continue
                opened, self._last_frame = True, time.monotonic()
                logger.info("source %s open", self.source.name)
            try:
                if failpoints.ACTIVE:
                    failpoints.hit("capture.read")
                frame = self.source.read(READ_TIMEOUT)
            except EndOfSource:
                self._source_state = "ended"
                logger.info("source %s ended", self.source.name)
                self.source.close()
                self._stop.wait()
                return
            except (ApplianceError, OSError) as exc:
                self._source_state = f"error: {exc}"
                _log_once.warning(
                    ("source", "read", str(exc)), "source %s failed: %s; reopening", self.source.name, exc
                )
                self.source.close()
                opened = False
                self._stop.wait(backoff)
                backoff = min(backoff * 2, REOPEN_BACKOFF[1])
                continue
            now = time.monotonic()
            if frame is None:
                if now - self._last_frame > STALL_SECONDS and self._source_state != "stalled":
                    self._source_state = "stalled"
                    logger.warning("source %s stalled: no frame for %.1f s", self.source.name, now - self._last_frame)
                continue
            if self._source_state != "ok":
                logged = _log_once.recovered("source")
                if logged or self._source_state == "stalled":
                    logger.warning("source %s delivers frames again", self.source.name)
                self._source_state = "ok"
            backoff = REOPEN_BACKOFF[0]
            self._last_frame = now
            self._capture.items += 1
            self._in_times.append(now)
            if isinstance(frame, Poses):
                self._outbox.put(frame)
            else:
                self.mailbox.put(frame)

    # -- prepare ------------------------------------------------------------------------------
    def _prepare_loop(self) -> None:
        engine = self.engine
        if engine is None:  # never started without one
            return
        while not self._stop.is_set():
            if not self._prepared.wait_empty(READ_TIMEOUT):
                continue
            frame = self.mailbox.get(READ_TIMEOUT)
            if frame is None:
                continue
            t0 = time.perf_counter()
            try:
                if failpoints.ACTIVE:
                    failpoints.hit("prepare")
                tensor, transform = engine.prepare(frame.image)
            except Exception as exc:
                self._prepare.failed("prepare", exc, "preparing a frame")
                continue
            self._prepare.ok("prepare", "preparing frames")
            self._prepared.put(_Prepared(frame, tensor, transform, time.perf_counter() - t0))

    # -- process ------------------------------------------------------------------------------
    def _process_loop(self) -> None:
        engine = self.engine
        if engine is None:  # never started without one
            return
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            item = self._prepared.get(READ_TIMEOUT)
            if item is None:
                continue
            t0 = time.perf_counter()
            try:
                if failpoints.ACTIVE:
                    failpoints.hit("infer")
                raw = engine.run_model(item.tensor)
            except Exception as exc:  # keep the appliance running; the count shows in the status
                self._process.failed("infer", exc, "inference")
                continue
            self._process.ok("infer", "inference")
            inference_s = time.perf_counter() - t0
            self._outbox.put(_Inferred(item.frame, raw, item.transform, item.prepare_s, inference_s))

    # -- send ---------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._stop.is_set():
            if self.engine is None:
                self.heartbeat = time.monotonic()
            item = self._outbox.get(READ_TIMEOUT)
            if item is None:
                continue
            frame = self.current_frame = item.frame if isinstance(item, _Inferred) else self._frame_of(item)
            t0 = time.perf_counter()
            try:
                if failpoints.ACTIVE:
                    failpoints.hit("decode")
                poses = self._decode(item)
                for stage in self.stages:
                    poses = stage(poses)
            except Exception as exc:
                self._send.failed("decode", exc, "decoding a frame")
                continue
            self._send.ok("decode", "decoding")
            t1 = time.perf_counter()
            if failpoints.ACTIVE:
                failpoints.hit("send")
            for listener in self.listeners:
                try:
                    listener.on_poses(poses)
                except Exception as exc:  # one listener's bug must not starve the others
                    self._send.failed("listener", exc, f"pose listener {type(listener).__name__}")
                else:
                    self._send.ok("listener", "pose listeners")
            t2 = time.perf_counter()
            if isinstance(item, _Inferred):
                self._times = times = FrameTimes(item.prepare_s, item.inference_s, t1 - t0, t2 - t1)
            else:
                self._times = times = FrameTimes(0.0, 0.0, t1 - t0, t2 - t1)
            now = time.monotonic()
            self.timings.observe(times, now - poses.t_capture, inferred=isinstance(item, _Inferred))
            self._latency.append(now - poses.t_capture)
            self._out_times.append(now)
            self._send.items += 1
            self.latest_frame = (frame, poses)

    def _decode(self, item: _Inferred | Poses) -> Poses:
        """The frame's poses in source pixels (x, y): decoded from the model's outputs, or as a
        ``PoseSource`` gave them."""
        if isinstance(item, Poses):
            return item
        if self.engine is None:
            raise RuntimeError("model outputs but no engine to decode them")
        frame = item.frame
        return self.engine.poses_from(
            item.raw,
            item.transform,
            frame_index=frame.index,
            t_capture=frame.t_capture,
            t_wall=frame.t_wall,
            scene=frame.scene,
        )

    def _frame_of(self, poses: Poses) -> Frame:
        """The frame published with a ``PoseSource``'s poses: a black picture of their size (one
        array, reused while the size stays), or what the source's ``picture(poses)`` gives when it has
        one, computed only when someone asks to see it (``Frame.render``)."""
        w, h = poses.frame_size
        if self._blank.shape[:2] != (h, w):
            self._blank = np.zeros((h, w, 3), np.uint8)
        picture = getattr(self.source, "picture", None)  # a replay with its recorded video
        render = functools.partial(picture, poses) if callable(picture) else None
        return Frame(self._blank, poses.frame_index, poses.t_capture, poses.t_wall, poses.scene, render)

    @property
    def latest(self) -> Poses:
        """The newest frame's poses (none before the first frame)."""
        latest = self.latest_frame
        return latest[1] if latest is not None else Poses()

    # -- stats --------------------------------------------------------------------------------
    def stats(self) -> PipelineStats:
        """A consistent-enough snapshot; never blocks the data plane."""
        now = time.monotonic()
        lat = np.array(list(self._latency), dtype=np.float64) * 1e3  # list(): one atomic copy
        times = self._times
        errors = sum(c.errors for c in (self._capture, self._prepare, self._process, self._send))
        return PipelineStats(
            source=self.source.name,
            source_state=self._source_state,
            backend=self.engine.model.name if self.engine is not None else "none",
            frames_in=self._capture.items,
            frames_processed=self._send.items,
            frames_dropped=self.mailbox.dropped + self._outbox.dropped,
            errors=errors,
            fps=_rate(self._out_times, now),
            input_fps=_rate(self._in_times, now),
            people=len(self.latest),
            preprocess_ms=times.prepare * 1e3,
            inference_ms=times.inference * 1e3,
            decode_ms=times.decode * 1e3,
            send_ms=times.send * 1e3,
            latency_p50_ms=float(np.percentile(lat, 50)) if lat.size else 0.0,
            latency_p99_ms=float(np.percentile(lat, 99)) if lat.size else 0.0,
            seconds_since_frame=now - self._last_frame,
        )


def _rate(times: collections.deque[float], now: float) -> float:
    """Frames per second from monotonic timestamps (seconds), over the last 2 s.

    A slow stream (under one frame per 2 s, e.g. a large model on the CPU of a small Pi) is measured
    over the last 10 s instead, so it reads 0.25 fps rather than 0; with fewer than two frames in
    that time the rate is 0.
    """
    # list(): one atomic copy, as the pipeline threads append while we read.
    recent = [t for t in list(times) if now - t <= _SLOW_WINDOW]
    fast = [t for t in recent if now - t <= _WINDOW]
    if len(fast) >= 2:
        span = max(now - fast[0], 1e-6)
        return (len(fast) - 1) / span if span < _WINDOW else len(fast) / _WINDOW
    if len(recent) >= 2:
        return (len(recent) - 1) / max(now - recent[0], 1e-6)
    return 0.0
