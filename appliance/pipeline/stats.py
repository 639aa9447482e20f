"""PipelineStats: an immutable snapshot of the live counters, for the status, web and watchdog."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FrameTimes", "PipelineStats"]


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
