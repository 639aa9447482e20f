"""Presets (p5-poses-osc, poseosc, wekinator) chosen at every door: a --target, the config file and
API, "this computer", the control port. What is given explicitly always wins."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from appliance.cli import parse_target
from appliance.config.models import TargetConfig
from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.errors import ConfigError
from appliance.output.osc.presets import PRESETS
from appliance.web.server import create_app
from tests.support.controlport import Patch, osc, with_control


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("10.0.0.5/p5-poses-osc", ("10.0.0.5", 12000, "individual", "pixels")),
        ("10.0.0.5:7000/p5-poses-osc", ("10.0.0.5", 7000, "individual", "pixels")),
        ("[fe80::1]/wekinator", ("fe80::1", 6448, "wekinator", "normalized")),
        ("10.0.0.5:9000/poseosc", ("10.0.0.5", 9000, "arr", "pixels")),
        ("10.0.0.5:9000/arr", ("10.0.0.5", 9000, "arr", "pixels")),  # the format's own default
        ("10.0.0.5:9000/bundle", ("10.0.0.5", 9000, "bundle", "normalized")),
    ],
)
def test_a_target_names_a_preset(text: str, want: tuple[str, int, str, str]) -> None:
    spec = parse_target(text)
    assert (spec.host, spec.port, spec.format, spec.coords) == want


def test_a_preset_without_a_port_needs_one() -> None:
    with pytest.raises(ConfigError, match=r"HOST/PRESET for p5-poses-osc, wekinator"):
        parse_target("10.0.0.5/poseosc")
    assert parse_target("10.0.0.5/p5-poses-osc", coords="normalized").coords == "normalized"  # given wins


def test_config_fills_in_from_the_preset_and_explicit_values_win() -> None:
    t = TargetConfig.model_validate({"host": "10.0.0.5", "preset": "p5-poses-osc"})
    assert (t.port, t.format, t.coords) == (12000, "individual", "pixels")
    assert "preset" not in t.model_dump()  # what it filled in is saved, not the name
    t = TargetConfig.model_validate(
        {"host": "10.0.0.5", "preset": "p5-poses-osc", "port": 9000, "coords": "normalized"}
    )
    assert (t.port, t.coords) == (9000, "normalized")
    with pytest.raises(ValidationError) as bad:
        TargetConfig.model_validate({"host": "10.0.0.5", "port": 9000, "preset": "max"})
    assert bad.value.errors()[0]["loc"] == ("preset",)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    app = Application(store)
    with TestClient(create_app(app), base_url="http://127.0.0.1:8080", client=("127.0.0.1", 50000)) as c:
        yield c
    app.stop()


def test_the_api_lists_and_applies_presets(client: TestClient) -> None:
    listed = client.get("/api/presets").json()
    assert set(listed) == set(PRESETS) and listed["p5-poses-osc"]["port"] == 12000
    r = client.post("/api/targets", json={"host": "10.0.0.5", "preset": "wekinator"})
    assert r.status_code == 201 and r.json()[-1]["port"] == 6448 and r.json()[-1]["format"] == "wekinator"
    r = client.post("/api/targets/this-computer", json={"preset": "p5-poses-osc"})
    assert r.status_code == 201 and r.json()[-1] == {
        "host": "127.0.0.1",
        "port": 12000,
        "format": "individual",
        "coords": "pixels",
        "mirror": False,
        "timetag": "immediate",
    }
    r = client.post("/api/targets/this-computer", json={"preset": "poseosc"})  # no port of its own: 9000
    assert r.status_code == 201 and r.json()[-1]["port"] == 9000 and r.json()[-1]["format"] == "arr"
    r = client.post("/api/targets", json={"host": "10.0.0.5", "port": 9000, "preset": "nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "preset"


def test_the_control_port_takes_a_preset(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        added = await patch.subscribe(patch.port, "poseosc")
        assert added.params == ["127.0.0.1", patch.port, "arr", 60]
        (spec,) = app.subscriptions
        assert (spec.format, spec.coords) == ("arr", "pixels")
        refused = await patch.ask(osc("/posenet/listeners/add", patch.port, "maxmsp"))
        assert refused.address == "/posenet/error" and "maxmsp" in refused.params[-1]

    asyncio.run(with_control(tmp_path, body))
