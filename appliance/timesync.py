"""One clock for several boxes: chrony's configuration for this box (serve time to the LAN, or use a
given server, or the box that serves found on mDNS) and chrony's own estimate of the offset
(``chronyc -c tracking``).

Nothing here changes the system: ``chrony_conf`` and ``sources_text`` return text that the root-side
``posenet-appliance clock apply`` (run by ``posenet-clock.service``) writes for chronyd; ``tracking``
only asks chronyd (a monitoring command, answered to any local user). The kernel's view of the
clock (``adjtimex``) is ``appliance.sysinfo``'s.

Offsets are seconds, positive when this box's clock is *ahead* of its time source.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AUTO",
    "DEFAULT_WARN_MS",
    "LOCAL_STRATUM",
    "ChronyWatch",
    "Tracking",
    "check_server",
    "chrony_conf",
    "parse_tracking",
    "sources_text",
    "tracking",
    "write_if_changed",
]

#: ``clock.server``'s value for "the box that serves time, found on mDNS".
AUTO = "auto"
#: The doctor warns when chrony's estimated offset is larger than this (milliseconds): at 15 fps a
#: frame lasts 67 ms, so 5 ms keeps capture times from two boxes well inside one frame.
DEFAULT_WARN_MS = 5.0
#: The stratum a serving box claims when it has no better source (no internet on a show network):
#: high enough that any real NTP source on the LAN wins.
LOCAL_STRATUM = 8
#: Seconds ``chronyc`` may take before the offset is called unknown.
CHRONYC_TIMEOUT = 2.0

_HOST = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


def check_server(value: str) -> str:
    """``clock.server``'s value checked: "" (the image's default sources), ``AUTO``, an IP address or a
    host name; anything else raises ``ValueError`` with one line saying why (it ends up in chrony's
    configuration, so nothing but a name or an address gets through)."""
    if value in ("", AUTO):
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOST.fullmatch(value):
        raise ValueError(f"not a host name or an IP address: {value[:80]!r}")
    return value


def chrony_conf(serve: bool, server: str, sources_dir: str) -> str:
    """The chrony drop-in (``/etc/chrony/conf.d/posenet.conf``) for these settings.

    ``serve``: answer NTP clients on the box's own networks, and keep serving from the box's own
    clock (``local stratum``) when no better source is reachable (a show network without internet).
    ``server``: "" leaves the image's sources (Debian's pool), a host uses it first (``prefer``),
    ``AUTO`` reads the server found on mDNS from ``sources_dir`` (``*.sources``, re-read by
    ``chronyc reload sources``)."""
    server = check_server(server)
    lines = ["# Written by posenet-appliance clock apply from the box's settings (clock.*): do not edit."]
    if server == AUTO:
        lines.append(f"sourcedir {sources_dir}")
    elif server:
        lines.append(f"server {server} iburst prefer")
    if serve:
        lines += [
            f"local stratum {LOCAL_STRATUM}",
            "allow 10.0.0.0/8",
            "allow 172.16.0.0/12",
            "allow 192.168.0.0/16",
            "allow 169.254.0.0/16",
            "allow fe80::/10",
            "allow fc00::/7",
        ]
    return "\n".join(lines) + "\n"


def sources_text(address: str) -> str:
    """The ``*.sources`` file naming the time server found on mDNS (an IP address only; "" for none)."""
    if not address:
        return ""
    return f"server {ipaddress.ip_address(address)} iburst prefer\n"


@dataclass(frozen=True, slots=True)
class Tracking:
    """chrony's estimate of this box's clock: ``reference`` the source's name or address,
    ``stratum``, ``offset_s`` this clock minus the source's (seconds, positive: ahead), ``rms_s`` the
    offsets' RMS, ``leap`` ("Normal", "Not synchronised" ...)."""

    reference: str
    stratum: int
    offset_s: float
    rms_s: float
    leap: str

    @property
    def synchronised(self) -> bool:
        """Whether chrony follows a source (stratum 1..15 and a known leap status)."""
        return 0 < self.stratum < 16 and self.leap != "Not synchronised"


def parse_tracking(text: str) -> Tracking:
    """``chronyc -c tracking``'s one CSV line (reference id, name, stratum, reference time, system
    time, last offset, RMS offset, ... leap status) as a ``Tracking``; ``ValueError`` if it is not one."""
    fields = text.strip().splitlines()[0].split(",") if text.strip() else []
    if len(fields) != 14:
        raise ValueError(f"not chronyc -c tracking's output: {text[:80]!r}")
    # "System time": how far the system clock is *behind* NTP time (positive: slow).
    return Tracking(
        reference=fields[1][:120],
        stratum=int(fields[2]),
        offset_s=-float(fields[4]),
        rms_s=float(fields[6]),
        leap=fields[13][:40],
    )


def tracking(host: str | None = "127.0.0.1", port: int | None = None) -> Tracking | None:
    """chrony's tracking now (``chronyc -c tracking``, at most ``CHRONYC_TIMEOUT`` s); None without
    chronyc, without a running chronyd, or on output it does not understand. ``host``/``port``:
    chronyd's command address (UDP, which chronyd answers on 127.0.0.1:323 by default; None: chronyc's own
    choice, its Unix socket first)."""
    cmd = ["chronyc", "-n", "-c"]
    if host is not None:
        cmd += ["-h", host]
    if port is not None:
        cmd += ["-p", str(port)]
    try:
        proc = subprocess.run([*cmd, "tracking"], capture_output=True, text=True, timeout=CHRONYC_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        return parse_tracking(proc.stdout)
    except ValueError:
        return None


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` (atomically, by rename) unless it already holds it; whether it wrote."""
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


class ChronyWatch:
    """chrony's tracking for a running service's status, never blocking its reader: ``latest()``
    returns the last answer at once and, when it is older than ``every`` seconds, asks again on a
    thread of its own (one at a time)."""

    def __init__(self, ask: Callable[[], Tracking | None] = tracking, every: float = 10.0) -> None:
        self.ask, self.every = ask, every
        self._last: tuple[float, Tracking | None] = (-1e9, None)
        self._asking = threading.Lock()

    def latest(self) -> Tracking | None:
        """The newest answer (None before the first, or without chronyd)."""
        when, value = self._last
        if time.monotonic() - when >= self.every and self._asking.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="chronyc", daemon=True).start()
        return value

    def _refresh(self) -> None:
        try:
            self._last = (time.monotonic(), self.ask())
        finally:
            self._asking.release()
