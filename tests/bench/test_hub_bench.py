"""``bench hub``'s arithmetic: the windows of ``--overlap`` and the matching of box frames to the
hub's frames (the benchmark itself runs real boxes: ``posenet-appliance bench hub``)."""

from __future__ import annotations

import itertools

import pytest

from appliance.bench.hub import OVERLAP, latencies, windows


@pytest.mark.parametrize("boxes", [2, 3, 4])
def test_the_windows_cover_the_scene_side_by_side_each_sharing_the_overlap_with_the_next(boxes: int) -> None:
    wins = windows(boxes)
    assert len(wins) == boxes and wins[0][0] == 0.0 and wins[-1][1] == pytest.approx(1.0)
    for left, right in itertools.pairwise(wins):
        assert left[1] - right[0] == pytest.approx(OVERLAP, abs=2e-6)
        assert right[1] - right[0] == pytest.approx(left[1] - left[0], abs=2e-6)
    assert windows(2) == [(0.0, 0.6, 0.0, 1.0), (0.4, 1.0, 0.0, 1.0)]


def test_a_box_frame_is_out_with_the_first_later_hub_frame_stamped_near_or_after_its_capture_time() -> None:
    period = 0.066  # 15 fps: a hub frame stamped 33 ms or more before a box frame's capture is not it
    boxes = {1_000: 10.0, 1_200: 10.1, 1_205: 10.101, 68_000: 10.2, 9_000_000: 11.0}  # capture (us) -> arrival (s)
    # 1_200 and 1_205 fused in one hub frame (stamped with the newer); 1_000 too late for the one
    # stamped 999 (it arrived before it), and 68_000 is not in the one stamped 1_205 (arrived after it)
    hub = {999: 9.999, 1_205: 10.103, 70_000: 10.2015, 67_000: 10.2018}
    got = latencies(boxes, hub, period)
    assert got == pytest.approx(sorted([103.0, 3.0, 2.0, 1.5]))  # 9_000_000: no hub frame within 1 s
