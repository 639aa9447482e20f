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


def test_a_box_frame_is_out_with_the_first_hub_frame_stamped_at_or_after_its_capture_time() -> None:
    boxes = {100: 10.0, 200: 10.1, 205: 10.101, 300: 10.2, 9_000_000: 11.0}  # capture (us) -> arrival (s)
    hub = {205: 10.103, 300: 10.2015}  # 200 and 205 fused in one hub frame; 100 in none of its own
    got = latencies(boxes, hub)
    assert got == pytest.approx(sorted([103.0, 3.0, 2.0, 1.5]))  # 9_000_000: no hub frame within 1 s
