"""What the update tests share (never through a conftest or another test module).

A box in a temp dir: a pre-update install (a real venv *directory* with the stand-in 0.1.0, as
install-on-pi.sh made them before updates existed), a state directory with a configuration, a
models folder, and the box's key pair. A "fake systemd" runs the boot check, then the stand-in
service, and restarts it when it exits (the real systemd is tests/integration/test_nspawn_update.py's).
Also: flipping a byte of an update file's member, and the browser the page tests drive."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.update.bundle import keygen, load_public_key, verify
from appliance.update.install import Installer
from appliance.update.layout import Layout, boot_check
from tests.support.net import free_tcp_port
from tests.support.service import appliance_run_args
from tests.update.standin import make_update

__all__ = ["CONFIG", "MODEL", "ROOT", "Box", "FakeSystemd", "appliance_run_args", "flip", "free_tcp_port", "make_box"]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = '{"device_name": "ceiling-3"}'


@dataclass
class Box:
    tmp: Path
    layout: Layout
    private: Path
    public: Path

    def installer(self, **kw: object) -> Installer:
        return Installer(self.layout, self.public, **kw)  # type: ignore[arg-type]

    def update(self, version: str, **kw: object) -> Path:
        return make_update(self.tmp, self.private, version, **kw)  # type: ignore[arg-type]

    def runs(self) -> str:
        """What ``<prefix>/venv/bin/posenet-appliance version`` prints (the version that would boot)."""
        out = subprocess.run(
            [str(self.layout.venv / "bin/posenet-appliance"), "version"], capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def make_box(tmp_path: Path) -> Box:
    prefix, state = tmp_path / "opt", tmp_path / "state"
    (prefix / "models").mkdir(parents=True)
    (prefix / "models/posenet.tflite").write_bytes(b"model")
    state.mkdir()
    (state / "config.json").write_text(CONFIG)
    private, made = keygen(tmp_path / "keys")
    public = prefix / "update-key.pub"  # where install-on-pi.sh --update-key puts it
    public.write_bytes(made.read_bytes())
    first = make_update(tmp_path, private, "0.1.0")
    wheels = tmp_path / "first"
    verify(first, load_public_key(public), wheels)
    venv = prefix / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q", "--no-index"]
    subprocess.run([*pip, "--find-links", str(wheels / "wheels"), "posenet-appliance"], check=True, env=pip_env())
    return Box(tmp_path, Layout(prefix, state), private, public)


class FakeSystemd:
    """``Restart=always`` with ``ExecStartPre=posenet-update-check``, for the stand-in service."""

    def __init__(self, box: Box, hold: float = 30.0) -> None:
        self.box = box
        self.hold = hold
        self.proc: subprocess.Popen[str] | None = None
        self.generation = 0
        self.checks: list[str] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def restart(self) -> None:
        with self.lock:
            self.generation += 1
            if self.proc is not None:
                self.proc.terminate()
            thread = threading.Thread(target=self._run, args=(self.generation,), daemon=True)
            self.threads.append(thread)
        thread.start()

    def _run(self, generation: int) -> None:
        layout = self.box.layout
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        for _ in range(6):
            with self.lock:
                if generation != self.generation:
                    return
                self.checks.append(boot_check(layout))
                cmd = [str(layout.venv / "bin/posenet-appliance"), "serve", str(layout.prefix), str(layout.state_dir)]
                proc = self.proc = subprocess.Popen([*cmd, str(self.hold)], env=env, text=True)
            proc.wait()
            time.sleep(0.2)  # RestartSec

    def stop(self) -> None:
        with self.lock:
            self.generation += 1
            if self.proc is not None:
                self.proc.terminate()
        for thread in self.threads:
            thread.join(timeout=10)
        if self.proc is not None:
            self.proc.wait()


MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
CHROMIUM = "/usr/bin/chromium"
OFFLINE = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


def flip(path: Path, at: int) -> None:
    """Flip one bit of the byte at offset ``at`` of ``path`` (a tampered file)."""
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def member_offset(path: Path, name: str) -> int:
    """Where the data of member ``name`` starts in the tar ``path``."""
    with tarfile.open(path) as tar:
        return tar.getmember(name).offset_data
