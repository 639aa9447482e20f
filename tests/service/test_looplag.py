"""The event-loop lag monitor on a real loop: a blocking call shows as lag, is logged once, and the
warning is armed again after the loop recovers; the worst lag leaves the window in time."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from appliance.service.looplag import LoopLag


def test_a_blocked_loop_shows_as_lag_logged_once_and_re_armed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance.service.looplag")

    async def main() -> list[float]:
        lag = LoopLag(interval=0.02, window=2.0, threshold_ms=150.0, recover=0.5)
        lag.start()
        worst = []
        await asyncio.sleep(0.2)
        worst.append(lag.worst_ms())  # idle
        for _ in range(2):  # two stalls close together: one warning
            time.sleep(0.3)  # noqa: ASYNC251 - the point: a call that blocks the loop
            await asyncio.sleep(0.1)
        worst.append(lag.worst_ms())
        await asyncio.sleep(0.8)  # recovered: armed again
        time.sleep(0.3)  # noqa: ASYNC251
        await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)  # the stalls leave the window
        worst.append(lag.worst_ms())
        await lag.stop()
        await lag.stop()
        return worst

    idle, stalled, later = asyncio.run(main())
    assert idle < 100 and stalled >= 250 and later < 100, (idle, stalled, later)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("event loop blocked" in m for m in messages) == 2, messages
    assert sum("responsive again" in m for m in messages) == 2, messages  # after each episode


def test_the_worst_is_kept_per_second_for_the_window() -> None:
    lag = LoopLag(window=60.0, threshold_ms=1e9)
    for t, ms in [(0.1, 5.0), (0.5, 40.0), (1.2, 3.0), (30.0, 7.0)]:
        lag.record(ms, t)
    assert lag.worst_ms() == 40.0
    lag.record(1.0, 60.6)  # the first second has left the window
    assert lag.worst_ms() == 7.0
