"""The deadline index and watcher: expiry order, lazy invalidation, compaction, work, partitions.

Work is measured by counting the heap operations ``agents.runtime.watcher`` performs (its ``heapq``
is swapped for a counting one), never by timing.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner as AioDefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner

from agents.runtime import watcher as watcher_module
from agents.runtime.watcher import DeadlineIndex, Watcher, partition_of, tick_values
from events import DossierWithdrawn, InboundEvent, SupplementRequested
from events.internal import DeadlineTick
from workflows.alerts import AlertPolicy
from workflows.calendar import VN_TZ
from workflows.state import DossierState

from support.context import routing_context
from support.dossiers import envelope, receipt
from support.fold import fold_state

T0 = datetime(2027, 1, 22, 9, 0, tzinfo=UTC)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def key(i: int) -> bytes:
    return f"HS-{i:06d}".encode()


@dataclass
class HeapCounter:
    """Stands in for ``heapq`` inside ``agents.runtime.watcher`` and counts what it is asked to do."""

    pushes: int = 0
    pops: int = 0
    heapified: list[int] = field(default_factory=list)

    def heappush(self, heap: list[Any], item: Any) -> None:
        self.pushes += 1
        heapq.heappush(heap, item)

    def heappop(self, heap: list[Any]) -> Any:
        self.pops += 1
        return heapq.heappop(heap)

    def heapify(self, heap: list[Any]) -> None:
        self.heapified.append(len(heap))
        heapq.heapify(heap)

    def reset(self) -> None:
        self.pushes = self.pops = 0
        self.heapified.clear()


@pytest.fixture
def heap_ops(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeapCounter]:
    counter = HeapCounter()
    monkeypatch.setattr(watcher_module, "heapq", counter)
    yield counter


# --- DeadlineIndex ---------------------------------------------------------------------------


def test_pop_due_returns_exactly_the_expired_entries_in_instant_order() -> None:
    index = DeadlineIndex()
    index.schedule(key(1), 0, t(30))
    index.schedule(key(2), 1, t(10))
    index.schedule(key(3), 2, t(20))
    index.schedule(key(4), 3, t(20))  # same instant as key 3, scheduled later
    index.schedule(key(5), 0, t(40))
    assert len(index) == 5
    assert index.pop_due(t(9.999)) == []
    # <= now is due: 10, then the two at 20 in scheduling order; 30 and 40 stay.
    assert index.pop_due(t(20)) == [(key(2), 1), (key(3), 2), (key(4), 3)]
    assert len(index) == 2
    assert index.pop_due(t(20)) == []  # popped entries leave the index
    assert index.next_instant() == t(30).timestamp()
    assert index.pop_due(t(1000)) == [(key(1), 0), (key(5), 0)]
    assert len(index) == 0
    assert index.next_instant() is None


def test_rescheduling_invalidates_the_old_entry() -> None:
    index = DeadlineIndex()
    index.schedule(key(1), 0, t(10))
    index.schedule(key(1), 0, t(50))  # later: the entry at 10 is stale
    index.schedule(key(2), 1, t(40))
    index.schedule(key(2), 1, t(5))  # earlier: the entry at 40 is stale
    assert len(index) == 2
    assert index.next_instant() == t(5).timestamp()
    assert index.pop_due(t(45)) == [(key(2), 1)]  # once, at its new instant
    assert index.pop_due(t(49)) == []
    assert index.pop_due(t(50)) == [(key(1), 0)]
    # Another partition for the same instant (a rebalance moved it) replaces the entry.
    index.schedule(key(3), 0, t(60))
    index.schedule(key(3), 2, t(60))
    assert index.pop_due(t(60)) == [(key(3), 2)]


def test_scheduling_the_same_instant_again_adds_no_heap_entry(heap_ops: HeapCounter) -> None:
    index = DeadlineIndex()
    index.schedule(key(1), 0, t(10))
    index.schedule(key(1), 0, t(10))  # the router re-schedules every touched dossier
    index.schedule(key(1), 0, t(10))
    assert heap_ops.pushes == 1
    assert index.pop_due(t(10)) == [(key(1), 0)]


def test_none_stops_watching() -> None:
    index = DeadlineIndex()
    index.schedule(key(1), 0, t(10))
    index.schedule(key(2), 0, t(20))
    index.schedule(key(1), 0, None)  # paused or closed
    index.schedule(key(9), 0, None)  # never watched: nothing happens
    assert len(index) == 1
    assert index.next_instant() == t(20).timestamp()
    assert index.pop_due(t(100)) == [(key(2), 0)]
    # Watching it again later works.
    index.schedule(key(1), 0, t(200))
    assert index.pop_due(t(200)) == [(key(1), 0)]


def test_forget_partitions_drops_their_entries_only() -> None:
    index = DeadlineIndex()
    for i in range(12):
        index.schedule(key(i), i % 4, t(i))  # partitions 0 1 2 3 0 1 2 3 ...
    assert index.forget_partitions([1, 3]) == 6
    assert index.forget_partitions([1]) == 0  # already gone
    assert len(index) == 6
    assert index.next_instant() == t(0).timestamp()
    assert index.pop_due(t(100)) == [(key(i), i % 4) for i in (0, 2, 4, 6, 8, 10)]
    # A partition assigned back is indexed again by the rebuild.
    index.schedule(key(1), 1, t(150))
    assert index.pop_due(t(150)) == [(key(1), 1)]


def test_work_is_proportional_to_the_expired_entries(heap_ops: HeapCounter) -> None:
    n = 20_000
    index = DeadlineIndex()
    for i in range(n):
        index.schedule(key(i), i % 4, t(i))
    heap_ops.reset()
    # 10 of 20,000 expired: 10 heap pops, nothing else.
    assert [k for k, _ in index.pop_due(t(9))] == [key(i) for i in range(10)]
    assert (heap_ops.pops, heap_ops.pushes, heap_ops.heapified) == (10, 0, [])
    heap_ops.reset()
    assert index.pop_due(t(9.5)) == []  # nothing expired: no pop at all
    assert heap_ops.pops == 0
    # 10 dossiers re-scheduled later leave 10 stale entries at the front: popping the next
    # 10 expired ones touches those 20 entries, not the other 19,980.
    for i in range(10, 20):
        index.schedule(key(i), i % 4, t(n + i))
    heap_ops.reset()
    assert [k for k, _ in index.pop_due(t(29))] == [key(i) for i in range(20, 30)]
    assert heap_ops.pops == 20
    assert len(index) == n - 20


def test_compaction_bounds_the_heap_and_keeps_every_entry(heap_ops: HeapCounter) -> None:
    index = DeadlineIndex()
    for i in range(10):
        index.schedule(key(i), 0, t(1000 + i))
    # One dossier re-scheduled 5,000 times (a busy dossier, or a flapping deadline).
    for j in range(5000):
        index.schedule(key(99), 1, t(2000 + j))
    assert heap_ops.heapified, "the stale entries were never compacted away"
    assert len(index._heap) <= 2 * len(index) + 1024
    assert len(index) == 11
    assert index.next_instant() == t(1000).timestamp()
    assert index.pop_due(t(10_000)) == [(key(i), 0) for i in range(10)] + [(key(99), 1)]


class Model:
    """The index as a dict: key -> (instant, order, partition); order breaks instant ties."""

    def __init__(self) -> None:
        self.entries: dict[bytes, tuple[float, int, int]] = {}
        self.order = 0

    def schedule(self, k: bytes, partition: int, at: float | None) -> None:
        if at is None:
            self.entries.pop(k, None)
            return
        old = self.entries.get(k)
        if old is not None and old[0] == at and old[2] == partition:
            return  # same look, same place: keeps its place in the queue
        self.order += 1
        self.entries[k] = (at, self.order, partition)

    def pop_due(self, now: float) -> list[tuple[bytes, int]]:
        # equal instants in key order
        due = sorted((v[0], k, v[2]) for k, v in self.entries.items() if v[0] <= now)
        for _, k, _ in due:
            del self.entries[k]
        return [(k, p) for _, k, p in due]

    def forget(self, partitions: set[int]) -> int:
        gone = [k for k, v in self.entries.items() if v[2] in partitions]
        for k in gone:
            del self.entries[k]
        return len(gone)


KEYS = st.integers(0, 7).map(key)
PARTITIONS = st.integers(0, 3)
INSTANTS = st.one_of(st.none(), st.integers(0, 60))
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), KEYS, PARTITIONS, INSTANTS),
        # enough re-schedules of one key in a row to cross the compaction threshold
        st.tuples(st.just("churn"), KEYS, PARTITIONS, st.integers(600, 1300)),
        st.tuples(st.just("pop"), st.integers(0, 60)),
        st.tuples(st.just("forget"), st.sets(PARTITIONS, max_size=2)),
    ),
    max_size=40,
)


@settings(max_examples=120, deadline=None)
@given(OPERATIONS)
def test_the_index_behaves_like_a_dict_through_compactions(ops: list[tuple[Any, ...]]) -> None:
    index, model = DeadlineIndex(), Model()
    for op in ops:
        if op[0] == "schedule":
            _, k, p, at = op
            index.schedule(k, p, None if at is None else t(at))
            model.schedule(k, p, None if at is None else t(at).timestamp())
        elif op[0] == "churn":
            _, k, p, n = op
            for j in range(n):
                at = (j * 7) % 61
                index.schedule(k, p, t(at))
                model.schedule(k, p, t(at).timestamp())
            assert len(index._heap) <= 2 * len(index) + 1024, "stale entries never compacted"
        elif op[0] == "pop":
            assert index.pop_due(t(op[1])) == model.pop_due(t(op[1]).timestamp())
        else:
            assert index.forget_partitions(op[1]) == model.forget(op[1])
        assert len(index) == len(model.entries)
        expected_next = min((v[0] for v in model.entries.values()), default=None)
        assert index.next_instant() == expected_next
    assert index.pop_due(t(10_000)) == model.pop_due(t(10_000).timestamp())


# --- partition_of ----------------------------------------------------------------------------

# Kafka's own test vectors for Utils.murmur2 (clients UtilsTest.testMurmur2), as signed ints;
# the Java partitioner takes toPositive(hash) % partitions.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("partitions", [1, 4, 7, 12, 100])
@pytest.mark.parametrize("raw", sorted(JAVA_MURMUR2))
def test_partition_of_matches_the_java_partitioner(raw: bytes, partitions: int) -> None:
    assert partition_of(raw, partitions) == (JAVA_MURMUR2[raw] & 0x7FFFFFFF) % partitions


class _Cluster:
    """The slice of kafka-python's ClusterMetadata its DefaultPartitioner reads."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.topic, self.partitions = topic, set(range(partitions))

    def topics(self) -> set[str]:
        return {self.topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


DOSSIER_IDS = ["HS-2027-0001", "HS-2027-0002", "000.00.31.H34-270122-0001", "Đ-hồ-sơ-42", "x"]


@pytest.mark.parametrize("partitions", [1, 4, 12])
@pytest.mark.parametrize("dossier_id", DOSSIER_IDS)
def test_partition_of_matches_the_python_clients(dossier_id: str, partitions: int) -> None:
    raw = dossier_id.encode("utf-8")
    # kafka-python: what agents.tools.publisher uses to publish events
    kafka_python = DefaultPartitioner().partition(
        "t", raw, raw, None, None, _Cluster("t", partitions)
    )
    # aiokafka: what faust's producer would choose (its own murmur2)
    aiokafka = AioDefaultPartitioner()(raw, list(range(partitions)), list(range(partitions)))
    assert partition_of(raw, partitions) == kafka_python == aiokafka


def test_the_sample_ids_spread_over_partitions() -> None:
    # Guards the test above against a degenerate hash that would put everything on 0.
    assert len({partition_of(d.encode(), 4) for d in DOSSIER_IDS}) > 1


# --- Watcher ---------------------------------------------------------------------------------

CTX = routing_context(range(2026, 2028))
CATALOG, CAL = CTX.catalog, CTX.calendar


def state_of(dossier_id: str, *more: type[Any]) -> DossierState:
    """2.001610 received Fri 2027-01-22 09:00 (first level: step due soon at 11:00), then
    ``more`` events (a supplement request, a withdrawal) at 10:00."""
    when = datetime(2027, 1, 22, 9, 0, tzinfo=VN_TZ)
    events: list[InboundEvent] = [receipt(dossier_id, f"{dossier_id}/1", when)]
    for i, cls in enumerate(more, start=2):
        events.append(
            cls(
                **envelope(dossier_id, f"{dossier_id}/{i}", when + timedelta(hours=1)),
                reason="Bổ sung",
            )
        )
    return fold_state(events, CTX)


def test_rebuild_indexes_the_open_dossiers_of_the_owned_partitions_only() -> None:
    ids = [f"HS-2027-{i:04d}" for i in range(40)]
    by_partition: dict[int, list[str]] = {}
    for dossier_id in ids:
        by_partition.setdefault(partition_of(dossier_id.encode(), 4), []).append(dossier_id)
    assert set(by_partition) == {0, 1, 2, 3}
    paused, closed = by_partition[0][0], by_partition[2][0]
    table: dict[bytes, bytes] = {}
    for dossier_id in ids:
        more = (
            (SupplementRequested,)
            if dossier_id == paused
            else (DossierWithdrawn,)
            if dossier_id == closed
            else ()
        )
        table[dossier_id.encode()] = state_of(dossier_id, *more).to_bytes()
    eleven = datetime(2027, 1, 22, 11, 0, tzinfo=VN_TZ)
    watcher = Watcher(CAL, AlertPolicy(), partitions=4)
    # An entry from before the rebalance (maybe of a partition gone since): cleared.
    watcher.index.schedule(b"left-over", 1, eleven - timedelta(days=1))
    owned = {0, 2}
    expected = {d for p in owned for d in by_partition[p]} - {paused, closed}
    assert watcher.rebuild(table, owned) == len(expected)
    # The first level of each: the receive step due soon, Fri 11:00 (test_alerts.py).
    assert watcher.index.pop_due(eleven - timedelta(microseconds=1)) == []
    due = watcher.index.pop_due(eleven)
    assert sorted(k.decode() for k, _ in due) == sorted(expected)
    assert all(p == partition_of(k, 4) for k, p in due)
    # The router re-schedules a dossier after each batch; a closed one stops being watched.
    k = expected.pop().encode()
    watcher.reschedule(k, partition_of(k, 4), DossierState.from_bytes(table[k]))
    watcher.reschedule(k, partition_of(k, 4), None)
    assert len(watcher.index) == 0


# --- tick records ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dossier_id",
    [*DOSSIER_IDS, 'quote " and \\ backslash', "tab\tnew\nline\x01", "\u2028 line sep \x7f"],
)
def test_tick_values_are_the_records_the_tick_model_gives(dossier_id: str) -> None:
    now = datetime(2027, 1, 22, 17, 30, 0, 123456, tzinfo=VN_TZ)
    (value,) = tick_values([dossier_id.encode()], now)
    assert DeadlineTick.model_validate_json(value) == DeadlineTick(
        dossier_id=dossier_id, detected_at=now
    )
    if dossier_id in DOSSIER_IDS:  # byte for byte, for every id a dossier can have
        assert (
            value == DeadlineTick(dossier_id=dossier_id, detected_at=now).model_dump_json().encode()
        )
