"""Receivers artists already run, each real or as strict as the real one: oscP5's 1,536-byte buffer,
liblo (which honours time tags) against a box whose clock runs 2 s ahead, node-osc current and the
1.2.0 the seed's p5js-osc bridge pins."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from tests.support.net import free_udp_port, wait_udp_bound
from tests.support.receivers import run_appliance, run_into_sinks

HERE = Path(__file__).resolve().parent
OSCP5_BUFFER = 1536  # oscP5's default datagram buffer: anything bigger kills its receive thread
FORMATS = ("individual", "individual-bundle", "wekinator", "arr", "bundle")


@pytest.fixture(scope="module")
def six_people(images_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """face.jpg (4 people) and test_couple.jpg (2) side by side: the 481x641 model finds 6."""
    a = Image.open(images_dir / "face.jpg").convert("RGB")
    b = Image.open(images_dir / "test_couple.jpg").convert("RGB")
    b = b.resize((int(b.width * a.height / b.height), a.height))
    both = Image.new("RGB", (a.width + b.width, a.height))
    both.paste(a, (0, 0))
    both.paste(b, (a.width, 0))
    folder = tmp_path_factory.mktemp("six")
    both.save(folder / "six.jpg")
    return folder


@pytest.mark.parametrize(("image", "people"), [("test_couple.jpg", 2), ("six.jpg", 6)])
def test_an_oscp5_sized_receiver_gets_every_format_whole(
    models_dir: Path, images_dir: Path, six_people: Path, tmp_path: Path, image: str, people: int
) -> None:
    folder = six_people if image == "six.jpg" else images_dir
    run, sinks = run_into_sinks(FORMATS, models_dir, folder, 3.0, tmp_path / "state", image=image)
    assert run.returncode == 0, run.stderr
    for fmt, sink in sinks.items():
        assert sink.got, fmt
        assert max(map(len, sink.got)) <= OSCP5_BUFFER, (fmt, max(map(len, sink.got)))
    # individual: every keypoint of every person, one message each
    amounts = [OscMessage(d).params[0] for d in sinks["individual"].got if d.startswith(b"/poses/amount")]
    assert people in amounts
    # the split bundles: a frame is whole once its pieces are gathered by frame number
    frames: dict[int, set[int]] = defaultdict(set)
    counts: dict[int, int] = {}
    for d in sinks["bundle"].got:
        b = OscBundle(d)
        head = OscMessage(b.content(0).dgram)
        counts[head.params[0]] = head.params[3]
        inside = [OscMessage(b.content(i).dgram) for i in range(1, b.num_contents)]
        frames[head.params[0]] |= {m.params[1] for m in inside if m.address == "/posenet/person/pose"}
    assert any(counts[f] == people and frames[f] == set(range(people)) for f in frames)
    per_frame: dict[int, int] = defaultdict(int)
    for d in sinks["individual-bundle"].got:
        b = OscBundle(d)
        frame = OscMessage(b.content(0).dgram).params[0]
        per_frame[frame] += sum(1 for i in range(2, b.num_contents))
    assert people * 17 in per_frame.values()
    arr = OscMessage(sinks["arr"].got[-1]).params
    assert arr[2] == min(people, 5) and len(arr) == 3 + 52 * arr[2]  # the best 5 fit one datagram


def _faketime() -> str:
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    if not found:
        pytest.fail("libfaketime is not installed (.ci/setup installs it)")
    return found[0]


def test_liblo_is_not_held_back_by_a_clock_two_seconds_ahead(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """A Pi without network time has no real-time clock. Bundles are sent 'immediately' by default,
    so liblo dispatches them at once; only a target asking for capture time tags is held."""
    pytest.importorskip("pyliblo3")
    ports = {"immediate": free_udp_port(), "capture": free_udp_port()}
    receivers = {
        k: subprocess.Popen(
            [sys.executable, str(HERE / "liblo_receiver.py"), str(p), "9"], stdout=subprocess.PIPE, text=True
        )
        for k, p in ports.items()
    }
    for p in ports.values():
        wait_udp_bound(p)
    env = {
        **os.environ,
        "LD_PRELOAD": _faketime(),
        "FAKETIME": "+2s",
        "DONT_FAKE_MONOTONIC": "1",
        "POSENET_MODELS_DIR": str(models_dir),
    }
    targets = [
        {"host": "127.0.0.1", "port": ports[k], "format": "bundle", "timetag": k} for k in ("immediate", "capture")
    ]
    (tmp_path / "config.json").write_text(json.dumps({"targets": targets}))
    model = models_dir / "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
    argv = [sys.executable, "-m", "appliance", "run", "--source", f"images:{images_dir}/face.jpg@10"]
    argv += ["--model", str(model), "--state-dir", str(tmp_path), "--no-control", "--no-discovery", "--quiet"]
    box = subprocess.run([*argv, "--duration", "6"], capture_output=True, text=True, env=env, timeout=120)
    results = {}
    for k, proc in receivers.items():
        out, _ = proc.communicate(timeout=30)
        results[k] = json.loads(out.splitlines()[-1])
    assert box.returncode == 0, box.stderr
    # What liblo held each frame for: dispatched (this clock) minus captured (the box's, 2 s ahead).
    held = {k: sorted(d - (c - 2.0) for d, c in v) for k, v in results.items()}
    immediate, capture = held["immediate"], held["capture"]
    mid = immediate[len(immediate) // 2], capture[len(capture) // 2]
    print(f"liblo held bundles: immediate median {mid[0]:.3f} s, capture {mid[1]:.3f} s")
    assert len(immediate) > 10 and len(capture) > 5
    assert immediate[len(immediate) // 2] < 0.3, immediate[:5]  # dispatched on arrival
    assert 1.7 < capture[len(capture) // 2] < 2.5, capture[:5]  # held until the (skewed) capture time


def test_node_osc_current_and_the_seeds_pinned_version(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    """Current node-osc delivers bundles as 'bundle' events (a bridge listening to 'message' misses
    them); 1.2.0, which the seed's p5js-osc bridge pins, delivers each bundle as one 'message' event,
    ``["#bundle", timetag, [address, args...], ...]``, which that bridge forwards."""
    node = shutil.which("node")
    modules = HERE / "node" / "node_modules"
    if node is None or not modules.exists():
        pytest.fail("Node.js and tests/peers/node/node_modules are needed (.ci/setup installs them)")
    ports = {(lib, fmt): free_udp_port() for lib in ("new", "old") for fmt in ("individual", "bundle")}
    procs = {
        key: subprocess.Popen(
            [node, str(HERE / "node" / "receive.cjs"), key[0], str(p), "6"], stdout=subprocess.PIPE, text=True
        )
        for key, p in ports.items()
    }
    for p in ports.values():
        wait_udp_bound(p)
    run = run_appliance(
        models_dir, images_dir, [f"127.0.0.1:{p}/{key[1]}" for key, p in ports.items()], 3.0, tmp_path / "state"
    )
    assert run.returncode == 0, run.stderr
    events = {}
    for key, proc in procs.items():
        out, _ = proc.communicate(timeout=30)
        events[key] = [json.loads(line) for line in out.splitlines()]

    def kinds(key: tuple[str, str]) -> set[str]:
        return {e["kind"] for e in events[key]} - {"ready"}

    for lib in ("new", "old"):
        messages = [e["value"] for e in events[(lib, "individual")] if e["kind"] == "message"]
        assert ["/poses/amount", 4] in messages and any(m[0] == "/poses/3/rightAnkle" for m in messages)
    assert kinds(("new", "bundle")) == {"bundle"}  # a 'message' listener sees nothing
    assert kinds(("old", "bundle")) == {"message"}
    old = [e["value"] for e in events[("old", "bundle")] if e["kind"] == "message"]
    assert old and all(b[0] == "#bundle" for b in old)
    assert any(m[0] == "/posenet/frame" and m[2:5] == [512, 355, 4] for b in old for m in b[2:])
