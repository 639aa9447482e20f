"""OSCQuery's LISTEN sockets, bounded: how many, from whom, how fast they may send commands.

* At most ``MAX_SOCKETS`` WebSockets at once and ``MAX_SOCKETS_PER_CLIENT`` per client address. A
  newcomer is always accepted; at a bound the idlest socket (of that client, else of all) is closed
  with 1013 ("try again later"): listening to nothing first, then the longest without a command.
  So idle sockets cannot lock anyone out, and one address can only push out its own.
* ``LISTEN`` is accepted only for a path of a readable method of the namespace (a bounded set);
  anything else is ignored and counted. A message is at most ``MAX_MESSAGE`` bytes (uvicorn's
  ``ws_max_size``: a bigger one closes the socket with 1009 before it is stored).
* Commands are rate-limited per socket (``guards.RateLimit``): over the limit the socket is not read
  for a while, so a flooding client is slowed down by TCP itself and costs the loop a bounded
  amount of work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from appliance.guards import RateLimit
from appliance.types import Poses
from appliance.web.limits import WS_MAX_SIZE
from appliance.web.stream import StreamListener

__all__ = [
    "COMMAND_BURST",
    "COMMAND_RATE",
    "MAX_MESSAGE",
    "MAX_SOCKETS",
    "MAX_SOCKETS_PER_CLIENT",
    "ListenHub",
    "Listener",
]

#: Most LISTEN sockets at once, and per client address.
MAX_SOCKETS, MAX_SOCKETS_PER_CLIENT = 32, 8
#: Commands a socket may send per second, and at once (a client LISTENing to a whole tree).
COMMAND_RATE, COMMAND_BURST = 50.0, 400.0
#: Largest WebSocket message accepted, in bytes (a command is under 200).
MAX_MESSAGE = WS_MAX_SIZE


class Listener(StreamListener):
    """One LISTEN socket: woken at every frame (newest frames win) while it listens to some path.

    ``since`` is when it last sent an accepted command (or connected); ``evicted`` is set when it
    must close for a newcomer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: str, authorization: str) -> None:
        super().__init__(loop, max_fps=float("inf"))
        self.client, self.authorization = client, authorization
        self.paths: set[str] = set()
        self.since = time.monotonic()
        self.evicted = asyncio.Event()
        self.sent: Poses | None = None  # the last frame sent

    def on_poses(self, poses: Poses) -> None:
        """On the "send" thread: hand the frame to the loop, never wait."""
        if self.paths:
            super().on_poses(poses)

    def idleness(self) -> tuple[bool, float]:
        """Sorts the idlest first: listening to nothing, then the longest without a command."""
        return bool(self.paths), self.since


class ListenHub:
    """The LISTEN sockets of one OSCQuery server (on the event loop only)."""

    def __init__(
        self,
        max_sockets: int = MAX_SOCKETS,
        max_per_client: int = MAX_SOCKETS_PER_CLIENT,
        rate: float = COMMAND_RATE,
        burst: float = COMMAND_BURST,
    ) -> None:
        self.max_sockets, self.max_per_client = max_sockets, max_per_client
        self._open: dict[Listener, None] = {}
        self.commands = RateLimit(rate, burst, size=max_sockets * 2)
        self.pause = 1.0 / rate
        self.evicted = 0  # sockets closed for a newcomer
        self.ignored = 0  # commands for paths that are not readable methods, or malformed

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[Listener]:
        return iter(list(self._open))

    def join(self, listener: Listener) -> None:
        """Count ``listener`` in; at a bound, tell the idlest other socket (of its client when that
        client is at its bound, else of all) to close."""
        mine = [other for other in self._open if other.client == listener.client]
        pool: list[Listener] = []
        if len(mine) >= self.max_per_client:
            pool = mine
        elif len(self._open) >= self.max_sockets:
            pool = list(self._open)
        if pool:
            victim = min(pool, key=Listener.idleness)
            del self._open[victim]
            victim.evicted.set()
            self.evicted += 1
        self._open[listener] = None

    def leave(self, listener: Listener) -> None:
        """``listener``'s socket is gone."""
        self._open.pop(listener, None)

    async def pace(self, listener: Listener) -> None:
        """Before reading ``listener``'s next command: wait while it is over its rate."""
        while not self.commands.allow(id(listener), time.monotonic()):  # noqa: ASYNC110 - a token bucket refills with time, no event
            await asyncio.sleep(self.pause)
