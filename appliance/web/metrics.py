"""``GET /metrics``: the box's health in Prometheus' text format, with the official client.

A private ``CollectorRegistry`` holds one custom collector that reads ``Reading.status()`` and the
machine's facts when scraped (nothing is recorded per frame here: the stage-time histograms are the
ones the "send" thread keeps anyway, ``appliance.pipeline.stats.StageTimings``), and the client's own
process collector. Every name starts with ``posenet_`` and is in base units (seconds, bytes, bits per
second, degrees Celsius); labels are a small fixed vocabulary (an OSC format, a throttling condition,
the version, model and backend), never an address or an id.

Bounded for a hostile visitor: a scrape costs a few milliseconds on a worker thread, one at a time;
an answer younger than ``MIN_INTERVAL`` seconds is served again as it is, so a flood of scrapes from
any number of computers costs at most one rendering per ``MIN_INTERVAL``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from appliance import sysinfo
from appliance.core.facade import Reading
from appliance.core.status import Status
from appliance.pipeline.stats import Histogram
from appliance.sysinfo import THROTTLE_BITS

__all__ = ["CONTENT_TYPE", "MIN_INTERVAL", "Metrics", "StatusCollector"]

#: The exposition format served (Prometheus' text format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds during which one rendered answer is served again instead of being made anew.
MIN_INTERVAL = 0.5


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _histogram(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    cumulative, total = hist.snapshot()
    buckets = [(repr(b), c) for b, c in zip(hist.bounds, cumulative, strict=False)]
    buckets.append(("+Inf", cumulative[-1]))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


class StatusCollector(Collector):
    """The box's metrics, read from ``control.status()`` at each scrape (the Edge TPUs from sysfs
    under ``root``)."""

    def __init__(self, control: Reading, root: Path) -> None:
        self.control = control
        self.root = root

    def collect(self) -> Iterator[Metric]:
        status = self.control.status()
        yield from self._box(status)
        yield from self._pipeline(status)
        yield from self._servers(status)
        yield from self._machine(status)

    def _box(self, status: Status) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "posenet_info", "The box's software, model and backend", labels=["version", "model", "backend"]
        )
        info.add_metric([status.version, status.model, status.backend], 1)
        yield info
        yield _gauge(
            "posenet_running", "1 while the pipeline runs normally (state 'running')", status.state == "running"
        )
        yield _gauge(
            "posenet_degraded", "1 while something is wrong (see /api/status 'degraded')", bool(status.degraded)
        )
        yield _gauge("posenet_safe_mode", "1 while the box runs on safe settings", bool(status.safe_mode))
        yield _gauge("posenet_uptime_seconds", "Seconds since the service started", status.uptime_s)
        yield _counter(
            "posenet_pipeline_restarts", "Pipelines started after the first (changes, heals, retries)", status.rebuilds
        )
        yield _counter("posenet_pipeline_heals", "Pipelines rebuilt after one died", status.restarts)
        yield _counter("posenet_config_changes", "Configurations saved and put in force", status.config_changes)
        yield _gauge(
            "posenet_event_loop_lag_seconds",
            "The control plane's worst event-loop lag over the last minute",
            status.loop_lag_ms / 1e3,
        )

    def _pipeline(self, status: Status) -> Iterator[Metric]:
        p = status.pipeline
        if p is not None:
            yield _counter("posenet_frames_in", "Frames the source delivered (since the pipeline started)", p.frames_in)
            yield _counter(
                "posenet_frames_out", "Frames processed and sent (since the pipeline started)", p.frames_processed
            )
            yield _counter(
                "posenet_frames_dropped", "Frames dropped for newer ones (since the pipeline started)", p.frames_dropped
            )
            yield _counter("posenet_frame_errors", "Frames that failed, listeners and formats that raised", p.errors)
            yield _gauge("posenet_fps", "Frames processed per second", p.fps)
            yield _gauge("posenet_input_fps", "Frames the source delivers per second", p.input_fps)
            yield _gauge("posenet_people", "People in the newest frame", p.people)
            yield _gauge(
                "posenet_seconds_since_frame", "Seconds since the source last delivered a frame", p.seconds_since_frame
            )
        t = status.timings
        if t is not None:
            yield _histogram("posenet_prepare_seconds", "Fitting and resizing a frame for the model", t.prepare)
            yield _histogram("posenet_inference_seconds", "The model's inference (Edge TPU or CPU)", t.inference)
            yield _histogram("posenet_decode_seconds", "Decoding poses, tracking and smoothing", t.decode)
            yield _histogram("posenet_send_seconds", "Encoding and sending to every listener", t.send)
            yield _histogram(
                "posenet_frame_age_seconds", "A frame's age when sent: capture to last listener", t.frame_age
            )
        datagrams = CounterMetricFamily("posenet_osc_datagrams", "OSC datagrams sent, per format", labels=["format"])
        errors = CounterMetricFamily(
            "posenet_osc_send_errors", "OSC datagrams that failed to send, per format", labels=["format"]
        )
        for fmt, totals in sorted(status.formats.items()):
            datagrams.add_metric([fmt], totals.datagrams)
            errors.add_metric([fmt], totals.errors)
        yield datagrams
        yield errors

    def _servers(self, status: Status) -> Iterator[Metric]:
        control, http = status.servers.get("osc_control"), status.servers.get("http")
        if control is not None:
            yield _counter("posenet_control_messages", "OSC control-port messages handled", control.messages)
            yield _counter("posenet_control_rejected", "OSC control-port messages refused", control.rejected)
        if http is not None:
            yield _counter("posenet_http_refused", "HTTP requests refused by the security guard", http.rejected)
            yield _counter("posenet_http_connections_evicted", "HTTP connections closed to make room", http.evicted)

    def _machine(self, status: Status) -> Iterator[Metric]:
        root = self.root
        usb, pcie = sysinfo.coral_usb_devices(root), sysinfo.apex_devices(root)
        yield _gauge("posenet_edgetpu_present", "Coral Edge TPUs plugged in (USB and PCIe)", len(usb) + len(pcie))
        if usb:  # the slowest link: a USB 2 port (480e6) halves an Edge TPU's speed
            doc = "The slowest USB link of the Coral USB Accelerators (480e6: a USB 2 port)"
            yield _gauge("posenet_edgetpu_usb_speed_bits_per_second", doc, min(m for _, _, m in usb) * 1e6)
        if status.temperature_c is not None:
            yield _gauge(
                "posenet_soc_temperature_celsius", "The hottest thermal zone (the SoC on a Pi)", status.temperature_c
            )
        yield from self._throttling(status.throttled)
        clock = status.clock
        if clock is not None:
            synced, offset, maxerror = clock
            yield _gauge("posenet_clock_synchronised", "1 when the kernel says the clock is synchronised (NTP)", synced)
            yield _gauge("posenet_clock_offset_seconds", "The clock's last offset to its time source", offset)
            yield _gauge("posenet_clock_max_error_seconds", "The kernel's bound on the clock's error", maxerror)
        if status.chrony is not None:
            yield _gauge(
                "posenet_clock_chrony_offset_seconds",
                "chrony's estimate of this clock minus its time source's (positive: ahead)",
                status.chrony.offset_s,
            )

    def _throttling(self, flags: int | None) -> Iterator[Metric]:
        if flags is None:
            return  # not a Pi (no vcgencmd): no series rather than a made-up 0
        now = GaugeMetricFamily(
            "posenet_throttling_now", "The Pi's throttling flags now (vcgencmd get_throttled)", labels=["condition"]
        )
        past = GaugeMetricFamily(
            "posenet_throttling_since_boot", "The Pi's throttling flags since boot", labels=["condition"]
        )
        for condition, bit in THROTTLE_BITS.items():
            now.add_metric([condition], (flags >> bit) & 1)
            past.add_metric([condition], (flags >> (bit + 16)) & 1)
        yield now
        yield past


class Metrics:
    """The private registry and its rendered answer, made at most once per ``MIN_INTERVAL``."""

    def __init__(self, control: Reading, root: Path = Path("/")) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StatusCollector(control, root))
        ProcessCollector(namespace="posenet", registry=self.registry)
        self._lock = threading.Lock()
        self._answer: tuple[float, bytes] = (-1e9, b"")
        self.renders = 0  # answers made (not served again)

    def cached(self) -> bytes | None:
        """The answer made less than ``MIN_INTERVAL`` ago, if any (no thread needed to serve it)."""
        made, body = self._answer
        return body if time.monotonic() - made < MIN_INTERVAL else None

    def render(self) -> bytes:
        """The exposition text (blocking for a few ms: call off the event loop)."""
        with self._lock:  # one rendering at a time; the others then get its answer
            made, body = self._answer
            now = time.monotonic()
            if now - made < MIN_INTERVAL:
                return body
            body = generate_latest(self.registry)
            self._answer = (time.monotonic(), body)
            self.renders += 1
            return body
