"""The worker's HTTP views: the status API, /metrics and /health (on the web port or on an
ops address of their own), the table routes for operators and the manual clock (admin)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import faust
from aiohttp import web as aioweb
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agents.clock import Clock, ManualClock
from agents.runtime.api_auth import TokenStore
from agents.runtime.deadlines import is_recovered
from agents.runtime.status_api import StatusApi, require_admin


@dataclass(frozen=True)
class OpsViews:
    """/metrics and /health, unauthenticated: what Prometheus and a supervisor poll."""

    app: faust.App
    registry: CollectorRegistry
    before_scrape: Callable[[], None]

    def metrics(self) -> bytes:
        self.before_scrape()
        return generate_latest(self.registry)

    def health(self) -> tuple[int, dict[str, bool]]:
        # Ready once partitions are assigned and the tables recovered from their changelog.
        recovered = is_recovered(self.app)
        ready = recovered and not self.app.rebalancing
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(self.app.rebalancing)}
        return (200 if ready else 503), body


#: aiohttp wants the charset apart from the media type.
_METRICS_TYPE = CONTENT_TYPE_LATEST.split(";")[0]


def register_ops_views(app: faust.App, ops: OpsViews) -> None:
    """/metrics and /health on the worker's own web port (no ops address configured)."""

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(ops.metrics(), content_type=_METRICS_TYPE)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        status, body = ops.health()
        return web.json(body, status=status)


class OpsSite(Service):
    """/metrics and /health on an address of their own (``DOSSIERFLOW_OPS_HOST``/``_PORT``),
    served on the worker's loop from its start, so /health answers during recovery too."""

    def __init__(self, ops: OpsViews, host: str, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ops, self.host, self.port = ops, host, port
        self._runner: aioweb.AppRunner | None = None

    async def on_start(self) -> None:
        site_app = aioweb.Application()
        site_app.router.add_get("/metrics", self._metrics)
        site_app.router.add_get("/health", self._health)
        self._runner = aioweb.AppRunner(site_app, access_log=None)
        await self._runner.setup()
        await aioweb.TCPSite(self._runner, self.host, self.port).start()
        self.log.info("ops views (/metrics, /health) on http://%s:%d", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(body=self.ops.metrics(), content_type=_METRICS_TYPE)

    async def _health(self, request: aioweb.Request) -> aioweb.Response:
        status, body = self.ops.health()
        return aioweb.json_response(body, status=status)


def register_admin_views(
    app: faust.App,
    tokens: TokenStore,
    clock: Clock,
    watch_once: Callable[[], Awaitable[int]],
    watched: Callable[[], int],
    prepared: Callable[[], dict[str, int]] | None = None,
) -> None:
    """Views for operators and tests, each behind an admin token. ``prepared``: the
    counters of the ticks prepared ahead (agents/runtime/prepared.py), shown by /clock."""

    @app.page("/routes")
    class RoutesView(faust.web.View):
        """Which worker (URL) holds which partitions of each table: faust's /router/ view,
        which is off (it would tell anyone the cluster's layout)."""

        async def get(self, request: Any) -> Any:
            refused = require_admin(tokens, self, request)
            return refused or self.json(app.router.tables_metadata())

    if not isinstance(clock, ManualClock):
        return
    manual = clock

    @app.page("/clock")
    class ClockView(faust.web.View):
        """The manual clock: GET shows it; POST {"advance_seconds": n} or {"to": iso}
        moves it and runs one watcher pass at once, so tests assert what fired."""

        async def get(self, request: Any) -> Any:
            refused = require_admin(tokens, self, request)
            shown = {"now": manual.now().isoformat(), "watched": watched()}
            return refused or self.json({**shown, "prepared": prepared() if prepared else None})

        async def post(self, request: Any) -> Any:
            refused = require_admin(tokens, self, request)
            if refused is not None:
                return refused
            body = await request.json()
            if "to" in body:
                manual.set(datetime.fromisoformat(body["to"]))
            else:
                manual.advance(timedelta(seconds=float(body.get("advance_seconds", 0))))
            ticks = await watch_once()
            return self.json({"now": manual.now().isoformat(), "ticks": ticks})


def register_views(
    app: faust.App,
    api: StatusApi,
    ops: OpsViews,
    *,
    ops_on_web_port: bool,
    clock: Clock,
    watch_once: Callable[[], Awaitable[int]],
    watched: Callable[[], int],
    prepared: Callable[[], dict[str, int]] | None = None,
) -> None:
    """Every view of the worker's web port; /metrics and /health only when
    ``ops_on_web_port`` (else an ``OpsSite`` serves them)."""
    api.register(app)
    if ops_on_web_port:
        register_ops_views(app, ops)
    register_admin_views(app, api.tokens, clock, watch_once, watched, prepared)
