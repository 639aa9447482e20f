"""The room at every door: the configuration (zones, floor, slots validated: one clear error, nothing
changed), the OSC each target gets (bundle targets everything, the imitation formats nothing unless
asked, never over ``osc.max_datagram``), OSCQuery (zones' counts readable), the control port, and the
whole service sending to a real UDP socket from a pose source."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore
from appliance.control.messages import matching
from appliance.core.app import Application, target_specs
from appliance.core.factory import Folders
from appliance.output.osc import FORMATS
from appliance.output.osc.extras import encode_target
from appliance.output.osc.wire import parse_message, parse_packet, split_packet
from appliance.pose.scenes import Walker, scene
from appliance.web.oscquery.namespace import FrameValues, build
from appliance.web.server import create_app
from tests.support.controlport import Patch, osc, with_control
from tests.support.owner import OWNER
from tests.support.room import run_room

BAND = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]


def _zones(n: int) -> list[dict[str, Any]]:
    return [
        {"name": f"z{i}", "points": [[i / n, 0.0], [(i + 1) / n, 0.0], [(i + 1) / n, 1.0], [i / n, 1.0]]}
        for i in range(n)
    ]


# -- configuration -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("zones", "field"),
    [
        ([{"name": "a b", "points": BAND}], "zones.0.name"),
        ([{"name": "a", "points": BAND[:2]}], "zones.0.points"),
        ([{"name": "a", "points": [[0.0, 0.0]] * 33}], "zones.0.points"),
        ([{"name": "a", "points": [[0.0, 0.0, 1.0]] * 3}], "zones.0.points.0"),
        ([{"name": "a", "points": [[1e9, 0.0]] * 3}], "zones.0.points"),
        ([{"name": "a", "points": BAND, "point": "elbow"}], "zones.0.point"),
        ([{"name": "a", "points": BAND, "space": "sky"}], "zones.0.space"),
        ([{"name": "a", "points": BAND}, {"name": "a", "points": BAND}], "zones"),
        ([{"name": "x" * 33, "points": BAND}], "zones.0.name"),
        (_zones(33), "zones"),
    ],
)
def test_a_bad_zone_is_refused_naming_the_field(zones: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        AppConfig.model_validate({"zones": zones})
    assert any(".".join(map(str, e["loc"])) == field for e in err.value.errors()), err.value


def test_good_zones_floor_and_slots_are_kept() -> None:
    config = AppConfig.model_validate(
        {
            "zones": [*_zones(31), {"name": "f", "points": BAND, "space": "floor", "point": "leftWrist"}],
            "floor": {
                "image": [[0.1, 0.9], [0.9, 0.9], [0.7, 0.5], [0.3, 0.5]],
                "floor": [[0, 0], [4, 0], [4, 6], [0, 6]],
            },
            "slots": {"count": 2, "rule": "zone", "zone": "z1"},
        }
    )
    dumped = config.model_dump()
    assert len(dumped["zones"]) == 32 and dumped["zones"][-1]["point"] == "leftWrist"
    assert dumped["slots"] == {"count": 2, "rule": "zone", "zone": "z1"} and dumped["floor"]["floor"][1] == [4.0, 0.0]
    assert AppConfig().model_dump()["zones"] == [] and AppConfig().model_dump()["floor"] == {"image": [], "floor": []}


@pytest.mark.parametrize(
    ("floor", "match"),
    [
        ({"image": [[0, 0], [1, 0], [1, 1]], "floor": [[0, 0], [1, 0], [1, 1]]}, "four points"),
        ({"image": [[0, 0], [0.5, 0], [1, 0], [0, 1]], "floor": [[0, 0], [1, 0], [1, 1], [0, 1]]}, "one line"),
        ({"image": [[0, 0], [2, 0], [1, 1], [0, 1]], "floor": [[0, 0], [1, 0], [1, 1], [0, 1]]}, "0..1"),
        ({"image": [[0, 0], [1, 0], [1, 1], [0, 1]]}, "four points"),
    ],
)
def test_a_bad_floor_is_refused(floor: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        AppConfig.model_validate({"floor": floor})


def test_the_control_port_has_the_room_settings() -> None:
    assert [m.address for m in matching("/posenet/slots/count")] == ["/posenet/slots/count"]
    assert matching("/posenet/scene/rate")[0].range == [{"MIN": 2.0, "MAX": 30.0}]
    assert matching("/posenet/features/hands_seconds")[0].key == "features.hands_seconds"
    assert matching("/posenet/zones/*") == () and matching("/posenet/floor/*") == ()  # lists: the API and page


# -- what each target gets ----------------------------------------------------------------------------
def _room_frames(people: int = 3, frames: int = 20) -> list[Any]:
    walkers = [Walker(i + 1, (40.0 + 55 * i, 200.0 + 10 * (i % 3)), (3.0, 0.0), height=120) for i in range(people)]
    sections = {
        "zones": _zones(8),
        "slots": {"count": 4},
        "floor": {"image": [[0.1, 0.9], [0.9, 0.9], [0.7, 0.5], [0.3, 0.5]], "floor": [[0, 0], [4, 0], [4, 6], [0, 6]]},
    }
    return run_room(scene(walkers, frames)[0], **sections)


def _addresses(datagrams: list[bytes]) -> list[list[str]]:
    return [[parse_message(m)[0] for m in split_packet(d)] for d in datagrams]


def test_bundle_targets_get_the_room_and_the_scene_leads_every_frame() -> None:
    config = AppConfig.model_validate({"targets": [{"format": "bundle"}, {"format": "bundle", "extras": []}]})
    full, bare = target_specs(config)
    poses = _room_frames()[-1]
    got = encode_target(FORMATS["bundle"], poses, full.options, full.extras)
    first = parse_packet(got[0])
    assert [a for a, _ in first[:2]] == ["/posenet/frame", "/posenet/scene"]
    assert first[1][1] == [3, *sorted(poses.ids.tolist())]
    everything = [d for p in _room_frames() for d in encode_target(FORMATS["bundle"], p, full.options, full.extras)]
    names = {a for d in _addresses(everything) for a in d}
    for expected in (
        "/posenet/zone/z0/count",
        "/posenet/slot/1/pose",
        "/posenet/slot/3/centre",
        "/posenet/person/motion",
        "/posenet/person/hands",
        "/posenet/person/floor",
        "/posenet/person/nearest",
        "/posenet/slot/1/floor",
    ):
        assert expected in names, expected
    assert encode_target(FORMATS["bundle"], poses, bare.options, bare.extras) == FORMATS["bundle"](poses, bare.options)


def test_imitation_formats_get_nothing_unless_they_ask_and_then_the_scene_by_rate() -> None:
    config = AppConfig.model_validate(
        {
            "targets": [{"format": f} for f in ("individual", "arr", "wekinator")]
            + [{"format": "arr", "extras": ["scene", "zones"]}]
        }
    )
    specs = target_specs(config)
    frames = _room_frames(frames=30)
    for spec in specs[:3]:
        assert spec.extras == () and encode_target(
            FORMATS[spec.format], frames[-1], spec.options, spec.extras
        ) == FORMATS[spec.format](frames[-1], spec.options)
    asked = specs[3]
    scenes = [
        f
        for f, p in enumerate(frames)
        if any("/posenet/scene" in a for a in _addresses(encode_target(FORMATS["arr"], p, asked.options, asked.extras)))
    ]
    assert (
        scenes and max(b - a for a, b in zip([0, *scenes], [*scenes, 29], strict=True)) <= 8
    )  # twice a second at 15 fps


def test_every_datagram_fits_the_limit_with_10_people_and_8_zones() -> None:
    config = AppConfig.model_validate({"osc": {"max_datagram": 600}, "targets": [{"format": "bundle"}]})
    (spec,) = target_specs(config)
    poses = _room_frames(people=10)[-1]
    assert len(poses) == 10
    got = encode_target(FORMATS["bundle"], poses, spec.options, spec.extras)
    assert max(len(d) for d in got) <= 600 and len(got) > 5
    names = [a for d in _addresses(got) for a in d]
    assert names.count("/posenet/person/pose") == 10 and names.count("/posenet/person/motion") == 10
    assert names.count("/posenet/frame") == len(got) and names.count("/posenet/scene") == 1


# -- OSCQuery ------------------------------------------------------------------------------------------
def test_oscquery_publishes_each_zone_count_and_each_slot() -> None:
    config = AppConfig.model_validate({"zones": _zones(8), "slots": {"count": 2}})
    tree = build(config, (), (640, 480))
    node = tree.methods["/posenet/zone/z0/count"]
    assert node["ACCESS"] == 1 and node["TYPE"] == "i"
    assert "/posenet/zone/z7/xy" in tree.methods and "/posenet/zone/z8/count" not in tree.methods
    assert "/posenet/slot/2/present" in tree.methods and "/posenet/slot/3/present" not in tree.methods
    assert tree.methods["/posenet/slot/1/present"]["RANGE"] == [{"MIN": 0, "MAX": 1}]
    poses = _room_frames()[-1]
    counts = {f"z{i}": len(poses.extras["zones"][f"z{i}"].members) for i in range(8)}
    assert sum(counts.values()) == 3
    values = FrameValues(tree, poses)
    assert {z: values.node(f"/posenet/zone/{z}/count")["VALUE"] for z in counts} == {z: [n] for z, n in counts.items()}
    assert values.node("/posenet/scene")["VALUE"][0] == 3


# -- the whole service -----------------------------------------------------------------------------------
def _drain(sink: socket.socket, seconds: float) -> list[bytes]:
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(TimeoutError):
            out.append(sink.recv(65536))
    return out


def test_the_service_sends_the_room_to_a_udp_socket_and_refuses_a_bad_zone(tmp_path: Path) -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.2)
    store = ConfigStore.in_dir(tmp_path / "state")
    store.load()
    store.config = AppConfig.model_validate(
        {
            "source": "scene:3@30",
            "network": {"discovery": False},
            "zones": [{"name": "left", "points": BAND}],
            "slots": {"count": 2},
            "targets": [{"port": sink.getsockname()[1], "format": "bundle"}],
        }
    )
    app = Application(store, Folders(tmp_path / "models", tmp_path / "media"))
    app.start()
    try:
        got = [m for d in _drain(sink, 3.0) for m in parse_packet(d)]
        addresses = {a for a, _ in got}
        for expected in (
            "/posenet/scene",
            "/posenet/zone/left/count",
            "/posenet/zone/left/enter",
            "/posenet/slot/1/pose",
            "/posenet/slot/2/present",
            "/posenet/person/motion",
            "/posenet/person/hands",
        ):
            assert expected in addresses, (expected, sorted(addresses))
        scenes = [args for a, args in got if a == "/posenet/scene"]
        assert all(args[0] == len(args) - 1 for args in scenes) and max(args[0] for args in scenes) == 3
        with TestClient(create_app(app), base_url="http://127.0.0.1:8080", client=OWNER) as c:
            bad = c.patch("/api/config", json={"zones": [{"name": "left", "points": BAND[:2]}]})
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "zones", 0, "points"]
            assert app.config.zones[0].points == BAND  # type: ignore[attr-defined]
            ok = c.patch("/api/config", json={"zones": [{"name": "door", "points": BAND, "point": "centre"}]})
            assert ok.status_code == 200 and ok.json()["zones"][0]["name"] == "door"
        _drain(sink, 0.3)
        names = {a for d in _drain(sink, 1.5) for a, _ in parse_packet(d)}
        assert "/posenet/zone/door/count" in names and "/posenet/zone/left/count" not in names
        saved: Any = json.loads((tmp_path / "state" / "config.json").read_text())
        assert saved["zones"][0]["point"] == "centre"
    finally:
        app.stop()
        sink.close()


# -- the control port ------------------------------------------------------------------------------------
def test_the_room_settings_change_over_the_control_port_the_owners_only(tmp_path: Path) -> None:
    """Numbers and words (the slots' rule) from the box itself or with the token are saved; a bad
    value is refused with one line and changes nothing; a visitor without the token is refused."""

    async def owner(app: Application, protocol: Any, patch: Patch) -> None:
        assert (await patch.ask(osc("/posenet/slots/count", 2))).params == [2]
        assert (await patch.ask(osc("/posenet/slots/rule", "leftmost"))).params == ["leftmost"]
        assert (await patch.ask(osc("/posenet/features/hands_seconds", 0.5))).params == [0.5]
        for bad in (
            osc("/posenet/slots/rule", "nearest"),
            osc("/posenet/scene/rate", 1.0),
            osc("/posenet/slots/count", 17),
        ):
            refused = await patch.ask(bad)
            assert refused.address == "/posenet/error" and len(refused.params) >= 1, refused.params
        slots = app.config.slots  # type: ignore[attr-defined]
        assert (slots.count, slots.rule, app.config.scene.rate) == (2, "leftmost", 2.0)  # type: ignore[attr-defined]
        assert json.loads((tmp_path / "config.json").read_text())["slots"]["rule"] == "leftmost"

    asyncio.run(with_control(tmp_path, owner, local=True))

    async def visitor(app: Application, protocol: Any, patch: Patch) -> None:
        refused = await patch.ask(osc("/posenet/slots/rule", "closest"))
        assert refused.address == "/posenet/error" and "token" in " ".join(map(str, refused.params))
        assert (await patch.ask(osc("/posenet/slots/rule", "closest", "owner-token-0123"))).params == ["closest"]
        assert app.config.slots.rule == "closest"  # type: ignore[attr-defined]

    asyncio.run(with_control(tmp_path / "v", visitor, token="owner-token-0123"))
