"""liblo's oscdump parses all four formats and, with ``--timetag capture``, shows the bundle format's
capture-time timetag (also carried as the frame message's last two arguments); and it hears a
p5-poses-osc preset on port 12000."""

from __future__ import annotations

import shlex
import subprocess
from collections import defaultdict
from pathlib import Path

from tests.support.net import free_udp_port, wait_udp_bound
from tests.support.receivers import MODEL, require, run_appliance
from tests.support.service import appliance_run_args

NTP_UNIX = 2208988800


def ntp(stamp: str) -> float:
    sec, frac = stamp.split(".")
    return int(sec, 16) - NTP_UNIX + int(frac, 16) / 2**32


def test_oscdump_parses_every_format(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    oscdump = require("oscdump")
    ports = {fmt: free_udp_port() for fmt in ("individual", "wekinator", "arr", "bundle")}
    logs = {fmt: tmp_path / f"{fmt}.log" for fmt in ports}
    files = {fmt: logs[fmt].open("w") for fmt in ports}
    procs = {
        fmt: subprocess.Popen([oscdump, "-L", str(port)], stdout=files[fmt], stderr=subprocess.STDOUT)
        for fmt, port in ports.items()
    }
    try:
        for port in ports.values():
            wait_udp_bound(port)
        targets = [f"127.0.0.1:{p}/{f}" for f, p in ports.items()]
        run = run_appliance(
            models_dir, images_dir, targets, 2.5, tmp_path / "state", "--coords", "normalized", "--timetag", "capture"
        )
        assert run.returncode == 0, run.stderr
    finally:
        for p in procs.values():
            p.terminate()
            p.wait(10)
        for f in files.values():
            f.close()
    rows = {f: [ln.split() for ln in logs[f].read_text().splitlines() if ln.startswith(("e", "f"))] for f in ports}

    ind = rows["individual"]
    assert ["/poses/amount", "i", "4"] in [r[1:] for r in ind]
    parts = {r[1] for r in ind}
    assert "/poses/0/nose" in parts and "/poses/3/rightAnkle" in parts
    assert all(r[2] == "fff" for r in ind if r[1] != "/poses/amount")

    wek = rows["wekinator"]
    assert wek and all(r[1] == "/wek/inputs" and r[2] == "f" * 51 and len(r) == 3 + 51 for r in wek)

    arr = [r for r in rows["arr"] if r[5] != "0"]  # the first frame: nobody confirmed yet
    assert arr and all(r[1] == "/poses/arr" and r[2] == "iii" + "f" * (4 * 52) for r in arr)
    assert arr[0][3:6] == ["512", "355", "4"]

    bundle = rows["bundle"]
    # Gather each frame's messages by the frame number of the header before them (4 people take
    # two bundles, each starting with the frame's header).
    frames: dict[str, list[list[str]]] = defaultdict(list)
    headers = [r for r in bundle if r[1] == "/posenet/frame"]
    current = ""
    for r in bundle:
        if r[1] == "/posenet/frame":
            current = r[3]
        frames[current].append(r)
    whole = {f: rs for f, rs in frames.items() if any(r[1] == "/posenet/frame" and r[6] == "4" for r in rs)}
    assert len(whole) >= 5
    for rs in whole.values():
        assert [r[1] for r in rs].count("/posenet/person/pose") == 4
        assert [r[1] for r in rs].count("/posenet/person/box") == 4
        assert [r[1] for r in rs].count("/posenet/person/centre") == 4
        assert len({r[0] for r in rs}) == 1  # every message of a frame carries that frame's time tag
    assert len({rs[0][0] for rs in frames.values()}) == len(frames)  # and frames differ
    assert all(r[2] == "iiiiii" and r[4:6] == ["512", "355"] for r in headers)
    # The frame message carries the capture time too: the same instant as the time tag.
    assert all(abs(int(r[7]) + int(r[8]) / 1e6 - ntp(r[0])) < 1e-5 for r in headers)
    assert all(r[2] == "iif" + "f" * 51 for r in bundle if r[1] == "/posenet/person/pose")
    entered = sorted(r[3] for r in bundle if r[1] == "/posenet/person/enter")
    assert entered == ["0", "1", "2", "3"]  # each person enters once
    by_tag = {r[0] for r in bundle}
    # The time tag is the capture time: earlier than when oscdump received plain messages sent
    # with it, by no more than the pipeline latency.
    plain = [ntp(r[0]) for r in wek]
    tags = sorted(ntp(t) for t in by_tag)
    assert tags[0] < plain[-1]
    gaps = [min(p - t for p in plain if p >= t) for t in tags if any(p >= t for p in plain)]
    assert gaps and max(gaps) < 1.0


def test_a_p5_poses_osc_receiver_on_12000_works_by_choosing_the_preset(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """The receiver listens where p5-poses-osc sketches do (port 12000, in a private network
    namespace so the port is ours) and expects camera pixels: the target names only the preset."""
    oscdump = require("oscdump")
    args = appliance_run_args(
        f"images:{images_dir}/face.jpg@10",
        models_dir / MODEL,
        tmp_path / "state",
        "--duration",
        "2.5",
        "--no-control",
        target="127.0.0.1/p5-poses-osc",
    )
    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            f"{oscdump} -L 12000 > {tmp_path}/dump.log 2>&1 &",
            "DUMP=$!",
            "sleep 0.5",
            shlex.join(args),
            "kill $DUMP",
        ]
    )
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [ln.split() for ln in (tmp_path / "dump.log").read_text().splitlines()]
    assert ["/poses/amount", "i", "4"] in [r[1:4] for r in rows]
    xs = [float(r[4]) for r in rows if len(r) == 6 and r[2] == "fff"]  # score, x, y
    ys = [float(r[5]) for r in rows if len(r) == 6 and r[2] == "fff"]
    assert xs and max(xs) > 100 and max(xs) <= 512 and max(ys) <= 355  # camera pixels, as p5-poses-osc sends
