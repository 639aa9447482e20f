"""Checks a change must pass before it is saved, beyond validation: what only this box can tell.

* A new ``http.port``/``http.bind``, ``osc_control.port`` or ``network.oscquery_port`` must be
  bindable now (an address the box does not have, a privileged port, a port another program holds
  would otherwise be saved and keep the service from starting).
* A new ``inference.model`` must be a regular file of acceptable size in the models folder.
* A new access token is at least 12 characters, a new subscribe key at least 8 and not the token.
"""

from __future__ import annotations

import errno
import socket
import stat
from collections.abc import Collection
from pathlib import Path

from appliance.config.models import AppConfig
from appliance.errors import RefusedChange
from appliance.guards import secret_problems
from appliance.inference.io import MAX_MODEL_BYTES

__all__ = ["check_change"]


def _try_bind(kind: int, host: str, port: int, ours: Collection[int], loc: tuple[str, ...]) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and port in ours:
                return  # held by one of our own servers: free for us at the next start
            why = {
                errno.EADDRNOTAVAIL: f"this box has no address {host}",
                errno.EACCES: f"port {port} is privileged (below 1024) for the service",
                errno.EADDRINUSE: f"port {port} is in use by another program",
            }.get(exc.errno or 0, exc.strerror or str(exc))
            raise RefusedChange(loc, f"cannot listen there: {why}") from None


def check_change(old: AppConfig, new: AppConfig, models: Path, ours: Collection[int] = ()) -> None:
    """Refuse (RefusedChange, naming the field) what would keep the box from starting or running.

    ``ours``: ports our own servers listen on now (moving between them is fine).
    """
    problems = secret_problems(
        new.http.token, new.osc_control.subscribe_key, old.http.token, old.osc_control.subscribe_key
    )
    for which, why in problems:
        raise RefusedChange(("http", "token") if which == "token" else ("osc_control", "subscribe_key"), why)
    hub_key = getattr(getattr(new, "hub", None), "subscribe_key", "")
    if hub_key and hub_key == new.http.token:
        why = "must differ from the access token (the token never travels over OSC)"
        raise RefusedChange(("hub", "subscribe_key"), why)
    if (new.http.bind, new.http.port) != (old.http.bind, old.http.port) and new.http.port:
        loc = ("http", "port") if new.http.port != old.http.port else ("http", "bind")
        _try_bind(socket.SOCK_STREAM, new.http.bind, new.http.port, ours, loc)
    if new.network.oscquery_port and (new.network.oscquery_port, new.http.bind) != (
        old.network.oscquery_port,
        old.http.bind,
    ):
        _try_bind(socket.SOCK_STREAM, new.http.bind, new.network.oscquery_port, ours, ("network", "oscquery_port"))
    if new.osc_control.port and new.osc_control.port != old.osc_control.port:
        _try_bind(socket.SOCK_DGRAM, "0.0.0.0", new.osc_control.port, ours, ("osc_control", "port"))
    if new.inference.model != old.inference.model:
        path = models / new.inference.model
        try:
            st = path.stat()
        except OSError:
            raise RefusedChange(("inference", "model"), "no model of that name in the models folder") from None
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MODEL_BYTES:
            raise RefusedChange(("inference", "model"), "not a model file of acceptable size") from None
