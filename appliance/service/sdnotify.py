"""sd_notify without a C dependency: READY, STATUS, WATCHDOG, STOPPING to $NOTIFY_SOCKET.

A no-op when not started by systemd (no NOTIFY_SOCKET). Abstract socket names (``@name``) are
supported. Sends never block and never raise: a lost notification is logged at DEBUG.
"""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["Notifier", "watchdog_interval"]

logger = logging.getLogger(__name__)


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds of systemd's WatchdogSec for this process, or None when no watchdog is armed."""
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None


class Notifier:
    """Sends ``KEY=value`` datagrams to systemd's notification socket."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path if path is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None
        if self.path:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        """Whether we run under systemd with a notification socket."""
        return self._sock is not None

    def notify(self, message: str) -> bool:
        """Send one notification (several lines allowed); False if it could not be sent."""
        if self._sock is None:
            return False
        address = "\0" + self.path[1:] if self.path.startswith("@") else self.path
        try:
            self._sock.sendto(message.encode(), address)
        except OSError as exc:
            logger.debug("sd_notify %r failed: %s", message, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """READY=1, with a first STATUS line."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> bool:
        """STATUS=: the line ``systemctl status`` shows."""
        return self.notify("STATUS=" + text.replace("\n", " ")[:200])

    def watchdog(self) -> bool:
        """WATCHDOG=1: we are making progress."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """STOPPING=1: shutdown began."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket; idempotent."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
