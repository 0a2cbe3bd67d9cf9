"""A faust Table whose changelog is written in batches by the router, before its store.

faust sends every table write through its ProducerBuffer one message at a time
(topic.publish_message, callbacks, a per-message event); profiling the router
showed that path was the bottleneck ("producer buffer full", ~700 events/s).
Here the agent *stages* a batch's writes (key, value, and the event whose
partition is the changelog partition); :meth:`BatchedChangelogTable.flush_changelog`
sends them with the raw producer, waits until the broker has every one, and only
then writes them to the local store and remembers the changelog offsets (RocksDB
uses them to skip replay on restart). The store never holds a state its changelog
lacks: a RocksDB worker killed mid-batch cannot come back with a state that
remembers events no other owner could restore.

Every changelog record carries the consumer-group generation under which its writer
checked it still owned the partition (header ``dossierflow-generation``). A worker
frozen past its session timeout that wakes up and writes anyway (the membership check
narrows that to a few milliseconds; it cannot close it) writes an older generation
after a newer one: recovery skips such a record, so a restart never brings a stale
state back. A lower generation long after the newest one (over
:data:`GROUP_RESET_S`) is a group that was recreated (an empty group's metadata expires
with its offsets), not a zombie: it is applied and starts a new sequence.

Recovery, standby replicas, rebalancing and table routing stay faust's.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP, EventT

from events.topics import CLOSED_TABLE, OPEN_TABLE, PARKED_TABLE

log = logging.getLogger(__name__)

GENERATION_HEADER = "dossierflow-generation"
#: A lower generation this long (record time) after the newest is a recreated group.
GROUP_RESET_S = 3600.0


def generation_of(headers: Any) -> int | None:
    """The writer's generation from a changelog record's headers (None: not ours, or old)."""
    for name, value in headers or ():
        if name == GENERATION_HEADER:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


class GenerationGuard:
    """Per changelog partition, the newest writer generation seen and its last record time."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, float]] = {}

    def newest(self, partition: int) -> int:
        return self._seen.get(partition, (-1, 0.0))[0]

    def admit(self, partition: int, generation: int, at: float) -> bool:
        """Record a write of ``generation`` at ``at`` (epoch s); False: a fenced worker's."""
        newest, last = self._seen.get(partition, (-1, 0.0))
        if generation == newest:
            self._seen[partition] = (generation, max(last, at))
            return True
        if generation < newest and at - last < GROUP_RESET_S:
            return False
        self._seen[partition] = (generation, at)  # newer, or a recreated group
        return True


class BatchedChangelogTable(faust.Table[bytes, bytes]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (key, value or None to delete, the event whose partition is the changelog's)
        self._staged: list[tuple[bytes, bytes | None, EventT[Any]]] = []
        self._guard = GenerationGuard()

    def stage(self, key: bytes, value: bytes | None, event: EventT[Any]) -> None:
        """Write ``key`` (delete when ``value`` is None) at the next flush."""
        self._staged.append((key, value, event))

    def on_key_set(self, key: Any, value: Any) -> None:
        raise RuntimeError(f"{self.name}: write through stage() and flush_changelog()")

    def on_key_del(self, key: Any) -> None:
        raise RuntimeError(f"{self.name}: delete through stage() and flush_changelog()")

    @property
    def pending(self) -> int:
        return len(self._staged)

    async def flush_changelog(self, generation: int | None = None) -> int:
        """Send every staged change, wait for the broker, then apply it; returns how many.

        ``generation``: the group generation under which the caller checked it owns the
        partitions; recorded in each record so recovery can skip a zombie's late writes.
        """
        staged, self._staged = self._staged, []
        if not staged:
            return 0
        topic = self.changelog_topic.get_topic_name()
        producer = self.app.producer
        headers = None if generation is None else [(GENERATION_HEADER, b"%d" % generation)]
        futures = [
            await producer.send(topic, key, value, event.message.partition, None, headers)
            for key, value, event in staged
        ]
        metas = await asyncio.gather(*futures)
        store = self.data
        try:
            for key, value, event in staged:
                # faust's RocksDB store picks the partition's DB from the current event.
                _current_event.set(weakref.ref(event))
                if value is None:
                    if key in store:
                        del store[key]
                else:
                    store[key] = value
        finally:
            _current_event.set(None)
        latest: dict[int, int] = {}
        for meta in metas:
            latest[meta.partition] = max(meta.offset, latest.get(meta.partition, -1))
        for partition, offset in latest.items():
            store.set_persisted_offset(TP(topic, partition), offset)
            if generation is not None:
                self._guard.admit(partition, generation, time.time())
        return len(staged)

    def apply_changelog_batch(self, batch: Iterable[EventT[Any]]) -> None:
        """faust's recovery, minus records written by an older generation after a newer one."""
        events = list(batch)
        kept = []
        for event in events:
            message = event.message
            generation = generation_of(message.headers)
            at = (message.timestamp or 0.0) if generation is not None else 0.0
            if generation is not None and not self._guard.admit(message.partition, generation, at):
                log.warning(
                    "%s: skipping a stale changelog record at %s offset %d "
                    "(generation %d after %d: a fenced worker's late write)",
                    self.name,
                    message.tp,
                    message.offset,
                    generation,
                    self._guard.newest(message.partition),
                )
                continue
            kept.append(event)
        super().apply_changelog_batch(kept)
        # RocksDB resumes after the newest offset it applied: count the skipped ones too.
        latest: dict[TP, int] = {}
        for event in events:
            tp = event.message.tp
            latest[tp] = max(event.message.offset, latest.get(tp, -1))
        for tp, offset in latest.items():
            if offset > (self.data.persisted_offset(tp) or -1):
                self.data.set_persisted_offset(tp, offset)


def make_tables(
    app: faust.App, events_topic: str, partitions: int, closed_retention_ms: int
) -> dict[str, BatchedChangelogTable]:
    """The router's three tables (open, closed, parked), added to ``app``."""

    def table(name: str, **extra: Any) -> BatchedChangelogTable:
        created = BatchedChangelogTable(
            app,
            name=f"{events_topic}-{name}",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            beacon=app.tables.beacon,
            **extra,
        )
        app.tables.add(created)
        return created

    closed = {"cleanup.policy": "compact,delete", "retention.ms": str(closed_retention_ms)}
    return {
        OPEN_TABLE: table(OPEN_TABLE),
        CLOSED_TABLE: table(CLOSED_TABLE, extra_topic_configs=closed),
        PARKED_TABLE: table(PARKED_TABLE),
    }
