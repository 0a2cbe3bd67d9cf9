"""The faust app factory: topics, agents, web views, built from one Settings object.

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
from typing import Any, Protocol

import faust
from faust.streams import _current_event
from faust.types import EventT

from agents.records import Coordinates, Outgoing, contract_dead_letter, crash_dead_letter
from agents.settings import Settings
from events import ContractError, parse_event
from events.inbound import InboundEvent

log = logging.getLogger(__name__)

#: How many records one agent iteration takes from the stream at most, and how long it
#: waits to fill a batch. Batching is what makes the router fast: per-record overhead in
#: faust (Event objects, acks, the consumer hand-off) dominates otherwise.
BATCH_MAX = 1000
BATCH_WITHIN_S = 0.05


class Processor(Protocol):
    """What the events agent does with one parsed event (the router, in production)."""

    def process(
        self, event: InboundEvent, source: Coordinates, now: datetime
    ) -> list[Outgoing]: ...


class ParseOnly:
    """Validates and counts; used where no workflow runs (the first agent of the foundation)."""

    def __init__(self) -> None:
        self.accepted = 0

    def process(self, event: InboundEvent, source: Coordinates, now: datetime) -> list[Outgoing]:
        self.accepted += 1
        return []


@dataclass
class Dossierflow:
    """A built app and the parts tests and the CLI reach into."""

    settings: Settings
    app: faust.App
    topics: dict[str, faust.TopicT]
    processor: Processor


def handle_record(
    processor: Processor, raw: bytes | None, source: Coordinates, now: datetime
) -> list[Outgoing]:
    """One input record to the records it causes. Never raises: failures become dead letters."""
    data = raw if raw is not None else b""
    try:
        event = parse_event(data)
    except ContractError as exc:
        return [contract_dead_letter(data, source, exc, now)]
    try:
        return processor.process(event, source, now)
    except Exception as exc:  # an exception must dead-letter, not ack-and-lose
        log.exception(
            "processing failed at %s[%d]@%d", source.topic, source.partition, source.offset
        )
        return [crash_dead_letter(data, source, exc, now)]


def create_app(
    settings: Settings,
    *,
    processor: Processor | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Dossierflow:
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
        "events": app.topic(names.events, value_serializer="raw", key_serializer="raw"),
        "dlq": app.topic(names.dlq, value_serializer="raw", key_serializer="raw"),
        "assignments": app.topic(names.assignments, value_serializer="raw", key_serializer="raw"),
        "alerts": app.topic(names.alerts, value_serializer="raw", key_serializer="raw"),
    }
    proc: Processor = processor if processor is not None else ParseOnly()

    @app.agent(topics["events"], name="router")
    async def router(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            await _process_batch(batch)

    async def _process_batch(batch: Sequence[EventT]) -> None:
        now = clock()
        pending = []
        for event in batch:
            # Table writes find their changelog partition through faust's "current
            # event"; in a batch we set it per record so each lands with its own key.
            _current_event.set(weakref.ref(event))
            msg = event.message
            source = Coordinates(msg.topic, msg.partition, msg.offset, msg.key)
            for out in handle_record(proc, msg.value, source, now):
                pending.append(await _send(out))
        # Delivery is confirmed before faust may ack the batch: a record the broker
        # refused must not have its input committed.
        await asyncio.gather(*pending)

    async def _send(out: Outgoing) -> Any:
        topic = topics[out.topic]
        return await app.producer.send(topic.get_topic_name(), out.key, out.value, None, None, None)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        ready = app.rebalancing is False and app.producer is not None
        return web.json({"ready": bool(ready)}, status=200 if ready else 503)

    return Dossierflow(settings=settings, app=app, topics=topics, processor=proc)


def run_worker(flow: Dossierflow, loglevel: str = "info") -> None:
    """Run the worker in this process until a signal stops it."""
    worker = faust.Worker(flow.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
