"""Typed status: what ``GET /api/status``, ``/posenet/info``, STATUS= and the page report."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from appliance.pipeline.stats import PipelineStats, StageTimings
from appliance.pose.fusion import HubReport
from appliance.recording.recorder import RecorderStatus
from appliance.sysinfo import throttling
from appliance.timesync import Tracking
from appliance.transport.targets import FormatTotals, TargetStats

__all__ = [
    "Check",
    "CheckStatus",
    "HealthDocument",
    "NetworkTrial",
    "Peer",
    "RecordingDocument",
    "ServerStatus",
    "Status",
    "StatusDocument",
    "recording_document",
    "report",
]

CheckStatus = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Check:
    """One doctor check: its ``name``, ``status``, a one-line ``detail`` and a one-line ``fix``
    ("" when nothing needs doing)."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""


class HealthDocument(BaseModel):
    """``GET /api/health`` and ``doctor --json``: the worst status and every check."""

    status: CheckStatus = Field(description="the worst of the checks")
    checks: list[Check]

    def without_paths(self) -> HealthDocument:
        """The same checks with every absolute path of three or more parts cut to its last part
        (``/home/pi/models`` -> ``…/models``): for visitors, who need not learn the box's layout."""
        checks = [dataclasses.replace(c, detail=_cut_paths(c.detail), fix=_cut_paths(c.fix)) for c in self.checks]
        return HealthDocument(status=self.status, checks=checks)


_LONG_PATH = re.compile(r"(?<![\w.~:/])(?:/[\w.@+-]+){2,}/([\w.@*+-]+)")


def _cut_paths(text: str) -> str:
    return _LONG_PATH.sub(r"…/\1", text)


def report(checks: Sequence[Check]) -> dict[str, Any]:
    """The doctor's JSON document: ``{"status": worst, "checks": [{name, status, detail, fix}, ...]}``."""
    order = {"ok": 0, "warn": 1, "fail": 2}
    worst = max((c.status for c in checks), key=order.__getitem__, default="ok")
    return HealthDocument(status=worst, checks=list(checks)).model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class Peer:
    """Another box seen on the network (mDNS): its instance ``name``, IPv4 ``address``, HTTP port,
    and its TXT record (``version``, ``model``, ``backend``, ``device`` ...)."""

    name: str
    address: str
    http_port: int
    txt: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NetworkTrial:
    """A change of the network settings (ports, bind address, discovery) on trial: served beside (or
    instead of) the old settings until the owner confirms it from the new address, else undone.

    ``config`` is the configuration with the new network values (not saved); ``changes`` the changed
    settings by dotted name with their new values; ``deadline`` when it is undone
    (``time.monotonic()`` seconds); ``reason`` why a trial ended early ("" while it runs).
    """

    config: Any
    changes: dict[str, Any]
    deadline: float

    def arrived_at(self, host: str, port: int) -> bool:
        """Whether a request that arrived at this box's ``host``:``port`` came through the new HTTP
        address (any address when the HTTP address did not change)."""
        if "http.port" not in self.changes and "http.bind" not in self.changes:
            return True
        http = self.config.http
        return port == http.port and (http.bind in ("0.0.0.0", "::") or host == http.bind)


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One control-plane component: the port it listens on (0: not listening), or why not.

    ``detail`` is a line for people (e.g. discovery's "advertised on 10.0.0.5"), ``name`` a name it
    goes by (the mDNS instance name), ``messages``/``rejected`` what it handled and refused,
    ``evicted`` connections it closed to make room.
    """

    port: int = 0
    error: str = ""
    detail: str = ""
    name: str = ""
    messages: int = 0
    rejected: int = 0
    evicted: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """Everything a person or a patch wants to know about the box, at one moment.

    ``state`` is "running", "safe mode", "degraded" or "source <state>"; ``servers`` is keyed by
    component ("http", "oscquery", "osc_control", "discovery"); ``restarts`` counts pipelines rebuilt
    after dying (heals), ``rebuilds`` pipelines started after the first for any reason, ``fault`` is why
    the last one died. ``timings`` are every frame's stage times since start (histograms, seconds);
    ``formats`` the OSC datagrams and send errors since start per target format.
    """

    version: str
    device_name: str
    state: str
    safe_mode: str
    degraded: str
    uptime_s: float
    model: str
    backend: str
    source: str
    source_name: str = ""  # what the running source says it is ("replay of evening.jsonl (...)")
    pipeline: PipelineStats | None = None
    targets: tuple[TargetStats, ...] = ()
    servers: dict[str, ServerStatus] = field(default_factory=dict)
    restarts: int = 0
    rebuilds: int = 0
    config_changes: int = 0
    timings: StageTimings | None = None
    formats: dict[str, FormatTotals] = field(default_factory=dict)
    fault: str = ""
    temperature_c: float | None = None
    throttled: int | None = None  # vcgencmd get_throttled's flags; None without vcgencmd (not a Pi)
    clock: tuple[bool, float, float] | None = None  # (synchronised, offset s, max error s); None: unknown
    chrony: Tracking | None = None  # chrony's tracking (appliance.timesync); None without chronyd
    loop_lag_ms: float = 0.0  # the event loop's worst lag over the last minute (service/looplag.py)
    trial: NetworkTrial | None = None  # a change of the network settings awaiting confirmation
    recording: RecorderStatus | None = None  # the recording in progress, or the last one
    hub: HubReport | None = None  # the boxes a hub follows (None: this is not a hub)

    def to_json(self) -> dict[str, Any]:
        """The ``/api/status`` document as JSON data (``StatusDocument``)."""
        return StatusDocument.of(self).model_dump(mode="json")


def _rounded(digits: int) -> Any:
    """A float rounded to ``digits`` decimals when the document is made."""
    return AfterValidator(lambda v: round(v, digits))


Ms2 = Annotated[float, _rounded(2)]
Ms3 = Annotated[float, _rounded(3)]
Tenths = Annotated[float, _rounded(1)]
_ATTRIBUTES = ConfigDict(from_attributes=True)


class PipelineDocument(BaseModel):
    """The data plane's counters: rates per second, times in milliseconds (the last frame's)."""

    model_config = _ATTRIBUTES
    source_state: str = Field(description='"starting", "ok", "stalled", "error: ..." or "ended"')
    fps: Ms2 = Field(description="frames processed per second")
    input_fps: Ms2 = Field(description="frames the source delivered per second")
    people: int = Field(description="people in the newest frame")
    frames_in: int
    frames_processed: int
    frames_dropped: int
    errors: int = Field(description="frames that failed to prepare, infer or decode; listeners and formats that raised")
    prepare_ms: Ms2 = Field(validation_alias="preprocess_ms")
    inference_ms: Ms2
    decode_ms: Ms3
    send_ms: Ms3
    seconds_since_frame: Tenths
    latency_p50_ms: Ms2 = Field(description="capture to the last listener served, median")
    latency_p99_ms: Ms2


class TargetDocument(BaseModel):
    """One OSC target's counters."""

    model_config = _ATTRIBUTES
    target: str = Field(validation_alias="label", description="host:port/format")
    state: str
    datagrams: int
    errors: int
    dropped: int
    last_error: str


class ServerDocument(BaseModel):
    """One control-plane server: its port (0: not listening), why not, and a line for people."""

    model_config = _ATTRIBUTES
    port: int
    error: str
    detail: str


class TrialDocument(BaseModel):
    """A change of the network settings on trial (see ``NetworkTrial``)."""

    changes: dict[str, Any] = Field(description="the changed settings by dotted name, with their new values")
    seconds_left: int = Field(description="until it is undone by itself unless kept")
    http_port: int = Field(description="the HTTP port to keep it from")
    http_bind: str = Field(description="the HTTP address to keep it from (0.0.0.0: any of the box's)")
    confirm: str = Field(description="how to keep or undo it")


class RecordingDocument(BaseModel):
    """The recording in progress, or the last one (see ``appliance.recording.recorder``)."""

    state: str = Field(description='"recording", "stopped" or "failed"')
    name: str = Field(description="the file's name")
    frames: int
    bytes: int
    seconds: Tenths = Field(description="since it started (until it stopped)")
    dropped: int = Field(description="frames not recorded: the disk was behind, or not recordable")
    reason: str = Field(description="why it stopped ('' while recording)")


def recording_document(rec: RecorderStatus | None) -> RecordingDocument | None:
    """The document of a recording's status (None: no recording since start)."""
    if rec is None:
        return None
    return RecordingDocument(
        state=rec.state,
        name=Path(rec.path).name,
        frames=rec.frames,
        bytes=rec.bytes,
        seconds=rec.seconds,
        dropped=rec.dropped,
        reason=rec.reason,
    )


class ThrottlingDocument(BaseModel):
    """The Pi's throttling (``vcgencmd get_throttled``): the conditions set now and since boot, of
    under_voltage, frequency_capped, throttled, soft_temperature_limit."""

    now: list[str]
    since_boot: list[str]


class ClockDocument(BaseModel):
    """The system clock as the kernel sees it (``adjtimex``), and chrony's estimate when chronyd runs."""

    synchronised: bool = Field(description="the kernel says the clock is synchronised (NTP)")
    offset_s: float = Field(description="the last offset to its time source, in seconds")
    source: str | None = Field(None, description="chrony's time source (name or address); null without chronyd")
    stratum: int | None = Field(None, description="chrony's stratum; null without chronyd")
    estimated_offset_s: float | None = Field(
        None, description="chrony's estimate of this clock minus its source's, seconds (positive: ahead)"
    )


class ControlCounts(BaseModel):
    """What the OSC control port handled and refused."""

    messages: int
    errors: int


def _absent(value: object) -> bool:
    return value is None


def _only_if(description: str) -> Any:
    """A key that is left out of the document (not null) when it has no value."""
    return Field(None, description=description, exclude_if=_absent)


class HubBoxDocument(BaseModel):
    """One box a hub follows."""

    name: str = Field(description="HOST:CONTROL_PORT as named, or its mDNS instance name")
    address: str
    live: bool = Field(description="fused now (a whole frame within hub.drop_seconds)")
    subscribed: bool = Field(description="its subscription's lease is in force")
    delay_ms: float | None = Field(
        description="median arrival minus capture time: the network plus the clocks' difference"
    )
    people: int
    dropped: int = Field(description="datagrams refused (from elsewhere, malformed, over the caps)")
    clock: str = Field(
        description='"ok"; over hub.late_ms: "lags: clock in order, fused by arrival time" (the box says its clock '
        'is synchronised within its clock.warn_ms), "clock off by N ms: fused by arrival time" (it says it is not), '
        '"behind or late: fused by arrival time" (it says nothing); "ahead: fused by arrival time", or "unknown"'
    )
    view: list[tuple[float, float]] = Field(
        [],
        description="the floor its picture sees: corners [x, y], metres on the floor (the page's floor map); "
        "empty when unknown (no floor calibration on that box)",
    )
    refused: str = Field(
        "",
        description="the box's last refusal of the subscription (a wrong or missing hub.subscribe_key ...); "
        '"" once it confirms one',
    )


class HubPersonDocument(BaseModel):
    """One fused person: global id, floor position (metres, (x, y); null without one), the boxes
    that see them (names)."""

    id: int
    x: float | None
    y: float | None
    boxes: list[str]


class HubCorrectionDocument(BaseModel):
    """Calibration help: rotate ``box``'s floor by ``degrees`` (counter-clockwise, about the origin),
    then shift it by (``dx``, ``dy``) metres, and it agrees with ``reference``'s (``rms`` metres left,
    from ``pairs`` moments when each saw one person). ``walk`` names the walk it comes from (what
    ``POST /api/hub/calibration/apply`` takes: a walk is applied at most once)."""

    box: str
    reference: str
    dx: float
    dy: float
    degrees: float
    rms: float
    pairs: int
    walk: int = Field(description="the walk this correction comes from (applied at most once)")


class HubDocument(BaseModel):
    """What a hub fuses: its boxes and the people it sees now."""

    boxes: list[HubBoxDocument]
    people: int = Field(description="fused people now")
    persons: list[HubPersonDocument] = Field(description="each fused person (the page's floor map)")
    corrections: list[HubCorrectionDocument] = Field(
        description="calibration help: how to move each box's floor onto the reference box's (from walks)"
    )


class StatusDocument(BaseModel):
    """``GET /api/status``: everything a person or a patch wants to know about the box, at one moment.

    ``{server}_port`` and ``{server}_error`` appear only for servers listening or failing (also for
    servers not named here); ``pipeline`` and ``targets`` only while a pipeline exists.
    """

    model_config = ConfigDict(extra="allow")
    version: str
    device_name: str
    state: str = Field(description='"running", "safe mode", "degraded" or "source <state>"')
    safe_mode: str = Field(description="why the box runs on safe settings ('' when it does not)")
    degraded: str = Field(description="what is wrong ('' when nothing is)")
    uptime_s: Tenths
    model: str
    backend: str
    source: str
    source_name: str = Field("", description="what the running source is, in words (a replay says of what)")
    control: ControlCounts
    pipeline_restarts: int = Field(description="pipelines rebuilt after dying")
    last_fault: str = Field(description="why the last pipeline died")
    temperature_c: Tenths | None = Field(description="SoC temperature; null without a sensor")
    loop_lag_ms: Tenths = Field(description="the event loop's worst lag over the last minute")
    throttling: ThrottlingDocument | None = Field(description="the Pi's throttling flags; null without vcgencmd")
    clock: ClockDocument | None = Field(description="the system clock; null when the kernel cannot be asked")
    http_port: int | None = _only_if("the HTTP API's port, when listening")
    http_error: str | None = _only_if("why the HTTP API does not listen")
    oscquery_port: int | None = _only_if("the OSCQuery server's port, when listening")
    oscquery_error: str | None = _only_if("why OSCQuery does not listen")
    osc_control_port: int | None = _only_if("the OSC control port, when listening")
    osc_control_error: str | None = _only_if("why the OSC control port does not listen")
    discovery_error: str | None = _only_if("why the box is not advertised (mDNS)")
    servers: dict[str, ServerDocument] = Field(description="by component: http, oscquery, osc_control, discovery")
    discovery: str | None = _only_if("how the box is advertised, or why not")
    instance: str | None = _only_if("the mDNS instance name")
    pipeline: PipelineDocument | None = _only_if("the data plane, while a pipeline exists")
    targets: list[TargetDocument] | None = _only_if("the OSC targets, while a pipeline exists")
    network_trial: TrialDocument | None = _only_if("a change of the network settings awaiting confirmation")
    recording: RecordingDocument | None = _only_if("the recording in progress, or the last one (since start)")
    hub: HubDocument | None = _only_if("a hub's boxes (present only on a hub: README 'Several boxes, one room')")

    @classmethod
    def of(cls, status: Status) -> StatusDocument:
        """The document of a status snapshot."""
        control = status.servers.get("osc_control", ServerStatus())
        servers: dict[str, Any] = {}
        for key, server in status.servers.items():
            servers |= {f"{key}_port": server.port} if server.port else {}
            servers |= {f"{key}_error": server.error} if server.error else {}
        discovery = status.servers.get("discovery")
        if discovery is not None:
            servers["discovery"] = discovery.error or discovery.detail
            servers |= {"instance": discovery.name} if discovery.name else {}
        with_pipeline = status.pipeline is not None
        return cls.model_validate(
            {
                **{name: getattr(status, name) for name in _SAME_NAMES},
                "control": ControlCounts(messages=control.messages, errors=control.rejected),
                "pipeline_restarts": status.restarts,
                "last_fault": status.fault,
                "servers": status.servers,
                **servers,
                "pipeline": status.pipeline,
                "targets": status.targets if with_pipeline else None,
                "network_trial": _trial(status.trial),
                "recording": recording_document(status.recording),
                "throttling": _throttling(status.throttled),
                "clock": _clock(status),
                "hub": _hub(status.hub),
            }
        )


def _clock(status: Status) -> ClockDocument | None:
    if status.clock is None:
        return None
    t = status.chrony
    chrony = {} if t is None else {"source": t.reference, "stratum": t.stratum, "estimated_offset_s": t.offset_s}
    return ClockDocument(synchronised=status.clock[0], offset_s=status.clock[1], **chrony)


def _hub(report: HubReport | None) -> HubDocument | None:
    if report is None:
        return None
    boxes = [
        HubBoxDocument(**dataclasses.asdict(b) | {"view": [(round(x, 3), round(y, 3)) for x, y in b.view]})
        for b in report.boxes
    ]
    persons = [
        HubPersonDocument(
            id=gid,
            x=None if xy is None else round(xy[0], 3),
            y=None if xy is None else round(xy[1], 3),
            boxes=list(report.seen_by.get(gid, ())),
        )
        for gid, xy in report.floor.items()
    ]
    corrections = [
        HubCorrectionDocument(
            **dataclasses.asdict(c) | {k: round(getattr(c, k), 3) for k in ("dx", "dy", "degrees", "rms")}
        )
        for c in report.corrections
    ]
    return HubDocument(boxes=boxes, people=len(persons), persons=persons, corrections=corrections)


def _throttling(flags: int | None) -> ThrottlingDocument | None:
    if flags is None:
        return None
    now, since_boot = throttling(flags)
    return ThrottlingDocument(now=now, since_boot=since_boot)


def _trial(trial: NetworkTrial | None) -> TrialDocument | None:
    if trial is None:
        return None
    return TrialDocument(
        changes=trial.changes,
        seconds_left=max(0, round(trial.deadline - time.monotonic())),
        http_port=trial.config.http.port,
        http_bind=trial.config.http.bind,
        confirm="POST /api/network/confirm at the new address (undo: DELETE /api/network/trial)",
    )


_SAME_NAMES = (
    "version",
    "device_name",
    "state",
    "safe_mode",
    "degraded",
    "uptime_s",
    "model",
    "backend",
    "source",
    "source_name",
    "temperature_c",
    "loop_lag_ms",
)
