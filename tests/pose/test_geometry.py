"""(y, x) model-input pixels -> (x, y) source pixels, on a non-square frame with an off-centre point."""

from __future__ import annotations

import numpy as np

from appliance.pose.decode import DecodedPoses
from appliance.pose.geometry import to_source_xy


def test_flip_and_scale_on_a_non_square_frame() -> None:
    yx = np.zeros((1, 17, 2), np.float32)
    yx[0, 0] = (120.0, 400.0)  # y=120, x=400 in a 481x641 (h x w) input
    yx[0, 1] = (480.0, 640.0)  # bottom-right corner
    decoded = DecodedPoses(yx, np.full((1, 17), 0.5, np.float32), np.array([0.5], np.float32))
    out = to_source_xy(decoded, input_size=(481, 641), frame_size=(1920, 1080))
    assert out.shape == (1, 17, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], (400 * 1920 / 641, 120 * 1080 / 481, 0.5), rtol=1e-6)
    np.testing.assert_allclose(out[0, 1, :2], (640 * 1920 / 641, 480 * 1080 / 481), rtol=1e-6)


def test_no_pose_maps_to_an_empty_array() -> None:
    out = to_source_xy(DecodedPoses.empty(), (353, 481), (640, 480))
    assert out.shape == (0, 17, 3)
