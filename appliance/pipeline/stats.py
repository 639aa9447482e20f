"""PipelineStats: an immutable snapshot of the live counters, for the status, web and watchdog."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["TIME_BUCKETS", "FrameTimes", "Histogram", "PipelineStats", "StageTimings"]

#: Upper bounds (seconds) of the timing histograms' buckets: fine from 1 to 100 ms, where a frame's
#: stages live (an Edge TPU inference is ~10 ms, a CPU one ~100 ms), coarse beyond (+Inf is implied).
TIME_BUCKETS: tuple[float, ...] = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0,
)  # fmt: skip


class Histogram:
    """Counts of observations per bucket, for one writer thread (the "send" thread) and any readers.

    ``observe`` is a bisect and two additions (no lock: one writer; a reader's copy may be one
    observation behind in some bucket, never torn). ``counts[i]`` counts values <= ``bounds[i]`` and
    above the bound before; the last entry counts values above every bound.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = TIME_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one value (seconds)."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def snapshot(self) -> tuple[list[int], float]:
        """(cumulative counts per bound, the last being +Inf, i.e. the total; the sum)."""
        counts, total = list(self.counts), self.sum  # list(): one atomic copy
        cumulative, running = [], 0
        for c in counts:
            running += c
            cumulative.append(running)
        return cumulative, total


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Every frame's stage times as histograms (seconds), kept by the application across pipeline
    rebuilds: prepare (resize), inference, decode (and pose stages), send (every listener), and the
    frame's age when sent (capture to the last listener served)."""

    prepare: Histogram = field(default_factory=Histogram)
    inference: Histogram = field(default_factory=Histogram)
    decode: Histogram = field(default_factory=Histogram)
    send: Histogram = field(default_factory=Histogram)
    frame_age: Histogram = field(default_factory=Histogram)

    def observe(self, times: FrameTimes, age: float, inferred: bool = True) -> None:
        """One frame's times and its age (seconds); on the "send" thread. Poses from a pose source
        (``inferred`` False) were never prepared nor inferred: those two are not counted."""
        if inferred:
            self.prepare.observe(times.prepare)
            self.inference.observe(times.inference)
        self.decode.observe(times.decode)
        self.send.observe(times.send)
        self.frame_age.observe(age)


@dataclass(frozen=True, slots=True)
class FrameTimes:
    """Seconds one frame spent in each stage: prepare (resize), inference, decode (and pose
    stages), send (every listener)."""

    prepare: float = 0.0
    inference: float = 0.0
    decode: float = 0.0
    send: float = 0.0


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counters and timings; times in milliseconds, rates per second.

    ``errors`` counts frames that failed to prepare, infer or decode, and listeners that raised.
    ``source_state`` is "starting", "ok", "stalled" (no frame for a while; it recovers by
    itself), "error: ..." (being reopened with backoff) or "ended". ``latency_*`` is capture to
    the last listener served. Timings are the last frame's.
    """

    source: str = ""
    source_state: str = "starting"
    backend: str = ""
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    errors: int = 0
    fps: float = 0.0
    input_fps: float = 0.0
    people: int = 0
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    decode_ms: float = 0.0
    send_ms: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    seconds_since_frame: float = 0.0

    def line(self, send_errors: int = 0) -> str:
        """One line for a terminal or ``systemctl status`` (``send_errors``: the targets' total)."""
        state = "" if self.source_state == "ok" else f" [{self.source_state}]"
        return (
            f"{self.fps:5.1f} fps, {self.people} people, infer {self.inference_ms:5.1f} ms, "
            f"decode {self.decode_ms:4.2f} ms, latency p50 {self.latency_p50_ms:5.1f} ms, "
            f"dropped {self.frames_dropped}, send errors {send_errors}{state}"
        )
