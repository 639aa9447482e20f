"""``GET /metrics`` (issue 24, item 1) in process against a running Application (CPU PoseNet on
face.jpg: 4 people): the names, their values, the token setting, no address as a label, the flood
bound, and the machine's facts from a fake sysfs."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from appliance.core.app import Application
from appliance.sysinfo import MachineFacts
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec
from appliance.web.metrics import MIN_INTERVAL, Metrics
from appliance.web.server import create_app
from tests.support.owner import OWNER, TOKEN, VISITOR, change


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels), parsed by the official client's parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_a_visitor_scrapes_the_box_health_with_one_prefix_and_base_units(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    running.update(lambda c: {**c, "targets": [{"host": "127.0.0.1", "port": 9, "format": "bundle"}]})
    time.sleep(1.0)  # a few frames sent to the target
    r = client_for(create_app(running), VISITOR).get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = samples(r.text)
    names = {name for name, _ in values}
    assert all(name.startswith("posenet_") for name in names), sorted(n for n in names if not n.startswith("posenet_"))
    assert values[("posenet_people", ())] == 4
    assert values[("posenet_fps", ())] > 3  # the source runs at 10 fps
    assert values[("posenet_frames_out_total", ())] >= values[("posenet_frames_dropped_total", ())] >= 0
    assert values[("posenet_inference_seconds_count", ())] > 0
    assert (
        values[("posenet_frame_age_seconds_bucket", (("le", "+Inf"),))]
        == values[("posenet_frame_age_seconds_count", ())]
    )
    assert values[("posenet_osc_datagrams_total", (("format", "bundle"),))] > 0
    assert values[("posenet_config_changes_total", ())] >= 1
    assert values[("posenet_process_resident_memory_bytes", ())] > 10e6
    assert ("posenet_clock_synchronised", ()) in values
    assert "127.0.0.1" not in r.text and "face.jpg" not in r.text  # no addresses, no source names
    if shutil.which("promtool"):  # Prometheus' own linter (names, units, _total, help)
        lint = subprocess.run(["promtool", "check", "metrics"], input=r.text, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_with_metrics_need_token_only_the_owner_scrapes(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    change(running, http={"metrics_need_token": True, "token": TOKEN})
    api = create_app(running)
    visitor, owner = client_for(api, VISITOR), client_for(api, OWNER)
    refused = visitor.get("/metrics")
    assert refused.status_code == 401 and refused.json()["detail"][0]["loc"] == ["header", "authorization"]
    assert "posenet_" not in refused.text
    assert visitor.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert owner.get("/metrics").status_code == 200


def test_a_flood_of_scrapes_renders_at_most_once_per_interval(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    api = create_app(running)
    clients = [client_for(api, (f"10.1.2.{i}", 40000)) for i in range(1, 9)]
    metrics: Metrics = api.app.state.web.metrics
    start = time.monotonic()
    for n in range(200):
        assert clients[n % len(clients)].get("/metrics").status_code == 200
    elapsed = time.monotonic() - start
    assert metrics.renders <= elapsed / MIN_INTERVAL + 1, (metrics.renders, elapsed)


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_machine_facts_from_a_fake_sysfs(running: Application, tmp_path: Path) -> None:
    _write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "71234\n")
    _write(tmp_path, "sys/bus/usb/devices/1-1.2/idVendor", "18d1\n")
    _write(tmp_path, "sys/bus/usb/devices/1-1.2/idProduct", "9302\n")
    _write(tmp_path, "sys/bus/usb/devices/1-1.2/speed", "480\n")
    calls = []

    def throttled() -> int:
        calls.append(1)
        return 0x50005  # under-voltage and throttled now; the same since boot

    real = running.machine
    running.machine = MachineFacts(root=tmp_path, throttled=throttled, clock=lambda: (True, 0.0025, 0.1))
    try:
        metrics = Metrics(running, tmp_path)
        values = samples(metrics.render().decode())
        time.sleep(MIN_INTERVAL)
        metrics.render()
        assert len(calls) == 1  # vcgencmd is a child process: asked at most every THROTTLE_SECONDS
        running.machine = MachineFacts(root=tmp_path / "none", throttled=lambda: None, clock=lambda: None)
        bare = samples(Metrics(running, tmp_path / "none").render().decode())
    finally:
        running.machine = real
    assert values[("posenet_edgetpu_present", ())] == 1
    assert values[("posenet_edgetpu_usb_speed_bits_per_second", ())] == 480e6
    now = {c: values[("posenet_throttling_now", (("condition", c),))] for c in ("under_voltage", "throttled")}
    assert now == {"under_voltage": 1, "throttled": 1}
    assert values[("posenet_throttling_now", (("condition", "frequency_capped"),))] == 0
    assert values[("posenet_throttling_since_boot", (("condition", "under_voltage"),))] == 1
    assert values[("posenet_throttling_since_boot", (("condition", "soft_temperature_limit"),))] == 0
    assert values[("posenet_clock_synchronised", ())] == 1
    assert values[("posenet_clock_offset_seconds", ())] == 0.0025
    assert values[("posenet_soc_temperature_celsius", ())] == 71.234
    assert not any(name.startswith("posenet_throttling") for name, _ in bare)  # no vcgencmd: no series
    assert bare[("posenet_edgetpu_present", ())] == 0 and ("posenet_edgetpu_usb_speed_bits_per_second", ()) not in bare
    assert ("posenet_soc_temperature_celsius", ()) not in bare and ("posenet_clock_synchronised", ()) not in bare


def test_per_format_counts_never_go_down_when_targets_go() -> None:
    targets = TargetSet([TargetSpec("127.0.0.1", 9, "bundle"), TargetSpec("127.0.0.1", 10, "bundle")])
    try:
        for t in targets._targets:
            t.counters.datagrams += 5
        assert targets.by_format()["bundle"].datagrams == 10
        targets.set_targets([TargetSpec("127.0.0.1", 9, "bundle")])
        assert targets.by_format()["bundle"].datagrams == 10
    finally:
        targets.close()
