"""The faust app factory: topics, tables, agents and web views from one Settings object.

Nothing is created at import time, so tests build as many apps as they need,
each with its own topic prefix, consumer group and store.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import EventT

from agents.context import build_context
from agents.records import Coordinates, Outgoing
from agents.router import RawRecord, RouterCore, Tables
from agents.settings import Settings
from agents.tables import BatchedChangelogTable
from events import InboundEvent
from workflows.routing import RoutingContext
from workflows.state import DossierState

log = logging.getLogger(__name__)

#: Most records one agent iteration takes, and how long it waits to fill a batch.
#: Batching is what makes the router fast: faust's per-record overhead (Event
#: objects, acks, the consumer hand-off) dominates a one-at-a-time loop.
BATCH_MAX = 1000
BATCH_WITHIN_S = 0.05
#: Closed dossiers stay queryable this long; their changelog deletes them after.
CLOSED_RETENTION_MS = 90 * 24 * 3600 * 1000

EventHook = Callable[[InboundEvent, DossierState | None], None]


@dataclass
class Dossierflow:
    """A built app and the parts the CLI and tests reach into."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]
    tables: dict[str, Any]
    router: RouterCore


def create_app(
    settings: Settings,
    *,
    ctx: RoutingContext | None = None,
    on_event: EventHook | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Dossierflow:
    """Build the worker app. ``on_event`` runs after each applied event (metrics, tests)."""
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    names = settings.topics
    topics = {
        logical: app.topic(getattr(names, logical), key_serializer="raw", value_serializer="raw")
        for logical in ("events", "dlq", "assignments", "alerts", "alerts_failed")
    }

    def table(name: str, **extra: Any) -> BatchedChangelogTable:
        created = BatchedChangelogTable(
            app,
            name=f"{names.events}-{name}",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            beacon=app.tables.beacon,
            **extra,
        )
        app.tables.add(created)
        return created

    tables = {
        "open": table("open"),
        "closed": table(
            "closed",
            extra_topic_configs={
                "cleanup.policy": "compact,delete",
                "retention.ms": str(CLOSED_RETENTION_MS),
            },
        ),
        "parked": table("parked"),
    }
    router = RouterCore(
        ctx if ctx is not None else build_context(settings),
        Tables(open=tables["open"], closed=tables["closed"], parked=tables["parked"]),
        on_event=on_event,
    )

    @app.agent(topics["events"], name="router")
    async def route(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            await _route_batch(batch)

    async def _route_batch(batch: Sequence[EventT]) -> None:
        records = [
            RawRecord(
                e.message.value,
                Coordinates(e.message.topic, e.message.partition, e.message.offset, e.message.key),
            )
            for e in batch
        ]
        result = router.run_batch(records, clock())
        # 1. outputs first, and wait for the broker: state must never record an event
        #    whose outputs were lost (see agents/router.py).
        pending = [await _send(out) for out in result.outgoing]
        await asyncio.gather(*pending)
        # 2. then the tables and their changelog, also confirmed before the batch is acked.
        for name, writes in result.writes.items():
            target = tables[name]
            for key, (value, index) in writes.items():
                # The changelog partition is the current event's: set it per record.
                _current_event.set(weakref.ref(batch[index]))
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
        for target in tables.values():
            await target.flush_changelog()

    async def _send(out: Outgoing) -> Any:
        name = topics[out.topic].get_topic_name()
        return await app.producer.send(name, out.key, out.value, None, None, None)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        # Ready once partitions are assigned and the tables recovered from their changelog.
        recovered = app.tables.recovery.completed.is_set()
        ready = recovered and not app.rebalancing
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(app.rebalancing)}
        return web.json(body, status=200 if ready else 503)

    @app.page("/dossiers/{dossier_id}")
    @app.table_route(table=tables["open"], match_info="dossier_id")
    async def dossier(web: Any, request: Any, dossier_id: str) -> Any:
        key = dossier_id.encode("utf-8")
        raw = tables["open"].get(key) or tables["closed"].get(key)
        if raw is None:
            return web.json({"error": f"unknown dossier {dossier_id!r}"}, status=404)
        return web.json(DossierState.from_bytes(raw).public())

    return Dossierflow(settings=settings, app=app, topics=topics, tables=tables, router=router)


def run_worker(flow: Dossierflow, loglevel: str = "info") -> None:
    """Run the worker in this process until a signal stops it."""
    worker = faust.Worker(flow.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
