"""Lagging or clock off: each box says its clock once a second (``/posenet/clock synchronised
offset_ms``, the hub stage on a box that is not a hub), and the hub's clock report of a box whose
frames arrive late tells a box that lags (its clock in order) from one whose clock is off."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.capture import parse_source
from appliance.capture.hub_source import HubSource, _clock
from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.output.osc.base import OutputOptions
from appliance.output.osc.wire import parse_packet
from appliance.pose.fusion import TUNING, HubReport
from appliance.stages import hub as hub_stage
from appliance.stages.hub import BoxClock, HubSettings, HubStage, encode
from appliance.timesync import Tracking
from appliance.types import Poses
from tests.support.fakebox import FakeBox, walk

LAGS = "lags: clock in order, fused by arrival time"


def test_the_clock_report_tells_a_lagging_box_from_one_whose_clock_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TUNING, "late_seconds", 0.15)
    assert _clock(None, (True, 0.0)) == "unknown"
    assert _clock(0.01, (False, 900.0)) == "ok"  # on time: whatever the box says
    assert _clock(-0.05, (True, 0.0)) == "ahead: fused by arrival time"
    assert _clock(0.3) == "behind or late: fused by arrival time"  # the box said nothing
    assert _clock(0.3, (True, 1.2)) == LAGS
    assert _clock(0.3, (False, 0.0)) == "clock off by 300 ms: fused by arrival time"
    assert _clock(0.2504, (False, -250.0)) == "clock off by 250 ms: fused by arrival time"


def _poses(t: float, extras: dict[str, object] | None = None) -> Poses:
    kp = np.zeros((0, 17, 3), np.float32)
    return Poses(kp, np.zeros(0, np.float32), np.zeros(0, np.int32), (640, 480), 0, t, time.time(), extras=extras or {})


def test_a_box_says_its_clock_once_a_second_and_a_hub_says_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_stage.CLOCK, "read", lambda: (True, -1.5))
    stage = HubStage(HubSettings())
    said = [i for i in range(26) if isinstance(stage(_poses(i * 0.1)).extras.get("hub"), BoxClock)]
    assert said == [0, 10, 20]
    out = encode(stage(_poses(5.0)), OutputOptions())
    assert [(a, args) for d in out for a, args in parse_packet(d)] == [("/posenet/clock", [1, -1.5])]
    hub = _poses(7.0, {"hub": HubReport()})
    assert stage(hub).extras["hub"] == HubReport()  # a hub says the boxes' states, not its clock
    monkeypatch.setattr(hub_stage.CLOCK, "read", lambda: None)
    assert "hub" not in stage(_poses(9.0)).extras  # unknown: nothing said


def test_the_box_reads_chrony_else_the_kernel_against_clock_warn_ms(tmp_path: Path) -> None:
    app = Application(ConfigStore.in_dir(tmp_path))
    try:
        assert hub_stage.CLOCK.read == app.clock_word
        app.machine.clock = lambda: (True, 0.002, 0.01)
        app.chrony.latest = lambda: None  # type: ignore[method-assign]
        assert app.clock_word() == (True, 2.0)
        app.machine.clock = lambda: (False, 0.0, 16.0)
        assert app.clock_word() == (False, 0.0)
        tracked = Tracking("10.0.0.1", 3, 0.004, 0.001, "Normal")
        app.chrony.latest = lambda: tracked  # type: ignore[method-assign]
        assert app.clock_word() == (True, 4.0)  # within clock.warn_ms (5 ms)
        tracked = Tracking("10.0.0.1", 3, -0.25, 0.001, "Normal")
        assert app.clock_word() == (False, -250.0)
        tracked = Tracking("", 0, 0.0, 0.0, "Not synchronised")
        assert app.clock_word() == (False, 0.0)
    finally:
        app.stop()


def until(src: HubSource, ok: Callable[[Poses], bool], timeout: float) -> Poses:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = src.read(0.2)
        if got is not None and ok(got):
            return got
    raise AssertionError("not within the time")


def test_the_hub_takes_each_boxs_word_on_its_clock_from_its_stream() -> None:
    """Three boxes over real loopback sockets, sending what real boxes send: A on time (saying nothing),
    B and C 300 ms late; B says its clock is in order (it lags), C that it is not synchronised (its
    clock is off). The clock bundles (after their frame, with its header again) make no frames of
    their own: B and C finish as many frames as A."""
    boxes = [FakeBox(), FakeBox(), FakeBox()]
    src = HubSource(parse_source("hub:" + "+".join(f"127.0.0.1:{b.port}" for b in boxes)))
    src.open()
    stop = threading.Event()
    along = [lambda i: (1.0, 1.0), lambda i: (3.0, 1.0), lambda i: (5.0, 1.0)]
    clocks = (None, (True, 1.0), (False, 0.0))
    sender = threading.Thread(
        target=walk, args=(boxes, along, 30, stop, (0.0, 0.3, 0.3)), kwargs={"clocks": clocks}, daemon=True
    )
    sender.start()
    try:
        names = [f"127.0.0.1:{b.port}" for b in boxes]

        def told(p: Poses) -> bool:
            a, b, c = (box.clock for box in p.extras["hub"].boxes)
            off = c.removeprefix("clock off by ").removesuffix(" ms: fused by arrival time")
            return (a, b) == ("ok", LAGS) and off.isdigit() and 290 <= int(off) <= 340

        try:
            got = until(src, told, timeout=10)
        except AssertionError:
            raise AssertionError([(b.name, b.clock, b.delay_ms) for b in src._states({})]) from None
        report: HubReport = got.extras["hub"]
        print("clocks:", [(b.name[-5:], b.clock, b.delay_ms) for b in report.boxes])
        assert [b.name for b in report.boxes] == names and all(b.live and b.dropped == 0 for b in report.boxes)
        end = time.monotonic() + 3.0  # 45 frames more: three clock bundles each from B and C
        while time.monotonic() < end:
            src.read(0.1)
        assert all(len(f.people) == 1 for link in src.links.values() for f in link.frames)
        finished = [link.finished for link in src.links.values()]
        assert max(finished) - min(finished) <= 1 and min(finished) > 30, finished
    finally:
        stop.set()
        sender.join(2)
        src.close()
        for b in boxes:
            b.close()
