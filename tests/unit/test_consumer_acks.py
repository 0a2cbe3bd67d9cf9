"""What the consumer commits: only offsets an agent finished, in one run from the head."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from agents.runtime.acks import OffsetGuard, withhold_acks
from agents.runtime.app import create_app
from agents.runtime.consumer import RequeueingFlowControl, RewindingConsumer
from agents.settings import Settings

EVENTS = "dossier-events"
TP0 = TP(EVENTS, 0)


@pytest.fixture
def consumer() -> Iterator[RewindingConsumer]:
    flow = create_app(Settings(topic_prefix=""))
    built = flow.app.consumer
    assert isinstance(built, RewindingConsumer)
    yield built


def message(offset: int, partition: int = 0) -> ConsumerMessage:
    return ConsumerMessage(
        EVENTS, partition, offset, 0.0, 0, None, b"k", b"v", None, tp=TP(EVENTS, partition)
    )


class FakeEvent:
    """What settle_or_withhold and withhold_acks read of a faust event."""

    def __init__(self, msg: ConsumerMessage, app: Any) -> None:
        self.message = msg
        self.app = app


@pytest.mark.parametrize(
    ("committed", "log_start", "acked", "gaps", "expected"),
    [
        # the run starts at the committed offset: committed up to its end
        (100, None, [100, 101, 102], [], 103),
        # offset 100 (the head) was never acked: nothing moves (faust committed 103 here)
        (100, None, [101, 102], [], None),
        # nothing committed, read from the log start 0: the head is 0
        (None, 0, [1, 2], [], None),
        (None, 0, [0, 1, 2, 4], [], 3),
        # offset 100 holds no record (a transaction marker): it counts as done
        (100, None, [101, 102], [(100, 101)], 103),
        # nothing committed and no known start: faust's own rule (the first run)
        (None, None, [5, 6], [], 7),
    ],
)
def test_the_commit_starts_at_the_head(
    consumer: RewindingConsumer,
    committed: int | None,
    log_start: int | None,
    acked: list[int],
    gaps: list[tuple[int, int]],
    expected: int | None,
) -> None:
    consumer._committed_offset[TP0] = committed
    if log_start is not None:
        consumer._log_start[TP0] = log_start
    consumer._acked[TP0] = list(acked)
    for begin, end in gaps:
        consumer._gap[TP0].addi(begin, end)
    assert consumer._new_offset(TP0) == expected


def test_only_finished_messages_are_acked(
    consumer: RewindingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the app is not started: say the events topic is acked, as its agent makes it
    monkeypatch.setattr(consumer.app.topics, "acks_enabled_for", lambda topic: True)
    consumer._committed_offset[TP0] = 10
    done, skipped = message(10), message(11)
    consumer.finish([FakeEvent(done, None)])  # type: ignore[list-item]
    assert consumer.ack(done) is True
    # faust acks a message its stream skipped (flow suspended, older generation)
    assert consumer.ack(skipped) is False
    assert skipped.acked  # settled: a stop or rebalance does not wait for it
    assert list(consumer._acked[TP0]) == [10]
    assert consumer._new_offset(TP0) == 11  # the skipped one is read again, not committed


def test_a_withheld_batch_is_never_acked(consumer: RewindingConsumer) -> None:
    consumer._committed_offset[TP0] = 0
    batch = [FakeEvent(message(n), None) for n in (0, 1, 2)]
    withhold_acks(batch)  # type: ignore[arg-type]
    for event in batch:
        assert consumer.ack(event.message) is False
    assert not consumer._acked[TP0]


def test_a_jump_in_fetched_offsets_is_never_taken_for_done(consumer: RewindingConsumer) -> None:
    consumer._expected[TP0] = 100
    consumer._note_fetched(TP0, 100)
    consumer._note_fetched(TP0, 103)  # 101, 102 not fetched: maybe gone, maybe coming later
    assert not consumer._gap[TP0]
    consumer._committed_offset[TP0] = 100
    consumer._acked[TP0] = [100, 103]
    assert consumer._new_offset(TP0) == 101  # the commit waits at 101


def batch_of(*offsets: int, epoch: int = 0) -> list[Any]:
    events = []
    for offset in offsets:
        msg = message(offset)
        msg.fetch_epoch = epoch  # type: ignore[attr-defined]
        events.append(FakeEvent(msg, None))
    return events


def offsets_of(events: list[Any]) -> list[int]:
    return [event.message.offset for event in events]


def test_the_guard_applies_in_order_from_the_committed_offset(consumer: RewindingConsumer) -> None:
    guard = OffsetGuard()
    consumer._committed_offset[TP0] = 10
    admitted, others, seeks = guard.admit(batch_of(10, 11, 12), consumer)
    assert (offsets_of(admitted), others, seeks) == ([10, 11, 12], [], {})
    guard.advance(admitted)
    # a re-delivery of applied records is passed over, the next one applied
    admitted, others, seeks = guard.admit(batch_of(11, 12, 13), consumer)
    assert (offsets_of(admitted), offsets_of(others), seeks) == ([13], [11, 12], {})


def test_a_hole_holds_the_partition_back_and_reads_it_again(consumer: RewindingConsumer) -> None:
    guard = OffsetGuard()
    consumer._committed_offset[TP0] = 10
    # 10 and 11 were never delivered (the faults this guards against)
    admitted, others, seeks = guard.admit(batch_of(12, 13), consumer)
    assert (admitted, offsets_of(others), seeks) == ([], [12, 13], {TP0: 10})
    guard.rewound(TP0, 10, epoch=5)
    # a record fetched before the seek back is still held back
    assert guard.admit(batch_of(13, epoch=4), consumer)[2] == {TP0: 10}
    guard.rewound(TP0, 10, epoch=7)
    # after it, the records come again from 10
    admitted, _, seeks = guard.admit(batch_of(10, 11, 12, epoch=7), consumer)
    assert (offsets_of(admitted), seeks) == ([10, 11, 12], {})


def test_offsets_with_no_records_are_passed_after_one_read(consumer: RewindingConsumer) -> None:
    guard = OffsetGuard()
    consumer._committed_offset[TP0] = 10
    assert guard.admit(batch_of(11), consumer)[2] == {TP0: 10}
    guard.rewound(TP0, 10, epoch=3)
    # fetched after the seek to 10 and still 11: offset 10 holds no record (a marker)
    admitted, others, seeks = guard.admit(batch_of(11, 12, epoch=3), consumer)
    assert (offsets_of(admitted), others, seeks) == ([11, 12], [], {})


def test_what_the_flow_control_clears_is_read_again(
    consumer: RewindingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust clears every stream buffer when its flow resumes (the end of each recovery):
    records delivered after the last seek were lost there, the fetch position past them.
    Now each cleared message is settled unacked and its partition sought back."""
    asyncio.run(_cleared_then_read_again(consumer, monkeypatch))


async def _cleared_then_read_again(
    consumer: RewindingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = consumer.app
    flow = app.flow_control
    assert isinstance(flow, RequeueingFlowControl)
    # the router's stream buffer, as faust builds it (managed by the app's flow control)
    queue = app.FlowControlQueue(maxsize=16, clear_on_resume=True)
    buffered = [message(offset, partition) for partition, offset in [(0, 7), (0, 8), (1, 3)]]
    for msg in buffered:
        queue.put_nowait(FakeEvent(msg, app))
        consumer._unacked_messages.add(msg)
    requeued: list[dict[TP, int]] = []

    async def requeue(cleared: dict[TP, int]) -> None:
        requeued.append(dict(cleared))

    monkeypatch.setattr(consumer, "requeue", requeue)
    flow.resume()
    assert queue.qsize() == 0  # faust's clear still happens
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert requeued == [{TP0: 7, TP(EVENTS, 1): 3}]
    # settled, never acked: not committed, and a stop does not wait for them
    assert all(msg.acked for msg in buffered)
    assert not consumer._unacked_messages & set(buffered)
    assert all(not consumer._acked[msg.tp] for msg in buffered)
    # nothing buffered, nothing to read again
    flow.resume()
    await asyncio.sleep(0)
    assert len(requeued) == 1


def test_requeue_seeks_only_the_stream_partitions_still_assigned(
    consumer: RewindingConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sought: list[dict[TP, int]] = []

    async def seek_to(targets: dict[TP, int]) -> None:
        sought.append(dict(targets))

    monkeypatch.setattr(consumer, "assignment", lambda: {TP0})
    monkeypatch.setattr(consumer, "seek_to", seek_to)
    asyncio.run(consumer.requeue({TP0: 7, TP(EVENTS, 1): 3}))
    assert sought == [{TP0: 7}]
