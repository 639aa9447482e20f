"""PipelineRunner: four named threads joined by one-slot hand-offs, none of which queues.

* "capture": source -> LatestFrame (a frame nobody took is replaced and counted as dropped);
* "prepare": newest frame -> input tensor (resize), exactly one frame ahead of inference, so
  resizing overlaps ``invoke()`` (which releases the GIL) instead of adding to it;
* "process": only ``invoke()`` and dequantisation, so the accelerator is never idle waiting for
  Python; stamps ``heartbeat`` on every iteration, timed-out waits included, so a watchdog can
  tell a hung native call from an idle camera;
* "send": decode, map to source pixels, track ids, OSC encoding and UDP fan-out, all overlapping
  the next ``invoke()``.

A failing or absent source is reopened with backoff and reported in the stats.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from appliance.capture.base import FrameSource
from appliance.capture.image_source import EndOfSource
from appliance.errors import ApplianceError
from appliance.log import LogOnce
from appliance.pipeline.mailbox import Handoff, LatestFrame
from appliance.pipeline.stats import PipelineStats, TargetStats
from appliance.pose.engine import PoseEngine
from appliance.pose.heads import RawHeads
from appliance.pose.tracking import Tracker
from appliance.transport.targets import TargetSet
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


class PipelineRunner:
    """Owns the two data-plane threads; ``start`` once, ``stop`` (joins) once or more."""

    def __init__(
        self,
        source: FrameSource,
        engine: PoseEngine,
        targets: TargetSet,
        *,
        tracker: Tracker | None = None,
        on_poses: Callable[[Poses], None] | None = None,
    ) -> None:
        self.source = source
        self.engine = engine
        self.targets = targets
        self.tracker = tracker or Tracker()
        self.on_poses = on_poses
        self.mailbox: LatestFrame[Frame] = LatestFrame()
        self._prepared: Handoff[tuple[Frame, NDArray[np.uint8], float]] = Handoff()
        self._outbox: LatestFrame[tuple[Frame, RawHeads]] = LatestFrame()
        self.heartbeat = time.monotonic()
        self.latest: Poses = Poses()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._source_state = "starting"
        self._frames_in = 0
        self._processed = 0
        self._errors = 0
        self._last_frame = time.monotonic()
        self._in_times: collections.deque[float] = collections.deque(maxlen=256)
        self._out_times: collections.deque[float] = collections.deque(maxlen=256)
        self._latency: collections.deque[float] = collections.deque(maxlen=512)
        self._stage = [0.0, 0.0, 0.0, 0.0]  # prepare, inference, decode, send (seconds)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the "capture" and "process" threads."""
        if self._threads:
            raise RuntimeError("pipeline already started")
        self._threads = [
            threading.Thread(target=self._guard(loop), name=name, daemon=True)
            for name, loop in (
                ("capture", self._capture_loop),
                ("prepare", self._prepare_loop),
                ("process", self._process_loop),
                ("send", self._send_loop),
            )
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask both threads to stop, join them, close the source; True if both ended in time."""
        self._stop.set()
        ok = True
        for t in self._threads:
            t.join(timeout)
            ok = ok and not t.is_alive()
        if ok:
            self.source.close()
        return ok

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception:  # a bug must not leave a silent, half-dead pipeline
                logger.exception("pipeline thread %s crashed", threading.current_thread().name)
                self._errors += 1

        return run

    @property
    def running(self) -> bool:
        """All threads alive."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

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
                    _log_once.warning(("open", str(exc)), "source %s unavailable: %s", self.source.name, exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, REOPEN_BACKOFF[1])
                    continue
                opened, self._last_frame = True, time.monotonic()
                logger.info("source %s open", self.source.name)
            try:
                frame = self.source.read(READ_TIMEOUT)
            except EndOfSource:
                self._source_state = "ended"
                logger.info("source %s ended", self.source.name)
                self.source.close()
                self._stop.wait()
                return
            except (ApplianceError, OSError) as exc:
                self._source_state = f"error: {exc}"
                _log_once.warning(("read", str(exc)), "source %s failed: %s; reopening", self.source.name, exc)
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
                if self._source_state == "stalled":
                    logger.info("source %s delivers frames again", self.source.name)
                self._source_state = "ok"
            backoff = REOPEN_BACKOFF[0]
            self._last_frame = now
            self._frames_in += 1
            self._in_times.append(now)
            self.mailbox.put(frame)

    # -- prepare ------------------------------------------------------------------------------
    def _prepare_loop(self) -> None:
        while not self._stop.is_set():
            if not self._prepared.wait_empty(READ_TIMEOUT):
                continue
            frame = self.mailbox.get(READ_TIMEOUT)
            if frame is None:
                continue
            t0 = time.perf_counter()
            try:
                tensor = self.engine.prepare(frame.image)
            except Exception as exc:
                self._errors += 1
                _log_once.warning(("prepare", type(exc).__name__), "preparing a frame failed: %s", exc)
                continue
            self._prepared.put((frame, tensor, time.perf_counter() - t0))

    # -- process ------------------------------------------------------------------------------
    def _process_loop(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            item = self._prepared.get(READ_TIMEOUT)
            if item is None:
                continue
            frame, tensor, prep = item
            try:
                heads = self.engine.run_model(tensor)
            except Exception as exc:  # keep the appliance running; the count shows in the status
                self._errors += 1
                _log_once.warning(("process", type(exc).__name__), "inference failed: %s", exc, exc_info=True)
                continue
            self._stage[0] = prep
            self._stage[1] = self.engine.last_times.inference
            self._outbox.put((frame, heads))

    # -- send ---------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._stop.is_set():
            item = self._outbox.get(READ_TIMEOUT)
            if item is None:
                continue
            frame, heads = item
            t0 = time.perf_counter()
            try:
                poses = self.engine.poses_from(
                    heads, frame.size, frame_index=frame.index, t_capture=frame.t_capture, t_wall=frame.t_wall
                )
                poses = self.tracker.update(poses)
            except Exception as exc:
                self._errors += 1
                _log_once.warning(("decode", type(exc).__name__), "decoding a frame failed: %s", exc, exc_info=True)
                continue
            t1 = time.perf_counter()
            self.targets.send(poses)
            t2 = time.perf_counter()
            self._stage[2], self._stage[3] = t1 - t0, t2 - t1
            now = time.monotonic()
            self._latency.append(now - poses.t_capture)
            self._out_times.append(now)
            self._processed += 1
            self.latest = poses
            if self.on_poses is not None:
                try:
                    self.on_poses(poses)
                except Exception:
                    self._errors += 1
                    logger.exception("pose listener failed")

    # -- stats --------------------------------------------------------------------------------
    def stats(self) -> PipelineStats:
        """A consistent-enough snapshot; never blocks the data plane."""
        now = time.monotonic()
        lat = np.array(self._latency, dtype=np.float64) * 1e3
        pre, inf, dec, send = self._stage
        targets = tuple(
            TargetStats(label, c.state, c.datagrams, c.bytes, c.errors, c.dropped, c.last_error)
            for label, c in self.targets.counters().items()
        )
        return PipelineStats(
            source=self.source.name,
            source_state=self._source_state,
            backend=self.engine.backend.name,
            frames_in=self._frames_in,
            frames_processed=self._processed,
            frames_dropped=self.mailbox.dropped + self._outbox.dropped,
            errors=self._errors + self.targets.encode_errors,
            fps=_rate(self._out_times, now),
            input_fps=_rate(self._in_times, now),
            people=len(self.latest),
            preprocess_ms=pre * 1e3,
            inference_ms=inf * 1e3,
            decode_ms=dec * 1e3,
            send_ms=send * 1e3,
            latency_p50_ms=float(np.percentile(lat, 50)) if lat.size else 0.0,
            latency_p99_ms=float(np.percentile(lat, 99)) if lat.size else 0.0,
            seconds_since_frame=now - self._last_frame,
            targets=targets,
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
