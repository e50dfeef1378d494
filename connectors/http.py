"""``http`` sources: API Gateway style routes on ``hub.listen``.

:class:`HttpRouter` is a hub-wide service. It plugs one handler into the main
listener's fallbacks (requests that neither the Invoke API nor an AWS JSON API took)
and holds an immutable :class:`~connectors.http_routes.RouteTable` that is rebuilt and
swapped whenever a source starts or stops, so a reload changes routes between two
requests, never during one. :class:`HttpSource` is the managed source: while it runs,
its route is in the table; ``stop`` takes it out and lets requests in flight finish.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from connectors import http_cors
from connectors.http_gateway import Endpoint
from connectors.http_routes import STANDARD_METHODS, RouteTable, parse_route
from eventhub.config.sources import HttpCors, HttpSourceConfig
from eventhub.hubenv import HubEnv
from eventhub.sources import SourceStatus

log = structlog.get_logger("eventhub.http")

SERVICE = "http-routes"


class HttpRouter:
    """Routes requests to running ``http`` sources (a :class:`eventhub.hubenv.Service`)."""

    def __init__(self) -> None:
        self._endpoints: list[Endpoint] = []
        self.table: RouteTable[Endpoint] = RouteTable(())
        self._env: HubEnv | None = None

    async def start(self, env: HubEnv) -> None:
        self._env = env
        env.main.fallbacks.append(self.handle)

    async def reconfigure(self, env: HubEnv) -> None:
        self._env = env

    async def aclose(self) -> None:
        if self._env is not None and self.handle in self._env.main.fallbacks:
            self._env.main.fallbacks.remove(self.handle)
        self._endpoints.clear()
        self.table = RouteTable(())

    def register(self, endpoint: Endpoint) -> None:
        """Add a route; a later registration of the same route shape wins until removed."""
        self._endpoints.append(endpoint)
        self._rebuild()

    def unregister(self, endpoint: Endpoint) -> None:
        """Remove exactly this registration (a newer instance of the source stays)."""
        if endpoint in self._endpoints:
            self._endpoints.remove(endpoint)
            self._rebuild()

    def _rebuild(self) -> None:
        self.table = RouteTable((e.spec, e) for e in self._endpoints)

    async def handle(self, request: web.Request) -> web.StreamResponse | None:
        """Answer a request for a route, or None when no route matches (the listener then
        answers 404 ``{"message": "Not Found"}``, as API Gateway does)."""
        table = self.table
        raw_path = request.rel_url.raw_path
        if http_cors.is_preflight(request.method, request.headers):
            cors = _cors_of_path(table, http_cors.requested_method(request.headers), raw_path)
            if cors is not None:
                headers = http_cors.preflight_headers(cors, request.headers)
                return web.Response(status=204, headers=headers)
        match = table.match(request.method, raw_path)
        if match is None:
            return None
        return await match.target.serve(request, match.params)


def _cors_of_path(table: RouteTable[Endpoint], method: str, raw_path: str) -> HttpCors | None:
    """The CORS settings a preflight for ``method`` on ``raw_path`` is answered with: the
    route for that method's, else those of any route of the path that has CORS, so a
    method it does not allow gets a 204 without CORS headers rather than reaching another
    route (API Gateway answers every preflight of a CORS-enabled API itself)."""
    for candidate in (method, *sorted(STANDARD_METHODS - {method})):
        found = table.match(candidate, raw_path)
        if found is not None and found.target.cors is not None:
            return found.target.cors
    return None


class HttpSource:
    """One ``http`` source (a :class:`eventhub.sources.ManagedSource`): registers its route
    with the hub's :class:`HttpRouter` while running."""

    # On reload a changed route's new instance registers before the old one leaves (the
    # newer registration wins), so requests never find the route missing in between.
    restart_overlaps = True

    def __init__(self, name: str, config: HttpSourceConfig, env: HubEnv) -> None:
        self.name = name
        self._router: HttpRouter = env.services[SERVICE]
        self._endpoint = Endpoint(name, config, parse_route(config.route), env)
        self._stopped = asyncio.Event()
        self._state = "starting"

    async def run(self) -> None:
        """Serve the route until ``stop``."""
        self._router.register(self._endpoint)
        self._state = "running"
        log.info("http route ready", source=self.name, route=self._endpoint.spec.route_key)
        try:
            await self._stopped.wait()
        finally:
            self._router.unregister(self._endpoint)

    async def stop(self, grace: float) -> None:
        """Take the route out of the table now; requests in flight get ``grace`` seconds."""
        self._router.unregister(self._endpoint)
        self._state = "stopped"
        if not await self._endpoint.drain(grace):
            log.warning("http requests still running after grace", source=self.name)
        self._stopped.set()

    def status(self) -> SourceStatus:
        endpoint = self._endpoint
        return SourceStatus(
            name=self.name,
            type="http",
            function=endpoint.function,
            state=self._state,
            connected=self._state == "running",
            last_result=None if endpoint.last_status is None else f"HTTP {endpoint.last_status}",
            detail={
                "route": endpoint.spec.route_key,
                "payload_format": endpoint.config.payload_format,
                "requests": endpoint.requests,
                "server_errors": endpoint.errors,
                "errors": endpoint.errors,
                "in_flight": endpoint.in_flight,
            },
        )
