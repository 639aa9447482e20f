"""People seen by several boxes, fused on the floor, with *global* ids (the hub).

Each box tracks its own people (its ids are *local*: box name + id). When a box knows where a person
stands on the floor (issue 22's floor calibration: ``/posenet/person/floor id x y``, metres on the
floor, order (x, y), in the room's one floor frame), two observations from **different** boxes
within ``distance`` metres at the same time are one person; one box's people are never fused with
each other (two people standing close in one view are two people). Without a floor position an
observation is a person of its own.

A global id survives walking from one view into another: while a person is in the overlap, the new
box's local track joins the cluster that already carries a global id, and keeps it when the first
box loses them. When two clusters that both carry global ids become one (two boxes tracked the same
person apart until they agreed), the older (smaller) global id wins and the other leaves. A global
id leaves when no box's local track carries it any more (the boxes said leave, or were dropped).

Bounded: at most ``MAX_OBSERVATIONS`` observations a frame are fused (the rest are left out, counted),
and the local-to-global table holds only tracks seen in the last ``forget_seconds``, at most
``MAX_TRACKS`` of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from appliance.pose.calibrate import Correction

__all__ = [
    "DEFAULT_DISTANCE",
    "MAX_OBSERVATIONS",
    "MAX_TRACKS",
    "TUNING",
    "BoxState",
    "FloorFusion",
    "Fused",
    "HubReport",
    "HubTuning",
    "Observation",
]

#: Metres within which two boxes' observations at the same time are one person (a person's floor
#: position from two calibrated views disagrees by ~0.1-0.3 m; two people rarely stand closer).
DEFAULT_DISTANCE = 0.5
#: Observations fused in one frame at most (boxes x people); more are left out.
MAX_OBSERVATIONS = 256
#: Tracks (box, local id) remembered at most; the least recently seen are forgotten first (a box
#: inventing new ids every frame cannot grow the table).
MAX_TRACKS = 4096


@dataclass(frozen=True, slots=True)
class Observation:
    """One person in one box's frame: ``box`` (its name), ``local`` (the box's id), ``score``,
    ``floor`` (metres on the floor, (x, y); None when the box does not know)."""

    box: str
    local: int
    score: float
    floor: tuple[float, float] | None = None


@dataclass(slots=True)
class Fused:
    """One global person: ``gid``, the observations that are them (best score first), their floor
    position (the mean of the observations', metres (x, y); None without one)."""

    gid: int
    members: list[Observation] = field(default_factory=list)
    floor: tuple[float, float] | None = None

    @property
    def boxes(self) -> list[str]:
        """The boxes that see this person, sorted."""
        return sorted({m.box for m in self.members})


class FloorFusion:
    """Fuses each frame's observations into global people (``update``); not thread-safe (one caller)."""

    def __init__(self, distance: float = DEFAULT_DISTANCE, forget_seconds: float = 2.0) -> None:
        self.distance = distance
        self.forget_seconds = forget_seconds
        self.left_out = 0  # observations beyond MAX_OBSERVATIONS, since start
        self._next = 1
        self._global: dict[tuple[str, int], tuple[int, float]] = {}  # (box, local) -> (gid, last seen)
        self._alive: set[int] = set()

    def forget_box(self, box: str) -> None:
        """A box dropped from fusion: its tracks no longer carry anyone."""
        self._global = {k: v for k, v in self._global.items() if k[0] != box}

    def forget_track(self, box: str, local: int) -> None:
        """A box said this person left."""
        self._global.pop((box, local), None)

    def update(self, observations: list[Observation], now: float) -> tuple[list[Fused], list[int], list[int]]:
        """This frame's people (best-scored first), and the global ids that entered and that left."""
        if len(observations) > MAX_OBSERVATIONS:
            self.left_out += len(observations) - MAX_OBSERVATIONS
            observations = observations[:MAX_OBSERVATIONS]
        clusters = self._cluster(observations)
        people = [self._identify(c, now) for c in clusters]
        self._global = {k: v for k, v in self._global.items() if now - v[1] <= self.forget_seconds}
        if len(self._global) > MAX_TRACKS:
            newest = sorted(self._global.items(), key=lambda kv: kv[1][1])[-MAX_TRACKS:]
            self._global = dict(newest)
        carried = {gid for gid, _ in self._global.values()}
        seen = {p.gid for p in people}
        entered = sorted(seen - self._alive)
        left = sorted(self._alive - seen - carried)
        self._alive = (self._alive | seen) - set(left)
        people.sort(key=lambda p: -p.members[0].score)
        return people, entered, left

    def _cluster(self, observations: list[Observation]) -> list[list[Observation]]:
        """Greedy: observations with a global id already go first, each joins the nearest cluster
        within ``distance`` that has nobody from its box, else starts one."""
        known = sorted(observations, key=lambda o: (self._global.get((o.box, o.local), (1 << 62, 0.0))[0], -o.score))
        clusters: list[list[Observation]] = []
        for obs in known:
            best, best_d = None, self.distance
            if obs.floor is not None:
                for c in clusters:
                    centre = _mean_floor(c)
                    if centre is None or any(m.box == obs.box for m in c):
                        continue
                    d = math.dist(centre, obs.floor)
                    if d <= best_d:
                        best, best_d = c, d
            if best is None:
                clusters.append([obs])
            else:
                best.append(obs)
        return clusters

    def _identify(self, members: list[Observation], now: float) -> Fused:
        """The cluster's global id: the oldest its members already carry, else a new one."""
        carried = [self._global[(m.box, m.local)][0] for m in members if (m.box, m.local) in self._global]
        if carried:
            gid = min(carried)
        else:
            gid, self._next = self._next, self._next + 1
        for m in members:
            self._global[(m.box, m.local)] = (gid, now)
        ordered = sorted(members, key=lambda m: -m.score)
        return Fused(gid, ordered, _mean_floor(members))


def _mean_floor(members: list[Observation]) -> tuple[float, float] | None:
    """The mean floor position of the members that have one (metres, (x, y)); None if none has."""
    points = [m.floor for m in members if m.floor is not None]
    if not points:
        return None
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


@dataclass(slots=True)
class HubTuning:
    """The hub's settings in force (the ``hub`` section, put here by its stage, read by the hub
    source every frame): ``distance`` (metres), ``drop_seconds``, ``align_seconds``, ``late_seconds``,
    ``subscribe_key`` (given to every box; "" none; never in the repr)."""

    distance: float = DEFAULT_DISTANCE
    drop_seconds: float = 1.0
    align_seconds: float = 0.1
    late_seconds: float = 0.15
    subscribe_key: str = field(default="", repr=False)


#: The one hub's settings in force (a process runs at most one hub).
TUNING = HubTuning()


@dataclass(frozen=True, slots=True)
class BoxState:
    """One box as the hub reports it: ``live`` (frames within the drop time), ``subscribed``
    (a lease in force), ``delay_ms`` (median arrival minus capture: network plus clock difference),
    ``people``, ``dropped`` (datagrams refused), ``clock`` ("ok"; frames arriving more than the late
    time after their capture time, told apart by the box's own word on its clock (``/posenet/clock``):
    "lags: clock in order, fused by arrival time", "clock off by N ms: fused by arrival time" (N its
    median delay), "behind or late: fused by arrival time" when the box says nothing; "ahead: fused
    by arrival time": frames arrive before they were captured; "unknown" before its first frame),
    ``view`` (the floor its picture sees: corners, metres (x, y); empty when it did not say lately: a
    box without a floor calibration), ``refused`` (the box's last refusal of the subscription, e.g. a
    wrong or missing subscribe key; "" once it confirms one)."""

    name: str
    address: str
    live: bool
    subscribed: bool
    delay_ms: float | None
    people: int
    dropped: int
    clock: str = "unknown"
    view: tuple[tuple[float, float], ...] = ()
    refused: str = ""


@dataclass(frozen=True, slots=True)
class HubReport:
    """``extras["hub"]``: the boxes, and per global id its floor position (metres, (x, y); None
    without one) and the boxes that see it (the one that sees them best first); ``corrections``: the
    calibration help (``appliance.pose.calibrate``) the walks so far give."""

    boxes: tuple[BoxState, ...] = ()
    corrections: tuple[Correction, ...] = ()
    floor: dict[int, tuple[float, float] | None] = field(default_factory=dict)
    seen_by: dict[int, tuple[str, ...]] = field(default_factory=dict)
