"""The settings saver: saved settings changed over OSC are written off the event loop, one at a time
per setting, the newest value winning (a burst of changes to one setting costs one save at a time)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from appliance.core.facade import Change
from appliance.errors import ConfigError

__all__ = ["SettingsSaver"]

#: Where an answer goes: (host, port).
Address = tuple[str, int]
#: ``answer(addr, address, typetags, args)``: send an OSC answer (what it returns is not used).
Answer = Callable[[Address, str, str, list[Any]], object]


class SettingsSaver:
    """Saves ``section.key`` settings through ``update`` (``Commanding.update``, run in a worker thread).

    Each save is answered to whoever asked for the value that was saved: the OSC address with the
    value in force (``i`` for booleans, else ``f``), or ``/posenet/error`` naming the field; ``failed``
    is called once per refused save (to count it)."""

    def __init__(self, update: Callable[[Change], Any], answer: Answer, failed: Callable[[], None]) -> None:
        self._update, self._answer, self._failed = update, answer, failed
        self._saves: dict[str, asyncio.Task[None]] = {}  # OSC address -> the task writing it
        self._wanted: dict[str, tuple[str, str, Any, Address]] = {}  # address -> section, key, value, asker

    def want(self, address: str, section: str, key: str, value: Any, asker: Address) -> None:
        """Save ``value`` as ``section.key`` (on the event loop; returns at once)."""
        self._wanted[address] = (section, key, value, asker)
        if address not in self._saves:
            self._saves[address] = asyncio.get_running_loop().create_task(self._saving(address))

    async def drain(self) -> None:
        """Wait for the saves under way (shutdown: nothing acknowledged is lost)."""
        while self._saves:
            await asyncio.gather(*list(self._saves.values()), return_exceptions=True)

    async def _saving(self, address: str) -> None:
        try:
            while address in self._wanted:
                section, key, value, asker = self._wanted.pop(address)
                await self._save_one(address, section, key, value, asker)
        finally:
            del self._saves[address]

    async def _save_one(self, address: str, section: str, key: str, value: Any, asker: Address) -> None:
        def change(current: dict[str, Any]) -> dict[str, Any]:
            if not key:  # a whole section (zones, the floor)
                return {**current, section: value}
            return {**current, section: {**current[section], key: value}}

        try:
            config = await asyncio.to_thread(self._update, change)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"] if exc.errors() else str(exc)
            loc = exc.errors()[0]["loc"] if exc.errors() else ()
            where = f"{section}.{key}" if key else ".".join(str(x) for x in loc) or section
            self._refuse(asker, f"{address}: {where}: {msg}")
            return
        except (ConfigError, OSError) as exc:
            self._refuse(asker, f"{address}: {exc}")
            return
        if not key:  # a whole section: how many zones, or whether the floor is calibrated
            saved = getattr(config, section)
            count = len(saved) if isinstance(saved, list) else int(bool(getattr(saved, "image", None)))
            self._answer(asker, address, "i", [count])
            return
        now = getattr(getattr(config, section), key)
        if isinstance(now, bool):
            self._answer(asker, address, "i", [int(now)])
        elif isinstance(now, str):  # a word (a stage's choice)
            self._answer(asker, address, "s", [now])
        else:
            self._answer(asker, address, "f", [float(now)])

    def _refuse(self, asker: Address, text: str) -> None:
        self._failed()
        self._answer(asker, "/posenet/error", "s", [text[:200]])
