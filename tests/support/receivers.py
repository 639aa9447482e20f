"""Running the real service into receivers: third-party OSC programs (installed by .ci/setup) or
loopback sinks that keep every datagram."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from tests.support.service import appliance_run_args

__all__ = ["MODEL", "Sink", "pd_command", "require", "run_appliance", "run_into_sinks"]

MODEL = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        msg = f"{program} is not installed (.ci/setup installs it: apt install puredata-core liblo-tools)"
        if os.environ.get("POSENET_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def run_appliance(
    models_dir: Path,
    images_dir: Path,
    targets: list[str],
    seconds: float,
    state_dir: Path,
    *extra: str,
    image: str = "face.jpg",
    model: str = MODEL,
    source: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real appliance for ``seconds``, sending the photo ``image`` (or ``source``) to ``targets``."""
    args = appliance_run_args(
        source or f"images:{images_dir}/{image}@10",
        models_dir / model,
        state_dir,
        "--duration",
        str(seconds),
        "--no-control",
        *extra,
        target=targets[0],
    )
    for t in targets[1:]:
        args += ["--target", t]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def pd_command(pd: str, patch: Path, send: str) -> list[str]:
    """Pure Data headless in real time (not -batch, which does not service sockets), with -send messages."""
    return [pd, "-nogui", "-noaudio", "-nomidi", "-noprefs", "-stderr", "-open", str(patch), "-send", send]


class Sink:
    """A receiver on loopback that keeps every datagram it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sink", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.got.append(self.sock.recv(65536))
            except TimeoutError:
                continue

    def messages(self) -> list[OscMessage]:
        """Every message received, in order, the bundles' contents in their place."""
        out = []
        for d in self.got:
            if d.startswith(b"#bundle"):
                b = OscBundle(d)
                out += [OscMessage(b.content(i).dgram) for i in range(b.num_contents)]
            else:
                out.append(OscMessage(d))
        return out

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def run_into_sinks(
    formats: Iterable[str], models_dir: Path, images_dir: Path, seconds: float, state_dir: Path, **kwargs: Any
) -> tuple[subprocess.CompletedProcess[str], dict[str, Sink]]:
    """``run_appliance`` sending each format to a ``Sink`` of its own; the sinks, closed, by format."""
    sinks = {fmt: Sink() for fmt in formats}
    try:
        targets = [f"127.0.0.1:{s.port}/{fmt}" for fmt, s in sinks.items()]
        run = run_appliance(models_dir, images_dir, targets, seconds, state_dir, **kwargs)
        time.sleep(0.3)  # the last datagrams on their way
    finally:
        for s in sinks.values():
            s.close()
    return run, sinks
