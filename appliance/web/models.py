"""The HTTP API's response documents as pydantic models, so ``/openapi.json`` describes every answer.

The status and health documents live with their values in ``appliance.core.status``; the
configuration as shown (``ConfigView``) is derived from ``AppConfig`` itself, its write-only secrets
replaced by ``*_set`` flags, so a new setting is documented without touching this file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from appliance.config.models import AppConfig, HttpConfig, OscControlConfig
from appliance.output.osc.base import Coords
from appliance.stages.hub import HubSettings
from appliance.types import KEYPOINT_NAMES

__all__ = [
    "SECRETS",
    "Choices",
    "ConfigView",
    "FleetBox",
    "FleetEntry",
    "FleetOrder",
    "FleetResult",
    "FormatInfo",
    "HubApplied",
    "HubApply",
    "Identified",
    "ModelChoice",
    "PosesDocument",
    "PresetInfo",
    "Problem",
    "Refusal",
    "SourceChoice",
    "StatusHistoryDocument",
]

_FORBID = ConfigDict(extra="forbid")


def _relayed_token(v: str) -> str:
    """Another box's access token, sent on in one request (fleet apply, hub calibration apply):
    printable ASCII without leading or trailing spaces; ValueError otherwise."""
    if not (v.isascii() and v.isprintable()) or v != v.strip():
        raise ValueError("printable ASCII characters only, without leading or trailing spaces")
    return v


#: Write-only settings, by section: never in an answer, shown as ``<name>_set``.
SECRETS = {"http": "token", "osc_control": "subscribe_key", "hub": "subscribe_key"}


class Problem(BaseModel):
    """One reason a request was refused: where (``loc``), what (``msg``) and its kind."""

    loc: list[str | int]
    msg: str
    type: str


class Refusal(BaseModel):
    """A refused request (4xx): every reason, like FastAPI's validation errors."""

    detail: list[Problem]


def _view(model: type[BaseModel], secret: str) -> type[BaseModel]:
    """``model`` as the API shows it: ``secret`` left out, ``<secret>_set`` (bool) in its place."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in model.model_fields.items() if name != secret
    }
    fields[f"{secret}_set"] = (bool, Field(description=f"whether {secret} is set (it is write-only)"))
    return create_model(f"{model.__name__}View", __doc__=model.__doc__, __config__=_FORBID, **fields)


_SECTION_VIEWS = {
    "http": _view(HttpConfig, "token"),
    "osc_control": _view(OscControlConfig, "subscribe_key"),
    "hub": _view(HubSettings, "subscribe_key"),
}
_CONFIG_FIELDS: dict[str, Any] = {
    name: (_SECTION_VIEWS[name], info) if name in _SECTION_VIEWS else (info.annotation, info)
    for name, info in AppConfig.model_fields.items()
}
#: The configuration as ``GET /api/config`` shows it (and what PUT accepts back unchanged).
ConfigView: type[BaseModel] = create_model(
    "ConfigView", __doc__=AppConfig.__doc__, __config__=_FORBID, **_CONFIG_FIELDS
)


class PresetInfo(BaseModel):
    """A receiver people already run: the format, coordinates and port it expects."""

    format: str
    coords: Coords
    port: int | None
    description: str


class FormatInfo(BaseModel):
    """An OSC format: what it sends, and the coordinates targets of it get by default."""

    description: str
    coords: Coords


class SourceChoice(BaseModel):
    """A source this box can use now: its ``source`` setting and a label for people."""

    source: str
    label: str


class ModelChoice(BaseModel):
    """An installed model file: family ("posenet", "movenet", or why it is no pose model), size in
    bytes, whether it is compiled for the Edge TPU and whether it is a pinned (known) file."""

    name: str
    size: int
    family: str
    edgetpu: bool
    pinned: bool


class Choices(BaseModel):
    """What the settings can name."""

    sources: list[SourceChoice]
    models: list[ModelChoice]


class PoseDocument(BaseModel):
    """One person: tracking id (-1 before tracking confirms one), pose score 0..1, and 17 keypoints
    as [x, y, score] with x, y normalised 0..1 of the frame, in the order of ``names``."""

    id: int
    score: float
    keypoints: list[tuple[float, float, float]]


class PosesDocument(BaseModel):
    """One frame's poses, best first; ``width``/``height`` are the source's pixels, ``time`` the
    capture time (Unix seconds)."""

    frame: int
    width: int
    height: int
    time: float
    poses: list[PoseDocument]
    names: list[str] = Field(examples=[list(KEYPOINT_NAMES)])


class FleetEntry(BaseModel):
    """Another box on the network, with its state as it reports it."""

    model_config = ConfigDict(extra="allow")
    name: str
    address: str
    http_port: int
    url: str
    version: str
    model: str
    backend: str
    state: str
    fps: float | None
    people: int | None
    temperature_c: float | None = Field(None, description="its SoC temperature; null when unknown")
    throttling_now: list[str] | None = Field(None, description="throttling conditions now; null when unknown")
    throttling_since_boot: list[str] | None = Field(None, description="throttling conditions since its boot")
    clock_synchronised: bool | None = Field(None, description="its clock is synchronised (NTP); null when unknown")
    error: str
    verified: bool = Field(False, description="it answered like a box, under its own name: only then act on it")


class Identified(BaseModel):
    """The activity LED blinks for ``seconds`` from now."""

    seconds: float


class FleetBox(BaseModel):
    """One box of this box's fleet list to act on (name, address and port as listed, and verified)
    and the access token to send it (used for this one request: never stored, never logged)."""

    model_config = _FORBID
    name: str = Field(max_length=63)
    address: str = Field(max_length=45)
    http_port: int = Field(ge=1, le=65535)
    token: str = Field("", max_length=256, description="that box's access token (or one fleet token)", repr=False)

    _token = field_validator("token")(_relayed_token)


class HubApply(BaseModel):
    """Apply the calibration correction a hub offers for one of its boxes (``box`` as the hub's status
    names it, ``walk`` the correction's walk) to that box's floor, with that box's access token
    (used for that one request: never stored, never logged)."""

    model_config = _FORBID
    box: str = Field(min_length=1, max_length=300, description="the box, as the hub's status names it")
    walk: int = Field(ge=1, description="the offered correction's walk (a walk is applied at most once)")
    token: str = Field("", max_length=256, description="that box's access token", repr=False)

    _token = field_validator("token")(_relayed_token)


class HubApplied(BaseModel):
    """A correction applied: the box's four floor marks (metres, each [x, y]) before and after, moved
    by ``degrees`` (counter-clockwise about the origin) then (``dx``, ``dy``) metres."""

    box: str
    walk: int
    degrees: float
    dx: float
    dy: float
    before: list[list[float]]
    floor: list[list[float]]
    message: str


class FleetOrder(BaseModel):
    """Act on several boxes of the fleet at once: ``identify`` (blink their LEDs) or ``config`` (the
    same change, a ``PATCH /api/config`` body, sent to each)."""

    model_config = _FORBID
    action: Literal["identify", "config"]
    boxes: list[FleetBox] = Field(min_length=1, max_length=64)
    change: dict[str, Any] = Field(default_factory=dict, description="the PATCH /api/config body (config only)")


class FleetResult(BaseModel):
    """What one box answered: its HTTP status (0: no answer), whether it took it, and why not."""

    name: str
    address: str
    http_port: int
    status: int
    ok: bool
    message: str


class StatusHistoryDocument(BaseModel):
    """The last minutes, oldest first: each sample is [time (Unix seconds), fps, people, latency p50
    (ms), SoC temperature (°C)], null where unknown (no pipeline, no sensor)."""

    every_s: float
    samples: list[tuple[float, float | None, int | None, float | None, float | None]]
