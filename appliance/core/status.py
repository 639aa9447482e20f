"""Typed status: what ``GET /api/status``, ``/posenet/info``, STATUS= and the page report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from appliance.pipeline.stats import PipelineStats
from appliance.transport.targets import TargetStats

__all__ = ["Check", "CheckStatus", "NetworkTrial", "Peer", "ServerStatus", "Status", "report"]

CheckStatus = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Check:
    """One doctor check: its ``name``, ``status``, a one-line ``detail`` and a one-line ``fix``
    ("" when nothing needs doing)."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""


def report(checks: Sequence[Check]) -> dict[str, Any]:
    """The doctor's JSON document: ``{"status": worst, "checks": [{name, status, detail, fix}, ...]}``."""
    order = {"ok": 0, "warn": 1, "fail": 2}
    worst = max((c.status for c in checks), key=order.__getitem__, default="ok")
    return {"status": worst, "checks": [asdict(c) for c in checks]}


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
    goes by (the mDNS instance name), ``messages``/``rejected`` what it handled and refused.
    """

    port: int = 0
    error: str = ""
    detail: str = ""
    name: str = ""
    messages: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """Everything a person or a patch wants to know about the box, at one moment.

    ``state`` is "running", "safe mode", "degraded" or "source <state>"; ``servers`` is keyed by
    component ("http", "oscquery", "osc_control", "discovery"); ``restarts`` counts pipelines rebuilt
    after dying, ``fault`` is why the last one died.
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
    pipeline: PipelineStats | None = None
    targets: tuple[TargetStats, ...] = ()
    servers: dict[str, ServerStatus] = field(default_factory=dict)
    restarts: int = 0
    fault: str = ""
    temperature_c: float | None = None
    loop_lag_ms: float = 0.0  # the event loop's worst lag over the last minute (service/looplag.py)
    trial: NetworkTrial | None = None  # a change of the network settings awaiting confirmation

    def to_json(self) -> dict[str, Any]:
        """The ``/api/status`` document."""
        control = self.servers.get("osc_control", ServerStatus())
        doc: dict[str, Any] = {
            "version": self.version,
            "device_name": self.device_name,
            "state": self.state,
            "safe_mode": self.safe_mode,
            "degraded": self.degraded,
            "uptime_s": round(self.uptime_s, 1),
            "model": self.model,
            "backend": self.backend,
            "source": self.source,
            "control": {"messages": control.messages, "errors": control.rejected},
            "pipeline_restarts": self.restarts,
            "last_fault": self.fault,
            "temperature_c": None if self.temperature_c is None else round(self.temperature_c, 1),
            "loop_lag_ms": round(self.loop_lag_ms, 1),
        }
        if self.trial is not None:
            doc["network_trial"] = {
                "changes": self.trial.changes,
                "seconds_left": max(0, round(self.trial.deadline - time.monotonic())),
                "http_port": self.trial.config.http.port,
                "http_bind": self.trial.config.http.bind,
                "confirm": "POST /api/network/confirm at the new address (undo: DELETE /api/network/trial)",
            }
        for key, server in self.servers.items():
            if server.port:
                doc[f"{key}_port"] = server.port
            if server.error:
                doc[f"{key}_error"] = server.error
        doc["servers"] = {
            key: {"port": s.port, "error": s.error, "detail": s.detail} for key, s in self.servers.items()
        }
        discovery = self.servers.get("discovery")
        if discovery is not None:
            doc["discovery"] = discovery.error or discovery.detail
            if discovery.name:
                doc["instance"] = discovery.name
        p = self.pipeline
        if p is not None:
            doc["pipeline"] = {
                "source_state": p.source_state,
                "fps": round(p.fps, 2),
                "input_fps": round(p.input_fps, 2),
                "people": p.people,
                "frames_in": p.frames_in,
                "frames_processed": p.frames_processed,
                "frames_dropped": p.frames_dropped,
                "errors": p.errors,
                "prepare_ms": round(p.preprocess_ms, 2),
                "inference_ms": round(p.inference_ms, 2),
                "decode_ms": round(p.decode_ms, 3),
                "send_ms": round(p.send_ms, 3),
                "seconds_since_frame": round(p.seconds_since_frame, 1),
                "latency_p50_ms": round(p.latency_p50_ms, 2),
                "latency_p99_ms": round(p.latency_p99_ms, 2),
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
                for t in self.targets
            ]
        return doc
