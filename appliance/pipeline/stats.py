"""PipelineStats: an immutable snapshot of the live counters, for the status line, web and watchdog."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PipelineStats", "TargetStats"]


@dataclass(frozen=True, slots=True)
class TargetStats:
    """One OSC target's counters at snapshot time."""

    label: str
    state: str
    datagrams: int
    bytes: int
    errors: int
    dropped: int
    last_error: str


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counters and timings; times in milliseconds, rates per second.

    ``errors`` counts frames that failed to prepare, infer or decode, and OSC encodings that failed.
    ``source_state`` is "starting", "ok", "stalled" (no frame for a while; it recovers by
    itself), "error: ..." (being reopened with backoff) or "ended". ``latency_*`` is capture to
    the last datagram sent.
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
    targets: tuple[TargetStats, ...] = field(default_factory=tuple)

    def line(self) -> str:
        """One line for a terminal or ``systemctl status``."""
        errs = sum(t.errors for t in self.targets)
        state = "" if self.source_state == "ok" else f" [{self.source_state}]"
        return (
            f"{self.fps:5.1f} fps, {self.people} people, infer {self.inference_ms:5.1f} ms, "
            f"decode {self.decode_ms:4.2f} ms, latency p50 {self.latency_p50_ms:5.1f} ms, "
            f"dropped {self.frames_dropped}, send errors {errs}{state}"
        )
