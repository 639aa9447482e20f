"""``bench pipeline``: the real pipeline's throughput against a bare invoke() loop, its latency, the
OSC encode + send cost per format against python-osc sending the same bytes, the send thread's
per-frame budget (``encoding``), and what the Python side costs with a 10 ms stand-in for an Edge
TPU."""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

from appliance.bench import encoding
from appliance.bench.common import data_args, images_in, median_time

__all__ = ["add_parser"]


def _pipeline_run(source_spec: str, engine: Any, specs: list[Any], seconds: float) -> Any:
    """Run the real pipeline for ``seconds``; (final stats, processed frames per second)."""
    from appliance.capture import create_source
    from appliance.pipeline.runner import PipelineRunner
    from appliance.transport.targets import TargetSet

    with TargetSet(specs) as targets:
        runner = PipelineRunner(create_source(source_spec), engine, targets)
        runner.start()
        time.sleep(1.0)  # warm-up: first frames, interpreter caches
        start = runner.stats()
        time.sleep(seconds)
        end = runner.stats()
        runner.stop()
    processed = end.frames_processed - start.frames_processed
    return end, processed / seconds


def _throughput(args: argparse.Namespace, folder: Path, specs: list[Any]) -> list[float]:
    """The whole pipeline, every format on, vs a bare invoke() loop in the same process, per number
    of interpreter threads; the source at twice the bare rate (never the bottleneck, as a real
    camera would not be). Returns the pipeline's fps of the last thread count."""
    from appliance.capture.images import load_image
    from appliance.models import load_model
    from appliance.models.engine import PoseEngine
    from appliance.pose.preprocess import to_input_tensor

    images = Path(args.images)
    pipe_fps: list[float] = []
    for threads in sorted({1, args.threads}):
        tb = load_model(folder / args.model, "cpu", threads=threads)
        tensor = to_input_tensor(load_image(str(images / "face.jpg")), tb.info.input_size)
        t_engine = PoseEngine(tb)
        ratios, pipe, bare_l = [], [], []
        for _ in range(args.repeat):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                tb.infer(tensor)
                n += 1
            bare = n / (time.perf_counter() - t0)
            _, fps = _pipeline_run(f"images:{images}/*.jpg@{2 * bare:.0f},hold=0", t_engine, specs, args.seconds)
            ratios.append(fps / bare)
            pipe.append(fps)
            bare_l.append(bare)
        tb.close()
        pipe_fps = pipe
        print(
            f"throughput, {threads} interpreter thread(s): pipeline {statistics.median(pipe):.1f} fps vs bare "
            f"invoke() {statistics.median(bare_l):.1f} fps: ratio {statistics.median(ratios):.3f} (target >= 0.95)"
        )
    return pipe_fps


def _latency(args: argparse.Namespace, engine: Any, specs: list[Any], pipe_fps: list[float]) -> None:
    """Latency with the source slower than the pipeline, so frames never wait."""
    lat_fps = max(1.0, 0.6 * statistics.median(pipe_fps))
    stats, _ = _pipeline_run(f"images:{args.images}/*.jpg@{lat_fps:.1f},hold=0", engine, specs, args.seconds * 2)
    print(
        f"latency capture->send at {lat_fps:.0f} fps: p50 {stats.latency_p50_ms:.2f} ms, p99 "
        f"{stats.latency_p99_ms:.2f} ms; inference {stats.inference_ms:.2f} ms, preprocess "
        f"{stats.preprocess_ms:.2f} ms, decode {stats.decode_ms:.3f} ms, send {stats.send_ms:.3f} ms; "
        f"p50 - inference = {stats.latency_p50_ms - stats.inference_ms:.2f} ms (target <= 3)"
    )


def _per_frame(args: argparse.Namespace, model: Any, port: int) -> None:
    """Encode + send of 5 people per format against python-osc; the send thread's budget per crowd."""
    import numpy as np

    from appliance.capture.images import load_image
    from appliance.pose.decode import decode_multi
    from appliance.pose.preprocess import to_input_tensor
    from appliance.types import Poses

    kp = np.random.default_rng(1).random((5, 17, 3), dtype=np.float32) * np.array([640, 480, 1], np.float32)
    poses = Poses(
        kp, np.linspace(0.9, 0.5, 5, dtype=np.float32), np.arange(5, dtype=np.int32), (640, 480), 1, 0.0, time.time()
    )
    encoding.encode_table(poses, port, args.repeat)
    decode: dict[str, tuple[int, float]] = {}
    for p in images_in(Path(args.images)):
        heads = model.infer(to_input_tensor(load_image(str(p)), model.info.input_size))
        decode[p.name] = (len(decode_multi(heads)), median_time(partial(decode_multi, heads), args.repeat * 50))
    encoding.budget_table(decode, port, args.repeat)


def _standin(args: argparse.Namespace, model: Any, specs: list[Any]) -> None:
    """An inference backend that sleeps 10 ms per frame (an Edge TPU stand-in): what the Python side costs."""
    from appliance.capture.images import load_image
    from appliance.inference.replay_backend import ReplayBackend
    from appliance.models import family
    from appliance.models.engine import PoseEngine
    from appliance.pose.preprocess import to_input_tensor

    images = Path(args.images)
    outputs = [
        model.backend.infer(to_input_tensor(load_image(str(p)), model.info.input_size)) for p in images_in(images)
    ]
    replay = PoseEngine(family(model.info.family).bind(ReplayBackend(model.backend.io, outputs, 0.010)))
    stats, fps = _pipeline_run(f"images:{images}/*.jpg@1000,hold=0", replay, specs, args.seconds * 2)
    print(
        f"10 ms backend: {fps:.1f} fps (ideal 100, ratio {fps / 100:.3f}); per frame outside the backend "
        f"{1e3 / max(fps, 1e-9) - 10:.2f} ms; latency p50 {stats.latency_p50_ms:.2f} ms p99 "
        f"{stats.latency_p99_ms:.2f} ms (queueing included at full rate)"
    )
    lat_stats, _ = _pipeline_run(f"images:{images}/*.jpg@50,hold=0", replay, specs, args.seconds * 2)
    print(
        f"10 ms backend at 50 fps: latency p50 {lat_stats.latency_p50_ms:.2f} ms, p99 "
        f"{lat_stats.latency_p99_ms:.2f} ms; preprocess {lat_stats.preprocess_ms:.2f} ms, decode "
        f"{lat_stats.decode_ms:.3f} ms, send {lat_stats.send_ms:.3f} ms"
    )


def cmd_pipeline(args: argparse.Namespace) -> int:
    """Throughput vs bare invoke(), latency, encode + send per format vs python-osc (the same bytes),
    the send thread's per-frame budget, and a 10 ms stand-in for an Edge TPU."""
    import socket

    from appliance.models import load_model
    from appliance.models.catalog import models_dir
    from appliance.models.engine import PoseEngine
    from appliance.output.osc import FORMATS
    from appliance.transport.udp import TargetSpec

    folder = models_dir(args.models_dir)
    model = load_model(folder / args.model, "cpu", threads=args.threads)
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in FORMATS]
    for s in sinks:
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    specs = [TargetSpec("127.0.0.1", s.getsockname()[1], fmt) for s, fmt in zip(sinks, FORMATS, strict=True)]
    print(f"model {args.model}, runs on {model.name}, {args.seconds:.0f} s per run, {args.repeat} runs (median)")
    pipe_fps = _throughput(args, folder, specs)
    _latency(args, PoseEngine(model), specs, pipe_fps)
    _per_frame(args, model, sinks[0].getsockname()[1])
    _standin(args, model, specs)
    for s in sinks:
        s.close()
    model.close()
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench pipeline``."""
    pipe = bsub.add_parser("pipeline", help="pipeline throughput, latency, OSC encode+send cost")
    data_args(pipe)
    pipe.add_argument("--model", default="posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite")
    pipe.add_argument("--seconds", type=float, default=4.0, help="length of each timed run")
    pipe.add_argument("--repeat", type=int, default=3)
    pipe.add_argument("--threads", type=int, default=2)
    pipe.set_defaults(func=cmd_pipeline)
