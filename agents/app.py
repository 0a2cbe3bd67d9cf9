"""The faust app factory: topics, tables, agents and web views from one Settings object.

Nothing is created at import time, so tests build as many apps as they need,
each with its own topic prefix, consumer group and store.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.tables.manager import TableManager
from faust.types import EventT
from mode.types.signals import BaseSignalT
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agents.clock import Clock, ManualClock, clock_from
from agents.consumer import (
    App,
    OffsetGuard,
    RewindingConsumer,
    exit_unacked,
    settle_or_withhold,
    withhold_acks,
)
from agents.context import build_context
from agents.gauges import OpenGauges, record_batch
from agents.kafka_admin import CLOSED_RETENTION_MS
from agents.lag import export_consumer_lag
from agents.limits import parking_policy
from agents.notify.agent import register_notifier
from agents.records import Coordinates, Outgoing, crash_dead_letter
from agents.router import BatchResult, RawRecord, RouterCore, Tables
from agents.settings import Settings
from agents.stall import StallWatch
from agents.tables import BatchedChangelogTable
from agents.watcher import Watcher, partition_of
from events import InboundEvent
from events.internal import DeadlineTick
from events.topics import CLOSED_TABLE, OPEN_TABLE, PARKED_TABLE
from monitoring.metrics import Metrics, create_metrics
from workflows.alerts import AlertPolicy
from workflows.routing import RoutingContext
from workflows.state import DossierState

log = logging.getLogger(__name__)

#: How old ``dossierflow_consumer_lag`` may be: it is measured this often, not per scrape.
LAG_REFRESH_S = 2.0

#: Most records one agent iteration takes, and how long it waits to fill a batch.
#: Batching is what makes the router fast: faust's per-record overhead (Event
#: objects, acks, the consumer hand-off) dominates a one-at-a-time loop.
BATCH_MAX = 1000
BATCH_WITHIN_S = 0.05

#: A membership check that cannot reach the coordinator (a broker restarting) is retried
#: this often before the batch is given up (unacked, the worker exits 70). Nothing is
#: written while it waits, so waiting is safe: it only delays the batch.
FENCE_RETRIES = 120
FENCE_RETRY_S = 0.5


class Fenced(RuntimeError):
    """This worker lost its group membership while it held a batch: it must not write."""


EventHook = Callable[[InboundEvent, DossierState | None], None]


@dataclass
class Dossierflow:
    """A built app and the parts the CLI and tests reach into."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]
    tables: dict[str, Any]
    router: RouterCore
    watcher: Watcher
    metrics: Metrics


def create_app(
    settings: Settings,
    *,
    ctx: RoutingContext | None = None,
    on_event: EventHook | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> Dossierflow:
    """Build the worker app. ``on_event`` runs after each applied event (metrics, tests)."""
    clock = clock if clock is not None else clock_from(settings)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = create_metrics(registry)
    worker_name = settings.worker_name or f"{socket.gethostname()}:{settings.web_port}"
    app = App(
        settings.app_id,
        broker=settings.faust_broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        broker_rebalance_timeout=settings.rebalance_timeout_seconds,
        consumer_group_instance_id=settings.group_instance_id,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        # faust reads its settings from the environment too (BROKER_SESSION_TIMEOUT,
        # WEB_PORT, ...) and those win over the arguments above: Settings is the one source.
        env={},
    )
    names = settings.topics
    topics = {
        logical: app.topic(getattr(names, logical), key_serializer="raw", value_serializer="raw")
        for logical in ("events", "dlq", "assignments", "alerts", "alerts_failed", "ticks")
    }
    # The router reads agencies' events and the watcher's ticks: one topic set, so faust
    # co-partitions them and a dossier's ticks reach the worker that holds its state.
    router_input = app.topic(
        names.events, names.ticks, key_serializer="raw", value_serializer="raw"
    )

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
        OPEN_TABLE: table(OPEN_TABLE),
        CLOSED_TABLE: table(
            CLOSED_TABLE,
            extra_topic_configs={
                "cleanup.policy": "compact,delete",
                "retention.ms": str(CLOSED_RETENTION_MS),
            },
        ),
        PARKED_TABLE: table(PARKED_TABLE),
    }
    context = ctx if ctx is not None else build_context(settings)
    policy = AlertPolicy(
        due_soon_fraction=settings.due_soon_fraction,
        due_soon_days_left=settings.due_soon_days_left,
    )
    router = RouterCore(
        context,
        Tables(open=tables[OPEN_TABLE], closed=tables[CLOSED_TABLE], parked=tables[PARKED_TABLE]),
        parking_policy(settings),
        on_event=on_event,
        ticks_topic=names.ticks,
        alerts=policy,
        max_event_bytes=settings.max_event_bytes,
    )
    watcher = Watcher(context.calendar, policy, settings.partitions)
    gauges = OpenGauges(metrics, worker_name)

    guard = OffsetGuard()

    @app.agent(router_input, name="router")
    async def route(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            consumer = app.consumer
            if isinstance(consumer, RewindingConsumer):
                # In offset order, none skipped (agents/consumer.py OffsetGuard).
                batch, others, seeks = guard.admit(batch, consumer)
                withhold_acks(others)
                if seeks:
                    await consumer.seek_back(seeks, guard)
                if not batch:
                    continue
            # A batch cut short (SIGTERM cancels the agent) is not acked: faust would
            # commit it in take_events' finally with its state unwritten.
            async with settle_or_withhold(batch):
                try:
                    await _route_batch(batch)
                except Exception:
                    # Outputs or changelog could not be written (broker gone, a bug in the
                    # shell), or this worker lost its partitions while frozen (Fenced).
                    exit_unacked("router")
            guard.advance(batch)

    async def _route_batch(batch: Sequence[EventT[Any]]) -> None:
        records = [
            RawRecord(
                e.message.value,
                Coordinates(e.message.topic, e.message.partition, e.message.offset, e.message.key),
            )
            for e in batch
        ]
        started = time.perf_counter()
        # No "current event" while the router reads: faust's RocksDB store would read
        # only the DB of that event's partition and miss every other key of the batch.
        _current_event.set(None)
        try:
            result = router.run_batch(records, clock.now())
        except Exception as exc:  # never ack-and-lose: the whole batch goes to the DLQ
            log.exception("router batch failed; dead-lettering %d records", len(records))
            result = BatchResult(
                outgoing=[
                    crash_dead_letter(r.value or b"", r.source, exc, clock.now())
                    for r in records
                    if r.source.topic != names.ticks
                ]
            )
        # 1. outputs first, and wait for the broker: state must never record an event
        #    whose outputs were lost (see agents/router.py).
        pending = [await _send(out) for out in result.outgoing]
        await asyncio.gather(*pending)
        # 2. still the owner? A worker frozen past the session timeout must not write a
        #    stale state after the new owner's (docs/routing.md "Fencing").
        generation = await _fence() if result.writes else None
        # 3. then the changelog, confirmed by the broker, and only then the local store;
        #    the batch is acked after this returns.
        for name, writes in result.writes.items():
            target = tables[name]
            for key, (value, index) in writes.items():
                target.stage(key, value, batch[index])
        for target in tables.values():
            await target.flush_changelog(generation)
        for key, partition in result.touched.items():
            after = result.states.get(key)
            if after is None and key in result.parked_until:
                watcher.index.schedule(key, partition, result.parked_until[key])
            else:
                watcher.reschedule(key, partition, after)
            gauges.move(partition, result.before.get(key), after)
        record_batch(metrics, result, records, names.ticks)
        metrics.router_batch_seconds.observe(time.perf_counter() - started)

    # --- the deadline watcher -------------------------------------------------------

    def is_recovered() -> bool:
        """The tables are restored from their changelogs (faust's recovery completed)."""
        manager = cast(TableManager, app.tables)
        return manager.recovery.completed.is_set()

    def owned_partitions() -> set[int]:
        assignment = app.consumer.assignment() if app.consumer is not None else set()
        return {tp.partition for tp in assignment if tp.topic == names.events}

    # mypy cannot match an ``async def`` to mode's SignalHandlerT union (mode-streaming 0.7): the
    # signature below is the one mode calls (``receiver(sender, *args, signal=self, **kw)``).
    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def rebuild_index(
        sender: Any, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        # After recovery: index this worker's partitions; anything that expired while
        # nobody owned them is due at the first tick (alerted once: the state remembers).
        owned = owned_partitions()
        guard.reset()
        started = time.perf_counter()
        gauges.reset(owned)
        count = watcher.rebuild(
            tables[OPEN_TABLE],
            owned,
            each=lambda partition, state: gauges.move(partition, None, state),
        )
        for key, blob in tables[PARKED_TABLE].items():
            partition = partition_of(key, settings.partitions)
            if partition in owned and blob:
                expiry = router.parked_expiry([line for line in blob.split(b"\n") if line])
                watcher.index.schedule(key, partition, expiry)
        gauges.export()
        log.info(
            "deadline index rebuilt in %.1f s: %d open dossiers watched "
            "(%d stored watch instants used, %d computed)",
            time.perf_counter() - started,
            count,
            watcher.stamped,
            watcher.computed,
        )

    async def watch_once() -> int:
        if app.rebalancing or not is_recovered():
            return 0
        now = clock.now()
        due = [
            (k, p)
            for k, p in watcher.index.pop_due(now)
            if k in tables[OPEN_TABLE] or k in tables[PARKED_TABLE]
        ]
        try:
            sent = [
                await app.producer.send(
                    names.ticks,
                    key,
                    DeadlineTick(dossier_id=key.decode("utf-8"), detected_at=now)
                    .model_dump_json()
                    .encode(),
                    partition,
                    None,
                    None,
                )
                for key, partition in due
            ]
            await asyncio.gather(*sent)
        except Exception:
            # Not sent: keep watching them, the next tick tries again.
            for key, partition in due:
                watcher.index.schedule(key, partition, now)
            log.warning("deadline ticks not sent; retrying next tick", exc_info=True)
            return 0
        return len(due)

    async def watch() -> None:
        await watch_once()

    app.timer(interval=settings.tick_seconds)(watch)

    stall_watch: StallWatch | None = None

    async def watch_stalls() -> None:
        nonlocal stall_watch
        consumer = app.consumer
        if not isinstance(consumer, RewindingConsumer):
            return
        if app.rebalancing or not is_recovered() or not consumer.flow_active:
            if stall_watch is not None:
                stall_watch.reset()
            return
        if stall_watch is None:
            stall_watch = StallWatch(consumer, lambda tp: tp.topic in (names.events, names.ticks))
        await stall_watch.check(guard.next_offsets)

    app.timer(interval=2.0)(watch_stalls)

    async def _fence() -> int | None:
        """The generation this worker still owns its partitions in; raises Fenced if none."""
        consumer = app.consumer
        if not isinstance(consumer, RewindingConsumer):
            return None
        generation = app.consumer_generation_id
        why = await consumer.check_membership()
        for _ in range(FENCE_RETRIES):
            if why is None or "not confirmed" not in why:
                break
            await asyncio.sleep(FENCE_RETRY_S)
            why = await consumer.check_membership()
        if why is not None:
            raise Fenced(f"this worker no longer owns its partitions: {why}")
        return generation

    async def _send(out: Outgoing) -> Any:
        name = topics[out.topic].get_topic_name()
        return await app.producer.send(name, out.key, out.value, None, None, None)

    def count_delivery(alert: Any, outcome: Any) -> None:
        result = "delivered" if outcome.delivered else "failed"
        metrics.alert_deliveries.labels(channel=str(outcome.target.channel), result=result).inc()

    register_notifier(app, settings, topics, on_outcome=count_delivery, clock=clock.now)

    # The topics this worker's agents read: router (events, ticks) and notifier (alerts).
    consumed = (names.events, names.ticks, names.alerts)

    async def refresh_lag() -> None:
        # On a timer, not in the scrape: asking the broker for an end offset waits for the
        # consumer thread's current fetch (up to seconds), longer than a scrape may take.
        await export_consumer_lag(app.consumer, consumed, metrics, worker_name)

    app.timer(interval=LAG_REFRESH_S)(refresh_lag)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        gauges.export()
        metrics.watched_dossiers.labels(worker=worker_name).set(len(watcher.index))
        # aiohttp wants the charset apart from the media type.
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        # Ready once partitions are assigned and the tables recovered from their changelog.
        recovered = is_recovered()
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
                return self.json({"now": manual.now().isoformat(), "watched": len(watcher.index)})

            async def post(self, request: Any) -> Any:
                body = await request.json()
                if "to" in body:
                    manual.set(datetime.fromisoformat(body["to"]))
                else:
                    manual.advance(timedelta(seconds=float(body.get("advance_seconds", 0))))
                ticks = await watch_once()
                return self.json({"now": manual.now().isoformat(), "ticks": ticks})

    return Dossierflow(
        settings=settings,
        app=app,
        topics=topics,
        tables=tables,
        router=router,
        watcher=watcher,
        metrics=metrics,
    )


def run_worker(flow: Dossierflow, loglevel: str = "info") -> None:
    """Run the worker in this process until a signal stops it."""
    worker = faust.Worker(flow.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
