"""The service's registry: the application's status and change checks read the servers from it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.core.status import Peer, ServerStatus
from appliance.errors import RefusedChange
from appliance.service.registry import ServerRegistry


def test_the_status_reads_the_servers_and_peers_of_the_registry(tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    app = Application(store)
    assert app.status().servers == {} and app.peers() == []  # no service around it
    registry = ServerRegistry()
    app.attach(registry)
    registry.register_server("http", lambda: ServerStatus(port=8080, rejected=3))
    registry.register_server("oscquery", lambda: ServerStatus(port=8081, rejected=4))
    peer = Peer(name="other", address="10.0.0.7", http_port=8080)
    registry.register_peers(lambda: [peer])
    assert set(app.status().servers) == {"http", "oscquery"}
    assert app.peers() == [peer]
    assert registry.refused() == 7
    registry.unregister_server("oscquery")
    assert set(app.status().servers) == {"http"} and registry.refused() == 3


def test_a_change_may_move_to_a_port_a_registered_server_holds(tmp_path: Path) -> None:
    """A port in use is refused, unless one of the service's own servers (in the registry) holds it."""
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    app = Application(store)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("0.0.0.0", 0))
        port = held.getsockname()[1]

        def move(c: dict[str, Any]) -> dict[str, Any]:
            return {**c, "osc_control": {**c["osc_control"], "port": port}}

        with pytest.raises(RefusedChange, match="in use"):
            app.update(move)
        assert app.trial is None
        registry = ServerRegistry()
        app.attach(registry)
        registry.register_server("oscquery", lambda: ServerStatus(port=port))
        app.update(move)
        assert app.trial is not None and app.trial.changes == {"osc_control.port": port}
