"""One Euro smoothing: steadies a still person, follows a moving one, never invents keypoints."""

from __future__ import annotations

import dataclasses

import numpy as np

from appliance.pose.params import SmoothingConfig
from appliance.pose.scenes import Walker, scene
from appliance.pose.smoothing import Smoother
from appliance.pose.tracking import Tracker
from appliance.types import Poses


def smoothed(frames: list[Poses], config: SmoothingConfig | None = None) -> list[Poses]:
    tracker, smoother = Tracker(), Smoother(config)
    return [smoother(tracker(p)) for p in frames]


def jitter(out: list[Poses]) -> float:
    kp = np.stack([p.keypoints[0, :, :2] for p in out if len(p)])
    return float(np.linalg.norm(np.diff(kp, axis=0), axis=2).mean())


def test_a_still_person_is_steadied_at_15_and_30_fps() -> None:
    for fps in (15.0, 30.0):
        frames, _ = scene([Walker(0, (320, 300), (0, 0))], 120, fps=fps, noise_px=2.0)
        raw = jitter(smoothed(frames, SmoothingConfig(enabled=False)))
        steady = jitter(smoothed(frames))
        assert steady < 0.4 * raw, (fps, steady, raw)


def test_a_moving_person_is_followed_closely() -> None:
    for fps in (15.0, 30.0):
        frames, _ = scene([Walker(0, (100, 300), (3, 0))], 120, fps=fps, noise_px=0.0)
        out = smoothed(frames)
        # Steady state: how far behind the true position the smoothed one is, in frames.
        lag = [
            (p.keypoints[0, :, 0] - q.keypoints[0, :, 0]).mean() / 3.0
            for p, q in zip(frames[60:], out[60:], strict=True)
        ]
        assert 0.0 <= float(np.mean(lag)) <= 1.5, (fps, np.mean(lag))


def test_scores_are_not_smoothed_and_a_weak_keypoint_passes_as_it_is() -> None:
    frames, _ = scene([Walker(0, (320, 300), (0, 0))], 40, noise_px=2.0)
    frames[10].keypoints[0, 9, 2] = 0.05  # the left wrist is lost for one frame
    frames[10].keypoints[0, 9, :2] = (5.0, 6.0)
    for f in range(20, 30):  # ...and later for 10 frames (0.67 s at 15 fps)
        frames[f].keypoints[0, 9, 2] = 0.05
    frames[30].keypoints[0, 9, :2] += np.float32(40.0)  # it comes back elsewhere
    out = smoothed(frames)
    np.testing.assert_array_equal(out[10].keypoints[0, :, 2], frames[10].keypoints[0, :, 2])
    assert tuple(out[10].keypoints[0, 9, :2]) == (5.0, 6.0)  # reported as it is
    # After the one-frame dip its filter goes on: no jump to the raw (noisy) position.
    assert np.linalg.norm(out[11].keypoints[0, 9, :2] - out[9].keypoints[0, 9, :2]) < 1.5
    # After a long absence it starts afresh where it reappears.
    np.testing.assert_array_equal(out[30].keypoints[0, 9], frames[30].keypoints[0, 9])


def test_a_new_person_starts_fresh_and_the_filter_follows_the_frames_clock() -> None:
    frames, _ = scene([Walker(0, (320, 300), (0, 0))], 3, noise_px=0.0)
    out = smoothed(frames)
    np.testing.assert_array_equal(out[1].keypoints, frames[1].keypoints)  # the first reported frame
    # A step: after 0.5 s the filter has covered the same share of it at 15 and 60 fps.
    config = SmoothingConfig(beta=0.0)
    shares = []
    for fps in (15.0, 60.0):
        n = int(fps * 0.5)
        walk, _ = scene([Walker(0, (320, 300), (0, 0))], n + 10, fps=fps, noise_px=0.0)
        moved = [dataclasses.replace(p, keypoints=p.keypoints + np.array([20, 0, 0], np.float32)) for p in walk[10:]]
        got = smoothed(walk[:10] + moved, config)
        shares.append(float((got[-1].keypoints[0, 0, 0] - 320 - 0) / 20))
    assert abs(shares[0] - shares[1]) < 0.1, shares


def test_off_passes_everything_through() -> None:
    frames, _ = scene([Walker(0, (320, 300), (0, 0))], 10, noise_px=2.0)
    tracker = Tracker()
    smoother = Smoother(SmoothingConfig(enabled=False))
    for p in frames:
        tracked = tracker(p)
        assert smoother(tracked) is tracked


def test_a_crowd_is_smoothed_person_by_person() -> None:
    """Everyone's filter is their own: six people smoothed together get, to the bit, what each gets
    smoothed alone (people leaving and new ones arriving, weak keypoints here and there)."""
    walkers = [Walker(i, (80 + 100 * i, 200 + 30 * i), (2 - i, 1), hidden=((10 + 5 * i, 40),)) for i in range(6)]
    frames, _ = scene(walkers, 60, noise_px=3.0)
    rng = np.random.default_rng(2)
    for p in frames:
        p.keypoints[:, :, 2][rng.random(p.keypoints.shape[:2]) < 0.2] = 0.1
    tracker = Tracker()
    tracked = [tracker(p) for p in frames]
    together = Smoother()
    alone: dict[int, Smoother] = {}
    for p in tracked:
        out = together(p)
        for i, pid in enumerate(p.ids.tolist()):
            one = dataclasses.replace(
                p, keypoints=p.keypoints[i : i + 1], scores=p.scores[i : i + 1], ids=p.ids[i : i + 1]
            )
            got = alone.setdefault(pid, Smoother())(one)
            np.testing.assert_array_equal(out.keypoints[i], got.keypoints[0])
    assert len(alone) > 6  # some left and came back as new people
