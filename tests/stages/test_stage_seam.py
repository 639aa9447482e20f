"""A stage with its own settings and messages is one declaration (``appliance.stages.StageKind``):
registered here, a tiny "crowd" stage gets its configuration section (API, page schema, control port,
OSCQuery), runs on the "send" thread with its settings swapped live, and its message reaches the
targets that ask for it (``bundle`` by default, never the imitation formats), within
``osc.max_datagram``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import Field, ValidationError

from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore
from appliance.control.messages import matching
from appliance.core.app import Application, target_specs
from appliance.core.factory import Folders
from appliance.output.osc import FORMATS
from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.extras import encode_extras
from appliance.output.osc.wire import message, parse_message, split_packet
from appliance.pose.scenes import Walker, scene
from appliance.schema import StrictModel
from appliance.stages import STAGES, StageKind, register, unregister
from appliance.transport.targets import TargetSet
from appliance.types import Poses
from appliance.web.oscquery.namespace import FrameValues, build
from appliance.web.server import create_app
from tests.support.controlport import Patch, osc, with_control


# -- the stage: one module's worth ------------------------------------------------------------------
class CrowdSettings(StrictModel):
    """The crowd stage (a test)."""

    weight: int = Field(1, ge=0, le=10, description="What each person counts for.")
    per_person: bool = Field(False, description="Also one /posenet/crowd/person message per person.")


class Crowd:
    """Counts people, times ``weight``: ``Poses.extras["crowd"]``."""

    name = "crowd"

    def __init__(self, config: CrowdSettings) -> None:
        self.config = config

    def __call__(self, poses: Poses) -> Poses:
        return dataclasses.replace(poses, extras={**poses.extras, "crowd": len(poses) * self.config.weight})

    def reset(self) -> None:
        """Nothing kept between frames."""


def _encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    count = poses.extras.get("crowd")
    if count is None:
        return []
    out = [message("/posenet/crowd", "i", [count])]
    if _per_person[0]:
        out += [message("/posenet/crowd/person", "ii", [i, int(pid)]) for i, pid in enumerate(poses.ids.tolist())]
    return out


_per_person = [False]
CROWD = StageKind(
    "crowd",
    "Crowd: people counted (a test stage).",
    CrowdSettings,
    Crowd,
    OscExtra("crowd", _encode, (OscAddress("/posenet/crowd", ("count",), "people x weight"),)),
)


@pytest.fixture
def crowd() -> Iterator[StageKind]:
    register(CROWD)
    try:
        yield CROWD
    finally:
        unregister("crowd")
        _per_person[0] = False


def _poses(people: int = 3) -> Poses:
    walkers = [Walker(i + 1, (100.0 + 120 * i, 300.0), (1.0, 0.0)) for i in range(people)]
    poses = scene(walkers, 1)[0][0]
    return dataclasses.replace(poses, ids=poses.ids + 7, extras={"crowd": people})


def _addresses(datagram: bytes) -> list[str]:
    return [parse_message(m)[0] for m in split_packet(datagram)]


# -- configuration -----------------------------------------------------------------------------------
@pytest.mark.usefixtures("crowd")
def test_the_stage_settings_are_a_configuration_section() -> None:
    assert AppConfig().model_dump()["crowd"] == {"weight": 1, "per_person": False}
    assert AppConfig.model_validate({"crowd": {"weight": 3}}).crowd.weight == 3  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        AppConfig.model_validate({"crowd": {"weight": 11}})
    with pytest.raises(ValidationError, match="not a stage with messages"):
        AppConfig.model_validate({"targets": [{"format": "bundle", "extras": ["nope"]}]})
    assert "crowd" in AppConfig.model_json_schema()["properties"]


def test_without_the_stage_there_is_no_section() -> None:
    assert "crowd" not in STAGES and "crowd" not in AppConfig.model_fields
    with pytest.raises(ValidationError, match="Extra inputs"):
        AppConfig.model_validate({"crowd": {"weight": 3}})


def test_a_section_name_already_taken_is_refused() -> None:
    with pytest.raises(ValueError, match="section of that name"):
        register(dataclasses.replace(CROWD, name="tracking"))
    assert "tracking" not in STAGES and AppConfig().tracking.confirm_frames == 2  # the real section stays


# -- messages ----------------------------------------------------------------------------------------
@pytest.mark.usefixtures("crowd")
def test_bundle_targets_get_the_stage_message_and_imitation_formats_do_not() -> None:
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    for s in sinks:
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
    ports = [s.getsockname()[1] for s in sinks]
    config = AppConfig.model_validate(
        {
            "targets": [
                {"port": ports[0], "format": "bundle"},
                {"port": ports[1], "format": "individual"},
                {"port": ports[2], "format": "bundle", "extras": []},
                {"port": ports[3], "format": "arr", "extras": ["crowd"]},
            ]
        }
    )
    poses = _poses()
    try:
        with TargetSet(target_specs(config)) as targets:
            targets.send(poses)
            got = [[] for _ in sinks]
            for i, s in enumerate(sinks):
                s.settimeout(0.5)
                try:
                    while True:
                        got[i].append(s.recv(65536))
                except TimeoutError:
                    pass
    finally:
        for s in sinks:
            s.close()
    options = [t.options for t in target_specs(config)]
    assert got[1] == FORMATS["individual"](poses, options[1])  # the golden bytes, nothing more
    assert got[2] == FORMATS["bundle"](poses, options[2])
    assert got[0][:-1] == FORMATS["bundle"](poses, options[0])
    assert _addresses(got[0][-1]) == ["/posenet/frame", "/posenet/crowd"]
    assert parse_message(split_packet(got[0][-1])[1])[1] == [3]
    assert got[3][:-1] == FORMATS["arr"](poses, options[3]) and "/posenet/crowd" in _addresses(got[3][-1])


@pytest.mark.usefixtures("crowd")
def test_stage_messages_never_exceed_the_datagram_limit() -> None:
    _per_person[0] = True
    config = AppConfig.model_validate({"osc": {"max_datagram": 512}, "targets": [{"format": "bundle"}]})
    spec = target_specs(config)[0]
    poses = _poses(people=40)
    datagrams = encode_extras(poses, spec.options, spec.extras)
    assert len(datagrams) > 2 and max(len(d) for d in datagrams) <= 512
    messages = [a for d in datagrams for a in _addresses(d)]
    assert messages.count("/posenet/crowd/person") == 40 and messages.count("/posenet/frame") == len(datagrams)


# -- control port, OSCQuery --------------------------------------------------------------------------
@pytest.mark.usefixtures("crowd")
def test_the_control_port_and_oscquery_publish_the_stage() -> None:
    (method,) = matching("/posenet/crowd/weight")
    assert (method.key, method.typetags, method.range) == ("crowd.weight", "i", [{"MIN": 0, "MAX": 10}])
    assert [m.address for m in matching("/posenet/crowd/*")] == ["/posenet/crowd/weight", "/posenet/crowd/per_person"]
    config = AppConfig.model_validate({"crowd": {"weight": 2}})
    tree = build(config, (), (640, 480))
    assert tree.methods["/posenet/crowd/weight"]["ACCESS"] == 3 and tree.methods["/posenet/crowd/weight"]["VALUE"] == [
        2
    ]
    node = tree.methods["/posenet/crowd"]
    assert node["ACCESS"] == 1 and node["TYPE"] == "i" and "crowd stage" in node["DESCRIPTION"]
    assert FrameValues(tree, _poses()).node("/posenet/crowd")["VALUE"] == [3]


@pytest.mark.usefixtures("crowd")
def test_the_box_itself_changes_the_stage_settings_over_the_control_port(tmp_path: Path) -> None:
    """``/posenet/crowd/weight 4`` from the box itself is saved like any setting; out of range is refused."""

    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        assert (await patch.ask(osc("/posenet/crowd/weight", 4))).params == [4]
        assert (await patch.ask(osc("/posenet/crowd/per_person", 1))).params == [1]
        refused = await patch.ask(osc("/posenet/crowd/weight", 11))
        assert refused.address == "/posenet/error" and "crowd" in " ".join(map(str, refused.params))
        config = app.config.crowd  # type: ignore[attr-defined]
        assert (config.weight, config.per_person) == (4, True)
        assert json.loads((tmp_path / "config.json").read_text())["crowd"] == {"weight": 4, "per_person": True}

    asyncio.run(with_control(tmp_path, body, local=True))


def test_without_the_stage_the_control_port_has_no_such_setting() -> None:
    assert matching("/posenet/crowd/weight") == ()


# -- the application: settings live, through the HTTP API --------------------------------------------
def test_the_running_stage_follows_its_settings_from_the_api(crowd: StageKind, tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path / "state")
    store.load()
    store.config = AppConfig.model_validate({"source": "scene:2@50", "network": {"discovery": False}})
    app = Application(store, Folders(tmp_path / "models", tmp_path / "media"))
    app.start()
    try:
        deadline = time.monotonic() + 10
        while app.latest().extras.get("crowd") != 2:
            assert time.monotonic() < deadline, app.status().to_json()
            time.sleep(0.05)
        with TestClient(create_app(app), base_url="http://127.0.0.1:8080", client=("127.0.0.1", 50000)) as c:
            assert "crowd" in c.get("/api/config/schema").json()["properties"]
            r = c.patch("/api/config", json={"crowd": {"weight": 5}})
            assert r.status_code == 200, r.text
            assert r.json()["crowd"] == {"weight": 5, "per_person": False}
            bad = c.patch("/api/config", json={"crowd": {"weight": 50}})
            assert bad.status_code == 422 and app.config.crowd.weight == 5  # type: ignore[attr-defined]
        while app.latest().extras.get("crowd") != 10:
            assert time.monotonic() < deadline + 5
            time.sleep(0.05)
        saved: Any = json.loads((tmp_path / "state" / "config.json").read_text())
        assert saved["crowd"] == {"weight": 5, "per_person": False}
    finally:
        app.stop()
