"""Persistence that survives power cuts, safe mode for bad files, serialised changes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.config import atomic
from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore

ROOT = Path(__file__).resolve().parents[2]


def config_with(port: int) -> AppConfig:
    return AppConfig.model_validate({"targets": [{"host": "127.0.0.1", "port": port}]})


def test_save_then_load(tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path / "state")
    store.save(config_with(9100))
    again = ConfigStore.in_dir(tmp_path / "state")
    assert again.load().targets[0].port == 9100 and again.safe_mode == ""
    assert (tmp_path / "state" / "config.json").stat().st_mode & 0o777 == 0o600
    store.save(config_with(9200))
    assert json.loads((tmp_path / "state" / "config.json.bak").read_text())["targets"][0]["port"] == 9100


def test_invalid_change_writes_nothing(tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.save(config_with(9100))
    before = (tmp_path / "config.json").read_bytes()
    with pytest.raises(ValueError, match="port"):
        store.save({"targets": [{"host": "x", "port": 70000}]})
    assert (tmp_path / "config.json").read_bytes() == before
    assert store.config.targets[0].port == 9100


class PowerCut(BaseException):
    """Raised in place of a system call: the machine died right there."""


# (step, how many calls of it succeed first): every system call of a save, in order. open, fsync
# and replace happen twice (temp file / backup, then the real file / directory).
STEPS = [
    ("open", 0),
    ("write", 0),
    ("fsync", 0),
    ("link", 0),
    ("replace", 0),
    ("replace", 1),
    ("fsync", 1),
    ("fsync_dir", 0),
]


@pytest.mark.parametrize(("step", "nth"), STEPS)
def test_a_crash_at_any_step_leaves_a_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, nth: int
) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.save(config_with(9100))
    old = (tmp_path / "config.json").read_bytes()
    calls = {"n": 0}

    def cut(real: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            calls["n"] += 1
            if calls["n"] > nth:
                raise PowerCut
            return real(*a, **k)

        return wrapper

    if step == "open":
        monkeypatch.setattr(atomic.os, "open", cut(os.open))
    elif step == "write":
        monkeypatch.setattr(atomic.os, "fdopen", cut(os.fdopen))
    elif step == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", cut(os.fsync))
    elif step == "link":
        monkeypatch.setattr(atomic.os, "link", cut(os.link))
    elif step == "replace":
        monkeypatch.setattr(atomic.Path, "replace", cut(Path.replace))
    elif step == "fsync_dir":
        monkeypatch.setattr(atomic, "_fsync_dir", cut(atomic._fsync_dir))
    with pytest.raises(PowerCut):
        store.save(config_with(9200))
    monkeypatch.undo()
    data = (tmp_path / "config.json").read_bytes()
    assert data in (old, json.dumps(config_with(9200).model_dump(mode="json"), indent=2).encode() + b"\n")
    reloaded = ConfigStore.in_dir(tmp_path)
    reloaded.load()
    assert reloaded.safe_mode == ""


def test_sigkill_during_saves_never_corrupts(tmp_path: Path) -> None:
    """A real process saving in a loop, killed 15 times at random moments: the file is always whole."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from appliance.config.store import ConfigStore\n"
        "s = ConfigStore.in_dir(Path(sys.argv[1]))\n"
        "i = 0\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    i += 1\n"
        "    s.save({'targets': [{'host': '127.0.0.1', 'port': 1000 + i % 60000}] * (1 + i % 16)})\n"
    )
    rng = __import__("random").Random(5)
    for _ in range(15):
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.01, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        store = ConfigStore.in_dir(tmp_path)
        config = store.load()
        assert store.safe_mode == "", store.safe_mode
        assert 1 <= len(config.targets) <= 16


def test_corrupt_file_starts_in_safe_mode_with_the_last_good_settings(tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.save(config_with(9100))
    store.save(config_with(9200))  # .bak now holds 9100
    (tmp_path / "config.json").write_bytes(b'{"targets": [{"host": "x", "po')
    again = ConfigStore.in_dir(tmp_path)
    config = again.load()
    assert config.targets[0].port == 9100
    assert "was invalid" in again.safe_mode and "last good settings" in again.safe_mode
    aside = [p.name for p in tmp_path.iterdir() if ".bad-" in p.name]
    assert len(aside) == 1  # the bad file is kept, not overwritten
    assert (tmp_path / aside[0]).read_bytes().startswith(b'{"targets"')


def test_invalid_file_without_backup_starts_on_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"targets": [{"host": "x", "port": -1}]}))
    store = ConfigStore.in_dir(tmp_path)
    assert store.load() == AppConfig()
    assert "targets.0.port" in store.safe_mode and "default settings" in store.safe_mode


def test_concurrent_changes_are_serialised(tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.save(AppConfig())

    def add(port: int) -> None:
        store.update(lambda c: {**c, "targets": [*c["targets"], {"host": "127.0.0.1", "port": port}]})

    threads = [threading.Thread(target=add, args=(9000 + i,), name=f"adder-{i}") for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ports = sorted(t.port for t in ConfigStore.in_dir(tmp_path).load().targets)
    assert ports == [9000 + i for i in range(12)]
