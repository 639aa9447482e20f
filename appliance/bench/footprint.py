"""``bench footprint``: steady memory and start-to-first-datagram of the real ``run``, per decoder, on
the CPU and with a stand-in backend (``bench footprint-run``, which it starts) that answers in 10 ms
as an Edge TPU would."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from appliance.bench.common import data_args, rss_mb, service_argv

__all__ = ["add_child_parser", "add_parser"]


def _footprint_once(args: argparse.Namespace, decoder: str, standin_ms: float) -> tuple[float, float]:
    """(seconds from start to the first datagram, steady RSS in MB) of one real ``run`` process."""
    import os
    import socket
    import subprocess
    import tempfile

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(120)
    env = {**os.environ, "POSENET_DECODER": decoder}
    with tempfile.TemporaryDirectory() as state:
        argv = service_argv(args, state, rx.getsockname()[1], 15.0, standin_ms)
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
        try:
            rx.recv(65536)
            first = time.monotonic() - t0
            time.sleep(args.settle)
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            rx.close()
    return first, rss


def cmd_footprint(args: argparse.Namespace) -> int:
    """Steady RSS and start-to-first-datagram of ``run``, per decoder, CPU and a 10 ms stand-in backend."""
    from appliance.pose.decode import available_implementations

    print(f"model {args.model}; medians of {args.repeat} runs; RSS after {args.settle:.0f} s of streaming")
    print(f"{'runs on':22s} {'decoder':8s} {'first datagram s':>17s} {'steady RSS MB':>14s}")
    for standin in (0.0, 10.0):
        for decoder in available_implementations():
            runs = [_footprint_once(args, decoder, standin) for _ in range(args.repeat)]
            first = statistics.median(r[0] for r in runs)
            rss = statistics.median(r[1] for r in runs)
            runs_on = f"stand-in {standin:.0f} ms" if standin else f"cpu ({args.threads} threads)"
            print(f"{runs_on:22s} {decoder:8s} {first:17.2f} {rss:14.1f}")
    return 0


def cmd_footprint_run(args: argparse.Namespace) -> int:
    """What ``run`` does, with the backend replaced by one that replays this model's outputs every
    N ms: the part of the footprint an Edge TPU does not change (``bench footprint`` starts it)."""
    import asyncio

    from appliance.capture.images import load_image
    from appliance.config.models import AppConfig
    from appliance.config.store import ConfigStore
    from appliance.core.app import Application
    from appliance.core.factory import Folders, build_engine
    from appliance.inference.replay_backend import ReplayBackend
    from appliance.models import family
    from appliance.models.engine import PoseEngine
    from appliance.pose.preprocess import to_input_tensor
    from appliance.service.serve import serve

    model, image = Path(args.model), Path(args.image)
    store = ConfigStore.in_dir(Path(args.state_dir))
    store.load()
    store.config = AppConfig.model_validate(
        {
            "source": f"images:{image.name}@{args.fps:g}",
            "inference": {"model": model.name, "accelerator": "cpu"},
            "targets": [{"host": "127.0.0.1", "port": args.port, "format": "bundle"}],
            "http": {"bind": "127.0.0.1", "port": args.http_port},
            "osc_control": {"port": 0},
            "network": {"discovery": False, "oscquery_port": 0},
        }
    )

    def standin(inference: Any, decoder: Any, models: Any = None) -> PoseEngine:
        real = build_engine(inference, decoder, models)
        outputs = [real.model.backend.infer(to_input_tensor(load_image(str(image)), real.input_size))]
        replay = ReplayBackend(real.model.backend.io, outputs, args.standin_ms / 1e3)
        real.model.close()
        return PoseEngine(family(real.model.info.family).bind(replay), decoder)

    asyncio.run(serve(Application(store, Folders(model.parent, image.parent), engine_factory=standin)))
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench footprint``."""
    foot = bsub.add_parser("footprint", help="steady RSS and start-to-first-datagram of run, per decoder")
    data_args(foot)
    foot.add_argument("--model", default="posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite")
    foot.add_argument("--repeat", type=int, default=3)
    foot.add_argument("--settle", type=float, default=8.0, help="seconds of streaming before RSS is read")
    foot.add_argument("--threads", type=int, default=2)
    foot.set_defaults(func=cmd_footprint)


def add_child_parser(bsub: Any) -> None:
    """Register ``bench footprint-run`` (started by ``bench footprint`` and ``bench camera``)."""
    child = bsub.add_parser("footprint-run", help="(used by bench footprint) run with a stand-in backend")
    child.add_argument("--standin-ms", type=float, default=10.0)
    child.add_argument("--model", required=True)
    child.add_argument("--image", required=True)
    child.add_argument("--port", type=int, required=True)
    child.add_argument("--state-dir", required=True)
    child.add_argument("--fps", type=float, default=15.0)
    child.add_argument("--http-port", type=int, default=0)
    child.set_defaults(func=cmd_footprint_run)
