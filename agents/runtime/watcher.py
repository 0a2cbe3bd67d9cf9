"""The deadline watcher: an index of when each open dossier next needs a look.

Each worker indexes only the dossiers of the partitions it owns. The index is a
heap of (instant, key) with lazy invalidation: re-scheduling a dossier pushes a
new entry and marks the old one stale, so the work per tick is proportional to
the entries that expire, not to the number of open dossiers. Entries hold no
deadline details (memory): when one expires the watcher reads the dossier's
state, and if something is due it sends a ``DeadlineTick`` to the router on
the dossier's own partition. The router raises the alerts in stream order and
re-schedules the dossier.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from kafka.partitioner.default import murmur2

from workflows.alerts import AlertPolicy, next_watch_point, stamped_watch, watch_key
from workflows.calendar import WorkingCalendar
from workflows.state import DossierState


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner puts ``key`` on (Java, kafka-python, aiokafka)."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class DeadlineIndex:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, bytes]] = []
        self._current: dict[bytes, tuple[float, int, int]] = {}  # key -> (instant, seq, partition)
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._current)

    def schedule(self, key: bytes, partition: int, at: datetime | None) -> None:
        """Look at ``key`` again at ``at``; ``None`` stops watching it."""
        if at is None:
            self._current.pop(key, None)
            return
        instant = at.timestamp()
        old = self._current.get(key)
        if old is not None and old[0] == instant and old[2] == partition:
            return
        seq = next(self._seq)
        self._current[key] = (instant, seq, partition)
        heapq.heappush(self._heap, (instant, seq, key))
        if len(self._heap) > 2 * len(self._current) + 1024:
            self._compact()

    def instant_of(self, key: bytes) -> datetime | None:
        """When ``key`` is watched next (None: not watched)."""
        current = self._current.get(key)
        return None if current is None else datetime.fromtimestamp(current[0], UTC)

    def pop_due(self, now: datetime) -> list[tuple[bytes, int]]:
        """Every (key, partition) whose instant is <= ``now``; they leave the index."""
        limit = now.timestamp()
        due = []
        heap = self._heap
        while heap and heap[0][0] <= limit:
            _, seq, key = heapq.heappop(heap)
            current = self._current.get(key)
            if current is None or current[1] != seq:
                continue  # stale: re-scheduled or dropped since
            del self._current[key]
            due.append((key, current[2]))
        return due

    def next_instant(self) -> float | None:
        while self._heap:
            instant, seq, key = self._heap[0]
            current = self._current.get(key)
            if current is not None and current[1] == seq:
                return instant
            heapq.heappop(self._heap)
        return None

    def forget_partitions(self, partitions: Iterable[int]) -> int:
        gone = set(partitions)
        keys = [k for k, (_, _, p) in self._current.items() if p in gone]
        for key in keys:
            del self._current[key]
        return len(keys)

    def clear(self) -> None:
        self._heap.clear()
        self._current.clear()

    def _compact(self) -> None:
        self._heap = [(i, s, k) for k, (i, s, _) in self._current.items()]
        heapq.heapify(self._heap)


class Watcher:
    """Keeps the index in step with the router and rebuilds it after a rebalance."""

    def __init__(self, calendar: WorkingCalendar, policy: AlertPolicy, partitions: int) -> None:
        self.index = DeadlineIndex()
        self.calendar = calendar
        self.policy = policy
        self.partitions = partitions
        #: Stored watch instants made under this key are used as they are.
        self.key = watch_key(calendar, policy)
        #: Since the last rebuild: reschedules that used a stored instant / had to compute one.
        self.stamped = self.computed = 0

    def reschedule(self, key: bytes, partition: int, state: DossierState | None) -> datetime | None:
        """Watch ``key`` at its next alert instant; returns it (None: nothing to watch)."""
        at: datetime | None = None
        if state is not None:
            known, at = stamped_watch(state, self.key)
            if known:
                self.stamped += 1
            else:
                self.computed += 1
                point = next_watch_point(state, self.calendar, self.policy)
                at = point.at if point else None
        self.index.schedule(key, partition, at)
        return at

    def rebuild(
        self,
        table: Mapping[bytes, bytes],
        owned: set[int],
        each: Callable[[int, DossierState], None] | None = None,
    ) -> int:
        """Index every open dossier of the ``owned`` partitions (after recovery).

        Each state is decoded once; ``each(partition, state)`` lets another view (the
        gauges) rebuild in the same pass. A state stamped by the router under this
        watcher's key costs only its decode; any other is recomputed."""
        self.index.clear()
        self.stamped = self.computed = 0
        for key, raw in table.items():
            partition = partition_of(key, self.partitions)
            if partition in owned and raw is not None:
                state = DossierState.from_bytes(raw)
                self.reschedule(key, partition, state)
                if each is not None:
                    each(partition, state)
        return len(self.index)
