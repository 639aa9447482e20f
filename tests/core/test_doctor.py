"""The doctor: each check against a fake sysfs (the hardware these machines do not have), and the
real command here, where it must run and say plainly what is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.config.models import AppConfig
from appliance.core.doctor import Facts, run_checks
from appliance.core.status import Check

CPU_MODEL = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def checks(root: Path, models: Path, config: AppConfig | None = None, **facts: object) -> dict[str, Check]:
    f = Facts(root=root, throttled=lambda: 0, clock=lambda: True, package=lambda name: None, cameras=lambda: ["imx708"])
    f.chrony = lambda: None
    for k, v in facts.items():
        setattr(f, k, v)
    got = run_checks(config or AppConfig(), models, root / "state", facts=f)
    return {c.name: c for c in got}


def test_every_check_runs_and_a_healthy_pi_is_ok(tmp_path: Path, models_dir: Path) -> None:
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "48312\n")
    write(tmp_path, "sys/bus/usb/devices/2-1/idVendor", "18d1\n")
    write(tmp_path, "sys/bus/usb/devices/2-1/idProduct", "9302\n")
    write(tmp_path, "sys/bus/usb/devices/2-1/speed", "5000\n")
    claimed = AppConfig.model_validate({"http": {"token": "a-long-enough-token"}})
    got = checks(tmp_path, models_dir, claimed, package=lambda name: "16.0" if name == "libedgetpu1-std" else None)
    names = ["camera", "edgetpu", "runtime", "models", "temperature", "power", "clock", "network", "access", "disk"]
    assert list(got) == names
    assert {n: c.status for n, c in got.items() if n != "network"} == dict.fromkeys(
        [n for n in names if n != "network"], "ok"
    )
    assert "Coral USB Accelerator (18d1:9302) at 5000 Mbit/s; runtime libedgetpu1-std 16.0" in got["edgetpu"].detail
    assert got["temperature"].detail == "SoC 48.3 °C" and got["camera"].detail == "libcamera: imx708"
    assert all(c.fix == "" for c in got.values() if c.status == "ok")


def test_the_coral_questions(tmp_path: Path, models_dir: Path) -> None:
    write(tmp_path, "sys/bus/usb/devices/1-1.2/idVendor", "1a6e\n")
    write(tmp_path, "sys/bus/usb/devices/1-1.2/idProduct", "089a\n")
    write(tmp_path, "sys/bus/usb/devices/1-1.2/speed", "480\n")
    no_lib = checks(tmp_path, models_dir)["edgetpu"]  # plugged in, runtime missing
    assert no_lib.status == "fail" and "apt install libedgetpu1-std" in no_lib.fix
    usb2 = checks(tmp_path, models_dir, package=lambda n: "16.0" if n == "libedgetpu1-std" else None)["edgetpu"]
    assert usb2.status == "warn" and "USB 2 port (480 Mbit/s)" in usb2.detail and "USB 3" in usb2.fix
    failed = checks(
        tmp_path,
        models_dir,
        package=lambda n: "16.0" if n == "libedgetpu1-std" else None,
        probe=lambda: (False, "Edge TPU on usb crashed (SIGSEGV)", "crash"),
    )["edgetpu"]
    assert failed.status == "fail" and "probe failed at crash" in failed.detail
    empty = tmp_path / "empty"
    empty.mkdir()
    absent = checks(empty, models_dir)["edgetpu"]
    assert absent.status == "warn" and "no Coral found" in absent.detail
    cpu = AppConfig.model_validate({"inference": {"model": CPU_MODEL}})
    assert checks(empty, models_dir, cpu)["edgetpu"].status == "ok"  # a CPU model, by choice


@pytest.mark.parametrize(
    ("value", "status", "words"),
    [
        (0x50005, "fail", "under-voltage now"),
        (0x50000, "warn", "under-voltage, throttling happened since boot"),
        (0x0, "ok", "no under-voltage"),
        (None, "warn", "vcgencmd not found"),
    ],
)
def test_power(tmp_path: Path, models_dir: Path, value: int | None, status: str, words: str) -> None:
    power = checks(tmp_path, models_dir, throttled=lambda: value)["power"]
    assert power.status == status and words in power.detail


def test_temperature_clock_and_disk(tmp_path: Path, models_dir: Path) -> None:
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "83100\n")
    hot = checks(tmp_path, models_dir, clock=lambda: False)
    assert hot["temperature"].status == "fail" and "83.1" in hot["temperature"].detail
    assert hot["clock"].status == "warn" and "not synchronised" in hot["clock"].detail
    assert checks(tmp_path / "nothing", models_dir)["temperature"].status == "warn"  # no sensor: said plainly


def test_camera_per_source(tmp_path: Path, models_dir: Path) -> None:
    usb = AppConfig.model_validate({"source": "v4l2:/dev/video0"})
    assert checks(tmp_path, models_dir, usb)["camera"].status == "fail"
    write(tmp_path, "dev/video0", "")
    write(tmp_path, "sys/class/video4linux/video0/name", "HD Webcam C615\n")
    camera = checks(tmp_path, models_dir, usb)["camera"]
    assert camera.status == "ok" and "HD Webcam C615" in camera.detail
    assert checks(tmp_path, models_dir, cameras=lambda: [])["camera"].status == "fail"
    assert "python3-picamera2" in checks(tmp_path, models_dir, cameras=lambda: None)["camera"].fix
    images = AppConfig.model_validate({"source": "synthetic"})
    assert checks(tmp_path, models_dir, images, cameras=lambda: None)["camera"].status == "ok"


def test_models_with_a_wrong_checksum_or_missing(tmp_path: Path, models_dir: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(models_dir / CPU_MODEL, models / CPU_MODEL)
    cpu = AppConfig.model_validate({"inference": {"model": CPU_MODEL}})
    assert checks(tmp_path, models, cpu)["models"].status == "ok"
    with (models / CPU_MODEL).open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01")
    bad = checks(tmp_path, models, cpu)["models"]
    assert bad.status == "fail" and "wrong checksum" in bad.detail and "models fetch" in bad.fix
    (models / CPU_MODEL).unlink()
    assert "is missing" in checks(tmp_path, models, cpu)["models"].detail


def test_the_command_runs_here_and_says_what_is_absent(tmp_path: Path, models_dir: Path) -> None:
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir)}
    argv = [sys.executable, "-m", "appliance", "doctor", "--json", "--state-dir", str(tmp_path), "--no-probe"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    doc = json.loads(proc.stdout)
    got = {c["name"]: c for c in doc["checks"]}
    assert set(got) >= {"camera", "edgetpu", "runtime", "models", "temperature", "power", "clock", "network", "disk"}
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in doc["checks"])
    # The default source is the Pi camera, which cannot be here: a failure, exit status 1.
    assert got["camera"]["status"] == "fail" and proc.returncode == 1
    # A box set up with a file source and a CPU model has nothing failing here: exit 0.
    (tmp_path / "config.json").write_text(json.dumps({"source": "synthetic", "inference": {"model": CPU_MODEL}}))
    ok = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert ok.returncode == 0, ok.stdout
    human = subprocess.run(argv[:4] + argv[5:], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert "OK    runtime" in human.stdout and "fix:" in human.stdout
    # A broken configuration is a failed check, not a crash.
    (tmp_path / "config.json").write_text("{not json")
    broken = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert broken.returncode == 1 and json.loads(broken.stdout)["checks"][0]["name"] == "config"


def test_access_says_whether_the_box_is_claimed(tmp_path: Path, models_dir: Path) -> None:
    open_box = checks(tmp_path, models_dir)["access"]
    assert open_box.status == "warn" and "only from itself" in open_box.detail and "claim" in open_box.fix
    short = checks(tmp_path, models_dir, AppConfig.model_validate({"http": {"token": "old-short"}}))["access"]
    assert short.status == "warn" and "shorter than 12" in short.detail


def test_a_source_of_poses_needs_no_camera_and_no_model(tmp_path: Path) -> None:
    """``scene:`` gives poses: the camera check says no camera is needed, and a missing model is not
    a failure (the application loads none); with a camera source it is."""
    empty = tmp_path / "models"
    empty.mkdir()
    got = checks(tmp_path, empty, AppConfig.model_validate({"source": "scene:2"}), cameras=lambda: None)
    assert got["camera"].status == "ok" and "no camera needed" in got["camera"].detail
    assert got["models"].status == "ok" and "no model needed" in got["models"].detail
    assert checks(tmp_path, empty, AppConfig.model_validate({"source": "synthetic"}))["models"].status == "fail"
