"""The router's batch loop and the order of its writes: outputs, fence, changelog, store, ack.

docs/routing.md "Re-delivery" states the invariant this order keeps: a record's offset is
committed only after everything it caused is confirmed by the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.types import EventT

from agents.clock import Clock
from agents.runtime.acks import OffsetGuard, exit_unacked, settle_or_withhold, withhold_acks
from agents.runtime.consumer import RewindingConsumer
from agents.runtime.records import Coordinates, Outgoing, crash_dead_letter
from agents.runtime.router import BatchResult, RawRecord, RouterCore
from agents.runtime.senders import broker_time
from agents.runtime.tables import BatchedChangelogTable, ChangelogFlight
from agents.runtime.telemetry import OpenGauges, OverrunAttribution, record_batch
from agents.runtime.watcher import Watcher
from monitoring.metrics import Metrics

log = logging.getLogger(__name__)

#: Most records one agent iteration takes, and how long it waits to fill a batch.
#: Batching is what makes the router fast: faust's per-record overhead (Event
#: objects, acks, the consumer hand-off) dominates a one-at-a-time loop.
BATCH_MAX = 1000
BATCH_WITHIN_S = 0.05

#: Event-loop turns given to the producer's sender after a batch's changelog is sent.
SEND_YIELDS = 3

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


class InFlight(MutableMapping[bytes, bytes]):
    """A table as the router reads it: the writes of batches still in flight over the store.

    The pipeline computes batch N+1 while batch N's changelog is on its way; the local store
    gets N's states only once the broker confirmed them, so N+1 reads them here. The router
    never writes through this view (its writes go to the changelog first).
    """

    def __init__(self, table: MutableMapping[bytes, bytes]) -> None:
        self.table = table
        # key -> (value, None = deleted; the sequence number of the batch that wrote it)
        self.pending: dict[bytes, tuple[bytes | None, int]] = {}

    def __getattr__(self, name: str) -> Any:  # on_recover and the like: the table's own
        return getattr(self.table, name)

    def hold(self, writes: Mapping[bytes, tuple[bytes | None, int]], seq: int) -> None:
        for key, (value, _) in writes.items():
            self.pending[key] = (value, seq)

    def release(self, keys: Iterable[bytes], seq: int) -> None:
        """Batch ``seq`` is in the store: its keys read from there again, unless a later
        batch wrote them meanwhile."""
        pending = self.pending
        for key in keys:
            held = pending.get(key)
            if held is not None and held[1] == seq:
                del pending[key]

    def get(self, key: bytes, default: Any = None) -> Any:
        held = self.pending.get(key)
        if held is not None:
            return held[0] if held[0] is not None else default
        return self.table.get(key, default)

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return cast(bytes, value)

    def __contains__(self, key: object) -> bool:
        held = self.pending.get(cast(bytes, key))
        if held is not None:
            return held[0] is not None
        return key in self.table

    def __iter__(self) -> Iterator[bytes]:
        pending = self.pending
        for key in self.table:
            if key not in pending:
                yield key
        for key, (value, _) in list(pending.items()):
            if value is not None:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise RuntimeError("the router writes through the changelog, not this view")

    def __delitem__(self, key: bytes) -> None:
        raise RuntimeError("the router writes through the changelog, not this view")


@dataclass
class _Flight:
    """One batch past its outputs and fence, its changelog records sent, not confirmed."""

    seq: int
    batch: list[EventT[Any]]
    records: list[RawRecord]
    result: BatchResult
    started: float
    changelogs: list[ChangelogFlight] = field(default_factory=list)


class BatchLoop:
    """The router agent's body: admit in offset order, route, write in order, then ack.

    Pipelined one batch deep: while batch N's changelog records wait for the broker, the
    agent takes and computes batch N+1 (reading N's states from :class:`InFlight`) and
    sends its outputs. Per batch the order of docs/routing.md holds: outputs confirmed,
    membership confirmed, changelog confirmed, store, ack; and N+1's changelog is sent
    only after N's is confirmed and in the store, so batches land in order.
    """

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
        views: Mapping[str, InFlight] | None = None,
    ) -> None:
        self.app, self.router, self.tables, self.topics = app, router, tables, topics
        self.watcher, self.gauges, self.metrics, self.clock = watcher, gauges, metrics, clock
        self.ticks_topic, self.guard = ticks_topic, guard
        #: the router's views of the tables (None: it reads the tables; no pipelining)
        self.views = views
        # Late dossiers' overrun by agency and step, labelled like the gauges.
        self.overrun = OverrunAttribution(router.ctx, gauges.label)
        self._seq = 0
        self._flight: _Flight | None = None
        self._landing: asyncio.Future[None] | None = None

    async def agent(self, stream: Any) -> None:
        try:
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
                    if self.views is not None:
                        # take_events acks this batch when the next is taken: not before
                        # its writes land (RewindingConsumer.defer).
                        consumer.defer(batch)
                if self.views is None or not isinstance(consumer, RewindingConsumer):
                    # Not pipelined (only our consumer can defer an ack). A batch cut short
                    # (SIGTERM cancels the agent) is not acked: faust would commit it in
                    # take_events' finally with its state unwritten.
                    async with settle_or_withhold(batch):
                        try:
                            await self.route(batch)
                        except Exception:
                            # Outputs or changelog could not be written (broker gone, a bug
                            # in the shell), or this worker lost its partitions (Fenced).
                            exit_unacked("router")
                    self.guard.advance(batch)
                    continue
                try:
                    flight = await self.launch(list(batch))
                except asyncio.CancelledError:
                    withhold_acks(batch)
                    raise
                except Exception:
                    exit_unacked("router")
                self._flight = flight
                self._landing = asyncio.ensure_future(self.land(flight))
        finally:
            self._drop_flight()

    def _drop_flight(self) -> None:
        """The agent stops with a batch in flight: it is not acked (read again later)."""
        flight, landing = self._flight, self._landing
        self._flight = self._landing = None
        if flight is None or landing is None:
            return
        if landing.done() and not landing.cancelled():
            return  # landed (or the process is exiting 70)
        landing.cancel()
        withhold_acks(flight.batch)
        self.guard.forget_admitted()
        log.warning("batch of %d events not finished: not acked", len(flight.batch))

    async def launch(self, batch: list[EventT[Any]]) -> _Flight:
        """Compute ``batch``, confirm its outputs and this worker's membership, send its
        changelog records; the previous batch has landed when this returns."""
        records, result, started = self.compute(batch)
        self._seq += 1
        seq = self._seq
        if self.views is not None:
            for name, writes in result.writes.items():
                self.views[name].hold(writes, seq)
        # 1. outputs first, and wait for the broker: state must never record an event
        #    whose outputs were lost (see agents/runtime/router.py).
        pending = [await self.send(out) for out in result.outgoing]
        # the previous batch's changelog confirmed and in the store before ours is sent
        landing = self._landing
        if landing is not None:
            await landing
        await asyncio.gather(*pending)
        # 2. still the owner? A worker frozen past the session timeout must not write a
        #    stale state after the new owner's (docs/routing.md "Fencing").
        generation = await self.fence() if result.writes else None
        # 3. then the changelog (confirmed in land(), and only then the local store)
        flight = _Flight(seq, batch, records, result, started)
        for name, writes in result.writes.items():
            target = self.tables[name]
            for key, (value, index) in writes.items():
                target.stage(key, value, batch[index])
        for target in self.tables.values():
            flight.changelogs.append(await target.send_staged(generation))
        # Let the producer put the records on the wire before the next batch's compute
        # holds the event loop: that is the round trip the pipeline hides.
        for _ in range(SEND_YIELDS):
            await asyncio.sleep(0)
        return flight

    async def land(self, flight: _Flight) -> None:
        """Wait for the flight's changelog, write the store, then ack the batch."""
        try:
            for changelog in flight.changelogs:
                await changelog.land()
            self.after_store(flight.result, flight.records, flight.started)
            if self.views is not None:
                for name, writes in flight.result.writes.items():
                    self.views[name].release(writes, flight.seq)
        except asyncio.CancelledError:
            raise
        except Exception:
            exit_unacked("router")
        consumer = self.app.consumer
        if isinstance(consumer, RewindingConsumer):
            consumer.finish(flight.batch)
        self.guard.advance(flight.batch)
        if self._flight is flight:
            self._flight = None

    def compute(self, batch: Sequence[EventT[Any]]) -> tuple[list[RawRecord], BatchResult, float]:
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
        return records, result, started

    async def route(self, batch: Sequence[EventT[Any]]) -> None:
        """One batch from start to finish, nothing in flight after it (no pipelining)."""
        records, result, started = self.compute(batch)
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
        self.after_store(result, records, started)

    def after_store(self, result: BatchResult, records: list[RawRecord], started: float) -> None:
        """The batch's states are in the store: watch their deadlines, move the gauges."""
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
