"""The long-lived parts of the running service, each with ``start`` and an idempotent ``close``.

``appliance.service.serve`` starts them in order (pipeline, OSC control port, HTTP, OSCQuery,
discovery) on one ``AsyncExitStack``, so shutdown is the reverse order by construction. A server
that cannot listen does not stop the others: it reports why in the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any, Protocol

from appliance.config.models import AppConfig, NetworkConfig
from appliance.core.facade import Control, Steering, Watching
from appliance.core.status import Peer, ServerStatus
from appliance.output.osc import DEFAULT_FORMAT
from appliance.service.registry import ServerRegistry

__all__ = [
    "Component",
    "ControlPortComponent",
    "DiscoveryComponent",
    "HttpComponent",
    "OscQueryComponent",
    "PipelineComponent",
]

logger = logging.getLogger(__name__)

#: Seconds between checks of the interface addresses (re-announce when they change).
ADDRESS_CHECK_SECONDS = 30.0
#: Seconds between looks for the box that serves time (clock.server "auto").
CLOCK_FOLLOW_SECONDS = 5.0


class Component(Protocol):
    """Something the service starts and stops."""

    name: str

    async def start(self) -> None:
        """Start; a failure to listen is reported in the status, not raised."""
        ...

    async def close(self) -> None:
        """Stop and release everything; idempotent."""
        ...

    def status(self) -> ServerStatus:
        """Where it listens (or why not)."""
        ...


class PipelineComponent:
    """The data plane: model loading and device probing run in a worker thread."""

    name = "pipeline"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def start(self) -> None:
        """Build and start the pipeline (or settle in a reported degraded state)."""
        await asyncio.to_thread(self.app.start)

    async def close(self) -> None:
        """Stop the pipeline threads and close the targets."""
        await asyncio.to_thread(self.app.stop)

    def status(self) -> ServerStatus:
        """The pipeline listens on nothing."""
        return ServerStatus()


class ControlPortComponent:
    """The OSC control port (UDP)."""

    name = "osc_control"

    def __init__(self, control: Steering, registry: ServerRegistry, host: str, port: int) -> None:
        self.control, self.registry, self.host, self.port = control, registry, host, port
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: Any = None
        self._error = ""

    async def start(self) -> None:
        """Listen on the configured port."""
        from appliance.control.oscport import start_control

        try:
            self._transport, self._protocol = await start_control(self.control, self.host, self.port)
        except OSError as exc:
            self._error = str(exc)
            logger.error("OSC control port %d unavailable: %s", self.port, exc)
        self.registry.register_server(self.name, self.status)

    def status(self) -> ServerStatus:
        """Where it listens and what it handled, or why it does not listen."""
        if self._protocol is None:
            return ServerStatus(error=self._error)
        return self._protocol.status()  # type: ignore[no-any-return]

    async def close(self) -> None:
        """Close the socket after the changes being saved are done."""
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
            await self._protocol.drain()


class UvicornComponent:
    """One uvicorn server for an ASGI app (the HTTP API and page, or OSCQuery)."""

    def __init__(
        self, name: str, registry: ServerRegistry, asgi: Any, host: str, port: int, websockets: bool = False
    ) -> None:
        from appliance.web.limits import ConnectionGuard

        self.name, self.registry, self.asgi, self.host, self.port = name, registry, asgi, host, port
        self.websockets = websockets
        self.guard = ConnectionGuard()
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._status = ServerStatus()

    def status(self) -> ServerStatus:
        """Where it listens (or why not) and how its connection bound fares."""
        g = self.guard
        detail = f"{g.connections} open, {g.refused} refused, {g.evicted} evicted, {g.timed_out} timed out"
        rejected = int(getattr(self.asgi, "refused", 0))  # the security guard's own refusals
        return dataclasses.replace(self._status, detail=detail, rejected=rejected, evicted=g.evicted)

    async def start(self) -> None:
        """Serve, and wait until the socket listens (or the server gave up)."""
        import uvicorn

        from appliance.web.limits import WS_MAX_SIZE, guarded_protocol

        config = uvicorn.Config(
            self.asgi,
            host=self.host,
            port=self.port,
            http=guarded_protocol(self.guard),
            ws="wsproto" if self.websockets else "none",
            ws_max_size=WS_MAX_SIZE,
            log_level="error",  # one line per malformed request would let anyone fill the journal
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._serve())
        while not self._server.started and not self._task.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.02)
        if self._server.started:
            port = self._server.servers[0].sockets[0].getsockname()[1]
            self._status = ServerStatus(port=port)
            logger.info("%s on http://%s:%d/", self.name, self.host, port)
        else:
            self._status = ServerStatus(error=f"cannot listen on {self.host}:{self.port}")
            logger.error("%s did not start on %s:%d", self.name, self.host, self.port)
        self.registry.register_server(self.name, self.status)

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit:  # uvicorn ends the whole process when it cannot listen: report it instead
            logger.debug("%s: uvicorn gave up", self.name)

    @property
    def stopped(self) -> bool:
        """The server ended by itself (uvicorn saw a signal first)."""
        return self._task is not None and self._task.done()

    async def close(self) -> None:
        """Stop serving; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            self._server.should_exit = True
            await task


class HttpComponent(UvicornComponent):
    """The HTTP API and web page; open live streams are ended first so none holds shutdown up."""

    def __init__(self, control: Control, registry: ServerRegistry, host: str, port: int) -> None:
        from appliance.web.server import create_app
        from appliance.web.stream import PoseStreams

        self.streams = PoseStreams()
        super().__init__("http", registry, create_app(control, self.streams), host, port)

    async def start(self) -> None:
        """Serve the page and API, and sample the last minutes for its plots."""
        await super().start()
        web = self.asgi.app.state.web
        web.history.start(web.control)
        if self._status.port:
            logger.warning("web page and API on http://%s:%d/", self.host, self._status.port)

    async def close(self) -> None:
        """End the live streams, an identify's blinking (the LED as it was) and the sampling, then stop
        serving."""
        if self._task is not None:
            self.streams.end_all()
            await asyncio.sleep(0.05)  # let open streams send their end
        await self.asgi.app.state.web.identify.close()
        await self.asgi.app.state.web.history.close()
        await super().close()


class OscQueryComponent(UvicornComponent):
    """The OSCQuery server."""

    def __init__(self, control: Watching, registry: ServerRegistry, host: str, port: int) -> None:
        from appliance.web.oscquery import create_oscquery_app

        super().__init__("oscquery", registry, create_oscquery_app(control), host, port, websockets=True)


def _boxes(peers: list[Peer]) -> list[tuple[str, str, int]]:
    """The verified boxes a hub may follow (not other hubs): (instance name, address, control port)."""
    out = []
    for peer in peers:
        port = peer.txt.get("osc_port", "")
        if peer.txt.get("hub") != "1" and port.isdigit() and 0 < int(port) < 65536:
            out.append((peer.name, peer.address, int(port)))
    return out


class DiscoveryComponent:
    """mDNS / DNS-SD advertisement; re-announced on changes, withdrawn (goodbyes) on close.

    Nothing is announced after ``close`` began: pending re-announcements are cancelled first.
    ``network``: the discovery settings to use (a network change on trial), else the configuration's.
    """

    name = "discovery"

    def __init__(
        self,
        control: Watching,
        registry: ServerRegistry,
        network: NetworkConfig | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.control, self.registry = control, registry
        self.network = network
        self.state_dir = state_dir  # where clock.server "auto" writes the time server found
        self._advertiser: Any = None
        self._status = ServerStatus()
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _announcement(self) -> Any:
        from appliance.discovery.advertiser import Announcement

        cfg = self.control.config
        status = self.control.status()
        formats = sorted({t.format for t in cfg.targets}) or [DEFAULT_FORMAT]
        return Announcement(
            device_name=cfg.device_name,
            osc_port=cfg.osc_control.port,
            oscquery_port=status.servers.get("oscquery", ServerStatus()).port,
            http_port=status.servers.get("http", ServerStatus()).port,
            properties={
                "model": status.model[:120],
                "backend": status.backend[:120],
                "formats": ",".join(formats),
                "device": cfg.device_name,
                **({"clock": "serve"} if cfg.clock.serve else {}),
                **({"hub": "1"} if status.hub is not None else {}),
            },
        )

    def status(self) -> ServerStatus:
        """Where it advertises (or why not)."""
        return self._status

    def _interfaces(self) -> list[str]:
        return (self.network or self.control.config.network).interfaces

    async def start(self) -> None:
        """Advertise on the configured interfaces, and follow changes."""
        from appliance.discovery.advertiser import Advertiser, resolve_interfaces

        self._loop = asyncio.get_running_loop()
        self.registry.register_server(self.name, self.status)
        addresses = await asyncio.to_thread(resolve_interfaces, self._interfaces())
        if not addresses:
            self._status = ServerStatus(error="not advertised: no IPv4 address on the chosen interfaces")
            logger.warning("mDNS: %s", self._status.error)
            return
        advertiser = Advertiser(addresses)
        try:
            instance = await advertiser.async_start(self._announcement())
        except OSError as exc:
            self._status = ServerStatus(error=f"not advertised: {exc}")
            logger.error("mDNS: %s", self._status.error)
            await advertiser.async_close()
            return
        self._advertiser = advertiser
        self.registry.register_peers(advertiser.peers)
        self._spawn(self._share_boxes())
        self._status = ServerStatus(detail=f"advertised on {', '.join(addresses)}", name=instance)
        self.control.on_change(self._changed)
        self._spawn(self._watch_addresses())
        if self.state_dir is not None:
            self._spawn(self._follow_clock(self.state_dir))

    def _changed(self, _config: AppConfig) -> None:
        loop = self._loop
        if loop is not None and not self._closing:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._reannounce)

    def reannounce(self) -> None:
        """Announce the current settings again (on the event loop)."""
        self._reannounce()

    def _reannounce(self) -> None:
        if not self._closing and self._advertiser is not None:
            self._spawn(self._advertiser.async_update(self._announcement()))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch_addresses(self) -> None:
        from appliance.discovery.advertiser import resolve_interfaces

        while True:
            await asyncio.sleep(ADDRESS_CHECK_SECONDS)
            addresses = await asyncio.to_thread(resolve_interfaces, self._interfaces())
            if addresses and addresses != self._advertiser.addresses and not self._closing:
                logger.warning("addresses changed to %s: re-announcing", ", ".join(addresses))
                await self._advertiser.async_update(self._announcement(), addresses)

    async def _share_boxes(self) -> None:
        """The boxes seen, for a hub without boxes named: a list copied on the event loop every
        second, which the hub's thread reads (never the browser itself)."""
        from appliance.capture.hub_source import DIRECTORY

        while self._advertiser is not None:
            DIRECTORY.set(_boxes(self._advertiser.peers()).copy)
            await asyncio.sleep(1.0)

    async def _follow_clock(self, state_dir: Path) -> None:
        """With ``clock.server`` "auto": name the box that serves time in the state directory (every
        ``CLOCK_FOLLOW_SECONDS``; ``posenet-clock.path`` hands it to chrony)."""
        from appliance.service.clock import write_choice
        from appliance.timesync import AUTO

        while True:
            advertiser = self._advertiser
            if advertiser is not None and self.control.config.clock.server == AUTO:
                try:
                    if await asyncio.to_thread(write_choice, state_dir, advertiser.peers()):
                        logger.warning("clock: the time server found on mDNS changed")
                except OSError as exc:
                    logger.error("clock: cannot write the time server found: %s", exc)
            await asyncio.sleep(CLOCK_FOLLOW_SECONDS)

    async def close(self) -> None:
        """Cancel pending re-announcements, then send the goodbyes; idempotent."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        advertiser, self._advertiser = self._advertiser, None
        if advertiser is not None:
            await advertiser.async_close()
