"""Benchmarks that print numbers: ``posenet-appliance bench engine``.

Medians of repeated runs, with ratios against a baseline measured in the same process, because
these machines are shared and noisy. Not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "data_args", "median_time"]

SIZES = ("353_481", "481_641", "721_1281")


def data_args(parser: Any) -> Any:
    """The options every benchmark takes: where the test photos and the models are."""
    parser.add_argument("--images", default="../shared/images", help="folder of test photos")
    parser.add_argument("--models-dir", help="models folder (default: $POSENET_MODELS_DIR)")
    return parser


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
    """Per model size: median invoke() and decode time per image, the C decoder vs numpy."""
    from appliance.capture.images import load_image
    from appliance.models import load_model
    from appliance.models.catalog import models_dir
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
            backend = load_model(path, "cpu", threads=args.threads)
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
            _, fps = _pipeline_run(f"images:{images}/*.jpg@{2 * bare:.0f}", t_engine, specs, args.seconds)
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
    stats, _ = _pipeline_run(f"images:{images}/*.jpg@{lat_fps:.1f}", engine, specs, args.seconds * 2)
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
        backend.backend.infer(to_input_tensor(load_image(str(p)), backend.info.input_size)) for p in _images(images)
    ]
    replay = PoseEngine(family(backend.info.family).bind(ReplayBackend(backend.backend.io, outputs, 0.010)))
    for _ in range(1):
        stats, fps = _pipeline_run(f"images:{images}/*.jpg@1000", replay, specs, args.seconds * 2)
    print(
        f"10 ms backend: {fps:.1f} fps (ideal 100, ratio {fps / 100:.3f}); per frame outside the backend "
        f"{1e3 / max(fps, 1e-9) - 10:.2f} ms; latency p50 {stats.latency_p50_ms:.2f} ms p99 "
        f"{stats.latency_p99_ms:.2f} ms (queueing included at full rate)"
    )
    lat_stats, _ = _pipeline_run(f"images:{images}/*.jpg@50", replay, specs, args.seconds * 2)
    print(
        f"10 ms backend at 50 fps: latency p50 {lat_stats.latency_p50_ms:.2f} ms, p99 "
        f"{lat_stats.latency_p99_ms:.2f} ms; preprocess {lat_stats.preprocess_ms:.2f} ms, decode "
        f"{lat_stats.decode_ms:.3f} ms, send {lat_stats.send_ms:.3f} ms"
    )
    for s in sinks:
        s.close()
    backend.close()
    return 0


def _rss_mb(pid: int) -> float:
    with Path(f"/proc/{pid}/status").open() as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def service_argv(args: argparse.Namespace, state: str, port: int, fps: float, standin_ms: float) -> list[str]:
    """The real service on face.jpg at ``fps``, bundles to ``port`` on loopback, HTTP on a free loopback
    port, no control port, OSCQuery or mDNS: ``run`` on the CPU, or with ``standin_ms`` the same with a
    backend replaying the model's outputs every that many ms (``bench footprint-run``)."""
    import os
    import sys

    model = Path(args.models_dir or os.environ.get("POSENET_MODELS_DIR", ".")) / args.model
    image = Path(args.images).resolve() / "face.jpg"
    argv = [sys.executable, "-m", "appliance"]
    if standin_ms:
        argv += ["bench", "footprint-run", "--standin-ms", str(standin_ms), "--model", str(model)]
        argv += ["--image", str(image), "--port", str(port), "--state-dir", state, "--fps", str(fps)]
    else:
        argv += ["run", "--source", f"images:{image}@{fps:g}", "--model", str(model), "--state-dir", state]
        argv += ["--target", f"127.0.0.1:{port}/bundle", "--http-bind", "127.0.0.1", "--http-port", "0"]
        argv += ["--control-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet"]
        argv += ["--threads", str(args.threads), "--backend", "cpu"]
    return argv


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
            rss = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            rx.close()
    return first, rss


def cmd_footprint(args: argparse.Namespace) -> int:
    """Steady RSS and start-to-first-datagram of ``run``, per decoder, CPU and a 10 ms stand-in backend."""
    from appliance.pose.decode import available_implementations

    print(f"model {args.model}; medians of {args.repeat} runs; RSS after {args.settle:.0f} s of streaming")
    print(f"{'backend':22s} {'decoder':8s} {'first datagram s':>17s} {'steady RSS MB':>14s}")
    for standin in (0.0, 10.0):
        for decoder in available_implementations():
            runs = [_footprint_once(args, decoder, standin) for _ in range(args.repeat)]
            first = statistics.median(r[0] for r in runs)
            rss = statistics.median(r[1] for r in runs)
            backend = f"stand-in {standin:.0f} ms" if standin else f"cpu ({args.threads} threads)"
            print(f"{backend:22s} {decoder:8s} {first:17.2f} {rss:14.1f}")
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
            "inference": {"model": model.name, "backend": "cpu"},
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


#: The soak's faults, by call count of each point at 10 fps: each point's fault every 2,400 frames
#: (4 minutes), the points staggered by 36 s.
SOAK_FAILPOINTS = (
    "capture.read=raise@360%2400,capture.read=stall@720%2400,prepare=raise@1080%2400,"
    "infer=raise@1440%2400,decode=raise@1800%2400,send=raise@2160%2400"
)


class _Soak:
    """What the soak's load threads record (each field written by one thread)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int]] = []  # (monotonic, frame index) as received
        self.receiver_off: list[tuple[float, float]] = []  # windows our receiver was closed
        self.events: list[tuple[float, str]] = []  # (monotonic, log line) of faults and recoveries
        self.acked = 0  # configuration changes answered 200/201
        self.last_name = ""
        self.subscriptions = 0  # control-port subscriptions confirmed
        self.garbage = 0
        self.rss: list[tuple[float, float]] = []


def _soak_receiver(state: _Soak, port: int, stop: Any, period: float) -> None:
    """Receive the bundle stream; close for 5 s every ``period`` s (a receiver coming and going)."""
    import socket

    from pythonosc.osc_bundle import OscBundle
    from pythonosc.osc_message import OscMessage

    next_off = time.monotonic() + period
    while not stop.is_set():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
            rx.bind(("127.0.0.1", port))
            rx.settimeout(0.2)
            while not stop.is_set() and time.monotonic() < next_off:
                try:
                    data = rx.recv(65536)
                except TimeoutError:
                    continue
                header = OscMessage(OscBundle(data).content(0).dgram)
                state.frames.append((time.monotonic(), int(header.params[0])))
        off = time.monotonic()
        stop.wait(5.0)
        state.receiver_off.append((off, time.monotonic()))
        next_off = time.monotonic() + period


def _soak_http(state: _Soak, base: str, receiver_port: int, stop: Any) -> None:
    """Configuration churn over HTTP: a rename every 2 s, a target added and removed every 10 s."""
    import json
    import urllib.request

    def call(method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status in (200, 201):
                state.acked += 1
            return json.load(r)

    i = 0
    while not stop.wait(2.0):
        i += 1
        try:
            call(
                "PATCH", "/api/config", {"device_name": f"soak-{i}", "decoder": {"min_pose_score": 0.2 + (i % 5) / 100}}
            )
            state.last_name = f"soak-{i}"
            if i % 5 == 0:
                targets = call("POST", "/api/targets", {"host": "127.0.0.1", "port": 9, "format": "arr"})
                call("DELETE", f"/api/targets/{len(targets) - 1}")
        except OSError:
            continue


def _soak_control(state: _Soak, port: int, stop: Any) -> None:
    """Control-port churn: subscribe (with the confirmation), change, remove; garbage every second."""
    import os
    import socket

    from appliance.output.osc.wire import message, parse_message

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as patch:
        patch.bind(("127.0.0.1", 0))
        patch.settimeout(2.0)
        box = ("127.0.0.1", port)
        i = 0
        while not stop.wait(1.0):
            i += 1
            patch.sendto(os.urandom(40 + i % 200), box)
            state.garbage += 1
            if i % 5:
                continue
            try:
                patch.sendto(message("/posenet/listeners/add", "is", [patch.getsockname()[1], "bundle"]), box)
                while True:
                    address, args = parse_message(patch.recv(65536))
                    if address == "/posenet/listeners/confirm":
                        patch.sendto(message("/posenet/listeners/confirm", "s", [str(args[0])]), box)
                    if address == "/posenet/listeners/added":
                        state.subscriptions += 1
                        break
                patch.sendto(message("/posenet/format", "s", ["arr"]), box)
                patch.sendto(message("/posenet/listeners/remove", "", []), box)
            except (OSError, ValueError):
                continue


def _soak_log(state: _Soak, log: Path, stop: Any) -> None:
    """Stamp the service's log lines about faults and recoveries with our clock."""
    with log.open() as f:
        while not stop.is_set():
            line = f.readline()
            if not line:
                stop.wait(0.2)
                continue
            if "appliance.failpoints: failpoint" in line:
                state.events.append((time.monotonic(), line.strip()[:110]))


def cmd_soak(args: argparse.Namespace) -> int:
    """The real service for ``--minutes`` with faults in a loop; prints RSS, fps around each fault and
    the time to recover, changes acknowledged vs saved, log bytes per hour."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import tempfile
    import threading

    state = _Soak()
    stop = threading.Event()
    ports = []
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    receiver, http, control = ports
    model = Path(args.models_dir or os.environ.get("POSENET_MODELS_DIR", ".")) / args.model
    image = Path(args.images).resolve() / "face.jpg"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "service.log"
        argv = [sys.executable, "-m", "appliance", "run", "--source", f"images:{image}@10", "--model", str(model)]
        argv += ["--state-dir", tmp, "--target", f"127.0.0.1:{receiver}/bundle", "--http-bind", "127.0.0.1"]
        argv += ["--http-port", str(http), "--control-port", str(control), "--oscquery-port", "0"]
        argv += ["--no-discovery", "--quiet", "--threads", "1"]
        env = {**os.environ, "POSENET_FAILPOINTS": args.failpoints}
        with log.open("w") as out:
            proc = subprocess.Popen(argv, stderr=out, env=env)
        base = f"http://127.0.0.1:{http}"
        t0 = time.monotonic()
        loads = [
            threading.Thread(target=_soak_receiver, args=(state, receiver, stop, 45.0), daemon=True),
            threading.Thread(target=_soak_log, args=(state, log, stop), daemon=True),
        ]
        for t in loads:
            t.start()
        while not state.frames and time.monotonic() - t0 < 120:
            time.sleep(0.2)
        for target, targs in ((_soak_http, (state, base, receiver, stop)), (_soak_control, (state, control, stop))):
            loads.append(threading.Thread(target=target, args=targs, daemon=True))
            loads[-1].start()
        start = time.monotonic()
        log_start = log.stat().st_size
        end = start + args.minutes * 60
        print(f"soak: {args.minutes:.0f} min, failpoints {args.failpoints}")
        print(f"{'min':>4s} {'fps':>6s} {'RSS MB':>7s} {'restarts':>8s} {'errors':>7s} {'acked':>6s} {'subs':>5s}")
        minute = 0
        while time.monotonic() < end:
            time.sleep(min(60.0, max(end - time.monotonic(), 0.1)))
            minute += 1
            rss = _rss_mb(proc.pid)
            state.rss.append((time.monotonic(), rss))
            now = time.monotonic()
            fps = sum(1 for t, _ in state.frames if now - 60 <= t) / 60
            try:
                with urllib_open(base + "/api/status") as r:
                    status = json.load(r)
            except OSError:
                status = {"pipeline_restarts": "?", "pipeline": {"errors": "?"}}
            print(
                f"{minute:4d} {fps:6.1f} {rss:7.1f} {status['pipeline_restarts']!s:>8s} "
                f"{status.get('pipeline', {}).get('errors', '?')!s:>7s} {state.acked:6d} {state.subscriptions:5d}",
                flush=True,
            )
        stop.set()
        for t in loads:
            t.join(10)
        elapsed = time.monotonic() - start
        log_bytes = log.stat().st_size - log_start
        proc.terminate()
        proc.wait(timeout=20)
        saved = json.loads((Path(tmp) / "config.json").read_text())
    _soak_report(state, args, start, elapsed, log_bytes, saved, proc.returncode)
    return 0


def urllib_open(url: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(url, timeout=10)


def _soak_report(
    state: _Soak, args: argparse.Namespace, start: float, elapsed: float, log_bytes: int, saved: Any, rc: int
) -> None:
    times = [t for t, _ in state.frames if t >= start]
    off = state.receiver_off

    def receiving(t: float) -> bool:
        return not any(a - 1.0 <= t <= b + 1.0 for a, b in off)

    def fps(a: float, b: float) -> float:
        return sum(1 for t in times if a <= t < b) / max(b - a, 1e-9)

    print("\nfaults (service log, stamped here): fps 10 s before / 10 s after, seconds until frames resume")
    recoveries = []
    faults = [(t, line) for t, line in state.events if "appliance.failpoints: failpoint" in line and t >= start]
    for t, line in faults:
        resume = next((x for x in times if x > t), None)
        recover = (resume - t) if resume is not None else float("inf")
        if receiving(t):
            recoveries.append(recover)
        print(
            f"  {t - start:7.1f} s  {fps(t - 10, t):5.1f} / {fps(t, t + 10):5.1f} fps  {recover:5.2f} s  {line[-60:]}"
        )
    fault_times = [t for t, _ in faults]

    def explained(a: float, b: float) -> bool:  # a fault started this pause
        return any(a - 0.5 <= t <= b for t in fault_times)

    gaps = [
        b - a
        for a, b in itertools.pairwise(times)
        if b - a > 1.0 and receiving(a) and receiving(b) and not explained(a, b)
    ]
    rss0, rss1 = (state.rss[0][1], state.rss[-1][1]) if state.rss else (0.0, 0.0)
    print(
        f"\nsummary over {elapsed / 60:.1f} min: {len(times)} frames ({len(times) / elapsed:.1f} fps), "
        f"{len(faults)} failpoint faults, {len(off)} receiver outages; worst recovery "
        f"{max(recoveries, default=0):.2f} s, median {statistics.median(recoveries) if recoveries else 0:.2f} s; "
        f"{len(gaps)} pauses over 1 s not caused by a fault or a receiver outage"
    )
    print(f"RSS after the first minute {rss0:.1f} MB, at the end {rss1:.1f} MB (growth {rss1 - rss0:+.1f} MB)")
    kept = saved.get("device_name") == state.last_name
    print(
        f"changes: {state.acked} acknowledged over HTTP, the last one ({state.last_name}) "
        f"{'saved' if kept else 'NOT saved'}; {state.subscriptions} control-port subscriptions confirmed, "
        f"{state.garbage} garbage packets"
    )
    print(f"log: {log_bytes} bytes in {elapsed / 60:.1f} min = {log_bytes / elapsed * 3600:.0f} bytes per hour")
    print(f"service exit status {rc}")


def add_parser(sub: Any) -> None:
    """Register ``bench`` and its sub-benchmarks on the CLI."""
    bench = sub.add_parser("bench", help="print performance numbers (not a test)")
    bsub = bench.add_subparsers(dest="bench", required=True, parser_class=type(bench))
    eng = bsub.add_parser("engine", help="invoke() and decode time per model size and image")
    data_args(eng)
    eng.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    eng.add_argument("--families", nargs="+", default=["_16", ""], help='"_16" (test_data) and/or "" (project-posenet)')
    eng.add_argument("--repeat", type=int, default=200)
    eng.add_argument("--threads", type=int, default=2)
    eng.add_argument("--min-pose-score", type=float, default=0.2)
    eng.set_defaults(func=cmd_engine)

    pipe = bsub.add_parser("pipeline", help="pipeline throughput, latency, OSC encode+send cost")
    data_args(pipe)
    pipe.add_argument("--model", default="posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite")
    pipe.add_argument("--seconds", type=float, default=4.0, help="length of each timed run")
    pipe.add_argument("--repeat", type=int, default=3)
    pipe.add_argument("--threads", type=int, default=2)
    pipe.set_defaults(func=cmd_pipeline)

    foot = bsub.add_parser("footprint", help="steady RSS and start-to-first-datagram of run, per decoder")
    data_args(foot)
    foot.add_argument("--model", default="posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite")
    foot.add_argument("--repeat", type=int, default=3)
    foot.add_argument("--settle", type=float, default=8.0, help="seconds of streaming before RSS is read")
    foot.add_argument("--threads", type=int, default=2)
    foot.set_defaults(func=cmd_footprint)

    soak = bsub.add_parser("soak", help="the real service under faults in a loop for N minutes")
    soak.add_argument("--minutes", type=float, default=30.0)
    data_args(soak)
    soak.add_argument("--model", default="posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite")
    soak.add_argument("--failpoints", default=SOAK_FAILPOINTS, help="POSENET_FAILPOINTS for the service")
    soak.set_defaults(func=cmd_soak)

    from appliance.bench import camera, motion

    motion.add_parsers(bsub)
    camera.add_parser(bsub)

    child = bsub.add_parser("footprint-run", help="(used by bench footprint) run with a stand-in backend")
    child.add_argument("--standin-ms", type=float, default=10.0)
    child.add_argument("--model", required=True)
    child.add_argument("--image", required=True)
    child.add_argument("--port", type=int, required=True)
    child.add_argument("--state-dir", required=True)
    child.add_argument("--fps", type=float, default=15.0)
    child.add_argument("--http-port", type=int, default=0)
    child.set_defaults(func=cmd_footprint_run)
