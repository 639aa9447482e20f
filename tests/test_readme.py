"""The README's main command, the first thing a newcomer runs, sends people: it is read out of
README.md and run as written, with only what a test must change (the shared folders' paths, the
receiver's port, and the ports and state folder the box would otherwise take), into a real UDP
receiver parsing with python-osc."""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pythonosc.osc_message import OscMessage

ROOT = Path(__file__).resolve().parent.parent
#: What the test adds: the defaults (HTTP 8080, control port 9001, OSCQuery 8081, the user's state
#: folder) may be taken on a shared machine; mDNS is off in the command already.
ISOLATION = ["--state-dir", "{state}", "--http-bind", "127.0.0.1", "--http-port", "0"]
ISOLATION += ["--control-port", "0", "--oscquery-port", "0"]


def readme_main_command() -> list[str]:
    """The ``posenet-appliance run`` command of the README's first shell block, as argv."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block is not None, "README.md has no sh block"
    line = next(ln for ln in block.group(1).splitlines() if "posenet-appliance run" in ln)
    command = line.split("&&")[-1].split("#")[0]
    return shlex.split(command)


def test_the_readme_main_command_is_found() -> None:
    argv = readme_main_command()
    assert argv[0].endswith("posenet-appliance") and argv[1] == "run"
    assert "--source" in argv and "--target" in argv


def _two_photos_of_people(amounts: list[int]) -> bool:
    """People arrived, then a frame without anybody (the cut to the next photo), then people again."""
    people = [a > 0 for a in amounts]
    if True not in people:
        return False
    after = people[people.index(True) :]
    return False in after and after[-1]


def _amounts(rx: socket.socket, proc: subprocess.Popen[bytes], deadline: float) -> list[int]:
    """``/poses/amount`` of each frame received, until two photos' people arrived or the deadline."""
    amounts: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None and not _two_photos_of_people(amounts):
        try:
            data = rx.recv(65536)
        except TimeoutError:
            continue
        if data.startswith(b"/poses/amount\x00"):
            amounts.append(int(OscMessage(data).params[0]))
    return amounts


def test_the_readme_main_command_sends_people(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    argv = readme_main_command()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(0.5)
        port = rx.getsockname()[1]
        args = [
            a.replace("../shared/images", str(images_dir))
            .replace("../shared/models", str(models_dir))
            .replace("127.0.0.1:9000", f"127.0.0.1:{port}")
            for a in argv[1:]
        ]
        assert f"127.0.0.1:{port}" in args, "the README's target moved: update the substitution"
        isolation = [a.replace("{state}", str(tmp_path)) for a in ISOLATION]
        proc = subprocess.Popen([sys.executable, "-m", "appliance", *args, *isolation], stderr=subprocess.PIPE)
        try:
            amounts = _amounts(rx, proc, time.monotonic() + 90)
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C, as the README says
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert any(a > 0 for a in amounts), f"nobody arrived in {len(amounts)} frames: {amounts}"
    # A photo's people arrive once confirmed, stay while it is shown, and leave with the cut to the
    # next photo (a frame without anybody), whose people then arrive.
    assert _two_photos_of_people(amounts), amounts
