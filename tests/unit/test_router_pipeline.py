"""The router's pipeline: the next batch reads the one in flight, and nothing is acked early."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from agents.runtime.acks import OffsetGuard, withhold_acks
from agents.runtime.app import create_app
from agents.runtime.batch import InFlight
from agents.runtime.consumer import RewindingConsumer
from agents.settings import Settings

EVENTS = "dossier-events"
TP0 = TP(EVENTS, 0)


@pytest.fixture
def consumer() -> Iterator[RewindingConsumer]:
    built = create_app(Settings(topic_prefix="")).app.consumer
    assert isinstance(built, RewindingConsumer)
    yield built


class FakeEvent:
    def __init__(self, offset: int, app: Any = None) -> None:
        self.message = ConsumerMessage(EVENTS, 0, offset, 0.0, 0, None, b"k", b"v", None, tp=TP0)
        self.app = app


def test_the_view_reads_the_batch_in_flight_over_the_store() -> None:
    store = {b"a": b"stored a", b"b": b"stored b"}
    view = InFlight(store)
    view.hold({b"a": (b"new a", 0), b"b": (None, 0), b"c": (b"new c", 1)}, seq=1)
    assert (view.get(b"a"), view.get(b"b"), view.get(b"c")) == (b"new a", None, b"new c")
    assert b"b" not in view and b"c" in view  # deleted in flight; created in flight
    assert sorted(view.items()) == [(b"a", b"new a"), (b"c", b"new c")]
    with pytest.raises(KeyError):
        view[b"b"]
    # the next batch rewrites "a" before batch 1 lands
    view.hold({b"a": (b"newer a", 0)}, seq=2)
    store.update({b"a": b"new a", b"c": b"new c"})
    del store[b"b"]
    view.release([b"a", b"b", b"c"], seq=1)  # batch 1 is in the store now
    assert view.get(b"a") == b"newer a"  # batch 2's, still in flight
    assert view.pending.keys() == {b"a"}
    view.release([b"a"], seq=2)
    assert view.get(b"a") == b"new a" and not view.pending  # the store again
    with pytest.raises(RuntimeError):
        view[b"x"] = b"never written through the view"


def test_a_deferred_batch_is_acked_only_when_it_lands(
    consumer: RewindingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer.app.topics, "acks_enabled_for", lambda topic: True)
    consumer._committed_offset[TP0] = 10
    batch = [FakeEvent(10), FakeEvent(11)]
    consumer.defer(batch)  # type: ignore[arg-type]
    # take_events acks the batch when the agent takes the next one: still in flight
    assert [consumer.ack(e.message) for e in batch] == [False, False]
    assert not consumer._acked[TP0] and not batch[0].message.acked
    consumer.finish(batch)  # type: ignore[arg-type]
    assert list(consumer._acked[TP0]) == [10, 11]
    assert consumer._new_offset(TP0) == 12


def test_a_deferred_batch_withheld_is_never_acked(
    consumer: RewindingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer.app.topics, "acks_enabled_for", lambda topic: True)
    consumer._committed_offset[TP0] = 10
    batch = [FakeEvent(10, consumer.app), FakeEvent(11, consumer.app)]
    consumer.defer(batch)  # type: ignore[arg-type]
    assert consumer.ack(batch[0].message) is False
    withhold_acks(batch)  # type: ignore[arg-type]  # the agent stopped mid-flight
    assert [consumer.ack(e.message) for e in batch] == [False, False]
    assert not consumer._acked[TP0]
    assert not consumer._deferred and not consumer._asked


def batch_of(*offsets: int) -> list[Any]:
    return [FakeEvent(offset) for offset in offsets]


def offsets_of(events: list[Any]) -> list[int]:
    return [event.message.offset for event in events]


def test_the_guard_admits_the_next_batch_while_one_is_in_flight(
    consumer: RewindingConsumer,
) -> None:
    guard = OffsetGuard()
    consumer._committed_offset[TP0] = 10
    first, _, _ = guard.admit(batch_of(10, 11), consumer)
    # batch 1 not landed yet: 12 follows what was admitted, it is no hole
    second, others, seeks = guard.admit(batch_of(12, 13), consumer)
    assert (offsets_of(second), others, seeks) == ([12, 13], [], {})
    assert guard.next_offsets.get(TP0) is None  # nothing applied yet: the stall watch's view
    guard.advance(first)
    assert guard.next_offsets[TP0] == 12
    # a hole after the batch in flight is still a hole
    assert guard.admit(batch_of(16), consumer)[2] == {TP0: 14}
    guard.rewound(TP0, 14, epoch=2)
    guard.advance(second)  # lands after the seek back: the seek still waits
    admitted, _, seeks = guard.admit(batch_of(16, 17), consumer)
    assert seeks == {TP0: 14} and not admitted


def test_a_dropped_flight_is_forgotten_by_the_guard(consumer: RewindingConsumer) -> None:
    guard = OffsetGuard()
    consumer._committed_offset[TP0] = 10
    guard.admit(batch_of(10, 11), consumer)
    guard.forget_admitted()  # never applied: read again from 10
    admitted, _, seeks = guard.admit(batch_of(10, 11), consumer)
    assert (offsets_of(admitted), seeks) == ([10, 11], {})
