"""Facts about the machine we run on: a short stable id, whether it is a Raspberry Pi, and the
hardware facts the doctor reports (temperature, Coral devices, throttling, clock, video devices)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CORAL_USB_IDS",
    "THROTTLE_BITS",
    "THROTTLE_SECONDS",
    "MachineFacts",
    "apex_devices",
    "clock_state",
    "clock_synchronised",
    "coral_usb_devices",
    "is_raspberry_pi",
    "machine_id",
    "package_version",
    "temperature_c",
    "throttled",
    "throttling",
    "v4l2_devices",
]


def machine_id() -> str:
    """4 hex digits, stable for this machine (from /etc/machine-id, else the host name)."""
    try:
        seed = Path("/etc/machine-id").read_text().strip()
    except OSError:
        seed = ""
    return hashlib.sha256((seed or socket.gethostname()).encode()).hexdigest()[:4]


def is_raspberry_pi() -> bool:
    """True on a Raspberry Pi (from the device tree model string)."""
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False


# -- hardware facts for the doctor (each reads under ``root``, so tests can give a fake sysfs) --------
#: Coral USB Accelerator ids: before its first use (the runtime loads its firmware), and after.
CORAL_USB_IDS = {
    ("1a6e", "089a"): "Coral USB Accelerator (no firmware loaded yet)",
    ("18d1", "9302"): "Coral USB Accelerator",
}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def temperature_c(root: Path = Path("/")) -> float | None:
    """The hottest thermal zone in °C (the SoC on a Pi), or None when none is readable."""
    temps = []
    for zone in sorted((root / "sys/class/thermal").glob("thermal_zone*")):
        raw = _read(zone / "temp")
        if raw is not None and raw.lstrip("-").isdigit():
            temps.append(int(raw) / 1000.0)
    return max(temps) if temps else None


def coral_usb_devices(root: Path = Path("/")) -> list[tuple[str, str, int]]:
    """Coral USB Accelerators plugged in: (what, "vendor:product", link speed in Mbit/s: 480 is a
    USB 2 port, 5000 a USB 3 one)."""
    found = []
    for dev in sorted((root / "sys/bus/usb/devices").glob("*")):
        vendor, product = _read(dev / "idVendor") or "", _read(dev / "idProduct") or ""
        what = CORAL_USB_IDS.get((vendor, product))
        if what is not None:
            try:
                speed = int(float(_read(dev / "speed") or "0"))
            except ValueError:
                speed = 0
            found.append((what, f"{vendor}:{product}", speed))
    return found


def apex_devices(root: Path = Path("/")) -> list[str]:
    """Coral PCIe / M.2 devices (``/dev/apex_N``, made by the gasket driver)."""
    return sorted(str(p) for p in (root / "dev").glob("apex_*"))


def v4l2_devices(root: Path = Path("/")) -> list[tuple[str, str]]:
    """Video devices: ("/dev/videoN", their name), from sysfs."""
    out = []
    for dev in sorted((root / "sys/class/video4linux").glob("video*")):
        out.append((f"/dev/{dev.name}", _read(dev / "name") or ""))
    return out


def throttled() -> int | None:
    """``vcgencmd get_throttled`` as a number (bit 0 under-voltage now, 1 frequency capped now, 2
    throttled now, 3 soft temperature limit now; bits 16-19 the same since boot); None without
    vcgencmd (not a Raspberry Pi, or its tools not installed)."""
    import shutil
    import subprocess

    exe = shutil.which("vcgencmd")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    _, _, value = out.strip().partition("=")
    try:
        return int(value, 16)
    except ValueError:
        return None


class _Timex(ctypes.Structure):
    """The head of Linux's ``struct timex`` (the fields we read; the buffer given is larger)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
    ]


_STA_NANO = 0x2000  # the offset is in nanoseconds, not microseconds


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once (finding it may run ``ldconfig``: never per status)."""
    name = ctypes.util.find_library("c")
    try:
        return None if name is None else ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


def clock_state() -> tuple[bool, float, float] | None:
    """The kernel's view of the system clock, from ``adjtimex`` (read only): (synchronised, the
    offset to the time source the NTP daemon last gave, in seconds, the maximum error in seconds);
    None when it cannot be asked."""
    libc = _libc()
    if libc is None:
        return None
    try:
        buf = ctypes.create_string_buffer(512)  # struct timex is ~208 bytes; modes = 0: read only
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    tx = _Timex.from_buffer(buf)
    unit = 1e-9 if tx.status & _STA_NANO else 1e-6
    return bool(state != 5), tx.offset * unit, tx.maxerror * 1e-6  # 5: TIME_ERROR, not synchronised


def clock_synchronised() -> bool | None:
    """Whether the kernel says the system clock is synchronised (NTP), from ``adjtimex``; None when
    it cannot be asked."""
    state = clock_state()
    return None if state is None else state[0]


def package_version(name: str) -> str | None:
    """The installed Debian package version of ``name``; None when it is not installed (or no dpkg)."""
    import shutil
    import subprocess

    exe = shutil.which("dpkg-query")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, "-W", "-f=${Status} ${Version}", name], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0 or not proc.stdout.startswith("install ok installed"):
        return None
    return proc.stdout.rsplit(" ", 1)[-1]


#: The Pi's throttling conditions by bit of ``vcgencmd get_throttled`` (now; since boot: bit + 16).
THROTTLE_BITS = {"under_voltage": 0, "frequency_capped": 1, "throttled": 2, "soft_temperature_limit": 3}
#: Seconds one ``vcgencmd get_throttled`` (a child process) is trusted before it is asked again.
THROTTLE_SECONDS = 10.0


def throttling(flags: int) -> tuple[list[str], list[str]]:
    """The conditions (``THROTTLE_BITS`` names) set in ``vcgencmd get_throttled``'s value: (now, since
    boot)."""
    now = [name for name, bit in THROTTLE_BITS.items() if flags >> bit & 1]
    past = [name for name, bit in THROTTLE_BITS.items() if flags >> (bit + 16) & 1]
    return now, past


@dataclass
class MachineFacts:
    """The live machine facts a running service reports (status, metrics), each reader replaceable
    (tests give a fake sysfs ``root`` and fake readers). Thread-safe enough: a reader may run twice."""

    root: Path = Path("/")
    throttled: Callable[[], int | None] = throttled
    clock: Callable[[], tuple[bool, float, float] | None] = clock_state
    _throttle: tuple[float, int | None] = field(default=(-1e9, None), init=False)

    def throttle_flags(self) -> int | None:
        """``vcgencmd get_throttled``'s value (None: no vcgencmd), asked at most every ``THROTTLE_SECONDS``."""
        now = time.monotonic()
        if now - self._throttle[0] >= THROTTLE_SECONDS:
            self._throttle = (now, self.throttled())
        return self._throttle[1]

    def temperature_c(self) -> float | None:
        """The hottest thermal zone in °C (None without one)."""
        return temperature_c(self.root)
