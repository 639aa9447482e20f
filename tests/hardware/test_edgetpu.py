"""On a Pi with a Coral: the cut _edgetpu models run on the TPU and match Google's _edgetpu CSVs.

Opt-in: ``POSENET_MODELS_DIR=... .venv/bin/python -m pytest -m hardware tests/hardware``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.capture.images import load_image
from appliance.models import load_model as create_backend
from appliance.pose.decode import decode_multi
from appliance.pose.preprocess import to_input_tensor
from tests.support.reference import PX_TOL, SCORE_TOL, reference

pytestmark = pytest.mark.hardware
DEVICE = os.environ.get("POSENET_TPU_DEVICE", "usb")


@pytest.mark.parametrize("size", ["353_481", "481_641", "721_1281"])
@pytest.mark.parametrize("family", ["", "_16"])
def test_edgetpu_model_matches_edgetpureference(models_dir: Path, images_dir: Path, size: str, family: str) -> None:
    name = f"posenet_mobilenet_v1_075_{size}{family}_quant_decoder_edgetpu.tflite"
    backend = create_backend(models_dir / name, "edgetpu", device=DEVICE)
    assert backend.name.startswith("edgetpu"), backend.name
    image = load_image(str(images_dir / ("test_image.bmp" if family else "test_couple.jpg")))
    heads = backend.infer(to_input_tensor(image, backend.info.input_size, "bilinear" if family else "nearest"))
    got = decode_multi(heads, max_poses=20 if family else 10)
    ref = reference(models_dir, name)
    assert len(got) == len(ref)
    h_in, w_in = backend.info.input_size
    for i, rows in enumerate(ref):
        assert abs(got.scores[i] - float(rows[0]["pose_score"])) <= SCORE_TOL
        for k, row in enumerate(rows):
            x, y = float(row["keypoint_x"]), float(row["keypoint_y"])
            if family:
                x, y = x * w_in, y * h_in
            assert abs(got.yx[i, k, 1] - x) <= PX_TOL and abs(got.yx[i, k, 0] - y) <= PX_TOL, (i, k)


def test_movenet_edgetpu_matches_its_edgetpureference(models_dir: Path, images_dir: Path) -> None:
    """libcoral's movenet_test on the TPU: keypoints above 0.4 in both within 0.04 (normalised)."""
    import csv

    import numpy as np

    from appliance.pose.geometry import InputTransform
    from appliance.pose.preprocess import transform_image

    name = "movenet_single_pose_lightning_ptq_edgetpu.tflite"
    model = create_backend(models_dir / name, "edgetpu", device=DEVICE)
    assert model.name.startswith("edgetpu"), model.name
    image = load_image(str(images_dir / "squat.bmp"))
    transform = InputTransform.stretch((image.shape[1], image.shape[0]), model.info.input_size)
    raw = model.infer(transform_image(image, transform))
    with (models_dir / "reference" / name.replace(".tflite", "_reference.csv")).open() as f:
        ref = np.array(
            [[float(r["keypoint_x"]), float(r["keypoint_y"]), float(r["keypoint_score"])] for r in csv.DictReader(f)]
        )
    both = (raw[:, 2] > 0.4) & (ref[:, 2] > 0.4)
    assert both.sum() >= 8 and np.abs(raw[:, [1, 0]] - ref[:, :2])[both].max() <= 0.04
