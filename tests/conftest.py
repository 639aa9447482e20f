"""Shared fixtures: where the models and photos are, and a guard against leaked threads. Helpers
that tests import (ports, the service's command line, ...) live in ``tests.support``, not here.

Models and photos are data from ``../shared`` and are never committed. Tests find the models through
``POSENET_MODELS_DIR`` (``.ci/run`` points it at ``../shared/models``). Without it the model tests
are skipped with a message saying so; with ``POSENET_REQUIRE_MODELS=1`` (set by CI) a missing
folder is a failure instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def _shared(env: str, default: str) -> Path:
    return Path(os.environ.get(env) or (ROOT.parent / "shared" / default))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The folder with the Coral .tflite files (skip plainly, or fail in CI, when absent)."""
    env = os.environ.get("POSENET_MODELS_DIR")
    path = Path(env) if env else None
    if path is None or not any(path.glob("posenet_*.tflite")):
        msg = f"no PoseNet models: POSENET_MODELS_DIR={env!r}; set it to ../shared/models to run model tests"
        if os.environ.get("POSENET_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def images_dir() -> Path:
    """The folder with the shared test photos."""
    path = _shared("POSENET_IMAGES_DIR", "images")
    if not (path / "face.jpg").exists():
        msg = f"no test photos in {path}; set POSENET_IMAGES_DIR"
        if os.environ.get("POSENET_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


THIRD_PARTY_POOLS = ("AnyIO worker thread", "asyncio-portal-")


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail any test that leaves a new non-daemon-safe thread running."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for t in leaked:
        t.join(timeout=2.0)
    # anyio's idle worker pool and the ASGI test clients' portal belong to those libraries, not to us.
    leaked = [t.name for t in leaked if t.is_alive() and not t.name.startswith(THIRD_PARTY_POOLS)]
    assert not leaked, f"test leaked threads: {leaked}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Hardware tests run only when asked for: ``pytest -m hardware`` on a Pi with a Coral."""
    selected = config.getoption("-m") or ""
    skip_hw = pytest.mark.skip(reason="needs a camera / Edge TPU: run 'pytest -m hardware' on the device")
    skip_slow = pytest.mark.skip(reason="slow integration test: POSENET_SLOW=1 pytest -m slow tests/integration")
    for item in items:
        if "hardware" in item.keywords and "hardware" not in selected:
            item.add_marker(skip_hw)
        if "slow" in item.keywords and os.environ.get("POSENET_SLOW") != "1":
            item.add_marker(skip_slow)


@pytest.fixture
def udp_receiver() -> Iterator[socket.socket]:
    """A bound loopback UDP socket with a 5 s timeout, closed after the test."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5.0)
    yield s
    s.close()
