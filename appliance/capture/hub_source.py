"""The hub: poses of several boxes as one source, ``hub[:HOST[:PORT][+HOST[:PORT]]...][@WxH]``.

A source of poses (``PoseSource``): it subscribes to each box's ``bundle`` stream over the box's OSC
control port (``hub_link.BoxLink``: the confirmed handshake, renewed before the lease ends), aligns
the boxes' frames by **capture time** (each box's frame nearest the newest one's, within
``hub.align_ms`` (100 ms); the boxes share one clock, see README "Several boxes, one room") and fuses
people across boxes (``appliance.pose.fusion``): people with floor positions (metres) within
``hub.distance_m`` (0.5 m) seen by two boxes are one person, with one *global* id; people without floor
positions are passed through, each with a global id of their own (one box's person is never fused
with another's then). Every box frame that completes gives one hub frame at once (the hub adds no
waiting).

The hub's picture is the boxes' views side by side (each ``WxH``, default 640x480, in the order the
boxes were first seen): keypoints are source pixels (x, y) of that mosaic, a person drawn in the
view of the box that sees them best. Ids, ``entered`` and ``left`` are the hub's (global), so the
tracking stage keeps them (``Poses.tracked``). ``extras["hub"]`` carries every box's state and every
global person's floor position and boxes (``HubReport``), for ``/posenet/hub/*`` and the page.

A box whose frames arrive more than ``hub.late_ms`` after their capture time (or before it) has its
clock off (or lags): it is reported, and fused by arrival time instead (its capture times moved by
its median delay over the others'). A box that sends no whole frame for ``hub.drop_seconds`` (1 s)
is dropped from fusion (its people leave unless another box sees them) and reported; it rejoins by
itself when frames flow again. Without boxes named, the hub follows the verified boxes discovery
sees (``DIRECTORY``, set by the service).
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable

import numpy as np

from appliance.capture.base import Host, SourceKind, SourceSpec
from appliance.capture.hub_link import BoxFrame, BoxLink
from appliance.errors import ConfigError, SourceError
from appliance.pose.calibrate import Correction, PairCollector
from appliance.pose.fusion import TUNING, BoxState, FloorFusion, Fused, HubReport, Observation
from appliance.types import Poses

__all__ = ["DIRECTORY", "KIND", "BoxDirectory", "HubSource", "boxes"]

#: Seconds a box found on mDNS may be gone from it and silent before the hub forgets it.
FORGET_SECONDS = 60.0
#: Boxes followed at most; the OSC control port every box listens on unless told.
MAX_BOXES, CONTROL_PORT = 8, 9001
_VIEW = (640, 480)


class BoxDirectory:
    """Where the hub finds boxes when none are named: a callable the service sets (discovery's
    verified peers as (name, address, control port)); none by default."""

    def __init__(self) -> None:
        self.find: Callable[[], list[tuple[str, str, int]]] = list

    def set(self, find: Callable[[], list[tuple[str, str, int]]]) -> None:
        """Follow ``find`` from now on (the service, once discovery runs)."""
        self.find = find


#: The service's directory of boxes (``hub`` without boxes named).
DIRECTORY = BoxDirectory()


def boxes(spec: SourceSpec) -> list[tuple[str, int]]:
    """The (host, control port) of ``hub:HOST[:PORT]+...``; ConfigError for a bad one."""
    out = []
    for part in filter(None, spec.arg.split("+")):
        host, _, port = part.rpartition(":") if ":" in part else (part, "", str(CONTROL_PORT))
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535 or len(host) > 253:
            raise ConfigError(f"hub source: {part!r} is not HOST[:CONTROL_PORT]")
        out.append((host, int(port)))
    if len(out) > MAX_BOXES:
        raise ConfigError(f"hub source: {len(out)} boxes, at most {MAX_BOXES}")
    return out


class HubSource:
    """Poses fused from several boxes (see the module docstring)."""

    def __init__(self, spec: SourceSpec, directory: BoxDirectory = DIRECTORY) -> None:
        self.spec, self.directory = spec, directory
        self.named = boxes(spec)
        self.view = spec.size or _VIEW
        self.name = "hub of " + (", ".join(f"{h}:{p}" for h, p in self.named) or "the boxes found on mDNS")
        self.links: dict[str, BoxLink] = {}
        self.fusion = FloorFusion(TUNING.distance)
        self.pairs = PairCollector()
        self._corrections: tuple[float, int, tuple[Correction, ...]] = (0.0, 0, ())
        self._order: list[str] = []  # box names in the order first seen (their place in the mosaic)
        self._selector: selectors.BaseSelector | None = None
        self._index = 0
        self._looked = 0.0
        self._live: set[str] = set()
        self._refusals: dict[str, str] = {}  # the boxes refusing the subscription, with why, as last reported

    def open(self) -> None:
        """Subscribe to the named boxes (SourceError when a name does not resolve)."""
        self._selector = selectors.DefaultSelector()
        for host, port in self.named:
            try:
                address = socket.gethostbyname(host)
            except OSError as exc:
                raise SourceError(f"hub: cannot resolve box {host!r}: {exc}") from None
            self._add(f"{host}:{port}", address, port)

    def _add(self, name: str, address: str, port: int) -> None:
        if name in self.links or len(self.links) >= MAX_BOXES or self._selector is None:
            return
        if any((link.address, link.control_port) == (address, port) for link in self.links.values()):
            return  # the same box under another name (renamed on mDNS): followed once
        link = BoxLink(name, address, port, keyed=bool(self.named))  # (mDNS: anyone may claim to be a box)
        self.links[name] = link
        self._selector.register(link.sock, selectors.EVENT_READ, link)
        if name not in self._order:
            self._order.append(name)

    def _look(self, now: float) -> None:
        """Without boxes named: follow the directory (at most once a second); a box gone from it and
        silent for ``FORGET_SECONDS`` is forgotten (its place goes to the next box found)."""
        if self.named or now - self._looked < 1.0:
            return
        self._looked = now
        found = self.directory.find()
        listed = {name for name, _, _ in found}
        for name, link in list(self.links.items()):
            if name not in listed and now - max(link.last_frame, link.created) > FORGET_SECONDS:
                self._forget(name, link)
        for name, address, port in found[:MAX_BOXES]:
            self._add(name, address, port)

    def _forget(self, name: str, link: BoxLink) -> None:
        if self._selector is not None:
            self._selector.unregister(link.sock)
        link.close()
        del self.links[name]
        self._order.remove(name)
        self.fusion.forget_box(name)
        self.pairs.forget(name)

    def read(self, timeout: float) -> Poses | None:
        """The next fused frame, as soon as a box completes one; None if none within ``timeout``."""
        if self._selector is None:
            raise SourceError("hub source is not open")
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            self._look(now)
            for link in self.links.values():
                link.tick(now)
            shifts = self._shifts()
            done = self._poll(max(0.0, min(deadline - now, 0.1)), now, shifts)
            if done is not None:
                return self._fuse(done, time.monotonic(), shifts)
            now = time.monotonic()
            if self._live - {n for n, link in self.links.items() if now - link.last_frame <= TUNING.drop_seconds}:
                return self._fuse(time.time(), now, shifts)  # a box dropped: its people leave now, not later
            if self._refusals != (said := {n: link.refused for n, link in self.links.items() if link.refused}):
                self._refusals = said  # a box refused the subscription (or took it again): reported now
                return self._fuse(time.time(), now, shifts)
            if now >= deadline:
                return None

    def _shifts(self) -> dict[str, float]:
        """Per box, seconds its capture times are off the boxes whose clock is in order (0 for those):
        a box whose clock is off (``_clock``) is fused by arrival time instead, its capture times
        moved by its median delay over the others'."""
        delays = {name: link.delay() for name, link in self.links.items()}
        fine = [d for d in delays.values() if d is not None and _clock(d) == "ok"]
        base = sorted(fine)[len(fine) // 2] if fine else 0.0
        return {n: 0.0 if d is None or _clock(d) in ("ok", "unknown") else base - d for n, d in delays.items()}

    def _poll(self, wait: float, now: float, shifts: dict[str, float]) -> float | None:
        """The newest capture time (on the boxes' one clock: ``shifts`` applied) of the frames
        completed by what arrived within ``wait`` seconds; None: nothing new."""
        assert self._selector is not None
        newest: float | None = None
        for key, _ in self._selector.select(wait):
            link: BoxLink = key.data
            for frame in link.receive(time.monotonic()):
                t = frame.t_wall - shifts.get(link.name, 0.0)
                newest = t if newest is None else max(newest, t)
        return newest

    def _fuse(self, t_wall: float, now: float, shifts: dict[str, float]) -> Poses:
        """One hub frame: every live box's frame captured nearest ``t_wall`` (the newest capture
        time; a box whose clock is off by its arrival time instead: ``shifts``), fused."""
        frames: dict[str, BoxFrame] = {}
        aligned: dict[str, list[tuple[float, float]]] = {}
        self.fusion.distance = TUNING.distance
        for name, link in self.links.items():
            if now - link.last_frame > TUNING.drop_seconds:
                if name in self._live:
                    self.fusion.forget_box(name)
                continue
            shift = shifts.get(name, 0.0)
            frame = link.nearest(t_wall + shift)
            if frame is not None and abs(frame.t_wall - shift - t_wall) <= TUNING.align_seconds:
                frames[name] = frame
                aligned[name] = _floor_points(frame)
            elif link.frames:
                frames[name] = link.frames[-1]  # out of step (a slow box): its newest, not nobody
        self._live = {n for n, link in self.links.items() if now - link.last_frame <= TUNING.drop_seconds}
        observations = []
        for name, frame in frames.items():
            for local in frame.left:
                self.fusion.forget_track(name, local)
            observations += [Observation(name, pid, score, frame.floor.get(pid)) for pid, score, _ in frame.people]
        people, entered, left = self.fusion.update(observations, now)
        self.pairs.add(aligned, {name: frames[name].index for name in aligned})
        return self._poses(people, frames, t_wall, entered, left)

    def _poses(
        self,
        people: list[Fused],
        frames: dict[str, BoxFrame],
        t_wall: float,
        entered: list[int],
        left: list[int],
    ) -> Poses:
        """The fused people as ``Poses`` on the mosaic (source pixels (x, y)), with the report."""
        vw, vh = self.view
        kps = np.zeros((len(people), 17, 3), np.float32)
        scores = np.zeros(len(people), np.float32)
        for i, person in enumerate(people):
            best = person.members[0]
            found = next(p for p in frames[best.box].people if p[0] == best.local)
            kps[i] = found[2]
            kps[i, :, 0] = (found[2][:, 0] + self._order.index(best.box)) * vw
            kps[i, :, 1] *= vh
            scores[i] = best.score
        self._index += 1
        age = max(0.0, time.time() - t_wall)
        report = HubReport(
            self._states(frames),
            self._offered(),
            {p.gid: p.floor for p in people},
            {p.gid: tuple(dict.fromkeys(m.box for m in p.members)) for p in people},  # best first
        )
        return Poses(
            keypoints=kps,
            scores=scores,
            ids=np.array([p.gid for p in people], np.int32),
            frame_size=(vw * max(1, len(self._order)), vh),
            frame_index=self._index,
            t_capture=time.monotonic() - age,
            t_wall=t_wall,
            entered=np.array(entered, np.int32),
            left=np.array(left, np.int32),
            tracked=True,
            extras={"hub": report},
        )

    def _offered(self) -> tuple[Correction, ...]:
        """The calibration corrections the walks so far give (computed at most once a second, and at
        once when a walk started over: an applied correction is not offered again meanwhile)."""
        now = time.monotonic()
        if now - self._corrections[0] >= 1.0 or self.pairs.changes != self._corrections[1]:
            self._corrections = (now, self.pairs.changes, tuple(self.pairs.corrections()))
        return self._corrections[2]

    def _states(self, frames: dict[str, BoxFrame]) -> tuple[BoxState, ...]:
        now = time.monotonic()
        out = []
        for name, link in self.links.items():
            delay = link.delay()
            out.append(
                BoxState(
                    name,
                    link.address,
                    name in self._live,
                    link.lease_until > now,
                    None if delay is None else round(delay * 1000.0, 1),
                    len(frames[name].people) if name in frames else 0,
                    link.dropped,
                    _clock(delay, link.clock(now)),
                    link.view(now),
                    link.refused,
                )
            )
        return tuple(out)

    def close(self) -> None:
        """Close every box's socket (their subscriptions end with their leases)."""
        for link in self.links.values():
            link.close()
        self.links = {}
        if self._selector is not None:
            self._selector.close()
            self._selector = None


def _floor_points(frame: BoxFrame) -> list[tuple[float, float]]:
    """The frame's people's floor positions, or none unless every person has one."""
    points = [frame.floor[pid] for pid, _, _ in frame.people if pid in frame.floor]
    return points if len(points) == len(frame.people) else []


#: A box's frames arriving this long *before* their capture time: its clock is ahead of the hub's.
AHEAD_SECONDS = 0.005


def _clock(delay: float | None, said: tuple[bool, float] | None = None) -> str:
    """What a box's median delay (arrival minus capture, seconds) says about its clock, told apart by
    the box's own word when it gave one (``said``: synchronised within its clock.warn_ms, offset ms):
    a box whose clock is in order lags; one whose clock is not is off by about its delay."""
    if delay is None:
        return "unknown"
    if delay < -AHEAD_SECONDS:
        return "ahead: fused by arrival time"
    if delay <= TUNING.late_seconds:
        return "ok"
    if said is None:
        return "behind or late: fused by arrival time"
    if said[0]:
        return "lags: clock in order, fused by arrival time"
    return f"clock off by {delay * 1000.0:.0f} ms: fused by arrival time"


def _confine(spec: SourceSpec) -> object:
    return boxes(spec)


def _offer(host: Host) -> list[dict[str, str]]:
    return [{"source": "hub", "label": "a hub: the boxes found on mDNS, fused (no camera, no model)"}]


KIND = SourceKind(
    "hub",
    "hub[:HOST[:CONTROL_PORT][+HOST...]][@WxH]",
    lambda spec, **_: HubSource(spec),
    poses=True,
    order=40,
    confine=_confine,
    offer=_offer,
)
