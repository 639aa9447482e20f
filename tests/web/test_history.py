"""The last minutes for the page's plots (issue 24, item 2): sampled from the running box's status on
the event loop, a fixed ring whatever happens, served at ``/api/status/history`` to anyone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from appliance.core.app import Application
from appliance.web.history import SAMPLES, StatusHistory
from appliance.web.server import create_app
from tests.support.owner import VISITOR


def test_the_sampler_keeps_a_fixed_ring_of_the_running_box(running: Application) -> None:
    history = StatusHistory()

    async def sample_for_a_while() -> None:
        history.start(running, every=0.01)
        await asyncio.sleep(0.3)
        await history.close()
        await history.close()  # idempotent

    asyncio.run(sample_for_a_while())
    taken = len(history.samples)
    assert taken >= 5
    t, fps, people, latency, _temperature = history.samples[-1]
    assert abs(t - time.time()) < 2 and fps is not None and fps > 0 and people == 4 and latency is not None
    for _ in range(SAMPLES * 5):  # hours of samples: still 10 minutes' worth
        history.add(running.status())
    assert len(history.samples) == SAMPLES


def test_a_visitor_reads_the_last_minutes(running: Application, client_for: Callable[..., TestClient]) -> None:
    api = create_app(running)
    api.app.state.web.history.add(running.status(), now=1000.0)
    doc = client_for(api, VISITOR).get("/api/status/history").json()
    assert doc["every_s"] == 5.0 and doc["samples"][0][0] == 1000.0 and doc["samples"][0][2] == 4
