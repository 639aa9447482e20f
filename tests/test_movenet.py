"""MoveNet SinglePose as a second model family: recognised, letterboxed, cropped, against Google's
reference, where a person would put the keypoints, and streamed by the real service."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from appliance.capture.images import load_image
from appliance.errors import ModelError
from appliance.models import identify, load_model
from appliance.models.engine import PoseEngine
from appliance.models.movenet import crop_region
from appliance.pose.geometry import InputTransform
from appliance.pose.params import DecoderConfig, MoveNetDecoding
from appliance.pose.preprocess import transform_image
from appliance.pose.scenes import far_away, skeleton
from appliance.types import KEYPOINT_NAMES

LIGHTNING = "movenet_single_pose_lightning_ptq.tflite"


@pytest.fixture(scope="module")
def model(models_dir: Path):  # type: ignore[no-untyped-def]
    m = load_model(models_dir / LIGHTNING, "cpu", threads=1)
    yield m
    m.close()


def test_both_files_are_recognised_as_movenet(models_dir: Path) -> None:
    for name in (LIGHTNING, "movenet_single_pose_lightning_ptq_edgetpu.tflite"):
        assert identify((models_dir / name).read_bytes()).name == "movenet"
    posenet = (models_dir / "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite").read_bytes()
    assert identify(posenet).name == "posenet"
    stub = (models_dir / "posenet_mobilenet_v1_075_353_481_decoder.tflite").read_bytes()  # decoder only
    assert identify(stub).name == "posenet"  # recognised, and refused at load: no image input
    with pytest.raises(ModelError, match="not a pose model"):
        load_model(models_dir / "posenet_mobilenet_v1_075_353_481_decoder.tflite", "cpu")


def test_matches_googles_reference_within_its_tolerance(model, images_dir: Path, models_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """libcoral's movenet_test: squat.bmp resized (bilinear, stretched) to the input; keypoints
    above 0.4 in both within 0.04 (normalised), at least 8 of them."""
    ref_path = models_dir / "reference" / "movenet_single_pose_lightning_ptq_reference.csv"
    with ref_path.open() as f:
        rows = list(csv.DictReader(f))
    ref = np.array([[float(r["keypoint_x"]), float(r["keypoint_y"]), float(r["keypoint_score"])] for r in rows])
    image = load_image(str(images_dir / "squat.bmp"))
    transform = InputTransform.stretch((image.shape[1], image.shape[0]), model.info.input_size)
    raw = model.infer(transform_image(image, transform))
    xy = raw[:, [1, 0]]  # the model's (y, x) -> (x, y), 0..1 of the input
    both = (raw[:, 2] > 0.4) & (ref[:, 2] > 0.4)
    assert both.sum() >= 8
    assert np.abs(xy - ref[:, :2])[both].max() <= 0.04


#: Where a person puts them (source pixels), by looking at the photos; radius in pixels.
ANNOTATED = {
    "grace_hopper.bmp": {"nose": (266, 226, 30), "leftEye": (313, 192, 25), "rightEye": (229, 192, 25)},
    "squat.bmp": {
        "nose": (293, 203, 25),
        "rightShoulder": (206, 240, 35),
        "rightHip": (145, 372, 40),
        "leftKnee": (292, 396, 35),
        "rightKnee": (212, 414, 35),
        "leftAnkle": (258, 510, 40),
        "rightAnkle": (168, 548, 40),
    },
}


@pytest.mark.parametrize("image", sorted(ANNOTATED))
def test_detect_puts_the_keypoints_where_a_person_would(models_dir: Path, images_dir: Path, image: str) -> None:
    argv = [sys.executable, "-m", "appliance", "detect", str(images_dir / image), "--json"]
    proc = subprocess.run(
        [*argv, "--model", str(models_dir / LIGHTNING)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (doc,) = [json.loads(line) for line in proc.stdout.splitlines()]
    (pose,) = doc["poses"]
    got = {k["name"]: k for k in pose["keypoints"]}
    assert [k["name"] for k in pose["keypoints"]] == list(KEYPOINT_NAMES)  # PoseNet's names and order
    for name, (x, y, r) in ANNOTATED[image].items():
        k = got[name]
        assert k["score"] >= 0.25 and np.hypot(k["x"] - x, k["y"] - y) <= r, (name, k)


def test_the_crop_follows_the_person() -> None:
    kp = skeleton(300, 400, height=120)  # hips' midpoint at (300, 400), 120 px tall
    region = crop_region(kp, (1280, 720))
    assert region is not None
    x0, y0, x1, y1 = region
    assert x1 - x0 == pytest.approx(y1 - y0) and ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((300, 400))
    assert x0 <= kp[:, 0].min() and x1 >= kp[:, 0].max() and y0 <= kp[:, 1].min() and y1 >= kp[:, 1].max()
    kp[[5, 6, 11, 12], 2] = 0.0  # no torso: the whole frame
    assert crop_region(kp, (1280, 720)) is None
    assert crop_region(skeleton(200, 300, height=600), (640, 480)) is None  # fills the frame


def test_cropping_gains_accuracy_on_a_distant_performer(model, images_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """The squatter shrunk to a quarter in a 1600x1200 frame: with the crop, the keypoints land closer
    to where the full-size photo puts them."""
    photo = load_image(str(images_dir / "squat.bmp"))
    truth = PoseEngine(model, DecoderConfig(movenet=MoveNetDecoding(crop_to_person=False))).process(photo)
    image = far_away(photo)  # a quarter of the size, top-left at (700, 600)
    expected = truth.keypoints[0, :, :2] / 4 + np.array([700, 600], np.float32)
    confident = truth.keypoints[0, :, 2] >= 0.5

    def error(crop: bool) -> float:
        engine = PoseEngine(model, DecoderConfig(movenet=MoveNetDecoding(crop_to_person=crop)))
        for _ in range(3):  # the crop comes from the previous frame
            poses = engine.process(image)
        assert len(poses) == 1
        return float(np.linalg.norm(poses.keypoints[0, confident, :2] - expected[confident], axis=1).mean())

    whole, cropped = error(False), error(True)
    assert cropped < 0.6 * whole, (cropped, whole)


def test_run_streams_movenet_poses_in_every_format(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    from appliance.output.osc import FORMAT_NAMES
    from tests.support.receivers import run_into_sinks

    run, sinks = run_into_sinks(
        FORMAT_NAMES, models_dir, images_dir, 3.0, tmp_path / "state", image="squat.bmp", model=LIGHTNING
    )
    assert run.returncode == 0, run.stderr

    assert ["/poses/amount", 1] in [[m.address, *m.params] for m in sinks["individual"].messages()]
    assert any(m.address == "/poses/0/leftKnee" and m.params[1] > 100 for m in sinks["individual"].messages())
    assert any(m.address == "/poses/0/nose" for m in sinks["individual-bundle"].messages())
    wek = [m for m in sinks["wekinator"].messages() if any(m.params)]
    assert wek and len(wek[-1].params) == 51
    arr = [m.params for m in sinks["arr"].messages() if m.params[2] == 1]
    assert arr and arr[-1][:2] == [500, 610] and len(arr[-1]) == 3 + 52
    bundle = sinks["bundle"].messages()
    assert [m.params[0] for m in bundle if m.address == "/posenet/person/enter"] == [0]  # once
    assert any(m.address == "/posenet/person/box" for m in bundle)
