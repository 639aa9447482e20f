"""Benchmarks of what the pose stages and the second model family do to the data, printing numbers:

* ``bench smoothing``: jitter of a still person (a photo with per-frame Gaussian pixel noise and
  sub-pixel shifts) with smoothing on vs off, and how many frames a person moving a few pixels per
  frame is trailed by; at 15 and 30 fps (capture times spaced accordingly).
* ``bench ids``: id switches and fragmentations on constructed crossing and occlusion sequences,
  against the naive "id = position in the frame's list", and the events of camera blackouts run
  through the real model.
* ``bench movenet``: invoke time of MoveNet Lightning against PoseNet on this machine (median of
  repeats, ratio in the same process) and keypoint agreement with Google's reference results.

All keypoint coordinates are source pixels (x, y) unless a line says normalised.
"""

from __future__ import annotations

import argparse
import csv
import functools
import itertools
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.bench.common import data_args, median_time

__all__ = ["add_parsers"]

POSENET = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
MOVENET = "movenet_single_pose_lightning_ptq.tflite"
#: Frames the moving person stands still before walking off.
STAND = 20


# -- frames ---------------------------------------------------------------------------------------
def _noisy(image: NDArray[np.uint8], rng: np.random.Generator, sigma: float, shift: tuple[float, float]) -> Any:
    """``image`` moved by ``shift`` (x, y) source pixels (bilinear, sub-pixel) with Gaussian noise."""
    from PIL import Image

    moved = Image.fromarray(image).transform(
        (image.shape[1], image.shape[0]),
        Image.Transform.AFFINE,
        (1.0, 0.0, -shift[0], 0.0, 1.0, -shift[1]),
        resample=Image.Resampling.BILINEAR,
    )
    noisy = np.asarray(moved, np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _engine(models_dir: str | None, name: str, threads: int) -> Any:
    from appliance.models import load_model
    from appliance.models.catalog import models_dir as folder
    from appliance.models.engine import PoseEngine

    return PoseEngine(load_model(folder(models_dir) / name, "cpu", threads=threads))


def _run_stages(raw: Sequence[Any], fps: float, smoothing: Any) -> list[Any]:
    """Raw engine Poses re-timed at ``fps`` through tracking and smoothing (a fresh chain)."""
    import dataclasses

    from appliance.pose.smoothing import Smoother
    from appliance.pose.tracking import Tracker

    tracker, smoother = Tracker(), Smoother(smoothing)
    out = []
    for i, p in enumerate(raw):
        timed = dataclasses.replace(p, t_capture=1000.0 + i / fps)
        out.append(smoother(tracker(timed)))
    return out


def _track_of(out: Sequence[Any]) -> list[NDArray[np.float32] | None]:
    """Per frame, the keypoints (17, 3) of the person with the most common id (None if absent)."""
    ids = [int(i) for p in out for i in p.ids.tolist()]
    if not ids:
        return [None] * len(out)
    main = max(set(ids), key=ids.count)
    return [p.keypoints[list(p.ids).index(main)] if main in p.ids else None for p in out]


def _jitter(track: Sequence[NDArray[np.float32] | None], min_score: float = 0.3) -> float:
    """Mean frame-to-frame movement (source pixels) of keypoints confident in both frames."""
    steps = []
    for a, b in itertools.pairwise(track):
        if a is None or b is None:
            continue
        ok = (a[:, 2] >= min_score) & (b[:, 2] >= min_score)
        steps.extend(np.linalg.norm(b[ok, :2] - a[ok, :2], axis=1).tolist())
    return float(np.mean(steps)) if steps else float("nan")


def cmd_smoothing(args: argparse.Namespace) -> int:
    """Jitter of a still person and lag behind a moving one, smoothing on vs off."""
    from appliance.capture.images import load_image
    from appliance.pose.params import SmoothingConfig

    engine = _engine(args.models_dir, args.model, args.threads)
    image = load_image(str(Path(args.images) / args.image))
    h, w = image.shape[:2]
    rng = np.random.default_rng(args.seed)
    given = {"min_cutoff": args.min_cutoff, "beta": args.beta, "d_cutoff": args.d_cutoff}
    on = SmoothingConfig(**{k: v for k, v in given.items() if v is not None})
    off = SmoothingConfig(enabled=False)
    print(f"{args.model} on the CPU; {args.image} ({w}x{h}); {args.frames} frames, pixel noise sigma {args.noise}")
    print(f"smoothing: min_cutoff {on.min_cutoff} Hz, beta {on.beta}, d_cutoff {on.d_cutoff} Hz\n")

    # Still: the same photo, shifted by less than a pixel and noisy, every frame.
    still = []
    for _ in range(args.frames):
        frame = _noisy(image, rng, args.noise, (rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)))
        still.append(engine.process(frame))
    # Moving: the photo on a wider canvas, standing for ``STAND`` frames, then ``speed`` pixels further
    # right every frame.
    moves = args.frames - STAND
    canvas_w = w + int(args.speed * moves) + 2
    moving = []
    for f in range(args.frames):
        canvas = np.full((h, canvas_w, 3), 235, np.uint8)
        canvas[:, :w] = image
        moving.append(engine.process(_noisy(canvas, rng, args.noise, (args.speed * max(0, f - STAND), 0.0))))
    print(f"{'fps':>4s} {'still: raw px':>14s} {'smoothed px':>12s} {'ratio':>6s}", end="")
    print(f"   {'lag: first 10 frames':>21s} {'steady':>7s}  (frames behind a person moving {args.speed:g} px/frame)")
    for fps in (15.0, 30.0):
        raw_still = _jitter(_track_of(_run_stages(still, fps, off)))
        smooth_still = _jitter(_track_of(_run_stages(still, fps, on)))
        raw_move = _track_of(_run_stages(moving, fps, off))
        smooth_move = _track_of(_run_stages(moving, fps, on))
        onset = _lag(raw_move[STAND : STAND + 10], smooth_move[STAND : STAND + 10], args.speed)
        steady = _lag(raw_move[STAND + 30 :], smooth_move[STAND + 30 :], args.speed)
        print(
            f"{fps:4.0f} {raw_still:14.2f} {smooth_still:12.2f} {smooth_still / raw_still:6.2f}"
            f"   {onset:21.2f} {steady:7.2f}"
        )
    return 0


def _lag(raw: Sequence[Any], smooth: Sequence[Any], speed: float) -> float:
    """Median over frames and confident keypoints of how far (in frames of motion) the smoothed x
    trails the raw x."""
    lags: list[float] = []
    for a, b in zip(raw, smooth, strict=True):
        if a is None or b is None:
            continue
        ok = (a[:, 2] >= 0.3) & (b[:, 2] >= 0.3)
        lags.extend(((a[ok, 0] - b[ok, 0]) / speed).tolist())
    return float(np.median(lags)) if lags else float("nan")


# -- identities -----------------------------------------------------------------------------------
def _count(
    frames: Sequence[Any], truth: Sequence[Sequence[int]], assign: Callable[[Any], tuple[list[int], Any]]
) -> dict[str, int]:
    """Id switches (a true person reported under a different id than the last time) and fragments
    (ids beyond the first per true person), plus the events ``assign`` reported."""
    last: dict[int, int] = {}
    ids_of: dict[int, set[int]] = {}
    switches = enters = leaves = 0
    for given, true in zip(frames, truth, strict=True):
        reported, out = assign(given)
        if out is not None:
            enters += len(out.entered)
            leaves += len(out.left)
        for pid, t in zip(reported, _truth_of(given, out, true) if out is not None else true, strict=True):
            if t in last and last[t] != pid:
                switches += 1
            last[t] = pid
            ids_of.setdefault(t, set()).add(pid)
    fragments = sum(len(v) - 1 for v in ids_of.values())
    return {"switches": switches, "fragments": fragments, "enters": enters, "leaves": leaves}


def _truth_of(given: Any, out: Any, truth: Sequence[int]) -> list[int]:
    return [truth[next(i for i in range(len(given)) if np.array_equal(given.keypoints[i], kp))] for kp in out.keypoints]


def cmd_ids(args: argparse.Namespace) -> int:
    """Id switches and fragmentations on constructed sequences, ours vs by list position."""
    from appliance.pose.scenes import Walker, scene
    from appliance.pose.tracking import Tracker

    scenes = {
        "two cross, one hidden 3 frames": [
            Walker(0, (100, 300), (6, 0)),
            Walker(1, (540, 300), (-6, 0), height=190, hidden=((35, 38),)),
        ],
        "three cross at different speeds": [
            Walker(0, (60, 300), (7, 0)),
            Walker(1, (580, 290), (-5, 0), height=180),
            Walker(2, (320, 200), (0, 2), height=150),
        ],
        "one hidden for 3 frames": [Walker(0, (100, 300), (3, 0), hidden=((20, 23),))],
        "one gone for 2 s, then back": [Walker(0, (100, 300), (3, 0), hidden=((20, 50),))],
    }
    print(f"synthetic people (source pixels), 15 fps, keypoint noise {args.noise} px, 75 frames each")
    print(f"{'sequence':34s} {'ours: switches':>15s} {'fragments':>10s} {'enter':>6s} {'leave':>6s}", end="")
    print(f"   {'by position: switches':>22s}")
    for name, walkers in scenes.items():
        frames, truth = scene(walkers, 75, noise_px=args.noise, seed=args.seed)
        tracker = Tracker()

        def ours(p: Any, t: Tracker = tracker) -> tuple[list[int], Any]:
            out = t(p)
            return out.ids.tolist(), out

        def by_position(p: Any) -> tuple[list[int], Any]:
            return list(range(len(p))), None

        a, b = _count(frames, truth, ours), _count(frames, truth, by_position)
        print(
            f"{name:34s} {a['switches']:15d} {a['fragments']:10d} {a['enters']:6d} {a['leaves']:6d}"
            f"   {b['switches']:22d}"
        )
    print("(one gone for 2 s comes back as a new person: 1 fragment, 2 enters, 1 leave, by design)\n")
    _blackouts(args)
    return 0


def _blackouts(args: argparse.Namespace) -> None:
    """The real model on a photo of 4 people at 10 fps, with the camera going black for 3 frames
    and for 2 s: the events the tracking stage sends."""
    import dataclasses

    from appliance.capture.images import load_image
    from appliance.pose.tracking import Tracker

    engine = _engine(args.models_dir, args.model, args.threads)
    photo = engine.process(load_image(str(Path(args.images) / "face.jpg")))
    black = dataclasses.replace(photo, keypoints=photo.keypoints[:0], scores=photo.scores[:0], ids=photo.ids[:0])
    plan = [("people", 20), ("black", 3), ("people", 20), ("black", 20), ("people", 20)]
    tracker, f = Tracker(), 0
    print("real model, face.jpg (4 people) at 10 fps: 20 frames, 3 black, 20, 20 black (2 s), 20")
    for what, n in plan:
        enters, leaves, ids = 0, 0, set[int]()
        for _ in range(n):
            out = tracker(dataclasses.replace(photo if what == "people" else black, t_capture=1000.0 + f / 10))
            enters, leaves, ids = enters + len(out.entered), leaves + len(out.left), ids | set(out.ids.tolist())
            f += 1
        print(f"  {n:3d} frames {what:7s}: enter {enters}, leave {leaves}, ids {sorted(ids)}")


# -- MoveNet -------------------------------------------------------------------------------------
def _reference(path: Path) -> NDArray[np.float64]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return np.array([[float(r["keypoint_x"]), float(r["keypoint_y"]), float(r["keypoint_score"])] for r in rows])


def cmd_movenet(args: argparse.Namespace) -> int:
    """MoveNet Lightning vs PoseNet: invoke time here, and agreement with Google's references."""
    from appliance.capture.images import load_image
    from appliance.models import load_model
    from appliance.models.catalog import models_dir
    from appliance.models.engine import PoseEngine
    from appliance.pose.geometry import InputTransform
    from appliance.pose.params import DecoderConfig, MoveNetDecoding
    from appliance.pose.preprocess import transform_image

    folder = models_dir(args.models_dir)
    images = Path(args.images)
    names = [
        "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite",
        POSENET,
        MOVENET,
    ]
    print(f"invoke() only, median of {args.repeat} after 3 warm-ups, {args.threads} threads, CPU files")
    times = {}
    for name in names:
        model = load_model(folder / name, "cpu", threads=args.threads)
        tensor = np.zeros((1, *model.info.input_size, 3), np.uint8)
        times[name] = median_time(functools.partial(model.infer, tensor), args.repeat)
        model.close()
    base = times[POSENET]
    for name, t in times.items():
        print(f"  {name:58s} {t * 1e3:7.2f} ms  ratio {t / base:5.2f}")

    print("\nagreement with Google's reference (keypoints above the test's score threshold in both):")
    model = load_model(folder / MOVENET, "cpu", threads=args.threads)
    squat = load_image(str(images / "squat.bmp"))
    size = (squat.shape[1], squat.shape[0])
    ref = _reference(folder / "reference" / "movenet_single_pose_lightning_ptq_reference.csv")
    raw = model.infer(transform_image(squat, InputTransform.stretch(size, model.info.input_size)))
    both = (raw[:, 2] > 0.4) & (ref[:, 2] > 0.4)
    delta = np.abs(raw[:, [1, 0]] - ref[:, :2])[both]
    print(
        f"  MoveNet, squat.bmp stretched as Google's test: {int(both.sum())} keypoints, "
        f"max {delta.max():.4f} normalised (tolerance 0.04)"
    )
    boxed = PoseEngine(model, DecoderConfig(movenet=MoveNetDecoding(crop_to_person=False))).process(squat)
    got = boxed.keypoints[0, :, :2] / np.array(size, np.float32)
    both = (boxed.keypoints[0, :, 2] > 0.4) & (ref[:, 2] > 0.4)
    delta = np.abs(got - ref[:, :2])[both]
    print(
        f"  MoveNet, squat.bmp letterboxed (as the appliance runs it): {int(both.sum())} keypoints, "
        f"max {delta.max():.4f}, mean {delta.mean():.4f} normalised"
    )
    posenet = PoseEngine(load_model(folder / POSENET, "cpu", threads=args.threads))
    p_ref = _reference(folder / "reference" / POSENET.replace(".tflite", "_reference.csv"))
    test_image = load_image(str(images / "test_image.bmp"))
    got_p = posenet.process(test_image)
    p_size = np.array([test_image.shape[1], test_image.shape[0]], np.float32)
    worst = []
    for i in range(min(len(got_p), len(p_ref) // 17)):
        r = p_ref[17 * i : 17 * (i + 1)]
        k = got_p.keypoints[i]
        ok = (k[:, 2] > 0.7) & (r[:, 2] > 0.7)
        worst.append(float(np.abs(k[ok, :2] / p_size - r[ok, :2]).max()) if ok.any() else 0.0)
    print(f"  PoseNet 481x641, test_image.bmp: {len(worst)} poses, max {max(worst):.4f} normalised (tolerance 0.04)")

    _cropping(model, squat)
    return 0


def _cropping(model: Any, squat: NDArray[np.uint8]) -> None:
    """MoveNet on a distant performer (``squat`` at 1/4 size in a 1600x1200 frame), cropping around
    the person vs the whole frame: mean keypoint error in source pixels."""
    from appliance.models.engine import PoseEngine
    from appliance.pose.params import DecoderConfig, MoveNetDecoding
    from appliance.pose.scenes import far_away

    print("\ncropping around the person (a distant performer: squat.bmp at 1/4 size in a 1600x1200 frame):")
    truth = PoseEngine(model, DecoderConfig(movenet=MoveNetDecoding(crop_to_person=False))).process(squat)
    image = far_away(squat)
    expected = truth.keypoints[0, :, :2] / 4 + np.array([700, 600], np.float32)
    confident = truth.keypoints[0, :, 2] >= 0.5
    for crop in (False, True):
        engine = PoseEngine(model, DecoderConfig(movenet=MoveNetDecoding(crop_to_person=crop)))
        errors = []
        for _ in range(5):
            poses = engine.process(image)
            if len(poses):
                errors.append(
                    float(np.linalg.norm(poses.keypoints[0, confident, :2] - expected[confident], axis=1).mean())
                )
        label = "crop to the person" if crop else "whole frame       "
        print(f"  {label}: mean keypoint error {statistics.median(errors[2:]):6.1f} px (frames 3-5)")


def add_parsers(bsub: Any) -> None:
    """Register ``bench smoothing``, ``bench ids`` and ``bench movenet``."""
    sm = bsub.add_parser("smoothing", help="jitter of a still person and lag behind a moving one, on vs off")
    data_args(sm)
    sm.add_argument("--image", default="squat.bmp")
    sm.add_argument("--model", default=POSENET)
    sm.add_argument("--frames", type=int, default=90, help=f"frames per sequence (more than {STAND + 40})")
    sm.add_argument("--noise", type=float, default=6.0, help="Gaussian pixel noise sigma (0..255)")
    sm.add_argument("--speed", type=float, default=3.0, help="pixels per frame of the moving person")
    sm.add_argument("--min-cutoff", type=float, default=None, help="default: the configuration's")
    sm.add_argument("--beta", type=float, default=None, help="default: the configuration's")
    sm.add_argument("--d-cutoff", type=float, default=None, help="default: the configuration's")
    sm.add_argument("--threads", type=int, default=2)
    sm.add_argument("--seed", type=int, default=1)
    sm.set_defaults(func=cmd_smoothing)

    ids = bsub.add_parser("ids", help="id switches on crossing and occlusion sequences; blackout events")
    data_args(ids)
    ids.add_argument("--model", default=POSENET)
    ids.add_argument("--noise", type=float, default=2.0, help="keypoint noise (source pixels)")
    ids.add_argument("--threads", type=int, default=2)
    ids.add_argument("--seed", type=int, default=0)
    ids.set_defaults(func=cmd_ids)

    mv = bsub.add_parser("movenet", help="MoveNet vs PoseNet: invoke time, agreement with Google's references")
    data_args(mv)
    mv.add_argument("--repeat", type=int, default=50)
    mv.add_argument("--threads", type=int, default=2)
    mv.set_defaults(func=cmd_movenet)
