"""OSC formats: byte-identical to what python-osc's builders make of the same values (messages and
bundles), pinned golden files, parsed back."""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY as BUILDER_IMMEDIATELY
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from appliance.output.osc import FORMATS, OutputOptions
from appliance.output.osc.base import BOX_MIN_SCORE, person_boxes
from appliance.output.osc.wire import IMMEDIATELY
from appliance.types import KEYPOINT_NAMES, Poses
from tests.support.poses import T_WALL, sample_poses

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "osc"


def msg(address: str, args: list[tuple[str, float]]) -> bytes:
    b = OscMessageBuilder(address=address)
    for tag, value in args:
        b.add_arg(value, arg_type=tag)
    return bytes(b.build().dgram)


def bundle_bytes(timetag: float, elements: list[bytes]) -> bytes:
    """A bundle as python-osc's builder makes it: ``timetag`` Unix seconds, or its IMMEDIATELY."""
    b = OscBundleBuilder(timetag)
    for e in elements:
        b.add_content(OscMessage(e))
    return bytes(b.build().dgram)


def norm(p: Poses) -> np.ndarray:
    kp = p.keypoints.astype(np.float64).copy()
    kp[:, :, 0] /= p.frame_size[0]
    kp[:, :, 1] /= p.frame_size[1]
    return kp


def expected_individual(p: Poses) -> list[bytes]:
    kp = norm(p)
    out = [msg("/poses/amount", [("i", len(p))])]
    for i in range(len(p)):
        for k, name in enumerate(KEYPOINT_NAMES):
            out.append(msg(f"/poses/{i}/{name}", [("f", kp[i, k, 2]), ("f", kp[i, k, 0]), ("f", kp[i, k, 1])]))
    return out


def test_individual_matches_python_osc_and_sends_all_17() -> None:
    p = sample_poses()
    got = FORMATS["individual"](p, OutputOptions())
    assert got == expected_individual(p)
    assert len(got) == 1 + 17 * 2
    assert OscMessage(got[0]).params == [2]
    m = OscMessage(got[1])
    assert m.address == "/poses/0/nose" and m.params == [0.0, 0.0, 0.0]  # floats even when whole
    assert OscMessage(got[-1]).address == "/poses/1/rightAnkle"


def test_individual_bundle_carries_the_same_messages_a_person_per_datagram() -> None:
    p = sample_poses()
    got = FORMATS["individual-bundle"](p, OutputOptions())
    frame = msg("/poses/frame", [("i", 42), ("i", 1_700_000_000), ("i", 250_000)])
    amount, *people = expected_individual(p)
    # Whole people per datagram (one person is about 800 bytes), the header first in each.
    assert got == [
        bundle_bytes(BUILDER_IMMEDIATELY, [frame, amount, *people[:17]]),
        bundle_bytes(BUILDER_IMMEDIATELY, [frame, amount, *people[17:]]),
    ]
    assert all(len(d) <= 1472 for d in got)
    (one,) = FORMATS["individual-bundle"](p, OutputOptions(max_datagram=4000, timetag="capture"))
    b = OscBundle(one)
    assert b.num_contents == 36 and abs(b.timestamp - T_WALL) < 1e-6


def test_wekinator_is_51_floats_of_the_best_person_or_zeros() -> None:
    p = sample_poses()
    (got,) = FORMATS["wekinator"](p, OutputOptions(coords="pixels"))
    kp = p.keypoints[0].astype(np.float64)
    assert got == msg("/wek/inputs", [("f", v) for k in range(17) for v in (kp[k, 2], kp[k, 0], kp[k, 1])])
    # The best person, not the first: reverse the score order.
    swapped = Poses(p.keypoints, p.scores[::-1].copy(), p.ids, p.frame_size)
    assert OscMessage(FORMATS["wekinator"](swapped, OutputOptions(coords="pixels"))[0]).params[1] == 1.0
    (empty,) = FORMATS["wekinator"](Poses(frame_size=(640, 480)), OutputOptions())
    assert OscMessage(empty).params == [0.0] * 51


def test_arr_layout() -> None:
    p = sample_poses()
    (got,) = FORMATS["arr"](p, OutputOptions())
    kp = norm(p)
    args = [("i", 640), ("i", 480), ("i", 2)]
    for i in range(2):
        args.append(("f", p.scores[i]))
        args += [("f", v) for k in range(17) for v in kp[i, k]]
    assert got == msg("/poses/arr", args)
    assert OscMessage(FORMATS["arr"](Poses(frame_size=(640, 480)), OutputOptions())[0]).params == [640, 480, 0]


def test_bundle_format() -> None:
    p = dataclasses.replace(sample_poses(), left=np.array([3], np.int32), entered=np.array([8], np.int32))
    (got,) = FORMATS["bundle"](p, OutputOptions(coords="pixels", timetag="capture"))
    kp = p.keypoints.astype(np.float64)
    elements = [
        msg("/posenet/frame", [("i", v) for v in (42, 640, 480, 2, 1_700_000_000, 250_000)]),
        msg("/posenet/person/leave", [("i", 3)]),
        msg("/posenet/person/enter", [("i", 8)]),
    ]
    for i in range(2):
        args = [("i", 7 + i), ("i", i), ("f", p.scores[i])] + [("f", v) for v in kp[i].reshape(-1)]
        elements.append(msg("/posenet/person/pose", args))
        # Keypoints k >= 4 have score k/16 >= 0.2: the box spans them; shoulders and hips (5, 6, 11,
        # 12) make the centre.
        box = [40 + i, 80 + 2 * i, 160 + i, 320 + 2 * i]
        elements.append(msg("/posenet/person/box", [("i", 7 + i)] + [("f", v) for v in box]))
        elements.append(msg("/posenet/person/centre", [("i", 7 + i), ("f", 85 + i), ("f", 170 + 2 * i)]))
    assert got == bundle_bytes(T_WALL, elements)
    (immediate,) = FORMATS["bundle"](p, OutputOptions(coords="pixels"))  # the default time tag
    assert immediate == bundle_bytes(BUILDER_IMMEDIATELY, elements)
    untimed = Poses(frame_size=(320, 240))
    (empty,) = FORMATS["bundle"](untimed, OutputOptions())
    assert struct.unpack(">Q", empty[8:16])[0] == IMMEDIATELY
    assert OscMessage(OscBundle(empty).content(0).dgram).params == [0, 320, 240, 0, 0, 0]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("people", [2, 6, 10])
def test_no_datagram_is_larger_than_the_limit(fmt: str, people: int) -> None:
    """Up to 10 people, every format fits 1,472 bytes (one Ethernet frame, oscP5's 1,536 buffer);
    split bundles carry whole people and, together, every person once."""
    p = sample_poses(people)
    got = FORMATS[fmt](p, OutputOptions())
    assert all(len(d) <= 1472 for d in got), [len(d) for d in got]
    if fmt == "bundle":
        messages = [OscMessage(b.content(i).dgram) for b in map(OscBundle, got) for i in range(1, b.num_contents)]
        persons = [m for m in messages if m.address == "/posenet/person/pose"]
        assert sorted(m.params[1] for m in persons) == list(range(people))
        # A person's box and centre travel in the same bundle as the person.
        for b in map(OscBundle, got):
            inside = [OscMessage(b.content(i).dgram) for i in range(1, b.num_contents)]
            ids = [m.params[0] for m in inside if m.address == "/posenet/person/pose"]
            assert [m.params[0] for m in inside if m.address == "/posenet/person/box"] == ids
        assert {OscMessage(OscBundle(d).content(0).dgram).params[3] for d in got} == {people}
    if fmt == "arr":
        n = OscMessage(got[0]).params[2]
        assert n == min(people, 5) and len(OscMessage(got[0]).params) == 3 + 52 * n
    # A smaller setting is honoured too; only a single person bigger than it travels alone.
    small = FORMATS[fmt](p, OutputOptions(max_datagram=600))
    if fmt == "individual-bundle":
        assert len(small) == people and all(OscBundle(d).num_contents == 2 + 17 for d in small)
    else:
        assert all(len(d) <= 600 for d in small)


def test_coordinates_pixels_normalized_and_mirror() -> None:
    p = sample_poses(1)
    px = OscMessage(FORMATS["arr"](p, OutputOptions("pixels", False))[0]).params
    nm = OscMessage(FORMATS["arr"](p, OutputOptions("normalized", False))[0]).params
    mp = OscMessage(FORMATS["arr"](p, OutputOptions("pixels", True))[0]).params
    mn = OscMessage(FORMATS["arr"](p, OutputOptions("normalized", True))[0]).params
    x_idx = 4 + 3 * 5  # leftShoulder x: after w, h, n, score
    assert px[x_idx] == 50.0
    assert nm[x_idx] == pytest.approx(50 / 640)
    assert mp[x_idx] == pytest.approx(640 - 50)
    assert mn[x_idx] == pytest.approx(1 - 50 / 640)
    assert nm[x_idx + 1] == pytest.approx(100 / 480)  # y is never mirrored


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_golden_bytes(fmt: str) -> None:
    """Pinned wire bytes; regenerate with OSC_GOLDEN_WRITE=1 only for a deliberate format change."""
    got = b"".join(struct.pack(">i", len(d)) + d for d in FORMATS[fmt](sample_poses(), OutputOptions()))
    path = GOLDEN / f"{fmt}.bin"
    if os.environ.get("OSC_GOLDEN_WRITE") == "1":
        path.write_bytes(got)
    assert got == path.read_bytes()


def _box_rule(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One person's box corners and centre by the rule, person by person (the README's words): the
    confident keypoints (all 17 if fewer than two are), centred on the confident shoulders and hips
    if any, else on those keypoints."""
    ok = kp[:, 2] >= BOX_MIN_SCORE
    pts = kp[ok, :2] if ok.sum() >= 2 else kp[:, :2]
    torso = [k for k in (5, 6, 11, 12) if kp[k, 2] >= BOX_MIN_SCORE]
    return pts.min(axis=0), pts.max(axis=0), kp[torso, :2].mean(axis=0) if torso else pts.mean(axis=0)


def test_boxes_and_centres_follow_the_rule_for_every_person() -> None:
    k = np.arange(17, dtype=np.float32)
    kp = np.zeros((4, 17, 3), np.float32)
    kp[:, :, 0], kp[:, :, 1], kp[:, :, 2] = 10 * k, 20 * k, 0.1
    kp[0, [0, 1], 2] = 0.5  # two confident, no torso: their box and mean
    kp[1, 3, 2] = 0.5  # one confident: all 17
    kp[2, :, 2] = 0.9  # all confident: centred on shoulders and hips
    kp[3, [5, 6, 16], 2] = 0.9  # the shoulders and an ankle: centred on the shoulders
    boxes, centres = person_boxes(kp)
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 20], [0, 0, 160, 320], [0, 0, 160, 320], [50, 100, 160, 320]])
    np.testing.assert_array_equal(centres, [[5, 10], [80, 160], [85, 170], [55, 110]])
    assert person_boxes(kp[:0])[0].shape == (0, 4) and person_boxes(kp[:0])[1].shape == (0, 2)
    # Every person of a crowd exactly as computed alone, to the bit (so the bytes sent are too).
    rng = np.random.default_rng(5)
    crowd = rng.random((40, 17, 3), dtype=np.float32) * np.array([1920, 1080, 1], np.float32)
    crowd[:, :, 2] = rng.choice(np.array([0.0, 0.19, 0.2, 0.7], np.float32), size=(40, 17), p=[0.4, 0.2, 0.1, 0.3])
    boxes, centres = person_boxes(crowd)
    for i in range(40):
        lo, hi, centre = _box_rule(crowd[i])
        assert boxes[i, :2].tobytes() == lo.tobytes() and boxes[i, 2:].tobytes() == hi.tobytes(), i
        assert centres[i].tobytes() == centre.astype(np.float32).tobytes(), i
