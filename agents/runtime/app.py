"""The worker's composition root: one Settings object in, the faust app with its parts out.

Nothing is created at import time, so tests build as many apps as they need, each with
its own topic prefix, consumer group and store.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from agents.clock import Clock, clock_from
from agents.notify.agent import register_notifier
from agents.runtime.acks import OffsetGuard
from agents.runtime.api_auth import TokenStore
from agents.runtime.audit import AuditLog
from agents.runtime.batch import BatchLoop
from agents.runtime.consumer import App, RewindingConsumer
from agents.runtime.context import build_context, build_senders
from agents.runtime.deadlines import Deadlines, is_recovered
from agents.runtime.faust_config import app_options
from agents.runtime.kafka_admin import CLOSED_RETENTION_MS
from agents.runtime.lag import export_consumer_lag
from agents.runtime.limits import parking_policy
from agents.runtime.prediction import Checks, prediction_policy
from agents.runtime.router import RouterCore, Tables
from agents.runtime.senders import SenderCheck
from agents.runtime.stall import StallWatch
from agents.runtime.status_api import StatusApi
from agents.runtime.tables import make_tables
from agents.runtime.telemetry import AgencyLabels, OpenGauges, office_hours_open
from agents.runtime.watcher import Watcher
from agents.runtime.web import OpsSite, OpsViews, register_views
from agents.settings import DEFAULT_API_CREDENTIALS, Settings
from events import InboundEvent
from events.topics import CLOSED_TABLE, OPEN_TABLE, PARKED_TABLE, SKETCH_TABLE
from monitoring.metrics import Metrics, create_metrics
from workflows.alerts import AlertPolicy
from workflows.routing import RoutingContext
from workflows.state import DossierState

log = logging.getLogger(__name__)

#: How old ``dossierflow_consumer_lag`` may be: it is measured this often, not per scrape.
LAG_REFRESH_S = 2.0
#: How often the stall watch looks at the stream partitions (agents/runtime/stall.py).
STALL_CHECK_S = 2.0

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
    #: started beside the app by ``run_worker`` (the ops site, when configured)
    services: tuple[Any, ...] = ()
    #: /metrics and /health as the worker serves them
    ops: OpsViews | None = None


def worker_label(settings: Settings) -> str:
    """The ``worker`` label of this worker's series: ``DOSSIERFLOW_WORKER_NAME``, else the
    host name and web port. Never a pid or a random id: a restarted worker continues its
    own series instead of leaving a dead one behind and starting another."""
    return settings.worker_name or f"{socket.gethostname()}:{settings.web_port}"


def create_app(
    settings: Settings,
    *,
    ctx: RoutingContext | None = None,
    on_event: EventHook | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    senders: SenderCheck | None = None,
) -> Dossierflow:
    """Build the worker app. ``on_event`` runs after each applied event (metrics, tests)."""
    clock = clock if clock is not None else clock_from(settings)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = create_metrics(registry)
    worker_name = worker_label(settings)
    app = App(settings.app_id, **app_options(settings))
    names = settings.topics
    topics = {
        logical: app.topic(getattr(names, logical), key_serializer="raw", value_serializer="raw")
        for logical in (
            "events",
            "dlq",
            "anomalies",
            "assignments",
            "alerts",
            "alerts_failed",
            "ticks",
        )
    }
    # The router reads agencies' events and the watcher's ticks: one topic set, so faust
    # co-partitions them and a dossier's ticks reach the worker that holds its state.
    router_input = app.topic(
        names.events, names.ticks, key_serializer="raw", value_serializer="raw"
    )
    tables = make_tables(app, names.events, settings.partitions, CLOSED_RETENTION_MS)
    context = ctx if ctx is not None else build_context(settings)
    policy = AlertPolicy(
        due_soon_fraction=settings.due_soon_fraction,
        due_soon_days_left=settings.due_soon_days_left,
        reminder_every_days=settings.reminder_every_working_days,
    )
    router = RouterCore(
        context,
        Tables(
            open=tables[OPEN_TABLE],
            closed=tables[CLOSED_TABLE],
            parked=tables[PARKED_TABLE],
            sketches=tables[SKETCH_TABLE],
        ),
        parking_policy(settings),
        on_event=on_event,
        ticks_topic=names.ticks,
        alerts=policy,
        max_event_bytes=settings.max_event_bytes,
        senders=senders if senders is not None else build_senders(settings),
        prediction=prediction_policy(settings),
    )
    router.prepared.ahead_s = settings.prepare_ahead_seconds
    router.prepared.max_entries = settings.prepare_max_dossiers
    watcher = Watcher(context.calendar, policy, settings.partitions)
    # agency label values only from the catalog (no series from publisher input)
    gauges = OpenGauges(metrics, worker_name, AgencyLabels(context.catalog.agencies))
    guard = OffsetGuard()

    loop = BatchLoop(
        app, router, tables, topics, watcher, gauges, metrics, clock, names.ticks, guard
    )
    app.agent(router_input, name="router")(loop.agent)

    deadlines = Deadlines(
        app, watcher, router, tables, gauges, guard, clock, names, settings.partitions
    )
    if router.prediction.enabled:
        loop.checks = deadlines.checks = Checks(
            watcher.index, context.catalog, context.calendar, router.prediction, router.sketches
        )
    deadlines.register(settings.tick_seconds)

    stall_watch: StallWatch | None = None

    async def watch_stalls() -> None:
        nonlocal stall_watch
        consumer = app.consumer
        if not isinstance(consumer, RewindingConsumer):
            return
        if app.rebalancing or not is_recovered(app) or not consumer.flow_active:
            if stall_watch is not None:
                stall_watch.reset()
            return
        if stall_watch is None:
            stall_watch = StallWatch(consumer, lambda tp: tp.topic in (names.events, names.ticks))
        await stall_watch.check(guard.next_offsets)

    app.timer(interval=STALL_CHECK_S)(watch_stalls)

    def count_delivery(alert: Any, outcome: Any) -> None:
        result = "delivered" if outcome.delivered else "failed"
        metrics.alert_deliveries.labels(channel=str(outcome.target.channel), result=result).inc()

    register_notifier(
        app, settings, topics, context.catalog, on_outcome=count_delivery, clock=clock.now
    )

    # The topics this worker's agents read: router (events, ticks) and notifier (alerts).
    consumed = (names.events, names.ticks, names.alerts)

    async def refresh_lag() -> None:
        # On a timer, not in the scrape: asking the broker for an end offset waits for the
        # consumer thread's current fetch (up to seconds), longer than a scrape may take.
        await export_consumer_lag(app.consumer, consumed, metrics, worker_name)

    app.timer(interval=LAG_REFRESH_S)(refresh_lag)

    def before_scrape() -> None:
        gauges.export()
        metrics.watched_dossiers.labels(worker=worker_name).set(len(watcher.index))
        metrics.office_hours_open.set(office_hours_open(context.calendar, clock.now()))

    ops = OpsViews(app, registry, before_scrape)
    services = _register_web(app, settings, tables, context.catalog, worker_name, ops)
    register_views(
        app,
        StatusApi(tables, context.catalog, services.tokens, services.audit),
        ops,
        ops_on_web_port=services.ops_site is None,
        clock=clock,
        watch_once=deadlines.watch_once,
        watched=lambda: len(watcher.index),
        prepared=router.prepared.counts,
    )
    return Dossierflow(
        settings=settings,
        app=app,
        topics=topics,
        tables=dict(tables),
        router=router,
        watcher=watcher,
        metrics=metrics,
        services=(services.ops_site,) if services.ops_site is not None else (),
        ops=ops,
    )


@dataclass(frozen=True)
class _WebParts:
    tokens: TokenStore
    audit: AuditLog
    ops_site: OpsSite | None


def _register_web(
    app: faust.App,
    settings: Settings,
    tables: Any,
    catalog: Any,
    worker_name: str,
    ops: OpsViews,
) -> _WebParts:
    """The status API's tokens and audit log, and the ops site when it has an address."""
    tokens = TokenStore.open(settings.api_credentials_path or DEFAULT_API_CREDENTIALS)
    unknown = sorted({a for p in tokens.principals() for a in p.agencies} - set(catalog.agencies))
    if unknown:
        log.warning("API principals name agencies not in the catalog: %s", ", ".join(unknown))

    async def send(topic: str, key: bytes, value: bytes) -> Any:
        return await app.producer.send_and_wait(topic, key, value, None, None, None)

    audit = AuditLog(send, settings.topics.audit, worker_name, settings.audit_timeout_seconds)
    ops_site = None
    if settings.ops_host and settings.ops_port is None:
        log.warning(
            "DOSSIERFLOW_OPS_HOST=%s without DOSSIERFLOW_OPS_PORT: /metrics and /health stay "
            "on the web port; set both to move them",
            settings.ops_host,
        )
    if settings.ops_port is not None:
        host = settings.ops_host or "127.0.0.1"
        ops_site = OpsSite(ops, host, settings.ops_port)
    return _WebParts(tokens, audit, ops_site)


def run_worker(
    flow: Dossierflow, loglevel: str = "info", on_ready: Callable[[], None] | None = None
) -> None:
    """Run the worker in this process until a signal stops it; ``on_ready`` runs once, when
    /health first says ready (partitions assigned, tables recovered)."""
    if on_ready is not None:
        _when_ready(flow, on_ready)
    worker = _Worker(flow.app, *flow.services, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()


class _Worker(faust.Worker):
    """faust's worker without its terminal spinner.

    At ``--loglevel warning`` or above faust sets the *root logger* to DEBUG so that a
    spinner handler can spin on every record: every debug line of aiokafka (one per
    record sent) was then built into a LogRecord and handed to the handlers, 2-3% of a
    busy router's time. Without the spinner the root logger keeps the level asked for.
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


#: How often a starting worker looks whether it is ready yet.
READY_POLL_S = 0.2


def _when_ready(flow: Dossierflow, on_ready: Callable[[], None]) -> None:
    app = flow.app

    async def announce() -> None:
        # The same test as /health, so the line and a 200 from /health come together.
        while not (is_recovered(app) and not app.rebalancing):
            await asyncio.sleep(READY_POLL_S)
        on_ready()

    app.task(announce)
