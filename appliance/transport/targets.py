"""TargetSet: the pose listener that fans poses out to every OSC target, encoding each (format,
options) once per frame.

``on_poses`` runs on the pipeline's "send" thread. Targets given as IP literals open at once; host
names are resolved by the "resolver" thread with backoff (DNS can block for seconds, so never on
the data path) and re-resolved while they fail. The target list can be replaced at any time from
another thread (copy-on-write).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from appliance import failpoints
from appliance.log import LogOnce
from appliance.output.osc.extras import encode_target
from appliance.output.osc.formats import FORMATS
from appliance.transport.udp import TargetCounters, TargetSpec, UdpTarget
from appliance.types import Poses

__all__ = ["MAX_TARGETS", "FormatTotals", "TargetSet", "TargetStats"]

logger = logging.getLogger(__name__)
_log_once = LogOnce(logger)

#: Upper bound on sockets: the saved targets (at most 16) plus control-port subscriptions (16).
MAX_TARGETS = 32
#: Seconds between resolution attempts of a failing host name (doubling up to the max).
RESOLVE_BACKOFF = (1.0, 30.0)


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
class FormatTotals:
    """What every target of one OSC format sent since start (removed targets included)."""

    datagrams: int = 0
    errors: int = 0


class TargetSet:
    """All current OSC targets. ``send``/``on_poses`` is for the "send" thread; the rest for anyone.

    ``encode_errors`` (formats that raised) is written by the "send" thread only, ``resolver_errors``
    (unexpected faults while resolving) by the "resolver" thread only.
    """

    def __init__(self, specs: Iterable[TargetSpec] = ()) -> None:
        self._targets: tuple[UdpTarget, ...] = ()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.encode_errors = 0
        self.resolver_errors = 0
        self._failing: set[str] = set()  # formats whose last encoding raised ("send" thread)
        self._retired: dict[str, FormatTotals] = {}  # counted by targets since removed, per format
        self.set_targets(specs)

    @property
    def specs(self) -> tuple[TargetSpec, ...]:
        """The current target specs."""
        return tuple(t.spec for t in self._targets)

    def counters(self) -> dict[str, TargetCounters]:
        """Counters per target label (live objects; copy for a snapshot)."""
        return {t.spec.label: t.counters for t in self._targets}

    def by_format(self) -> dict[str, FormatTotals]:
        """Datagrams and send errors since start per format (never decreasing: removed targets' counts
        are kept), for the metrics: a format, not an address, names each."""
        with self._lock:  # a target retiring is counted once: here or in _retired
            totals, targets = dict(self._retired), self._targets
        for t in targets:
            old = totals.get(t.spec.format, FormatTotals())
            totals[t.spec.format] = FormatTotals(old.datagrams + t.counters.datagrams, old.errors + t.counters.errors)
        return totals

    def stats(self) -> tuple[TargetStats, ...]:
        """A snapshot of every target's counters, in target order."""
        return tuple(
            TargetStats(label, c.state, c.datagrams, c.bytes, c.errors, c.dropped, c.last_error)
            for label, c in self.counters().items()
        )

    def set_targets(self, specs: Iterable[TargetSpec]) -> None:
        """Replace the target list; unchanged targets keep their sockets and counters."""
        wanted = list(dict.fromkeys(specs))[:MAX_TARGETS]
        with self._lock:
            current = {t.spec: t for t in self._targets}
            new = tuple(current.pop(s) if s in current else UdpTarget(s) for s in wanted)
            for t in new:
                if t.counters.state == "starting" and not t.needs_resolution:
                    t.open()
            self._targets = new
            stale = list(current.values())
            for t in stale:
                old = self._retired.get(t.spec.format, FormatTotals())
                c = t.counters
                self._retired[t.spec.format] = FormatTotals(old.datagrams + c.datagrams, old.errors + c.errors)
        for t in stale:
            t.close()
        if any(t.needs_resolution for t in new):
            self._ensure_resolver()
            self._wake.set()

    def send(self, poses: Poses) -> None:
        """Encode ``poses`` once per distinct (format, options, extras) and send to every target."""
        targets = self._targets
        cache: dict[tuple[str, object, object], list[bytes]] = {}
        for t in targets:
            key = (t.spec.format, t.spec.options, t.spec.extras)
            datagrams = cache.get(key)
            if datagrams is None:
                fmt = t.spec.format
                try:
                    if t.spec.extras:
                        datagrams = encode_target(FORMATS[fmt], poses, t.spec.options, t.spec.extras)
                    else:
                        datagrams = FORMATS[fmt](poses, t.spec.options)
                except Exception:  # a bug in one format must not stop the others; logged once
                    self.encode_errors += 1
                    self._failing.add(fmt)
                    _log_once.warning(("encode", fmt), "encoding format %s failed", fmt, exc_info=True)
                    datagrams = []
                else:
                    if fmt in self._failing:
                        self._failing.discard(fmt)
                        _log_once.clear(("encode", fmt))
                        logger.warning("format %s encodes again", fmt)
                cache[key] = datagrams
            t.send(datagrams)

    def on_poses(self, poses: Poses) -> None:
        """The pose-listener entry point: same as ``send``."""
        self.send(poses)

    def _ensure_resolver(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._resolve_loop, name="resolver", daemon=True)
            self._thread.start()

    def _resolve_loop(self) -> None:
        delay: dict[TargetSpec, float] = {}
        due: dict[TargetSpec, float] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            for t in self._targets:
                if t.needs_resolution and t.counters.state in ("starting", "unresolved") and due.get(t.spec, 0) <= now:
                    try:
                        if failpoints.ACTIVE:
                            failpoints.hit("resolve")
                        opened = t.open()
                    except Exception:  # one odd name must never end resolution for the others
                        self.resolver_errors += 1
                        _log_once.warning(("resolve", t.spec.label), "resolving %s failed", t.spec.label, exc_info=True)
                        opened = False
                    if opened:
                        delay.pop(t.spec, None)
                    else:
                        d = min(delay.get(t.spec, RESOLVE_BACKOFF[0] / 2) * 2, RESOLVE_BACKOFF[1])
                        delay[t.spec], due[t.spec] = d, now + d
            pending = [
                due[s] - now for s in due if any(t.spec == s and t.counters.state != "ok" for t in self._targets)
            ]
            self._wake.wait(timeout=max(min(pending, default=RESOLVE_BACKOFF[1]), 0.05))
            self._wake.clear()

    def close(self) -> None:
        """Stop the resolver and close every socket; idempotent."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            targets, self._targets = self._targets, ()
        for t in targets:
            t.close()

    def __enter__(self) -> TargetSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
