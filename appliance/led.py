"""Identify a box: blink its activity LED for a while, so the person on the ladder knows which box is
which (``POST /api/identify``).

The LED is the kernel's ``/sys/class/leds/ACT`` (``led0`` on older Raspberry Pi kernels): its
``trigger`` is set to ``none`` and ``brightness`` toggled every ``BLINK_SECONDS`` for
``IDENTIFY_SECONDS``; then the trigger it had (usually ``mmc0`` or ``actpwr``) is put back, and its
brightness too when that trigger was ``none``. Asking again while it blinks only moves the end, so
one blinker runs at most. Everything is read under ``root`` (tests give a fake sysfs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from pathlib import Path

from appliance.errors import HardwareUnavailable

__all__ = ["BLINK_SECONDS", "IDENTIFY_SECONDS", "LED_NAMES", "Identify", "current_trigger", "find_led"]

logger = logging.getLogger(__name__)

#: The activity LED's names, newest kernels first.
LED_NAMES = ("ACT", "led0")
#: Seconds one identify blinks.
IDENTIFY_SECONDS = 10.0
#: Seconds between toggles (two blinks a second).
BLINK_SECONDS = 0.25
_CURRENT = re.compile(r"\[([^\]\s]{1,64})\]")


def find_led(root: Path = Path("/")) -> Path | None:
    """The activity LED's sysfs folder (with ``trigger`` and ``brightness``), or None."""
    for name in LED_NAMES:
        led = root / "sys/class/leds" / name
        if (led / "trigger").is_file() and (led / "brightness").is_file():
            return led
    return None


def current_trigger(led: Path) -> str:
    """The trigger in force (the one in brackets in ``trigger``); "none" when none is marked."""
    m = _CURRENT.search(led.joinpath("trigger").read_text(errors="replace")[:4096])
    return m.group(1) if m else "none"


class Identify:
    """Blinks the activity LED under ``root``; ``start`` from the event loop, ``close`` at shutdown."""

    def __init__(self, root: Path = Path("/"), seconds: float = IDENTIFY_SECONDS) -> None:
        self.root = root
        self.seconds = seconds
        self.until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def blinking(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> float:
        """Blink for ``seconds`` from now (or move the end of a blink under way); returns the seconds.

        Raises:
            HardwareUnavailable: no activity LED, or it cannot be written (one line saying why).
        """
        led = find_led(self.root)
        if led is None:
            names = " or ".join(f"/sys/class/leds/{n}" for n in LED_NAMES)
            raise HardwareUnavailable(
                f"this box has no activity LED it can blink ({names} not found: not a Raspberry Pi?)"
            )
        self.until = time.monotonic() + self.seconds
        if self.blinking:
            return self.seconds
        try:
            previous, brightness = current_trigger(led), led.joinpath("brightness").read_text().strip()
            led.joinpath("trigger").write_text("none")
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise HardwareUnavailable(
                f"cannot drive the activity LED {led.name}: {why} (see README: identify)"
            ) from None
        self._task = asyncio.get_running_loop().create_task(self._blink(led, previous, brightness))
        return self.seconds

    async def _blink(self, led: Path, previous: str, brightness: str) -> None:
        on = False
        try:
            top = (led / "max_brightness").read_text().strip() if (led / "max_brightness").is_file() else "1"
            while time.monotonic() < self.until:
                on = not on
                led.joinpath("brightness").write_text(top if on else "0")
                await asyncio.sleep(BLINK_SECONDS)
        except OSError as exc:
            logger.warning("identify: the activity LED stopped: %s", exc.strerror or exc)
        finally:
            with contextlib.suppress(OSError):
                led.joinpath("trigger").write_text(previous)
                if previous == "none":
                    led.joinpath("brightness").write_text(brightness)

    async def close(self) -> None:
        """Stop blinking now, the LED as it was. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
