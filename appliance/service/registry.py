"""The service's wiring: which control-plane servers run (and how they fare) and where the other
boxes come from. The components register here; the application reads it through
``appliance.core.facade.ServiceReport`` (``Application.attach``) for the status, the port checks of
a change and the refusals the last-known-good record counts."""

from __future__ import annotations

from collections.abc import Callable

from appliance.core.status import Peer, ServerStatus

__all__ = ["ServerRegistry"]


class ServerRegistry:
    """Servers by name with a status callback each, and the peers' source; thread-safe enough for
    readers on any thread (registration happens on the event loop; reads copy first)."""

    def __init__(self) -> None:
        self._servers: dict[str, Callable[[], ServerStatus]] = {}
        self._peers: Callable[[], list[Peer]] = list

    def register_server(self, name: str, status: Callable[[], ServerStatus]) -> None:
        """Report a control-plane component's status under ``name`` ("http", "oscquery", ...)."""
        self._servers[name] = status

    def unregister_server(self, name: str) -> None:
        """Forget a component that stopped for good (a network change moved it)."""
        self._servers.pop(name, None)

    def register_peers(self, peers: Callable[[], list[Peer]]) -> None:
        """Where the other boxes come from (the discovery component)."""
        self._peers = peers

    def servers(self) -> dict[str, ServerStatus]:
        """Every registered server's status now, by name."""
        return {name: fn() for name, fn in list(self._servers.items())}

    def peers(self) -> list[Peer]:
        """The other boxes discovery has seen, newest knowledge first."""
        return self._peers()

    def refused(self) -> int:
        """Packets and requests the servers refused so far (a running total)."""
        return sum(status.rejected for status in self.servers().values())
