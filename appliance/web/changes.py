"""How the HTTP API changes the configuration and answers refusals, shared by its routers.

Every change is one serialised ``Commanding.update`` (concurrent changes are never lost). An invalid
change is 422 with ``detail: [{loc, msg, type}]`` naming each failing field; a change refused before
validation (no target at that index) is 404; a configuration that cannot be saved is 507. None
changes anything.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from appliance.config.models import AppConfig
from appliance.core.facade import Change, Steering
from appliance.errors import RefusedChange
from appliance.web.models import SECRETS, Refusal

__all__ = ["REFUSALS", "NotFound", "apply", "as_input", "config_view", "keeps_owner", "refused", "unprocessable"]

#: The refusals a change may get, for the OpenAPI document.
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": Refusal, "description": "nothing there"},
    422: {"model": Refusal, "description": "invalid or impossible: every failing field"},
}


class NotFound(Exception):
    """A change refused before validation (e.g. no target at that index): answered 404."""

    def __init__(self, loc: list[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc, self.msg = loc, msg


def refused(status: int, loc: list[str | int], msg: str, kind: str = "refused", **headers: str) -> JSONResponse:
    """A one-reason refusal: ``{"detail": [{"loc", "msg", "type"}]}``."""
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": kind}]}, status_code=status, headers=headers)


def unprocessable(exc: ValidationError) -> JSONResponse:
    """422 naming every field pydantic refused (under ``body``)."""
    detail = [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def config_view(config: AppConfig) -> dict[str, Any]:
    """The configuration as the API shows it (``ConfigView``): each write-only secret left out, and
    ``<secret>_set`` saying whether one is set."""
    doc = config.model_dump(mode="json")
    for section, secret in SECRETS.items():
        doc[section][f"{secret}_set"] = bool(doc[section].pop(secret))
    return doc


def as_input(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A client's whole configuration as input: the read-only ``*_set`` flags are dropped, and a
    missing secret keeps the current one (what GET showed can be PUT back unchanged)."""
    data = dict(body)
    for section, secret in SECRETS.items():
        part = data.get(section)
        if isinstance(part, dict):
            part = {k: v for k, v in part.items() if k != f"{secret}_set"}
            part.setdefault(secret, current[section][secret])
            data[section] = part
        elif section not in data:
            data[section] = {secret: current[section][secret]}
    return data


def keeps_owner(local: bool, fn: Change) -> Change:
    """``fn``, refusing to clear the access token from another computer (``local`` False): that would
    leave only the box itself able to make changes, cutting the owner off (set a new one instead)."""

    def guarded(current: dict[str, Any]) -> dict[str, Any]:
        new = fn(current)
        if not local and current["http"]["token"] and not (new.get("http") or {}).get("token"):
            raise RefusedChange(
                ("http", "token"),
                "clearing the token from another computer would lock every computer out: set a new one "
                "(or clear it on the box itself)",
            )
        return new

    return guarded


def apply(control: Steering, fn: Change, status_code: int = 200, view: str = "") -> Response:
    """One serialised read-modify-write (blocking: call from a worker thread); the new configuration
    (or its ``view`` key) as JSON, or the refusal. A change of the network settings goes on trial
    (``Application.update``): answered 202 with ``X-Network-Trial-Seconds``."""
    before = control.trial
    try:
        saved = control.update(fn)
    except ValidationError as exc:
        return unprocessable(exc)
    except RefusedChange as exc:
        return refused(422, ["body", *exc.loc], exc.msg)
    except NotFound as exc:
        return refused(404, exc.loc, exc.msg, "not_found")
    except OSError as exc:
        raise HTTPException(507, f"could not save the configuration: {exc.strerror}") from exc
    doc = config_view(saved)
    trial = control.trial
    if trial is not None and trial is not before:
        left = str(max(0, round(trial.deadline - time.monotonic())))
        return JSONResponse(doc[view] if view else doc, status_code=202, headers={"X-Network-Trial-Seconds": left})
    return JSONResponse(doc[view] if view else doc, status_code=status_code)
