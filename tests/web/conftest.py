"""Fixtures of the web tests: a real Application running in this process (CPU PoseNet on face.jpg,
4 people, 10 fps), and test clients for the HTTP API and OSCQuery as the owner or as a visitor."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.core.factory import Folders
from tests.support.owner import OWNER

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"


@pytest.fixture(scope="module")
def running_app(models_dir: Path, images_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Application]:
    """One started Application per test module, once its first frame of 4 people is in."""
    state = tmp_path_factory.mktemp("running")
    config = {"source": "images:face.jpg@10", "inference": {"model": MODEL}, "targets": []}
    (state / "config.json").write_text(json.dumps(config))
    store = ConfigStore.in_dir(state)
    store.load()
    app = Application(store, Folders(models_dir, images_dir))
    app.start()
    try:
        deadline = time.monotonic() + 60
        while len(app.latest()) != 4:
            assert time.monotonic() < deadline, app.status().to_json()
            time.sleep(0.1)
        yield app
    finally:
        app.stop()


@pytest.fixture
def running(running_app: Application) -> Iterator[Application]:
    """The module's running Application; its configuration is put back after the test."""
    baseline = running_app.config.model_dump(mode="json")
    yield running_app
    running_app.update(lambda _: baseline)


@pytest.fixture
def client_for() -> Iterator[Callable[..., TestClient]]:
    """``client_for(asgi_app, peer, base_url)``: a test client whose requests come from ``peer``."""
    clients: list[TestClient] = []

    def make(app: Any, peer: tuple[str, int] = OWNER, base_url: str = "http://127.0.0.1:8080") -> TestClient:
        client = TestClient(app, base_url=base_url, client=peer)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
