"""Application: builds the data plane from the configuration and keeps it in step with changes.

Changes take effect without restarting the process: targets and decoder thresholds are swapped
live; a new source, model or backend rebuilds the pipeline (old one stopped and joined first). If
building fails (model missing, camera gone), the application stays up in a reported degraded
state: the control plane keeps serving and the status says what is wrong.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore
from appliance.errors import ApplianceError
from appliance.pipeline.runner import PipelineRunner
from appliance.pose.engine import DecoderParams, PoseEngine
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec
from appliance.types import KEYPOINT_NAMES, Poses

__all__ = ["END_OF_STREAM", "Application", "poses_to_json", "target_specs"]

#: Put in a subscriber queue when the stream must end.
END_OF_STREAM: dict[str, Any] = {"end": True}

logger = logging.getLogger(__name__)


def target_specs(config: AppConfig) -> list[TargetSpec]:
    """The TargetSpecs of a configuration."""
    return [TargetSpec(t.host, t.port, t.format, t.coords, t.mirror) for t in config.targets]


def decoder_params(config: AppConfig) -> DecoderParams:
    """The DecoderParams of a configuration."""
    d = config.decoder
    return DecoderParams(d.mode, d.max_poses, d.min_pose_score, d.nms_radius)


def poses_to_json(poses: Poses) -> dict[str, Any]:
    """Poses as JSON: keypoints as (x, y, score) normalised 0..1, PoseNet part names, ids."""
    kp = poses.normalized()
    return {
        "frame": poses.frame_index,
        "width": poses.frame_size[0],
        "height": poses.frame_size[1],
        "time": poses.t_wall,
        "poses": [
            {
                "id": int(poses.ids[i]) if poses.ids.shape[0] > i else -1,
                "score": round(float(poses.scores[i]), 4),
                "keypoints": [
                    [round(float(x), 4), round(float(y), 4), round(float(s), 3)] for x, y, s in kp[i].tolist()
                ],
            }
            for i in range(len(poses))
        ],
        "names": list(KEYPOINT_NAMES),
    }


class Application:
    """Owns the store, the targets and the pipeline; all public methods are thread-safe."""

    def __init__(self, store: ConfigStore, overrides: Callable[[AppConfig], AppConfig] | None = None) -> None:
        self.store = store
        self._overrides = overrides or (lambda c: c)
        self.config = self._overrides(store.config)
        self.targets = TargetSet(target_specs(self.config))
        self.runner: PipelineRunner | None = None
        self.engine: PoseEngine | None = None
        self.degraded = ""  # why the pipeline is not running; empty when it is
        self.started_at = time.time()
        self._lock = threading.RLock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self._sub_lock = threading.Lock()
        self.control_messages = 0
        self.control_errors = 0
        self.extra_status: dict[str, Any] = {}
        self._started = False
        store.subscribe(self._on_saved)

    # -- pipeline ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Build and start the pipeline (blocking: model loading, device probing)."""
        with self._lock:
            self._started = True
            self._build(self.config)

    def _build(self, config: AppConfig) -> None:
        from appliance.capture import create_source, parse_source
        from appliance.inference import create_backend
        from appliance.models import resolve_model

        try:
            path = resolve_model(config.inference.model)
            inf = config.inference
            backend = create_backend(path, inf.backend, device=inf.device, threads=inf.threads)
        except ApplianceError as exc:
            self.degraded = f"no model: {exc}"
            logger.error("pipeline not started: %s", self.degraded)
            return
        engine = PoseEngine(backend, decoder_params(config))
        spec = parse_source(config.source)
        kwargs: dict[str, object] = {"input_size": engine.input_size} if spec.type == "picamera2" else {}
        runner = PipelineRunner(create_source(spec, **kwargs), engine, self.targets, on_poses=self._on_poses)
        runner.start()
        self.engine, self.runner, self.degraded = engine, runner, ""

    def _teardown(self) -> None:
        runner, engine = self.runner, self.engine
        self.runner = self.engine = None
        if runner is not None and not runner.stop():
            logger.error("pipeline threads did not stop in time")
        if engine is not None:
            engine.backend.close()

    def stop(self) -> None:
        """Stop the pipeline and close the targets (reverse of start); idempotent."""
        with self._lock:
            self._started = False
            self._teardown()
            self.targets.close()

    def _on_saved(self, saved: AppConfig) -> None:
        self.apply(self._overrides(saved))

    def apply(self, new: AppConfig) -> None:
        """Make ``new`` the running configuration, restarting only what changed."""
        with self._lock:
            old, self.config = self.config, new
            if new.targets != old.targets:
                self.targets.set_targets(target_specs(new))
            if new.decoder != old.decoder and self.engine is not None:
                self.engine.params = decoder_params(new)
            rebuild = new.source != old.source or new.inference != old.inference or self.runner is None
            if self._started and rebuild:
                logger.info("source or model changed: rebuilding the pipeline")
                self._teardown()
                self._build(new)

    # -- poses for the web --------------------------------------------------------------------------
    def _on_poses(self, poses: Poses) -> None:
        with self._sub_lock:
            subs = list(self._subscribers)
        if not subs:
            return
        doc = poses_to_json(poses)
        for loop, queue in subs:
            loop.call_soon_threadsafe(_offer, queue, doc)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[dict[str, Any]]:
        """A queue (size 2, newest kept) that receives every frame's poses as JSON."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=2)
        with self._sub_lock:
            self._subscribers.add((loop, queue))
        return queue

    def unsubscribe(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop feeding ``queue``."""
        with self._sub_lock:
            self._subscribers.discard((loop, queue))

    def end_streams(self) -> None:
        """Tell every live stream to finish (on shutdown), so no connection holds the server up."""
        with self._sub_lock:
            subs, self._subscribers = list(self._subscribers), set()
        for loop, queue in subs:
            loop.call_soon_threadsafe(_offer, queue, END_OF_STREAM)

    def latest(self) -> dict[str, Any]:
        """The newest frame's poses as JSON (no people before the first frame)."""
        runner = self.runner
        return poses_to_json(runner.latest if runner is not None else Poses())

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Everything a person or a patch wants to know, as JSON."""
        runner = self.runner
        stats = runner.stats() if runner is not None else None
        state = "running"
        if self.store.safe_mode:
            state = "safe mode"
        if self.degraded:
            state = "degraded"
        elif stats is not None and stats.source_state != "ok":
            state = f"source {stats.source_state}"
        doc: dict[str, Any] = {
            "version": __version__,
            "device_name": self.config.device_name,
            "state": state,
            "safe_mode": self.store.safe_mode,
            "degraded": self.degraded,
            "uptime_s": round(time.time() - self.started_at, 1),
            "model": Path(self.engine.backend.info.path).name if self.engine else self.config.inference.model,
            "backend": self.engine.backend.name if self.engine else "none",
            "source": self.config.source,
            "control": {"messages": self.control_messages, "errors": self.control_errors},
            **self.extra_status,
        }
        if stats is not None:
            doc["pipeline"] = {
                "source_state": stats.source_state,
                "fps": round(stats.fps, 2),
                "input_fps": round(stats.input_fps, 2),
                "people": stats.people,
                "frames_in": stats.frames_in,
                "frames_processed": stats.frames_processed,
                "frames_dropped": stats.frames_dropped,
                "errors": stats.errors,
                "inference_ms": round(stats.inference_ms, 2),
                "decode_ms": round(stats.decode_ms, 3),
                "latency_p50_ms": round(stats.latency_p50_ms, 2),
                "latency_p99_ms": round(stats.latency_p99_ms, 2),
            }
            doc["targets"] = [
                {
                    "target": t.label,
                    "state": t.state,
                    "datagrams": t.datagrams,
                    "errors": t.errors,
                    "dropped": t.dropped,
                    "last_error": t.last_error,
                }
                for t in stats.targets
            ]
        return doc

    def status_line(self) -> str:
        """One line for a terminal or systemd STATUS=."""
        runner = self.runner
        if runner is None:
            return f"degraded: {self.degraded}"
        backend = self.engine.backend.name if self.engine else "?"
        targets = len(self.targets.specs)
        return f"{backend}; {runner.stats().line()}; {targets} target(s)"


def _offer(queue: asyncio.Queue[dict[str, Any]], doc: dict[str, Any]) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(doc)
