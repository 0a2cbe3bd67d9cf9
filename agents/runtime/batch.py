"""The router's batch loop and the order of its writes: outputs, fence, changelog, store, ack.

docs/routing.md "Re-delivery" states the invariant this order keeps: a record's offset is
committed only after everything it caused is confirmed by the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import EventT

from agents.clock import Clock
from agents.runtime.acks import OffsetGuard, exit_unacked, settle_or_withhold, withhold_acks
from agents.runtime.consumer import RewindingConsumer
from agents.runtime.records import Coordinates, Outgoing, crash_dead_letter
from agents.runtime.router import BatchResult, RawRecord, RouterCore
from agents.runtime.senders import broker_time
from agents.runtime.tables import BatchedChangelogTable
from agents.runtime.telemetry import OpenGauges, OverrunAttribution, record_batch
from agents.runtime.watcher import Watcher
from monitoring.metrics import Metrics

log = logging.getLogger(__name__)

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


def headers_of(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """faust gives a record's headers as a list of pairs or a mapping (or None)."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)


class Fenced(RuntimeError):
    """This worker lost its group membership while it held a batch: it must not write."""


class BatchLoop:
    """The router agent's body: admit in offset order, route, write in order, then ack."""

    def __init__(
        self,
        app: faust.App,
        router: RouterCore,
        tables: Mapping[str, BatchedChangelogTable],
        topics: Mapping[str, faust.TopicT],
        watcher: Watcher,
        gauges: OpenGauges,
        metrics: Metrics,
        clock: Clock,
        ticks_topic: str,
        guard: OffsetGuard,
    ) -> None:
        self.app, self.router, self.tables, self.topics = app, router, tables, topics
        self.watcher, self.gauges, self.metrics, self.clock = watcher, gauges, metrics, clock
        self.ticks_topic, self.guard = ticks_topic, guard
        # Late dossiers' overrun by agency and step, labelled like the gauges.
        self.overrun = OverrunAttribution(router.ctx, gauges.label)

    async def agent(self, stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            consumer = self.app.consumer
            if isinstance(consumer, RewindingConsumer):
                # In offset order, none skipped (agents/runtime/acks.py OffsetGuard).
                batch, others, seeks = self.guard.admit(batch, consumer)
                withhold_acks(others)
                if seeks:
                    await consumer.seek_back(seeks, self.guard)
                if not batch:
                    continue
            # A batch cut short (SIGTERM cancels the agent) is not acked: faust would
            # commit it in take_events' finally with its state unwritten.
            async with settle_or_withhold(batch):
                try:
                    await self.route(batch)
                except Exception:
                    # Outputs or changelog could not be written (broker gone, a bug in the
                    # shell), or this worker lost its partitions while frozen (Fenced).
                    exit_unacked("router")
            self.guard.advance(batch)

    async def route(self, batch: Sequence[EventT[Any]]) -> None:
        records = [
            RawRecord(
                e.message.value,
                Coordinates(e.message.topic, e.message.partition, e.message.offset, e.message.key),
                headers_of(e.message.headers),
                broker_time(e.message.timestamp, e.message.timestamp_type),
            )
            for e in batch
        ]
        started = time.perf_counter()
        now = self.clock.now()
        # No "current event" while the router reads: faust's RocksDB store would read
        # only the DB of that event's partition and miss every other key of the batch.
        _current_event.set(None)
        try:
            result = self.router.run_batch(records, now)
        except Exception as exc:  # never ack-and-lose: the whole batch goes to the DLQ
            log.exception("router batch failed; dead-lettering %d records", len(records))
            result = BatchResult(
                outgoing=[
                    crash_dead_letter(r.value or b"", r.source, exc, now)
                    for r in records
                    if r.source.topic != self.ticks_topic
                ]
            )
        # 1. outputs first, and wait for the broker: state must never record an event
        #    whose outputs were lost (see agents/runtime/router.py).
        pending = [await self.send(out) for out in result.outgoing]
        await asyncio.gather(*pending)
        # 2. still the owner? A worker frozen past the session timeout must not write a
        #    stale state after the new owner's (docs/routing.md "Fencing").
        generation = await self.fence() if result.writes else None
        # 3. then the changelog, confirmed by the broker, and only then the local store;
        #    the batch is acked after this returns.
        for name, writes in result.writes.items():
            target = self.tables[name]
            for key, (value, index) in writes.items():
                target.stage(key, value, batch[index])
        for target in self.tables.values():
            await target.flush_changelog(generation)
        for key, partition in result.touched.items():
            after = result.states.get(key)
            if after is None and key in result.parked_until:
                self.watcher.index.schedule(key, partition, result.parked_until[key])
            else:
                self.watcher.reschedule(key, partition, after)
            self.gauges.move(partition, result.before.get(key), after)
        record_batch(
            self.metrics, result, records, self.ticks_topic, self.gauges.label, self.overrun
        )
        self.metrics.router_batch_seconds.observe(time.perf_counter() - started)

    async def fence(self) -> int | None:
        """The generation this worker still owns its partitions in; raises Fenced if none."""
        consumer = self.app.consumer
        if not isinstance(consumer, RewindingConsumer):
            return None
        generation = self.app.consumer_generation_id
        why = await consumer.check_membership()
        for _ in range(FENCE_RETRIES):
            if why is None or "not confirmed" not in why:
                break
            await asyncio.sleep(FENCE_RETRY_S)
            why = await consumer.check_membership()
        if why is not None:
            raise Fenced(f"this worker no longer owns its partitions: {why}")
        return generation

    async def send(self, out: Outgoing) -> Any:
        name = self.topics[out.topic].get_topic_name()
        return await self.app.producer.send(name, out.key, out.value, None, None, None)
