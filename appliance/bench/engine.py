"""``bench engine``: invoke() and decode time per model size and photo, the C decoder against the
numpy one (their ratio in the same process)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from appliance.bench.common import data_args, images_in, median_time

__all__ = ["SIZES", "add_parser"]

SIZES = ("353_481", "481_641", "721_1281")


def cmd_engine(args: argparse.Namespace) -> int:
    """Per model size: median invoke() and decode time per image, the C decoder vs numpy."""
    from appliance.capture.images import load_image
    from appliance.models import load_model
    from appliance.models.catalog import models_dir
    from appliance.pose.decode import DEFAULT_IMPLEMENTATION, decode_multi
    from appliance.pose.preprocess import to_input_tensor

    folder = models_dir(args.models_dir)
    images = [(p.name, load_image(str(p))) for p in images_in(Path(args.images))]
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
            model = load_model(path, "cpu", threads=args.threads)
            for img_name, image in images:
                tensor = to_input_tensor(image, model.info.input_size)
                heads = model.infer(tensor)
                t_inv = median_time(partial(model.infer, tensor), max(args.repeat // 5, 5), 2)
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
            model.close()
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench engine``."""
    eng = bsub.add_parser("engine", help="invoke() and decode time per model size and image")
    data_args(eng)
    eng.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    eng.add_argument("--families", nargs="+", default=["_16", ""], help='"_16" (test_data) and/or "" (project-posenet)')
    eng.add_argument("--repeat", type=int, default=200)
    eng.add_argument("--threads", type=int, default=2)
    eng.add_argument("--min-pose-score", type=float, default=0.2)
    eng.set_defaults(func=cmd_engine)
