"""Enter and leave, end to end: the real service streams a camera that goes black for 3 frames and
then for 2 s (a folder of frames at 10 fps, played as one scene: hold=0), and a receiver counts the
events of the bundle format."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from tests.support.receivers import run_into_sinks


def test_a_short_blackout_sends_nothing_and_a_long_one_a_leave_and_a_new_enter(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    black = frames / "black.jpg"
    with Image.open(images_dir / "face.jpg") as photo:
        Image.new("RGB", photo.size).save(black)
    plan = [("face", 15), ("black", 3), ("face", 15), ("black", 20), ("face", 15)]  # 10 fps: 2 s black
    n = 0
    for what, count in plan:
        for _ in range(count):
            shutil.copyfile(images_dir / "face.jpg" if what == "face" else black, frames / f"{n:04d}.jpg")
            n += 1
    black.unlink()
    run, sinks = run_into_sinks(
        ["bundle"], models_dir, frames, 9.0, tmp_path / "state", source=f"images:{frames}/*.jpg@10,once,hold=0"
    )
    assert run.returncode == 0, run.stderr
    events: list[tuple[str, int, int]] = []  # (event, id, frame number)
    frame = -1
    for m in sinks["bundle"].messages():
        if m.address == "/posenet/frame":
            frame = m.params[0]
        elif m.address in ("/posenet/person/enter", "/posenet/person/leave"):
            events.append((m.address.rsplit("/", 1)[1], m.params[0], frame))
    enters = [(i, f) for e, i, f in events if e == "enter"]
    leaves = [(i, f) for e, i, f in events if e == "leave"]
    # Four people enter once; the 3-frame blackout (frames 16-18) sends nothing; the 2 s one
    # (frames 34-53) makes them leave once, and they come back as four new people.
    assert sorted(i for i, _ in enters) == [0, 1, 2, 3, 4, 5, 6, 7], events
    assert sorted(i for i, _ in leaves) == [0, 1, 2, 3], events
    assert all(f < 16 for i, f in enters if i < 4) and all(f > 53 for i, f in enters if i >= 4)
    assert all(34 < f <= 53 for _, f in leaves)
