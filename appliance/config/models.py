"""AppConfig: every setting of the appliance, validated (pydantic v2, unknown keys rejected).

Every field has a default and a description; the HTTP API serves this model's JSON schema and the
web page is built from it (each section's ``title`` heads it there). ``schema_version`` drives
``migrate``: a configuration of an older version (a saved file, a patch, an import) is brought to
this one before it is validated, so version 1 files load (and are saved as version 2).
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo

from appliance.errors import ConfigError
from appliance.models.catalog import DEFAULT_MODEL
from appliance.output.osc import DEFAULT_FORMAT, FORMAT_NAMES, FORMATS, Coords, TimeTag
from appliance.output.osc.base import DEFAULT_TIMETAG, MAX_DATAGRAM
from appliance.output.osc.presets import PRESETS
from appliance.pose.params import DecoderConfig, SmoothingConfig, TrackingConfig, move_legacy_decoder_keys
from appliance.schema import StrictModel, subscribe_key_rule
from appliance.stages import STAGES, StageKind, extras_for, on_register
from appliance.timesync import DEFAULT_WARN_MS, check_server
from appliance.transport.udp import TargetSpec

__all__ = [
    "NETWORK_SETTINGS",
    "SCHEMA_VERSION",
    "SECURITY_SETTINGS",
    "AppConfig",
    "ClockConfig",
    "DecoderConfig",
    "Format",
    "HttpConfig",
    "InferenceConfig",
    "NetworkConfig",
    "OscConfig",
    "OscControlConfig",
    "PresetName",
    "TargetConfig",
    "migrate",
]

SCHEMA_VERSION = 2
#: The owner's security settings, as (section, key): last-known-good never rolls them back (a crash
#: after the owner set a token must not undo the token) and network-change trials never touch them.
SECURITY_SETTINGS: tuple[tuple[str, str], ...] = (
    ("http", "token"),
    ("http", "camera_view"),
    ("http", "poses_need_token"),
    ("http", "metrics_need_token"),
    ("http", "allowed_hosts"),
    ("osc_control", "subscribe_key"),
    ("osc_control", "subnets_only"),
)
#: Settings that decide where the owner reaches the box, as (section, key): a change to them from the
#: network goes on trial and is kept only once the owner confirms from the new address (see
#: ``appliance.core.app.Application.update``), so no setting can cut the owner off.
NETWORK_SETTINGS: tuple[tuple[str, str], ...] = (
    ("http", "port"),
    ("http", "bind"),
    ("osc_control", "port"),
    ("network", "oscquery_port"),
    ("network", "discovery"),
    ("network", "interfaces"),
)
# Matched whole (fullmatch): "$" alone would let a trailing newline through.
_HOST = re.compile(r"broadcast|[A-Za-z0-9._:-]{1,253}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,62}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.tflite")

if TYPE_CHECKING:
    Format = str
    PresetName = str
else:
    #: The OSC format names, from the format registry (``appliance.output.osc.formats``).
    Format = Literal[FORMAT_NAMES]
    PresetName = Literal[tuple(PRESETS)]


def _listed(names: list[str]) -> str:
    """``a, b and c``."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1] if names else ""]))


def _by_coords(coords: Coords) -> str:
    return _listed([n for n in FORMAT_NAMES if FORMATS[n].default_coords == coords])


class TargetConfig(StrictModel):
    """Where one OSC stream goes, and in which format: the one description of a target. The CLI's
    ``--target``, the API, the control port's subscriptions and the saved configuration all make one,
    and ``spec`` turns it into what the "send" thread uses."""

    model_config = ConfigDict(title="OSC target")

    host: str = Field("127.0.0.1", description="Host name, IPv4/IPv6 address, or 'broadcast'.")
    port: int = Field(9000, ge=1, le=65535, description="UDP port of the receiver.")
    format: Format = Field(DEFAULT_FORMAT, description="OSC message format.")
    coords: Coords = Field(
        FORMATS[DEFAULT_FORMAT].default_coords,
        description="Camera pixels or 0..1; when left out, the format's own default (what the tools it "
        f"imitates send: pixels for {_by_coords('pixels')}; 0..1 for {_by_coords('normalized')}).",
    )
    mirror: bool = Field(False, description="Flip x, for a selfie view.")
    timetag: TimeTag = Field(
        DEFAULT_TIMETAG,
        description="Bundles' time tag: immediate (1), or the capture time for receivers whose clock is "
        "synchronised with the box's (liblo and SuperCollider hold a bundle until its time).",
    )
    extras: list[str] | None = Field(
        None,
        exclude_if=lambda v: v is None,  # saved and shown only when given: the format's default otherwise
        max_length=16,
        description="The stages' own messages this target gets besides the format's, by stage name; when left "
        f"out (null), the format's default: every stage's for {_listed([n for n, f in FORMATS.items() if f.extras])}, "
        "none for the formats imitating a tool.",
    )
    preset: PresetName | None = Field(
        None,
        exclude=True,
        description=f"Fill format, coordinates and port from a preset ({', '.join(PRESETS)}); "
        "anything given explicitly wins. Not saved.",
    )

    def spec(self, max_datagram: int = MAX_DATAGRAM) -> TargetSpec:
        """What the "send" thread uses for this target: datagrams of at most ``max_datagram`` bytes,
        with the stages' messages it gets (``extras``, or its format's default)."""
        return TargetSpec(
            self.host,
            self.port,
            self.format,
            self.coords,
            self.mirror,
            self.timetag,
            max_datagram,
            extras_for(self.format, self.extras),
        )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: object) -> object:
        """A preset's values, then the format's default coordinates, for what was left out."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        preset = PRESETS.get(data["preset"]) if isinstance(data.get("preset"), str) else None
        if preset is not None:
            data.setdefault("format", preset.format)
            data.setdefault("coords", preset.coords)
            if preset.port is not None:
                data.setdefault("port", preset.port)
        fmt = FORMATS.get(data.get("format", DEFAULT_FORMAT))  # type: ignore[arg-type]
        if fmt is not None:
            data.setdefault("coords", fmt.default_coords)
        return data

    @field_validator("extras")
    @classmethod
    def _extras(cls, v: list[str] | None) -> list[str] | None:
        for name in v or ():
            kind = STAGES.get(name)
            if kind is None or kind.extra is None:
                with_messages = [n for n, k in STAGES.items() if k.extra is not None]
                raise ValueError(
                    f"{name!r} is not a stage with messages (there are: {', '.join(with_messages) or 'none'})"
                )
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip().strip("[]")
        if not _HOST.fullmatch(v):
            raise ValueError("must be a host name, an IP address or 'broadcast'")
        if ":" not in v and any(len(label) > 63 or not label for label in v.rstrip(".").split(".")):
            raise ValueError("host name labels are 1 to 63 characters")
        return v


def _accelerator(inference: dict[str, Any]) -> dict[str, Any]:
    """An ``inference`` section (JSON data) with version 1's ``backend`` named ``accelerator``."""
    return {k: v for k, v in inference.items() if k != "backend"} | {"accelerator": inference["backend"]}


class InferenceConfig(StrictModel):
    """Model and hardware."""

    model_config = ConfigDict(title="Model and hardware")

    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        max_length=255,
        description="Model file name in the models folder (a name, never a path).",
    )
    accelerator: Literal["auto", "edgetpu", "cpu"] = Field(
        "auto",
        description="What runs the model: auto, the Edge TPU for _edgetpu models (CPU twin if no Coral), else "
        "the CPU. (Called backend before schema version 2.)",
    )
    device: str = Field(
        "usb", pattern=r"^(usb|pci)(:\d+)?$|^any$", description="Edge TPU device: usb, usb:N, pci, pci:N."
    )
    threads: int = Field(2, ge=1, le=8, description="CPU interpreter threads.")

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: object) -> object:
        """Version 1's ``backend`` is ``accelerator`` (a patch or an API client of version 1)."""
        return _accelerator(data) if isinstance(data, dict) and "backend" in data else data

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if not _MODEL_NAME.fullmatch(v):
            raise ValueError("must be the file name of a .tflite model in the models folder (no folders)")
        return v


class HttpConfig(StrictModel):
    """The HTTP API and web page."""

    model_config = ConfigDict(title="Web page and API")

    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one). Used from the next start.")
    bind: str = Field("0.0.0.0", description="IP address to listen on (0.0.0.0: all). Used from the next start.")
    token: str = Field(
        "",
        max_length=256,
        description="Access token of the box's owner: every change from another computer must carry it (a box "
        "without one accepts changes only from itself). At least 12 characters. Write-only: no answer shows it.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, max_length=32, description="Extra Host header names accepted (DNS rebinding guard)."
    )
    camera_view: bool = Field(
        False,
        description="Serve the camera picture (GET /api/camera.jpg) to the owner only (the token, or the box "
        "itself). Off by default (privacy by default): the picture is never served. It is never stored either way.",
    )
    poses_need_token: bool = Field(
        False,
        description="Put the live poses (/api/poses/*) and OSCQuery's values and LISTEN behind the token. Off: they "
        "are public, as the poses the box broadcasts are.",
    )
    metrics_need_token: bool = Field(
        False,
        description="Put GET /metrics (Prometheus) behind the token: Prometheus then sends it as a bearer token "
        "(authorization: {credentials: ...} in its scrape config). Off: public, as /api/status is (health "
        "figures only: no picture, no poses, no addresses).",
    )

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError("must be an IP address of this box, or 0.0.0.0 for all") from None

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        if (v and not v.isprintable()) or v != v.strip():
            raise ValueError("printable characters only, without leading or trailing spaces")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _HOST.fullmatch(name) or name == "broadcast":
                raise ValueError(f"{name!r} is not a host name")
        return v


class OscControlConfig(StrictModel):
    """The OSC control port, for patches that subscribe themselves."""

    model_config = ConfigDict(title="OSC control port")

    port: int = Field(9001, ge=0, le=65535, description="UDP port (0 disables the control port). Next start.")
    lease_seconds: int = Field(
        60, ge=10, le=3600, description="How long a subscription made over the control port lasts unless renewed."
    )
    subnets_only: bool = Field(True, description="Accept control-port subscriptions only from the box's own subnets.")
    subscribe_key: str = Field(
        "",
        max_length=256,
        description="When set, a patch subscribing over the control port must give this key (its last argument) "
        "instead of nothing; revocable, and never the access token. Write-only: no answer shows it.",
    )

    _key = field_validator("subscribe_key")(subscribe_key_rule)


class OscConfig(StrictModel):
    """How OSC datagrams are sent."""

    model_config = ConfigDict(title="OSC datagrams")

    max_datagram: int = Field(
        MAX_DATAGRAM,
        ge=512,
        le=65000,
        description="Largest UDP datagram sent (bytes); formats that can be split never exceed it. 1472 "
        "fits one Ethernet or Wi-Fi frame (no IP fragmentation, which venue Wi-Fi drops first) and oscP5's "
        "1536-byte buffer.",
    )


class NetworkConfig(StrictModel):
    """Zero-configuration discovery (mDNS / DNS-SD and OSCQuery)."""

    model_config = ConfigDict(title="Discovery")

    discovery: bool = Field(True, description="Advertise _osc._udp, _oscjson._tcp and _http._tcp over mDNS.")
    interfaces: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Interface names or IPv4 addresses to advertise on; empty means every non-loopback IPv4 one.",
    )
    oscquery_port: int = Field(
        8081, ge=0, le=65535, description="TCP port of the OSCQuery server (0: off). Used from the next start."
    )


class ClockConfig(StrictModel):
    """One clock for several boxes (chrony): serve time to the LAN, or use a server. Applied to chrony
    by ``posenet-appliance clock apply`` (root, run by ``posenet-clock.service`` when this changes)."""

    model_config = ConfigDict(title="Clock")

    serve: bool = Field(
        False,
        description="Serve time (NTP) to the other boxes on this box's networks, from its own clock when "
        "no better source is reachable (a show network without internet).",
    )
    server: str = Field(
        "",
        max_length=253,
        description="Time server to use: empty for the image's default (the internet pool), 'auto' for the "
        "box that serves time found on mDNS, or a host name or IP address.",
    )
    warn_ms: float = Field(
        DEFAULT_WARN_MS,
        gt=0,
        le=10000,
        description="The doctor warns when chrony's estimated offset is larger (milliseconds).",
    )

    @field_validator("server")
    @classmethod
    def _server(cls, v: str) -> str:
        return check_server(v)


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 moved the model families' knobs into their own parts of ``decoder``
    (``decoder.posenet.nms_radius``, ``decoder.movenet.crop_to_person``) and named
    ``inference.backend`` ``inference.accelerator``."""
    out = dict(data)
    if isinstance(out.get("decoder"), dict):
        out["decoder"] = move_legacy_decoder_keys(out["decoder"])
    inference = out.get("inference")
    if isinstance(inference, dict) and "backend" in inference:
        out["inference"] = _accelerator(inference)
    out["schema_version"] = 2
    return out


#: One step per older version: version -> the data one version newer.
_MIGRATIONS = {1: _v1_to_v2}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A configuration (JSON data) of any older schema version brought to ``SCHEMA_VERSION``, one step
    at a time; no ``schema_version`` means version 1. A version this code does not know is left as it
    is (validation then refuses it). The input is not changed."""
    out = dict(data)
    out.setdefault("schema_version", 1)
    while isinstance(out["schema_version"], int) and out["schema_version"] in _MIGRATIONS:
        out = _MIGRATIONS[out["schema_version"]](out)
    return out


class AppConfig(StrictModel):
    """The whole configuration. Unknown keys are rejected."""

    schema_version: Literal[2] = Field(2, description="Configuration format version (older ones are migrated).")
    device_name: str = Field("posenet", description="Human-readable name of this box.")
    source: str = Field(
        "picamera2", min_length=1, max_length=512, description="Frame source, e.g. picamera2, v4l2:/dev/video0."
    )
    inference: InferenceConfig = Field(default_factory=InferenceConfig, description="Model and hardware.")
    decoder: DecoderConfig = Field(
        default_factory=DecoderConfig, description="Pose decoding: thresholds, and each model family's own settings."
    )
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Person ids, enter and leave.")
    smoothing: SmoothingConfig = Field(default_factory=SmoothingConfig, description="Keypoint smoothing (One Euro).")
    targets: Annotated[list[TargetConfig], Field(max_length=16)] = Field(
        default_factory=list, description="OSC destinations (at most 16)."
    )
    http: HttpConfig = Field(default_factory=HttpConfig, description="HTTP API and web page.")
    osc: OscConfig = Field(default_factory=OscConfig, description="OSC datagrams.")
    osc_control: OscControlConfig = Field(default_factory=OscControlConfig, description="OSC control port.")
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="Network interfaces.")
    clock: ClockConfig = Field(default_factory=ClockConfig, description="Time: one clock for several boxes.")

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: object) -> object:
        """An older version's data, migrated first (``migrate``)."""
        return migrate(data) if isinstance(data, dict) else data

    @field_validator("device_name")
    @classmethod
    def _device_name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError("1-63 letters, digits, spaces, '-' or '_', starting with a letter or digit")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        from appliance.capture import check_confined, parse_source

        try:
            check_confined(parse_source(v))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _ports_distinct(self) -> AppConfig:
        ports = {
            "http.port": self.http.port,
            "osc_control.port": self.osc_control.port,
            "network.oscquery_port": self.network.oscquery_port,
        }
        used = [(k, p) for k, p in ports.items() if p]
        for i, (key, port) in enumerate(used):
            for other, port2 in used[:i]:
                if port == port2:
                    raise ValueError(f"{other} and {key} must differ (both are {port}): each server needs its own")
        return self


def _stage_section(name: str, kind: StageKind | None) -> None:
    """A stage's settings become (or stop being) a section of ``AppConfig`` (``appliance.stages``)."""
    fields = AppConfig.model_fields
    if kind is None:
        fields.pop(name, None)
    elif name in fields:
        raise ValueError(f"stage {name!r}: the configuration has a section of that name already")
    else:
        fields[name] = FieldInfo.from_annotated_attribute(
            kind.settings, Field(default_factory=kind.default or kind.settings, description=kind.description)
        )
    AppConfig.model_rebuild(force=True)


on_register(_stage_section)
