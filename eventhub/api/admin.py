"""The admin listener: health, readiness, Prometheus metrics and the admin API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from eventhub.api.errors import json_error
from eventhub.metrics import Metrics
from eventhub.sources import SourceStatus


class AdminHub(Protocol):
    """What the admin API reads from and asks of the hub."""

    metrics: Metrics

    def loop_lag(self) -> float:
        """Seconds since the event loop last proved it was running."""
        ...

    def functions_overview(self) -> list[dict[str, Any]]: ...

    def sources_overview(self) -> list[SourceStatus]: ...

    async def set_source_enabled(self, name: str, enabled: bool) -> SourceStatus:
        """Raises KeyError for an unknown source."""
        ...

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file; raises ConfigError (nothing changed) when invalid."""
        ...


ADMIN = web.AppKey("eventhub_admin", AdminHub)

STUCK_AFTER = 10.0


async def _health(request: web.Request) -> web.Response:
    lag = request.app[ADMIN].loop_lag()
    if lag > STUCK_AFTER:
        return web.json_response({"status": "stuck", "loop_lag_seconds": round(lag, 3)}, status=503)
    return web.json_response({"status": "ok"})


async def _ready(request: web.Request) -> web.Response:
    sources = request.app[ADMIN].sources_overview()
    down = [s.name for s in sources if s.state != "disabled" and not s.connected]
    if down:
        return web.json_response({"status": "not ready", "disconnected": down}, status=503)
    return web.json_response({"status": "ready"})


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[ADMIN].metrics.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _functions(request: web.Request) -> web.Response:
    return web.json_response({"functions": request.app[ADMIN].functions_overview()})


async def _sources(request: web.Request) -> web.Response:
    return web.json_response(
        {"sources": [asdict(s) for s in request.app[ADMIN].sources_overview()]}
    )


async def _toggle(request: web.Request) -> web.Response:
    name, action = request.match_info["name"], request.match_info["action"]
    if action not in ("enable", "disable"):
        return json_error(404, "NotFound", f"unknown action {action!r}")
    try:
        status = await request.app[ADMIN].set_source_enabled(name, action == "enable")
    except KeyError:
        return json_error(404, "ResourceNotFoundException", f"no source named {name!r}")
    return web.json_response(asdict(status))


async def _reload(request: web.Request) -> web.Response:
    from eventhub.config.errors import ConfigError  # noqa: PLC0415

    try:
        outcome = await request.app[ADMIN].reload()
    except ConfigError as exc:
        return web.json_response(
            {
                "__type": "InvalidConfiguration",
                "message": "the new configuration is invalid; the running one is kept",
                "errors": [issue.render(exc.filename) for issue in exc.issues],
            },
            status=400,
        )
    return web.json_response(outcome)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return json_error(exc.status, exc.reason.replace(" ", ""), exc.reason)
        raise


def build_admin_app(hub: AdminHub) -> web.Application:
    """The aiohttp application of ``hub.admin_listen``."""
    app = web.Application(middlewares=[_json_errors])
    app[ADMIN] = hub
    app.router.add_get("/health", _health)
    app.router.add_get("/ready", _ready)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/functions", _functions)
    app.router.add_get("/sources", _sources)
    app.router.add_post("/sources/{name}/{action}", _toggle)
    app.router.add_post("/reload", _reload)
    return app
