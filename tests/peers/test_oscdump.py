"""liblo's oscdump parses all four formats and shows the bundle format's capture-time timetag."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

from tests.conftest import free_udp_port
from tests.peers.conftest import require, run_appliance, wait_udp_bound

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
        run = run_appliance(
            models_dir, images_dir, [f"127.0.0.1:{p}/{f}" for f, p in ports.items()], 2.5, tmp_path / "state"
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

    arr = rows["arr"]
    assert arr and all(r[1] == "/poses/arr" and r[2] == "iii" + "f" * (4 * 52) for r in arr)
    assert arr[0][3:6] == ["512", "355", "4"]

    bundle = rows["bundle"]
    frames = [r for r in bundle if r[1] == "/posenet/frame"]
    people = [r for r in bundle if r[1] == "/posenet/person"]
    assert frames and len(people) == 4 * len(frames)
    assert all(r[2] == "iiii" and r[4:7] == ["512", "355", "4"] for r in frames)
    assert all(r[2] == "iif" + "f" * 51 for r in people)
    # Every message of a frame carries that frame's time tag, and frames differ.
    by_tag: dict[str, list[list[str]]] = defaultdict(list)
    for r in bundle:
        by_tag[r[0]].append(r)
    assert len(by_tag) == len(frames) and all(len(v) == 5 for v in by_tag.values())
    # The time tag is the capture time: earlier than when oscdump received plain messages sent
    # with it, by no more than the pipeline latency.
    plain = [ntp(r[0]) for r in wek]
    tags = sorted(ntp(t) for t in by_tag)
    assert tags[0] < plain[-1]
    gaps = [min(p - t for p in plain if p >= t) for t in tags if any(p >= t for p in plain)]
    assert gaps and max(gaps) < 1.0
