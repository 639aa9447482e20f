"""``bench pipeline``: the real pipeline's throughput against a bare invoke() loop, its latency, the
OSC encode + send cost per format against python-osc, and what the Python side costs with a 10 ms
stand-in for an Edge TPU."""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

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


def _plain_python_osc(fmt: str, poses: Any, client: Any) -> None:
    """The same output built and sent the plain python-osc way (message builder + client)."""
    from pythonosc import osc_bundle_builder, osc_message_builder

    from appliance.types import KEYPOINT_NAMES

    kp = poses.normalized()

    def message(address: str, values: list[Any], tags: str) -> Any:
        b = osc_message_builder.OscMessageBuilder(address=address)
        for v, t in zip(values, tags, strict=True):
            b.add_arg(float(v) if t == "f" else int(v), arg_type=t)
        return b.build()

    n = len(poses)
    if fmt in ("individual", "individual-bundle"):
        msgs = [message("/poses/amount", [n], "i")]
        for i in range(n):
            for k, name in enumerate(KEYPOINT_NAMES):
                msgs.append(message(f"/poses/{i}/{name}", [kp[i, k, 2], kp[i, k, 0], kp[i, k, 1]], "fff"))
        if fmt == "individual":
            for m in msgs:
                client.send(m)
            return
        bb = osc_bundle_builder.OscBundleBuilder(poses.t_wall)
        for m in msgs:
            bb.add_content(m)
        client.send(bb.build())
    elif fmt == "wekinator":
        vals = [v for k in range(17) for v in (kp[0, k, 2], kp[0, k, 0], kp[0, k, 1])]
        client.send(message("/wek/inputs", vals, "f" * 51))
    elif fmt == "arr":
        arr_vals: list[Any] = [poses.frame_size[0], poses.frame_size[1], n]
        for i in range(n):
            arr_vals += [poses.scores[i], *kp[i].reshape(-1)]
        client.send(message("/poses/arr", arr_vals, "iii" + "f" * (len(arr_vals) - 3)))
    else:
        bb = osc_bundle_builder.OscBundleBuilder(poses.t_wall)
        bb.add_content(message("/posenet/frame", [poses.frame_index, *poses.frame_size, n], "iiii"))
        for i in range(n):
            bb.add_content(
                message("/posenet/person/pose", [i, i, poses.scores[i], *kp[i].reshape(-1)], "iif" + "f" * 51)
            )
        client.send(bb.build())


def cmd_pipeline(args: argparse.Namespace) -> int:
    """Throughput vs bare invoke(), encode+send cost per format vs python-osc, latency, 10 ms TPU."""
    import socket

    import numpy as np
    from pythonosc import udp_client

    from appliance.capture.images import load_image
    from appliance.inference.replay_backend import ReplayBackend
    from appliance.models import family, load_model
    from appliance.models.catalog import models_dir
    from appliance.models.engine import PoseEngine
    from appliance.output.osc import FORMATS, OutputOptions
    from appliance.pose.preprocess import to_input_tensor
    from appliance.transport.udp import TargetSpec, UdpTarget
    from appliance.types import Poses

    folder = models_dir(args.models_dir)
    images = Path(args.images)
    backend = load_model(folder / args.model, "cpu", threads=args.threads)
    engine = PoseEngine(backend)
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in FORMATS]
    for s in sinks:
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    specs = [TargetSpec("127.0.0.1", s.getsockname()[1], fmt) for s, fmt in zip(sinks, FORMATS, strict=True)]
    print(f"model {args.model}, backend {backend.name}, {args.seconds:.0f} s per run, {args.repeat} runs (median)")

    # 1. Throughput: the whole pipeline, every format on, vs a bare invoke() loop, same process.
    #    The source runs at twice the bare rate: never the bottleneck, as a real camera would not be.
    tensor = to_input_tensor(load_image(str(images / "face.jpg")), backend.info.input_size)
    pipe_fps: list[float] = []
    for threads in sorted({1, args.threads}):
        tb = load_model(folder / args.model, "cpu", threads=threads)
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

    # 2. Latency, the source slower than the pipeline so frames never wait.
    lat_fps = max(1.0, 0.6 * statistics.median(pipe_fps))
    stats, _ = _pipeline_run(f"images:{images}/*.jpg@{lat_fps:.1f},hold=0", engine, specs, args.seconds * 2)
    print(
        f"latency capture->send at {lat_fps:.0f} fps: p50 {stats.latency_p50_ms:.2f} ms, p99 "
        f"{stats.latency_p99_ms:.2f} ms; inference {stats.inference_ms:.2f} ms, preprocess "
        f"{stats.preprocess_ms:.2f} ms, decode {stats.decode_ms:.3f} ms, send {stats.send_ms:.3f} ms; "
        f"p50 - inference = {stats.latency_p50_ms - stats.inference_ms:.2f} ms (target <= 3)"
    )

    # 3. Encode + send per frame for 5 people, per format, vs python-osc used the plain way.
    kp = np.random.default_rng(1).random((5, 17, 3), dtype=np.float32) * np.array([640, 480, 1], np.float32)
    poses = Poses(
        kp, np.linspace(0.9, 0.5, 5, dtype=np.float32), np.arange(5, dtype=np.int32), (640, 480), 1, 0.0, time.time()
    )
    sink = sinks[0].getsockname()[1]
    client = udp_client.SimpleUDPClient("127.0.0.1", sink)
    print(f"{'format':18s} {'datagrams':>9s} {'bytes':>6s} {'ours us':>8s} {'python-osc us':>13s} {'ratio':>6s}")
    for fmt, encode in FORMATS.items():
        target = UdpTarget(TargetSpec("127.0.0.1", sink, fmt))
        target.open()
        opts = OutputOptions()
        datagrams = encode(poses, opts)

        def ours(e: Any = encode, t: Any = target, o: Any = opts) -> None:
            t.send(e(poses, o))

        ours_t = median_time(ours, args.repeat * 100)
        plain_t = median_time(partial(_plain_python_osc, fmt, poses, client), args.repeat * 20)
        target.close()
        print(
            f"{fmt:18s} {len(datagrams):9d} {sum(map(len, datagrams)):6d} {ours_t * 1e6:8.1f} "
            f"{plain_t * 1e6:13.1f} {plain_t / ours_t:6.1f}"
        )

    # 4. A backend that sleeps 10 ms per frame (an Edge TPU stand-in): what the Python side costs.
    outputs = [
        backend.backend.infer(to_input_tensor(load_image(str(p)), backend.info.input_size)) for p in images_in(images)
    ]
    replay = PoseEngine(family(backend.info.family).bind(ReplayBackend(backend.backend.io, outputs, 0.010)))
    for _ in range(1):
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
    for s in sinks:
        s.close()
    backend.close()
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
