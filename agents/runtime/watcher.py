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
import json
import struct
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from events.internal import DeadlineTick
from workflows.alerts import AlertPolicy, next_watch_point, stamped_watch, watch_key
from workflows.calendar import WorkingCalendar
from workflows.state import DossierState
from workflows.state_header import StateHeader, read_header

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner puts ``key`` on (Java, kafka-python, aiokafka).

    Murmur2 as the Java client computes it (``Utils.murmur2``, seed 0x9747b28c); the same
    arithmetic as kafka-python's pure-Python ``murmur2``, reading 4 bytes at a time: a
    rebuild hashes every key it owns (tests/unit/test_watcher.py compares both clients)."""
    length = len(key)
    h = 0x9747B28C ^ length
    whole = length & ~3
    for (k,) in _WORDS.iter_unpack(key[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= key[whole + 2] << 16
        if extra >= 2:
            h ^= key[whole + 1] << 8
        h = ((h ^ key[whole]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


_WORDS = struct.Struct("<I")


def tick_values(keys: Iterable[bytes], now: datetime) -> list[bytes]:
    """The ``DeadlineTick`` record of each dossier key at ``now``: the bytes
    ``model_dump_json`` gives, with the instant serialized once for the whole tick."""
    head, _, tail = (
        DeadlineTick(dossier_id="", detected_at=now).model_dump_json().encode().partition(b'""')
    )
    # json.dumps escapes what pydantic escapes (quotes, backslashes, control characters)
    # and, like it, leaves the rest as UTF-8: the same text, the same record.
    return [head + json.dumps(k.decode("utf-8"), ensure_ascii=False).encode() + tail for k in keys]


class DeadlineIndex:
    """Entries are (instant, key, partition) tuples, each held by the heap and, while
    current, by ``_current[key]``: the same tuple object, so an entry costs one tuple, and
    identity tells a current entry from a stale one. Equal instants pop in key order (a
    key is current at most once, so two live entries never tie)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, bytes, int]] = []
        self._current: dict[bytes, tuple[float, bytes, int]] = {}

    def __len__(self) -> int:
        return len(self._current)

    def schedule(self, key: bytes, partition: int, at: datetime | None) -> None:
        """Look at ``key`` again at ``at``; ``None`` stops watching it."""
        if at is None:
            self._current.pop(key, None)
            return
        self.schedule_at(key, partition, at.timestamp())

    def schedule_at(self, key: bytes, partition: int, instant: float) -> None:
        """``schedule`` with the instant as epoch seconds (``datetime.timestamp()``)."""
        old = self._current.get(key)
        if old is not None and old[0] == instant and old[2] == partition:
            return
        entry = (instant, key, partition)
        self._current[key] = entry
        heapq.heappush(self._heap, entry)
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
        heap, current = self._heap, self._current
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            key = entry[1]
            if current.get(key) is not entry:
                continue  # stale: re-scheduled or dropped since
            del current[key]
            due.append((key, entry[2]))
        return due

    def upcoming(self, after: float, until: float) -> list[tuple[float, bytes]]:
        """The current entries with ``after < instant <= until`` as (instant, key), in no
        order, without popping: a walk of the heap that stops below every entry later than
        ``until``, so it costs what it finds (``agents/runtime/prepared.py``)."""
        heap, current = self._heap, self._current
        found, stack, size = [], [0], len(heap)
        while stack:
            i = stack.pop()
            if i >= size or heap[i][0] > until:
                continue
            entry = heap[i]
            if entry[0] > after and current.get(entry[1]) is entry:
                found.append((entry[0], entry[1]))
            stack += (2 * i + 1, 2 * i + 2)
        return found

    def next_instant(self) -> float | None:
        while self._heap:
            entry = self._heap[0]
            if self._current.get(entry[1]) is entry:
                return entry[0]
            heapq.heappop(self._heap)
        return None

    def forget_partitions(self, partitions: Iterable[int]) -> int:
        gone = set(partitions)
        keys = [k for k, entry in self._current.items() if entry[2] in gone]
        for key in keys:
            del self._current[key]
        return len(keys)

    def clear(self) -> None:
        self._heap.clear()
        self._current.clear()

    def _compact(self) -> None:
        self._heap = list(self._current.values())
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
        each: Callable[[bytes, int, DossierState | StateHeader], None] | None = None,
        *,
        decode: bool = False,
    ) -> int:
        """Index every open dossier of the ``owned`` partitions (after recovery).

        A state stamped by the router under this watcher's key is read only as far as its
        header (``workflows.state_header``: the stored instant, and what the gauges count);
        any other is decoded and its watch point computed. ``each(key, partition, header or
        state)`` lets other views (the gauges, the prediction's first checks) rebuild in the
        same pass; ``decode``: every state decoded whole (what a view needing more than
        the header would cost)."""
        self.index.clear()
        self.stamped = self.computed = 0
        schedule_at, key_now, partitions = self.index.schedule_at, self.key, self.partitions
        for key, raw in table.items():
            partition = partition_of(key, partitions)
            if partition not in owned or raw is None:
                continue
            header = None if decode else read_header(raw)
            if header is not None and header.watch_key == key_now:
                self.stamped += 1
                if header.watch_at is not None:
                    schedule_at(key, partition, header.watch_at.timestamp())
                if each is not None:
                    each(key, partition, header)
                continue
            state = DossierState.from_bytes(raw)
            self.reschedule(key, partition, state)
            if each is not None:
                each(key, partition, state)
        return len(self.index)
