"""Each box's view on the hub's floor map: the floor its picture sees (``/posenet/view/floor ,iff...
n x y ...``, metres (x, y), which a box with a floor calibration sends every frame) taken by the hub
over real UDP on loopback from the real appliance (``scene:1``, a tilted floor calibration) and from
``tests.support.fakebox`` boxes, kept per box, reported in ``HubReport.boxes[].view`` and
``/api/status`` ``hub.boxes[].view``; a hostile view (NaN, too many or too few corners, huge
numbers, a wrong count, strings) is refused, counted, and changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.capture import hub_link, parse_source
from appliance.capture.hub_source import HubSource
from appliance.core.status import HubDocument, _hub
from appliance.output.osc.wire import bundle, message
from appliance.pose.fusion import HubReport
from appliance.pose.room import footprint, homography
from appliance.types import Poses
from tests.support.fakebox import FakeBox, frame, person_at
from tests.support.net import free_udp_port

VIEW = [(-0.5, 7.25), (4.5, 7.25), (3.0, 0.5), (1.0, 0.5)]  # a trapezoid: the floor a tilted camera sees


def _subscribed(box: FakeBox, src: HubSource) -> None:
    deadline = time.monotonic() + 5
    while box.subscriber is None and time.monotonic() < deadline:
        src.read(0.1)
    assert box.subscriber is not None


def _report(src: HubSource, seconds: float = 0.5) -> HubReport:
    """The newest report of what arrived within ``seconds``."""
    got = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        poses = src.read(0.05)
        got = poses.extras["hub"] if poses is not None else got
    assert got is not None
    return got


def _view_message(n: int, values: list[float | str], typetags: str | None = None) -> bytes:
    return message("/posenet/view/floor", typetags or "i" + "f" * len(values), [n, *values])


def test_a_box_view_reaches_the_report_and_the_status() -> None:
    box = FakeBox()
    src = HubSource(parse_source(f"hub:127.0.0.1:{box.port}"))
    src.open()
    try:
        _subscribed(box, src)
        for i in range(5):
            for data in frame(person_at(1, time.time(), i), (2.0, 3.0), VIEW):
                box.send(data)
        report = _report(src)
        assert report.boxes[0].view == tuple(VIEW)  # (exact in float32)
        document = _hub(report)
        assert isinstance(document, HubDocument)
        assert document.model_dump(mode="json")["boxes"][0]["view"] == [list(c) for c in VIEW]
        assert report.boxes[0].dropped == 0
    finally:
        src.close()
        box.close()


def test_hostile_views_are_refused_counted_and_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    box = FakeBox()
    src = HubSource(parse_source(f"hub:127.0.0.1:{box.port}"))
    src.open()
    try:
        _subscribed(box, src)
        for data in frame(person_at(1, time.time(), 1), (2.0, 3.0), VIEW):
            box.send(data)
        assert _report(src).boxes[0].view == tuple(VIEW)
        flat = [c for xy in VIEW for c in xy]
        hostile = [
            _view_message(4, [float("nan"), *flat[1:]]),
            _view_message(4, [*flat[:-1], float("inf")]),
            _view_message(4, [*flat[:-1], 1e6]),  # 1,000 km off
            _view_message(4, [*flat[:-1], -1000.5]),
            _view_message(9, flat * 2 + [0.0, 0.0]),  # nine corners
            _view_message(2, flat[:4]),  # two
            _view_message(4, flat[:6]),  # fewer values than said
            _view_message(3, flat),  # more
            _view_message(4, [*flat[:-1], "7"], "i" + "f" * 7 + "s"),
            message("/posenet/view/floor", "f" * 9, [4.0, *flat]),  # a count that is not an int
            message("/posenet/view/floor", "", []),
        ]
        for data in hostile:
            box.send(bundle(1, [data]))
        report = _report(src)
        assert report.boxes[0].view == tuple(VIEW)  # the last good one, nothing changed
        assert report.boxes[0].dropped == len(hostile)
        monkeypatch.setattr(hub_link, "VIEW_SECONDS", 0.2)
        for i in range(2, 12):  # frames without a view (the box lost its calibration): the view goes
            for data in frame(person_at(1, time.time(), i), None):
                box.send(data)
            time.sleep(0.03)
        report = _report(src)
        assert report.boxes[0].view == ()
        assert _hub(report).model_dump()["boxes"][0]["view"] == []  # type: ignore[union-attr]
    finally:
        src.close()
        box.close()


def test_an_empty_frame_with_its_view_is_one_frame() -> None:
    """A box with nobody in view sends the frame's header, then the floor's bundle with the header
    again: the hub takes one frame, and the view."""
    box = FakeBox()
    src = HubSource(parse_source(f"hub:127.0.0.1:{box.port}"))
    src.open()
    try:
        _subscribed(box, src)
        link = next(iter(src.links.values()))
        for i in range(10):
            nobody = Poses(
                np.zeros((0, 17, 3), np.float32),
                np.zeros(0, np.float32),
                np.zeros(0, np.int32),
                (640, 480),
                100 + i,
                0.0,
                time.time(),
            )
            for data in frame(nobody, None, VIEW):
                box.send(data)
        report = _report(src)
        assert link.finished == 10 and report.boxes[0].view == tuple(VIEW)
    finally:
        src.close()
        box.close()


def test_a_real_box_with_a_tilted_floor_sends_its_view_to_the_hub(tmp_path: Path) -> None:
    image = [[0.1, 0.9], [0.9, 0.9], [0.6, 0.5], [0.4, 0.5]]  # the horizon crosses the picture
    floor = [[0.0, 0.0], [4.0, 0.0], [4.0, 6.0], [0.0, 6.0]]
    (tmp_path / "config.json").write_text(json.dumps({"floor": {"image": image, "floor": floor}}))
    port = free_udp_port()
    argv = [sys.executable, "-m", "appliance", "run", "--source", "scene:1@15", "--state-dir", str(tmp_path)]
    argv += ["--http-bind", "127.0.0.1", "--http-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet"]
    box = subprocess.Popen([*argv, "--control-port", str(port)], stderr=subprocess.DEVNULL, start_new_session=True)
    src = HubSource(parse_source(f"hub:127.0.0.1:{port}"))
    src.open()
    try:
        deadline = time.monotonic() + 40
        view: tuple[tuple[float, float], ...] = ()
        while not view and time.monotonic() < deadline:
            poses = src.read(0.2)
            view = poses.extras["hub"].boxes[0].view if poses is not None else ()
        h = homography(np.array(image), np.array(floor))
        expected = footprint(h, np.array(image), np.array(floor))
        assert len(view) == 4 and np.abs(np.array(view) - expected).max() < 1e-4, view
    finally:
        src.close()
        os.killpg(box.pid, signal.SIGTERM)
        box.wait(15)
