"""Playing a recording back: the recorded decoded poses through the stages again, on schedule.

``replayed`` re-runs tracking and smoothing with the settings recorded in the file's header (the
settings in force when it was recorded), so a replay gives the same ids, events and smoothed
positions as the live run did. ``Player`` sends them to OSC targets at ``t0 + (at_i - at_0) /
speed`` (``appliance.recording.schedule``): the rehearsal tool for an artist's own computer, with no
camera, no model and no HTTP.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from appliance.pose.params import SmoothingConfig, TrackingConfig
from appliance.pose.smoothing import Smoother
from appliance.pose.stages import PoseStage
from appliance.pose.tracking import Tracker
from appliance.recording.fileformat import RecordedFrame, Recording
from appliance.recording.schedule import Schedule
from appliance.stages import STAGES, StageKind
from appliance.transport.targets import TargetSet
from appliance.types import Poses

__all__ = ["PlayStats", "Player", "recorded_stages", "replayed", "window"]

logger = logging.getLogger(__name__)

#: A loop pass starts a new scene this far from the last (the tracker treats it as a cut).
_PASS_SCENES = 1_000_000


def recorded_stages(recording: Recording) -> tuple[PoseStage, ...]:
    """Tracking, smoothing and every stage with settings of its own (zones, slots ...), as the box
    runs them, with the settings in the recording's header (a stage's defaults, with a warning,
    where the header has none or they do not validate)."""
    settings = recording.header.settings
    try:
        tracking = TrackingConfig.model_validate(settings.get("tracking", {}))
        smoothing = SmoothingConfig.model_validate(settings.get("smoothing", {}))
    except ValidationError as exc:
        why = exc.errors()[0]["msg"]
        logger.warning("%s: recorded stage settings unusable (%s); using the defaults", recording.path, why)
        tracking, smoothing = TrackingConfig(), SmoothingConfig()
    return (Tracker(tracking), Smoother(smoothing), *(_stage(kind, settings, recording) for kind in STAGES.values()))


def _stage(kind: StageKind, settings: dict[str, object], recording: Recording) -> PoseStage:
    """A stage of ``kind`` with its recorded section (its default when absent or invalid)."""
    adapter: TypeAdapter[object] = TypeAdapter(kind.settings)
    fallback = kind.default() if kind.default is not None else {}
    try:
        section = adapter.validate_python(settings.get(kind.name, fallback))
    except ValidationError as exc:
        why = exc.errors()[0]["msg"]
        logger.warning("%s: recorded %s settings unusable (%s); using the defaults", recording.path, kind.name, why)
        section = adapter.validate_python(fallback)
    return kind.make(section)


def window(recording: Recording, start: float = 0.0, end: float | None = None) -> Iterator[RecordedFrame]:
    """The recording's frames with ``start <= at < end`` (seconds since its first frame)."""
    for frame in recording.frames():
        if frame.at < start:
            continue
        if end is not None and frame.at >= end:
            return
        yield frame


def replayed(frames: Iterator[RecordedFrame], stages: tuple[PoseStage, ...]) -> Iterator[tuple[RecordedFrame, Poses]]:
    """Each recorded frame with its poses after ``stages`` (source pixels, (x, y, score), ids)."""
    for frame in frames:
        poses = frame.poses
        for stage in stages:
            poses = stage(poses)
        yield frame, poses


@dataclass(frozen=True, slots=True)
class PlayStats:
    """How a replay went: frames sent, passes (loops), and the send times against the schedule
    (seconds late: median, p99, worst, and at the last frame)."""

    frames: int
    passes: int
    late_median: float
    late_p99: float
    late_max: float
    late_last: float


class Player:
    """Sends a recording to ``targets`` on schedule; ``run`` blocks until the end (or ``stop``)."""

    def __init__(
        self,
        recording: Recording,
        targets: TargetSet,
        *,
        speed: float = 1.0,
        loop: bool = False,
        start: float = 0.0,
        end: float | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.recording, self.targets = recording, targets
        self.speed, self.loop, self.start, self.end = speed, loop, start, end
        self.stop_event = threading.Event()

    def stop(self) -> None:
        """End the replay (from any thread)."""
        self.stop_event.set()

    def run(self) -> PlayStats:
        """Play (every pass when looping) and return how late each send was against the schedule."""
        stages = recorded_stages(self.recording)
        late: list[float] = []
        schedule: Schedule | None = None
        passes, wall0, mono0 = 0, time.time(), time.monotonic()
        period = 1 / 15
        while not self.stop_event.is_set():
            last_at, sent_before = None, len(late)
            for frame, poses in replayed(window(self.recording, self.start, self.end), stages):
                if schedule is None:
                    schedule = Schedule(self.speed, frame.at)
                if last_at is not None and frame.at > last_at:
                    period = frame.at - last_at
                late.append(schedule.wait(frame.at, self.stop_event))
                if self.stop_event.is_set():
                    break
                due = schedule.due(frame.at)
                self.targets.send(
                    dataclasses.replace(
                        poses,
                        t_capture=due,
                        t_wall=wall0 + (due - mono0),
                        scene=poses.scene + passes * _PASS_SCENES,
                    )
                )
                last_at = frame.at
            passes += 1
            if not self.loop or schedule is None or last_at is None or len(late) == sent_before:
                break
            schedule.next_pass(last_at, period)
            for stage in stages:
                stage.reset()
        return _stats(late, passes)


def _stats(late: list[float], passes: int) -> PlayStats:
    if not late:
        return PlayStats(0, passes, 0.0, 0.0, 0.0, 0.0)
    ordered = sorted(late)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return PlayStats(len(late), passes, statistics.median(late), p99, ordered[-1], late[-1])
