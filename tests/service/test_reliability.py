"""Unattended for weeks: faults injected by name (failpoints) in every thread are survived, a hung
inference stops the watchdog, concurrent changes are never lost, a change that kills the box is
undone at the next start, and boundaries catch and log once."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from appliance import failpoints
from appliance.config.store import ConfigStore
from appliance.core import app as app_mod
from appliance.core.app import Application
from appliance.core.factory import Folders
from appliance.errors import ConfigError
from appliance.service import heal, lastgood
from appliance.service.watchdog import making_progress
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec
from appliance.types import Frame
from tests.support.net import free_tcp_port, free_udp_port, wait_http
from tests.support.poses import sample_poses
from tests.support.service import appliance_run_args

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"


# -- failpoints ---------------------------------------------------------------------------------------
def test_failpoints_parse_and_fire_once() -> None:
    try:
        failpoints.configure("infer=raise@3, decode=raise")
        assert failpoints.ACTIVE
        failpoints.hit("infer")
        failpoints.hit("infer")
        with pytest.raises(RuntimeError, match="failpoint infer fired"):
            failpoints.hit("infer")
        failpoints.hit("infer")  # once only
        with pytest.raises(RuntimeError):
            failpoints.hit("decode")
        failpoints.hit("prepare")  # not armed
        failpoints.configure("send=raise@2%3, send=raise@4")
        fired = []
        for call in range(1, 12):
            try:
                failpoints.hit("send")
            except RuntimeError:
                fired.append(call)
        assert fired == [2, 4, 5, 8, 11]  # @2 then every 3 (2, 5, 8, 11), and @4 once
        for bad, message in (("infer=explode", "action"), ("nowhere=raise", "point"), ("infer=raise@0", "at least")):
            with pytest.raises(ConfigError, match=message):
                failpoints.configure(bad)
    finally:
        failpoints.configure("")
    assert not failpoints.ACTIVE


def test_a_bad_failpoint_spec_is_one_line_and_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "validate-config", "x.json"],
        env={**os.environ, "POSENET_FAILPOINTS": "infer=melt"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: POSENET_FAILPOINTS: failpoint 'infer=melt'")


def test_crash_and_hang_are_real(tmp_path: Path) -> None:
    code = "from appliance import failpoints; failpoints.hit('send'); print('survived')"
    crash = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "POSENET_FAILPOINTS": "send=crash"}, capture_output=True
    )
    assert crash.returncode == -signal.SIGABRT and b"survived" not in crash.stdout
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "POSENET_FAILPOINTS": "send=hang"}, timeout=3, check=False
        )


# -- the real service under failpoints -------------------------------------------------------------------
def _status(port: int) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
        return json.load(r)  # type: ignore[no-any-return]


def test_a_fault_in_every_thread_is_survived(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    """raise in each of the four threads (and the dead ones are rebuilt): poses keep arriving."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    http = free_tcp_port()
    spec = "capture.read=raise@30,prepare=raise@50,infer=raise@70,decode=raise@90,send=raise@110"
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "POSENET_FAILPOINTS": spec}
    proc = subprocess.Popen(
        appliance_run_args(
            f"images:{images_dir}/face.jpg@20",
            MODEL,
            tmp_path,
            http_port=http,
            target=f"127.0.0.1:{rx.getsockname()[1]}/bundle",
        ),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    frames: list[tuple[float, int]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                data = rx.recv(65536)
            except TimeoutError:
                continue
            header = OscMessage(OscBundle(data).content(0).dgram)
            frames.append((time.monotonic(), header.params[0]))
            if header.params[0] > 200 and len(frames) > 100:
                break
        status = _status(http)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        rx.close()
    assert frames and frames[-1][1] > 200, (frames[-3:], err[-2000:])
    # capture.read and send killed their threads: two rebuilds; the others cost one frame each.
    assert status["pipeline_restarts"] == 2, status
    assert "send" in status["last_fault"] and status["state"] == "running", status
    assert status["pipeline"]["errors"] >= 5
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(frames)]
    assert max(gaps) < 5.0  # recovered within seconds of each fault
    for point in ("capture.read", "prepare", "infer", "decode", "send"):
        assert err.count(f"failpoint {point}: raise") == 1, err[-3000:]
    assert proc.returncode == 0


def test_a_hung_inference_stops_the_watchdog(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    notify = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    env = {
        **os.environ,
        "POSENET_MODELS_DIR": str(models_dir),
        "NOTIFY_SOCKET": str(notify),
        "WATCHDOG_USEC": "2000000",
        "POSENET_FAILPOINTS": "infer=hang@20",
    }
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        appliance_run_args(f"images:{images_dir}/face.jpg@10", MODEL, tmp_path),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    pets: list[float] = []
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            sock.settimeout(0.5)
            try:
                if sock.recv(4096) == b"WATCHDOG=1":
                    pets.append(time.monotonic())
            except TimeoutError:
                pass
            if len(pets) >= 2 and time.monotonic() - pets[-1] > 3.0:
                break
        silent = time.monotonic() - pets[-1]
    finally:
        proc.kill()  # a hung native call: systemd would SIGABRT it; the test just ends it
        _, err = proc.communicate(timeout=15)
        sock.close()
    assert len(pets) >= 2 and silent > 3.0, err[-2000:]  # WatchdogSec=2: systemd restarts the process
    assert "failpoint infer: hang" in err


class _Exploding:
    """A source whose library raises what nobody expects, every time."""

    name = "exploding"

    def open(self) -> None:
        pass

    def read(self, timeout: float) -> Frame | None:
        time.sleep(0.01)
        raise KeyError("a camera library bug")

    def close(self) -> None:
        pass


def test_a_pipeline_that_keeps_dying_is_rebuilt_then_given_up(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heal, "HEAL_BACKOFF", (0.05, 0.1))
    monkeypatch.setattr(heal, "HEAL_LIMIT", 3)
    monkeypatch.setattr(app_mod, "build_source", lambda *a, **k: _Exploding())
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    store.config = store.config.model_copy(
        update={"inference": store.config.inference.model_copy(update={"model": MODEL})}
    )
    app = Application(store, Folders(models_dir, tmp_path))
    policy = heal.HealPolicy(app)
    try:
        app.start()
        states = []
        deadline = time.monotonic() + 20
        while not policy.gave_up and time.monotonic() < deadline:
            policy.tick()
            states.append(app.status().to_json()["state"])
            assert making_progress(app, time.monotonic(), 15.0, policy.gave_up) is not policy.gave_up
            time.sleep(0.02)
        assert policy.gave_up and app.restarts == 3  # three rebuilt pipelines died at once: a crash loop
        assert "degraded" in states and "KeyError" in app.fault and "gave up" in app.degraded
        assert not making_progress(app, time.monotonic(), 15.0, policy.gave_up)  # systemd restarts the process
    finally:
        app.stop()


# -- changes are never lost ---------------------------------------------------------------------------------
def test_concurrent_changes_all_stick(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    http = free_tcp_port()
    proc = subprocess.Popen(
        appliance_run_args(f"images:{images_dir}/face.jpg@5", MODEL, tmp_path, http_port=http),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POSENET_MODELS_DIR": str(models_dir)},
    )
    base = f"http://127.0.0.1:{http}"
    try:
        wait_http(http)
        codes: list[int] = []

        def post(i: int) -> None:
            body = json.dumps({"host": "127.0.0.1", "port": 20000 + i, "format": "bundle"}).encode()
            req = urllib.request.Request(
                base + "/api/targets", data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=20) as r:
                codes.append(r.status)

        def rename(i: int) -> None:
            body = json.dumps({"device_name": f"box-{i}"}).encode()
            req = urllib.request.Request(
                base + "/api/config", data=body, method="PATCH", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=20) as r:
                codes.append(r.status)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(12)]
        threads += [threading.Thread(target=rename, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        with urllib.request.urlopen(base + "/api/config", timeout=5) as r:
            shown = json.load(r)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert codes.count(201) == 12 and codes.count(200) == 8
    ports = sorted(t["port"] for t in saved["targets"])
    assert ports[-12:] == list(range(20000, 20012))  # all twelve, none lost
    assert shown["targets"] == saved["targets"] and shown["device_name"] == saved["device_name"]  # newest in force


# -- last known good ---------------------------------------------------------------------------------------
def test_a_change_that_never_ran_healthy_is_undone_after_a_crash(tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    store.save({"device_name": "good"})
    record = lastgood.RunRecord(store)
    record.begin()
    lastgood_healthy = lastgood.HEALTHY_SECONDS
    try:
        lastgood.HEALTHY_SECONDS = 0.0
        record.tick(True)
    finally:
        lastgood.HEALTHY_SECONDS = lastgood_healthy
    assert json.loads((tmp_path / "config.good.json").read_text())["device_name"] == "good"
    store.save({"device_name": "deadly"})
    record.begin()  # the new settings' trial: the process then dies (no end())
    fresh = ConfigStore.in_dir(tmp_path)
    fresh.load()
    assert "never ran healthy" in lastgood.recover(fresh)
    assert fresh.config.device_name == "good" and "safe mode" not in fresh.safe_mode
    assert "never ran healthy" in fresh.safe_mode and "last settings that ran healthy" in fresh.safe_mode
    assert any(p.name.startswith("config.json.unhealthy-") for p in tmp_path.iterdir())
    assert json.loads((tmp_path / "config.json").read_text())["device_name"] == "good"


def test_a_power_cut_or_a_clean_stop_undoes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    store.save({"device_name": "fresh-change"})
    record = lastgood.RunRecord(store)
    record.begin()
    monkeypatch.setattr(lastgood, "boot_id", lambda: "another-boot")  # the power went: a new boot
    assert lastgood.recover(store) == ""
    monkeypatch.undo()
    record.begin()
    record.end()  # a clean stop
    assert lastgood.recover(store) == "" and store.config.device_name == "fresh-change"


def test_the_service_comes_back_on_the_last_good_settings(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    """The real thing: a change, then the process dies at once (SIGKILL); the next start undoes it."""
    http = free_tcp_port()
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir)}
    args = appliance_run_args(f"images:{images_dir}/face.jpg@5", MODEL, tmp_path, http_port=http)
    (tmp_path / "config.json").write_text(json.dumps({"device_name": "before"}))
    (tmp_path / "config.good.json").write_text(json.dumps({"device_name": "before"}))
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_http(http)
        req = urllib.request.Request(
            f"http://127.0.0.1:{http}/api/config",
            data=b'{"device_name": "after"}',
            method="PATCH",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=5).read()
    finally:
        proc.kill()
        proc.wait(timeout=15)
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                status = _status(http)
            except OSError:
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    assert status is not None and status["device_name"] == "before"
    assert status["state"] == "safe mode" and "never ran healthy" in status["safe_mode"]


# -- boundaries ------------------------------------------------------------------------------------------
def test_a_64_character_label_does_not_stop_other_names_resolving(caplog: pytest.LogCaptureFixture) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", free_udp_port()))
    rx.settimeout(5)
    bad = TargetSpec("a" * 64 + ".example", 9000)
    good = TargetSpec("localhost", rx.getsockname()[1], "arr")
    with TargetSet([bad, good]) as targets:
        deadline = time.monotonic() + 5
        while targets.counters()[good.label].state != "ok" and time.monotonic() < deadline:
            time.sleep(0.05)
        targets.send(sample_poses())
        assert OscMessage(rx.recv(65536)).address == "/poses/arr"
        assert targets.counters()[bad.label].state == "unresolved"
        assert targets._thread is not None and targets._thread.is_alive()
    rx.close()


def test_stage_faults_are_logged_once_and_again_after_recovery(caplog: pytest.LogCaptureFixture) -> None:
    from appliance.pipeline.runner import _Counters

    caplog.set_level(logging.WARNING)
    counters = _Counters()
    for outage in range(2):
        for _ in range(30):
            counters.failed("decode", ValueError(f"bad frame {outage}"), "decoding a frame")
        counters.ok("decode", "decoding")
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("decoding a frame failed" in m for m in warnings) == 2  # one per outage, not 60
    assert warnings.count("decoding works again") == 2 and counters.errors == 60


def test_stale_temporary_files_of_interrupted_saves_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".config.json.tmp-4242").write_bytes(b"{half")
    (tmp_path / ".config.json.bak-tmp-4242").write_bytes(b"{")
    ConfigStore.in_dir(tmp_path).load()
    assert not any(p.name.startswith(".config.json") for p in tmp_path.iterdir())


def test_hostile_host_labels_are_refused_in_the_configuration() -> None:
    from pydantic import ValidationError

    from appliance.config.models import TargetConfig

    with pytest.raises(ValidationError, match="1 to 63"):
        TargetConfig(host="a" * 64 + ".example")
    assert TargetConfig(host="b" * 63 + ".example").host.startswith("b")
    for empty_label in ("a..example", ".example"):
        with pytest.raises(ValidationError, match="1 to 63"):
            TargetConfig(host=empty_label)
    assert TargetConfig(host="box.example.").host == "box.example."  # a fully qualified name's root dot
