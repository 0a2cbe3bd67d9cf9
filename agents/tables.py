"""A faust Table whose changelog is written in batches by the router, not per key.

faust sends every table write through its ProducerBuffer one message at a time
(topic.publish_message, callbacks, a per-message event); profiling the router
showed that path was the bottleneck ("producer buffer full", ~700 events/s).
Here a write only records (partition, key, value); the agent sends the whole
batch's changelog with the raw producer after the batch's outputs are delivered,
waits for it, and then does what faust's own callback does: remember the
changelog offset in the store (RocksDB uses it to skip replay on restart).

Recovery, standby replicas, rebalancing and table routing stay faust's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import TP


class BatchedChangelogTable(faust.Table[bytes, bytes]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (partition or None for the producer's partitioner, key, value or None to delete)
        self._pending: list[tuple[int | None, bytes, bytes | None]] = []

    def on_key_set(self, key: Any, value: Any) -> None:
        self._pending.append((self.partition_for_key(key), key, value))

    def on_key_del(self, key: Any) -> None:
        self._pending.append((self.partition_for_key(key), key, None))

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush_changelog(self) -> int:
        """Send every pending change and wait for the broker; returns how many."""
        pending, self._pending = self._pending, []
        if not pending:
            return 0
        topic = self.changelog_topic.get_topic_name()
        producer = self.app.producer
        futures = [
            await producer.send(topic, key, value, partition, None, None)
            for partition, key, value in pending
        ]
        latest: dict[int, int] = {}
        for meta in await asyncio.gather(*futures):
            latest[meta.partition] = max(meta.offset, latest.get(meta.partition, -1))
        for partition, offset in latest.items():
            self.data.set_persisted_offset(TP(topic, partition), offset)
        return len(pending)
