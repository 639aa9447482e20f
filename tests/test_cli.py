"""The posenet-appliance command as people and scripts run it: a real subprocess each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.net import free_tcp_port, free_udp_port
from tests.support.service import appliance_run_args

MODEL = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_detect_json_finds_the_people(models_dir: Path, images_dir: Path) -> None:
    images = [str(images_dir / n) for n in ("face.jpg", "test_couple.jpg", "squat.bmp")]
    proc = run("detect", *images, "--model", MODEL, "--json", env={"POSENET_MODELS_DIR": str(models_dir)})
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [len(d["poses"]) for d in docs] == [4, 2, 1]
    face = docs[0]
    assert (face["width"], face["height"], face["model"]) == (512, 355, MODEL)
    assert face["backend"].startswith("cpu")
    names = [kp["name"] for kp in face["poses"][0]["keypoints"]]
    assert names[:3] == ["nose", "leftEye", "rightEye"] and names[-1] == "rightAnkle" and len(names) == 17
    for doc in docs:
        for pose in doc["poses"]:
            for kp in pose["keypoints"]:
                assert 0 <= kp["x"] <= doc["width"] and 0 <= kp["y"] <= doc["height"]
    # The squatter's nose is above his ankles (y grows downwards) in the source image's pixels.
    squat = {kp["name"]: kp for kp in docs[2]["poses"][0]["keypoints"]}
    assert squat["nose"]["y"] < squat["leftKnee"]["y"] < squat["leftAnkle"]["y"]


def _edgetpu_here() -> bool:
    """Whether an Edge TPU works on this machine (the appliance's own probe, as ``detect`` uses it)."""
    from appliance.inference.probe import probe_edgetpu
    from appliance.inference.runtime import load_runtime

    return probe_edgetpu(load_runtime().module, "usb").ok


def test_detect_default_model_runs_where_it_can_and_prints_a_summary(models_dir: Path, images_dir: Path) -> None:
    """The default model is the Edge TPU one: on the Coral where one is plugged in, else its CPU twin."""
    proc = run("detect", str(images_dir / "face.jpg"), env={"POSENET_MODELS_DIR": str(models_dir)})
    assert proc.returncode == 0, proc.stderr
    assert "4 people" in proc.stdout
    if _edgetpu_here():
        assert "edgetpu" in proc.stdout and "falling back" not in proc.stderr
    else:
        assert "cpu fallback" in proc.stdout and "falling back to the CPU model" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "missing.jpg"], "image not found: missing.jpg"),
        (["detect", "pyproject.toml"], "not an image: pyproject.toml"),
        (["detect", "{images}/face.jpg", "--model", "nope.tflite"], "model not found"),
        (
            ["detect", "{images}/face.jpg", "--model", "{models}/posenet_mobilenet_v1_075_353_481_decoder.tflite"],
            "not a pose model: 3 inputs",
        ),
        (["detect", "{images}/face.jpg", "--model", "{images}/face.jpg"], "not a TFLite model"),
        (["detect", "{images}/face.jpg", "--min-pose-score", "3"], "--min-pose-score must be within 0..1"),
        (["detect", "{images}/face.jpg", "--nms-radius", "500"], "--nms-radius must be within 0..100"),
        (["detect", "{images}/face.jpg", "--accelerator", "gpu"], "invalid choice: 'gpu'"),
        (["detect"], "required: IMAGE"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(models_dir: Path, images_dir: Path, args: list[str], message: str) -> None:
    args = [a.format(images=images_dir, models=models_dir) for a in args]
    proc = run(*args, env={"POSENET_MODELS_DIR": str(models_dir)})
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "webcam"], "unknown source type 'webcam'"),
        (["--source", "synthetic", "--target", "localhost"], "is not HOST:PORT"),
        (["--source", "synthetic", "--target", "127.0.0.1:99999"], "out of range 1..65535"),
        (["--source", "synthetic", "--target", "127.0.0.1:9000/json"], "unknown OSC format 'json'"),
        (["--source", "synthetic", "--format", "json"], "invalid choice: 'json'"),
        (["--source", "images:/nonexistent/*.jpg@0"], "out of range"),
    ],
)
def test_run_bad_input_is_one_line_and_exit_2(models_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    proc = run(
        "run",
        "--model",
        MODEL,
        "--no-control",
        "--state-dir",
        str(tmp_path),
        *args,
        env={"POSENET_MODELS_DIR": str(models_dir)},
    )
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_without_a_camera_keeps_running_and_says_so(models_dir: Path, tmp_path: Path) -> None:
    # picamera2 hidden from the child, so this is "no camera" on a Pi with picamera2 installed too.
    hidden = tmp_path / "hide" / "picamera2"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("picamera2 hidden by the test")\n')
    path = os.pathsep.join(filter(None, [str(hidden.parent), os.environ.get("PYTHONPATH", "")]))
    proc = run(
        "run",
        "--source",
        "picamera2",
        "--model",
        MODEL,
        "--target",
        "127.0.0.1:9/arr",
        "--no-control",
        "--state-dir",
        str(tmp_path),
        "--duration",
        "1.5",
        "--quiet",
        env={"POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": path},
    )
    assert proc.returncode == 0, proc.stderr
    assert "picamera2 is not installed" in proc.stderr
    assert "[error: picamera2 is not installed" in proc.stderr  # in the final status line


def test_run_stops_cleanly_on_sigterm_with_the_control_plane_up(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    import signal
    import time
    import urllib.request

    control_port, http_port = free_udp_port(), free_tcp_port()
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir)}
    proc = subprocess.Popen(
        appliance_run_args(
            f"images:{images_dir}/face.jpg@10",
            MODEL,
            tmp_path,
            control_port=control_port,
            http_port=http_port,
            target="127.0.0.1:9/bundle",
        ),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline and status is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/status", timeout=1) as r:
                status = json.load(r)
        except OSError:
            time.sleep(0.2)
    assert status is not None and status["state"] == "running" and status["osc_control_port"] == control_port
    # An open live stream must not hold up the shutdown.
    stream = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/poses/stream", timeout=5)
    assert stream.readline().startswith(b"retry:")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    stream.close()
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 < 4.0
    assert "stopped:" in err and "Traceback" not in err


def test_engine_options_become_settings_one_way_old_names_included(tmp_path: Path) -> None:
    """``run``'s engine options land in the saved settings' sections (a family's own in its part);
    ``--backend`` is still accepted as ``--accelerator``'s old name."""
    from appliance.cli import apply_cli, build_parser, engine_config
    from appliance.config.models import AppConfig
    from appliance.core.factory import Folders

    argv = ["run", "--source", "synthetic", "--backend", "cpu", "--nms-radius", "12", "--max-poses", "3", "--single"]
    args = build_parser().parse_args(argv)
    before = AppConfig()
    config, _ = apply_cli(before, args, False, Folders(tmp_path, tmp_path))
    assert config.inference.accelerator == "cpu" and config.inference.model == before.inference.model
    assert config.decoder.posenet.nms_radius == 12.0 and config.decoder.max_poses == 3
    assert config.decoder.mode == "single" and config.decoder.movenet == before.decoder.movenet
    inference, decoder, folder = engine_config(args)  # detect's way: the same settings
    assert (inference.accelerator, decoder) == (config.inference.accelerator, config.decoder)
    assert folder is None


def test_validate_config_migrates_a_version_1_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli import main

    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema_version": 1, "decoder": {"nms_radius": 12.0}, "inference": {"backend": "cpu"}}))
    assert main(["validate-config", str(old)]) == 0
    assert capsys.readouterr().out.strip() == "valid"
    old.write_text(json.dumps({"schema_version": 1, "decoder": {"nms_radius": 500.0}}))
    assert main(["validate-config", str(old)]) == 1
    assert "decoder.posenet.nms_radius" in capsys.readouterr().err
