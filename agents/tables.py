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

Recovery, standby replicas, rebalancing and table routing stay faust's.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP, EventT


class BatchedChangelogTable(faust.Table[bytes, bytes]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (key, value or None to delete, the event whose partition is the changelog's)
        self._staged: list[tuple[bytes, bytes | None, EventT[Any]]] = []

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

    async def flush_changelog(self) -> int:
        """Send every staged change, wait for the broker, then apply it; returns how many."""
        staged, self._staged = self._staged, []
        if not staged:
            return 0
        topic = self.changelog_topic.get_topic_name()
        producer = self.app.producer
        futures = [
            await producer.send(topic, key, value, event.message.partition, None, None)
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
        return len(staged)
