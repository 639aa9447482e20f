"""What ``bench pipeline`` measures per frame on the "send" thread besides the model: OSC encode + send
per format against python-osc building and sending the very same datagrams (checked byte for byte),
and the per-frame budget of decode + stages (tracking, smoothing) + encode + send for 1, 5 and 10
people. Keypoints are source pixels (x, y); the formats send them as each target asks (0..1 here)."""

from __future__ import annotations

import statistics
import time
from functools import partial
from typing import Any

import numpy as np

from appliance.bench.common import median_time
from appliance.output.osc.base import OutputOptions

__all__ = ["budget_table", "encode_table", "python_osc_datagrams"]

#: People per frame in the budget table.
CROWDS = (1, 5, 10)
_OPTIONS = OutputOptions()


def _message(address: str, tags: str, values: list[Any]) -> Any:
    """One python-osc message (``i`` ints, ``f`` floats)."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address=address)
    for v, t in zip(values, tags, strict=True):
        b.add_arg(float(v) if t == "f" else int(v), arg_type=t)
    return b.build()


def _bundles(timetag: int, header: list[Any], groups: list[list[Any]], limit: int) -> list[Any]:
    """python-osc bundles with ``timetag`` (python-osc's: IMMEDIATELY or Unix seconds) of whole
    groups, ``header`` first in each, none over ``limit`` bytes (a group too big for any bundle alone
    with the header), as the formats split a frame."""
    from pythonosc.osc_bundle_builder import OscBundleBuilder

    def build(messages: list[Any]) -> Any:
        b = OscBundleBuilder(timetag)
        for m in messages:
            b.add_content(m)
        return b.build()

    head = 16 + sum(4 + m.size for m in header)
    out: list[Any] = []
    batch: list[Any] = []
    size = head
    for group in groups:
        need = sum(4 + m.size for m in group)
        if batch and size + need > limit:
            out.append(build(header + batch))
            batch, size = [], head
        batch += group
        size += need
    if batch or not out:
        out.append(build(header + batch))
    return out


def _individual(fmt: str, poses: Any, kp: Any, options: Any, times: tuple[int, int]) -> list[Any]:
    from pythonosc.osc_bundle_builder import IMMEDIATELY

    from appliance.types import KEYPOINT_NAMES

    n = len(poses)
    amount = _message("/poses/amount", "i", [n])
    people = [
        [
            _message(f"/poses/{i}/{name}", "fff", [kp[i, k, 2], kp[i, k, 0], kp[i, k, 1]])
            for k, name in enumerate(KEYPOINT_NAMES)
        ]
        for i in range(n)
    ]
    if fmt == "individual":
        return [amount, *(m for person in people for m in person)]
    frame = _message("/poses/frame", "iii", [poses.frame_index, *times])
    return _bundles(IMMEDIATELY, [frame, amount], people, options.max_datagram)


def _wekinator(poses: Any, kp: Any) -> list[Any]:
    if not len(poses):
        return [_message("/wek/inputs", "f" * 51, [0.0] * 51)]
    best = kp[int(np.argmax(poses.scores))]
    return [_message("/wek/inputs", "f" * 51, [v for k in range(17) for v in (best[k, 2], best[k, 0], best[k, 1])])]


def _arr(poses: Any, kp: Any, options: Any) -> list[Any]:
    w, h = poses.frame_size
    for carried in range(len(poses), -1, -1):  # the best people that fit
        values: list[Any] = [w, h, carried]
        for i in range(carried):
            values += [poses.scores[i], *kp[i].reshape(-1)]
        arr = _message("/poses/arr", "iii" + "f" * (len(values) - 3), values)
        if arr.size <= options.max_datagram:
            break
    return [arr]


def _bundle(poses: Any, kp: Any, options: Any, times: tuple[int, int]) -> list[Any]:
    from pythonosc.osc_bundle_builder import IMMEDIATELY

    from appliance.output.osc.base import person_boxes

    boxes, centres = person_boxes(kp)
    n, (w, h) = len(poses), poses.frame_size
    header = [_message("/posenet/frame", "iiiiii", [poses.frame_index, w, h, n, *times])]
    events = [_message("/posenet/person/leave", "i", [i]) for i in poses.left.tolist()]
    events += [_message("/posenet/person/enter", "i", [i]) for i in poses.entered.tolist()]
    groups = [events] if events else []
    for i in range(n):
        pid = int(poses.ids[i])
        groups.append(
            [
                _message("/posenet/person/pose", "iif" + "f" * 51, [pid, i, poses.scores[i], *kp[i].reshape(-1)]),
                _message("/posenet/person/box", "iffff", [pid, *boxes[i]]),
                _message("/posenet/person/centre", "iff", [pid, *centres[i]]),
            ]
        )
    return _bundles(IMMEDIATELY, header, groups, options.max_datagram)


def python_osc_datagrams(fmt: str, poses: Any, options: Any) -> list[Any]:
    """The datagrams of format ``fmt`` for ``poses``, built the plain python-osc way (message and
    bundle builders); time tags "immediate" only. Coordinates, boxes and centres come from the
    product's own functions: what is compared is the building of the bytes."""
    from appliance.output.osc.base import output_keypoints

    if options.timetag != "immediate":
        raise ValueError("the python-osc baseline sends bundles immediately only")
    kp = output_keypoints(poses, options)
    seconds, micro = divmod(round(poses.t_wall * 1e6), 1_000_000)
    if fmt in ("individual", "individual-bundle"):
        return _individual(fmt, poses, kp, options, (seconds, micro))
    if fmt == "wekinator":
        return _wekinator(poses, kp)
    if fmt == "arr":
        return _arr(poses, kp, options)
    if fmt == "bundle":
        return _bundle(poses, kp, options, (seconds, micro))
    raise ValueError(f"no python-osc baseline for the format {fmt!r}")


def encode_table(poses: Any, port: int, repeat: int) -> None:
    """Per format: datagrams, bytes, our encode + send against python-osc's build + send of the same
    bytes (to a loopback ``port``), their ratio, and whether the bytes are the same."""
    from pythonosc.udp_client import SimpleUDPClient

    from appliance.output.osc import FORMATS, OutputOptions
    from appliance.transport.udp import TargetSpec, UdpTarget

    client = SimpleUDPClient("127.0.0.1", port)
    print(f"encode + send, {len(poses)} people, every datagram of the frame; python-osc builds the same bytes")
    print(f"{'format':18s} {'datagrams':>9s} {'bytes':>6s} {'ours us':>8s} {'python-osc us':>13s} {'ratio':>6s}  same")
    for fmt, encode in FORMATS.items():
        opts = OutputOptions()
        datagrams = encode(poses, opts)
        same = [bytes(d.dgram) for d in python_osc_datagrams(fmt, poses, opts)] == datagrams
        target = UdpTarget(TargetSpec("127.0.0.1", port, fmt))
        target.open()

        def ours(e: Any = encode, t: Any = target, o: Any = opts) -> None:
            t.send(e(poses, o))

        def plain(f: str = fmt, o: Any = opts) -> None:
            for d in python_osc_datagrams(f, poses, o):
                client.send(d)

        ours_t = median_time(ours, repeat * 100)
        plain_t = median_time(plain, repeat * 20)
        target.close()
        print(
            f"{fmt:18s} {len(datagrams):9d} {sum(map(len, datagrams)):6d} {ours_t * 1e6:8.1f} "
            f"{plain_t * 1e6:13.1f} {plain_t / ours_t:6.1f}  {'yes' if same else 'NO: not comparable'}"
        )


def _stage_times(people: int) -> tuple[float, float, Any]:
    """Median seconds per frame of tracking and of smoothing, ``people`` walking (15 fps, after the
    first 10 frames), and the last frame's smoothed poses."""
    from appliance.pose.scenes import Walker, scene
    from appliance.pose.smoothing import Smoother
    from appliance.pose.tracking import Tracker

    walkers = [Walker(i, (60 + 110 * (i % 5), 150 + 200 * (i // 5)), (1.5, 0.5), height=150) for i in range(people)]
    frames, _ = scene(walkers, 130, size=(1280, 720))
    tracker, smoother = Tracker(), Smoother()
    track_t, smooth_t, out = [], [], frames[0]
    for f, poses in enumerate(frames):
        t0 = time.perf_counter()
        tracked = tracker(poses)
        t1 = time.perf_counter()
        out = smoother(tracked)
        t2 = time.perf_counter()
        if f >= 10:
            track_t.append(t1 - t0)
            smooth_t.append(t2 - t1)
    return statistics.median(track_t), statistics.median(smooth_t), out


def _encode_send(target: Any, encode: Any, poses: Any) -> None:
    target.send(encode(poses, _OPTIONS))


def budget_table(decode_s: dict[str, tuple[int, float]], port: int, repeat: int) -> None:
    """The "send" thread's work per frame for 1, 5 and 10 people: tracking, smoothing, encode + send
    per format; with ``decode_s`` (photo -> (people, median decode seconds)) the whole budget."""
    from appliance.output.osc import FORMATS
    from appliance.transport.udp import TargetSpec, UdpTarget

    decode_max = max(s for _, s in decode_s.values())
    decode_text = ", ".join(f"{name} ({n}) {s * 1e6:.0f}" for name, (n, s) in decode_s.items())
    print(f"\nper frame on the send thread; decode (C) on the photos' real heads, us: {decode_text}")
    names = list(FORMATS)
    widths = {n: max(len(n), 9) for n in names}
    print(
        f"{'people':>6s} {'tracking':>9s} {'smoothing':>9s}  "
        + " ".join(f"{n:>{widths[n]}s}" for n in names)
        + "  total us"
    )
    for people in CROWDS:
        track_s, smooth_s, poses = _stage_times(people)
        encode_s = {}
        for fmt in names:
            target = UdpTarget(TargetSpec("127.0.0.1", port, fmt))
            target.open()
            encode_s[fmt] = median_time(partial(_encode_send, target, FORMATS[fmt], poses), repeat * 50)
            target.close()
        worst = max(encode_s.values())
        total = decode_max + track_s + smooth_s + worst
        print(
            f"{people:6d} {track_s * 1e6:9.1f} {smooth_s * 1e6:9.1f}  "
            + " ".join(f"{encode_s[f] * 1e6:{widths[f]}.1f}" for f in names)
            + f"  {total * 1e6:7.0f} (slowest decode and format)"
        )
