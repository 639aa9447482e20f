"""OSCQuery (Vidvox OSCQueryProposal, HTTP/JSON and WebSocket): the box's OSC namespace for patches
and tools (ossia score, Chataigne, TouchDesigner, python-oscquery) to read and to LISTEN to.

``GET /`` (or any node path) returns the node: FULL_PATH, DESCRIPTION and ACCESS always (0 for
containers, 1 read-only outputs, 2 write-only control messages, 3 saved settings), CONTENTS for
containers, and for methods TYPE, VALUE and RANGE. ``?HOST_INFO`` returns NAME, OSC_IP (this box's
address on the interface the request came in on), OSC_PORT, OSC_TRANSPORT and EXTENSIONS.
``?ATTRIBUTE`` returns ``{"ATTRIBUTE": value}``: ``{}`` when a container has no TYPE or a method has
no value yet, 204 for the VALUE of a write-only method, 400 for an unknown attribute, 404 for an
unknown path.

The outputs are every format's addresses (``appliance.output.osc.formats``), one node per address:
TYPE and VALUE are those of the newest frame (so ``/poses/arr``'s TYPE grows by 52 ``f`` per
person), coordinates in the space the targets and subscriptions emitting it use (``namespace``),
absent people as zeros. The control messages come from ``appliance.control.messages``.

LISTEN (the proposal's streaming extension) on the same port: a WebSocket client sends text
``{"COMMAND": "LISTEN", "DATA": "/poses/amount"}`` and receives every OSC message sent to that
method as a binary WebSocket message, each frame, until ``IGNORE`` or it disconnects (bounds:
``listen``). Who may see values: ``server``.
"""

from __future__ import annotations

from typing import Any

from appliance.core.facade import Watching
from appliance.web.oscquery.listen import MAX_MESSAGE
from appliance.web.oscquery.namespace import Namespace
from appliance.web.oscquery.server import ATTRIBUTES, OscQueryApp
from appliance.web.security import SecurityMiddleware

__all__ = ["ATTRIBUTES", "MAX_MESSAGE", "Namespace", "OscQueryApp", "create_oscquery_app"]


def create_oscquery_app(control: Watching) -> Any:
    """The OSCQuery app: read-only HTTP and LISTEN over WebSocket, behind the same Host check as the
    HTTP API (a page on another site cannot read it through DNS rebinding) and an Origin check on
    WebSockets."""
    return SecurityMiddleware(
        OscQueryApp(control),
        token=lambda: "",
        extra_hosts=lambda: [*control.config.http.allowed_hosts, control.config.device_name.lower() + ".local"],
        read_only=True,
    )
