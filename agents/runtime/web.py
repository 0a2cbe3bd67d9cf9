"""The worker's HTTP views: /metrics, /health, /dossiers/{id} and the manual clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agents.clock import Clock, ManualClock
from agents.runtime.deadlines import is_recovered
from agents.runtime.tables import BatchedChangelogTable
from events.topics import CLOSED_TABLE, OPEN_TABLE
from workflows.state import DossierState


def register_views(
    app: faust.App,
    tables: Mapping[str, BatchedChangelogTable],
    registry: CollectorRegistry,
    before_scrape: Callable[[], None],
    clock: Clock,
    watch_once: Callable[[], Awaitable[int]],
    watched: Callable[[], int],
) -> None:
    """Add the views to ``app``; ``before_scrape`` brings the gauges up to date."""

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        before_scrape()
        # aiohttp wants the charset apart from the media type.
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        # Ready once partitions are assigned and the tables recovered from their changelog.
        recovered = is_recovered(app)
        ready = recovered and not app.rebalancing
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(app.rebalancing)}
        return web.json(body, status=200 if ready else 503)

    @app.page("/dossiers/{dossier_id}")
    @app.table_route(table=tables[OPEN_TABLE], match_info="dossier_id")
    async def dossier(web: Any, request: Any, dossier_id: str) -> Any:
        key = dossier_id.encode("utf-8")
        raw = tables[OPEN_TABLE].get(key) or tables[CLOSED_TABLE].get(key)
        if raw is None:
            return web.json({"error": f"unknown dossier {dossier_id!r}"}, status=404)
        return web.json(DossierState.from_bytes(raw).public())

    if isinstance(clock, ManualClock):
        manual = clock

        @app.page("/clock")
        class ClockView(faust.web.View):
            """The manual clock: GET shows it; POST {"advance_seconds": n} or {"to": iso}
            moves it and runs one watcher pass at once, so tests assert what fired."""

            async def get(self, request: Any) -> Any:
                return self.json({"now": manual.now().isoformat(), "watched": watched()})

            async def post(self, request: Any) -> Any:
                body = await request.json()
                if "to" in body:
                    manual.set(datetime.fromisoformat(body["to"]))
                else:
                    manual.advance(timedelta(seconds=float(body.get("advance_seconds", 0))))
                ticks = await watch_once()
                return self.json({"now": manual.now().isoformat(), "ticks": ticks})
