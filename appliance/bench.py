"""Benchmarks that print numbers: ``posenet-appliance bench engine``.

Medians of repeated runs, with ratios against a baseline measured in the same process, because
these machines are shared and noisy. Not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "median_time"]

SIZES = ("353_481", "481_641", "721_1281")


def median_time(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    """Median seconds of ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".bmp", ".png"))


def cmd_engine(args: argparse.Namespace) -> int:
    """Per model size: median invoke() and decode time per image, numpy vs compiled decoder."""
    from appliance.cli import load_image
    from appliance.inference import create_backend
    from appliance.models import models_dir
    from appliance.pose.decode import DEFAULT_IMPLEMENTATION, decode_multi
    from appliance.pose.preprocess import to_input_tensor

    folder = models_dir(args.models_dir)
    images = [(p.name, load_image(str(p))) for p in _images(Path(args.images))]
    print(f"decoder default: {DEFAULT_IMPLEMENTATION}; {args.repeat} runs per median; threads {args.threads}")
    head = f"{'model':44s} {'image':20s} {'people':>6s} {'invoke ms':>10s} {'decode us':>10s} {'numpy us':>9s}"
    print(head + f" {'ratio':>6s}")
    for size in args.sizes:
        for family in args.families:
            name = f"posenet_mobilenet_v1_075_{size}{family}_quant_decoder.tflite"
            path = folder / name
            if not path.exists():
                print(f"{name:44s} (missing in {folder})")
                continue
            backend = create_backend(path, "cpu", threads=args.threads)
            for img_name, image in images:
                tensor = to_input_tensor(image, backend.info.input_size)
                heads = backend.infer(tensor)
                t_inv = median_time(partial(backend.infer, tensor), max(args.repeat // 5, 5), 2)
                kw: dict[str, Any] = {"max_poses": 20, "score_threshold": args.min_pose_score}
                people = len(decode_multi(heads, **kw))
                t_dec = median_time(partial(decode_multi, heads, **kw), args.repeat)
                t_np = median_time(
                    partial(decode_multi, heads, implementation="numpy", **kw), max(args.repeat // 5, 10)
                )
                short = name.replace("posenet_mobilenet_v1_075_", "").replace(".tflite", "")
                print(
                    f"{short:44s} {img_name:20s} {people:6d} {t_inv * 1e3:10.2f} {t_dec * 1e6:10.1f} "
                    f"{t_np * 1e6:9.1f} {t_np / t_dec:6.1f}"
                )
            backend.close()
    return 0


def add_parser(sub: Any, add_engine_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``bench`` and its sub-benchmarks on the CLI."""
    bench = sub.add_parser("bench", help="print performance numbers (not a test)")
    bsub = bench.add_subparsers(dest="bench", required=True, parser_class=type(bench))
    eng = bsub.add_parser("engine", help="invoke() and decode time per model size and image")
    eng.add_argument("--images", default="../shared/images", help="folder of test photos")
    eng.add_argument("--models-dir", help="models folder (default: $POSENET_MODELS_DIR)")
    eng.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    eng.add_argument("--families", nargs="+", default=["_16", ""], help='"_16" (test_data) and/or "" (project-posenet)')
    eng.add_argument("--repeat", type=int, default=200)
    eng.add_argument("--threads", type=int, default=2)
    eng.add_argument("--min-pose-score", type=float, default=0.2)
    eng.set_defaults(func=cmd_engine)
