"""The service's components: discovery says nothing after its goodbyes."""

from __future__ import annotations

import asyncio
from typing import Any

from appliance.service.components import DiscoveryComponent
from appliance.service.registry import ServerRegistry


class FakeAdvertiser:
    """Records what discovery does; an update takes a while (python-zeroconf announces three times)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.addresses = ["127.0.0.1"]

    async def async_update(self, announcement: Any, addresses: Any = None) -> None:
        self.calls.append("update started")
        await asyncio.sleep(0.5)
        self.calls.append("update announced")

    async def async_close(self) -> None:
        self.calls.append("goodbyes")


class FakeControl:
    config: Any = None

    def status(self) -> Any:
        raise AssertionError("not needed")


def test_a_change_just_before_closing_is_not_announced_after_the_goodbyes() -> None:
    async def main() -> list[str]:
        component = DiscoveryComponent(FakeControl(), ServerRegistry())  # type: ignore[arg-type]
        fake = FakeAdvertiser()
        component._advertiser, component._loop = fake, asyncio.get_running_loop()
        component._announcement = lambda: None  # type: ignore[method-assign]
        component._changed(None)  # type: ignore[arg-type]  # a change arrives ...
        await asyncio.sleep(0.05)  # ... its re-announcement is under way ...
        await component.close()  # ... and the box stops
        component._changed(None)  # type: ignore[arg-type]  # a change during shutdown: nothing
        await asyncio.sleep(0.7)
        return fake.calls

    calls = asyncio.run(main())
    assert calls == ["update started", "goodbyes"], calls
