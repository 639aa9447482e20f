"""Failpoints: named places where a fault can be injected from outside, to test self-healing and to
reproduce a field fault (as etcd's gofail and TiKV's fail-rs do).

``POSENET_FAILPOINTS="point=action@n[,point=action@n...]"``, read once at import:

* ``raise``: the n-th call of ``point`` raises ``RuntimeError`` (once);
* ``hang``: the n-th call blocks forever (a wedged driver);
* ``crash``: the n-th call aborts the process (SIGABRT, as a native library crash would);
* ``stall``: the n-th call sleeps ``STALL_SECONDS`` (a camera that stops for a moment).

``@n`` defaults to 1; ``@n%m`` fires again every m calls after that (for soak runs). A point may
have several rules. Points: ``capture.read``, ``prepare``, ``infer``, ``decode``, ``send`` (the
four data-plane threads), ``config.save``, ``resolve`` (the target resolver), and the steps of an
update (``update.unpack`` ... ``update.rollback``, see ``appliance.update.install``; ``update.switch``
and ``update.rollback`` know only ``crash``, read by the standard-library-only ``update.layout``). Unset, a failpoint
costs one boolean test at its call site: ``if failpoints.ACTIVE: failpoints.hit("infer")``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from appliance.errors import ConfigError

__all__ = ["ACTIVE", "CONFIG_ERROR", "POINTS", "configure", "hit"]

logger = logging.getLogger(__name__)

POINTS = (
    "capture.read",
    "prepare",
    "infer",
    "decode",
    "send",
    "config.save",
    "resolve",
    *("update.unpack", "update.install", "update.trial", "update.switch", "update.restart", "update.rollback"),
)
_ACTIONS = ("raise", "hang", "crash", "stall")
#: Seconds a ``stall`` lasts.
STALL_SECONDS = 3.0


@dataclass(slots=True)
class _Rule:
    action: str
    at: int
    every: int = 0
    calls: int = 0

    def due(self) -> bool:
        self.calls += 1
        if self.calls == self.at:
            return True
        return bool(self.every) and self.calls > self.at and (self.calls - self.at) % self.every == 0


_rules: dict[str, list[_Rule]] = {}
_lock = threading.Lock()
#: True when any failpoint is configured; call sites test it before calling ``hit``.
ACTIVE = False
#: Why ``$POSENET_FAILPOINTS`` was not understood ("" when it was, or is unset); the CLI reports it.
CONFIG_ERROR = ""


def configure(spec: str) -> None:
    """Install failpoints from a ``point=action@n,...`` string ("" removes them all).

    Raises:
        ConfigError: an unknown point or action, or a bad count, naming it.
    """
    global ACTIVE
    rules: dict[str, list[_Rule]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        point, sep, rest = item.partition("=")
        action, _, when = rest.partition("@")
        count, _, period = when.partition("%")
        if not sep or point not in POINTS:
            raise ConfigError(f"failpoint {item!r}: the point must be one of {', '.join(POINTS)}")
        if action not in _ACTIONS:
            raise ConfigError(f"failpoint {item!r}: the action must be one of {', '.join(_ACTIONS)}")
        try:
            at, every = int(count) if count else 1, int(period) if period else 0
        except ValueError:
            raise ConfigError(f"failpoint {item!r}: @n and %m must be numbers") from None
        if at < 1 or every < 0:
            raise ConfigError(f"failpoint {item!r}: @n must be at least 1")
        rules.setdefault(point, []).append(_Rule(action, at, every))
    with _lock:
        _rules.clear()
        _rules.update(rules)
        ACTIVE = bool(rules)
    if rules:
        logger.warning("failpoints armed: %s", spec)


def hit(point: str) -> None:
    """Count a call of ``point`` and inject its fault when its turn comes."""
    with _lock:
        fired = [(r.action, r.calls) for r in _rules.get(point, ()) if r.due()]
    for action, call in fired:
        logger.warning("failpoint %s: %s (call %d)", point, action, call)
        if action == "raise":
            raise RuntimeError(f"failpoint {point} fired")
        if action == "crash":
            os.abort()
        if action == "stall":
            time.sleep(STALL_SECONDS)
            continue
        while True:  # hang
            time.sleep(3600)


try:
    configure(os.environ.get("POSENET_FAILPOINTS", ""))
except ConfigError as _exc:
    CONFIG_ERROR = f"POSENET_FAILPOINTS: {_exc}"
