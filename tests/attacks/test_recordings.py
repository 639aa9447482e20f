"""Hostile recordings and the recordings folder: a recording file handed to ``replay``, ``recording
export`` or a ``replay:`` source may hold any bytes; the folder may hold links someone planted.
A bad header is one line of refusal, a bad frame line is skipped and counted (the frames after it
still play), and nothing reaches outside the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.core.recordings import Recordings
from appliance.recording.fileformat import Header, RecordingError, open_recording
from appliance.recording.recorder import RecordingTap

HEADER = {"posenet_recording": 1, "width": 640, "height": 480}
KP = [1.0] * 51
BIG = "1" + "0" * 400  # a JSON integer no float holds


def _frame(**kw: object) -> str:
    doc: dict[str, object] = {"f": 1, "t": 1.0, "m": 0.0, "people": [{"score": 0.5, "kp": KP}]}
    doc.update(kw)
    return json.dumps(doc)


def _person(score: str = "0.5", first: str = "1.0") -> str:
    return _frame().replace('"score": 0.5', f'"score": {score}').replace('"kp": [1.0,', f'"kp": [{first},', 1)


HOSTILE_HEADERS = {
    "nested 200,000 deep": b"[" * 200_000,
    "settings nested 100,000 deep": (json.dumps(HEADER)[:-1] + ', "settings": ' + "[" * 100_000 + "}").encode(),
    "width 1e400": json.dumps(HEADER).replace("640", "1e400").encode(),
    "started: a 401-digit integer": (json.dumps(HEADER)[:-1] + f', "started": {BIG}}}').encode(),
    "a 1 MB format version": json.dumps({**HEADER, "posenet_recording": "x" * 900_000}).encode(),
}

HOSTILE_FRAMES = {
    "nested 200,000 deep": "[" * 200_000,
    "score: an object": _person(score="{}"),
    "score: null": _person(score="null"),
    "score: a 401-digit integer": _person(score=BIG),
    "a keypoint: a 401-digit integer": _person(first=BIG),
    "a keypoint: an object": _person(first="{}"),
    "t: a 401-digit integer": _frame().replace('"t": 1.0', f'"t": {BIG}'),
    "t: 1e400 (infinite)": _frame().replace('"t": 1.0', '"t": 1e400'),
    "c: a 401-digit integer": _frame(c=0.0).replace('"c": 0.0', f'"c": {BIG}'),
    "m: a 401-digit integer": _frame().replace('"m": 0.0', f'"m": {BIG}'),
}


@pytest.mark.parametrize("name", HOSTILE_HEADERS)
def test_a_hostile_header_is_one_line_of_refusal(tmp_path: Path, name: str) -> None:
    """Before: RecursionError or OverflowError escaped open_recording (a traceback from the
    ``replay`` and ``recording export`` commands, a dead capture thread for ``replay:``) for 4 of
    these 5, and the 5th put 900 KB in its message. After: RecordingError, one short line."""
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(HOSTILE_HEADERS[name] + b"\n")
    with pytest.raises(RecordingError) as info:
        open_recording(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("name", HOSTILE_FRAMES)
def test_a_hostile_frame_line_is_skipped_and_counted(tmp_path: Path, name: str) -> None:
    """Before: 9 of these 10 lines raised TypeError, OverflowError or RecursionError out of
    ``frames()``, ending the replay there (and the 10th gave a frame with an infinite wall time).
    After: each is skipped and counted, and the good frame after it plays."""
    path = tmp_path / "hostile.jsonl"
    path.write_text(f"{json.dumps(HEADER)}\n{HOSTILE_FRAMES[name]}\n{_frame(f=2)}\n")
    recording = open_recording(path)
    frames = list(recording.frames())
    assert [f.poses.frame_index for f in frames] == [2]
    assert recording.skipped == 1 and not recording.truncated


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Recordings, Path]:
    """A recordings folder where someone planted links to the saved settings (which hold the token)
    under a recording's name and a video's name, and a dangling one where a new video would go."""
    secret = tmp_path / "state/config.json"
    secret.parent.mkdir()
    secret.write_text('{"http": {"token": "the-owners-token"}}')
    folder = tmp_path / "state/recordings"
    folder.mkdir()
    (folder / "evening.jsonl").symlink_to(secret)
    (folder / "evening.mp4").symlink_to(secret)
    (folder / "night.mp4").symlink_to(tmp_path / "elsewhere.txt")
    (folder / "fine.jsonl").write_text(json.dumps(HEADER) + "\n")
    (folder / "inner.jsonl").symlink_to(folder / "fine.jsonl")
    return Recordings(folder, RecordingTap(), lambda: Header("box", "1", "m", "s", 1, 1, 0.0, {})), secret


def test_a_planted_link_to_outside_is_no_recording(planted: tuple[Recordings, Path]) -> None:
    """Before: GET /api/recordings/evening.jsonl (and .mp4) served the file the link pointed to (the
    saved settings with the token: 39 bytes) and the list showed it. After: 404, not listed; a link
    within the folder still works; deleting removes the link, never its target."""
    desk, secret = planted
    for name in ("evening.jsonl", "evening.mp4"):
        with pytest.raises(FileNotFoundError):
            desk.file(name)
    assert sorted(r.name for r in desk.list()) == ["fine.jsonl", "inner.jsonl"]
    assert desk.file("inner.jsonl").read_bytes() == desk.file("fine.jsonl").read_bytes()
    desk.delete("evening.jsonl")
    assert not (desk.folder / "evening.jsonl").is_symlink() and not (desk.folder / "evening.mp4").is_symlink()
    assert secret.read_text().startswith('{"http"')


def test_a_planted_dangling_link_does_not_become_a_video(planted: tuple[Recordings, Path], tmp_path: Path) -> None:
    """Recording with video to night.jsonl: night.mp4 is a link to a file that does not exist yet
    (``exists()`` said no, so the encoder would have written through it, outside the folder). After:
    refused, nothing created."""
    desk, _ = planted
    with pytest.raises(RecordingError, match=r"night\.mp4 exists already"):
        desk.start("night.jsonl", video=True)
    assert not (tmp_path / "elsewhere.txt").exists()
