"""The stall watch: a partition with records to read and no progress is found and woken."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from agents.runtime.stall import StallWatch

EVENTS = TP("dossier-events", 0)
OTHER = TP("dossier-events", 1)


class FakeConsumer:
    """The parts of faust's consumer the watch reads and wakes."""

    def __init__(self) -> None:
        self._committed_offset: dict[TP, int | None] = {EVENTS: 233, OTHER: 10}
        self._ends = {EVENTS: 245, OTHER: 10}
        self._active_partitions: set[TP] = {OTHER}
        self._paused_partitions: set[TP] = set()
        self._buffered_partitions: set[TP] = {EVENTS}
        self._read_offset: dict[TP, int] = {}
        self._acked: dict[TP, list[int]] = {}
        self._unacked_messages: set[Any] = set()
        self.flow_active = True
        self.sought: list[dict[TP, int]] = []
        self._thread = self

    def assignment(self) -> set[TP]:
        return {EVENTS, OTHER}

    def highwater(self, tp: TP) -> int:
        return self._ends[tp]

    def head(self, tp: TP) -> int | None:
        return self._committed_offset.get(tp)

    def _get_active_partitions(self) -> set[TP]:
        return self._active_partitions

    async def call_thread(self, fn: Any) -> Any:
        raise RuntimeError("no aiokafka here")  # the watch says so and goes on

    async def seek_to(self, targets: dict[TP, int]) -> None:
        self.sought.append(dict(targets))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_stalled_partition_is_woken_and_read_again_and_a_moving_one_is_left() -> None:
    consumer, clock = FakeConsumer(), Clock()
    watch = StallWatch(consumer, lambda tp: True, stall_s=10, monotonic=clock)
    assert asyncio.run(watch.check()) == []  # first look: nothing to compare with
    clock.now = 9
    assert asyncio.run(watch.check()) == []  # not for long enough yet
    clock.now = 11
    assert asyncio.run(watch.check()) == [EVENTS]  # OTHER is at its end: not stalled
    # woken: back among faust's active partitions, read again from the commit
    assert EVENTS in consumer._active_partitions
    assert EVENTS not in consumer._buffered_partitions
    assert consumer.sought == [{EVENTS: 233}]
    clock.now = 15
    assert asyncio.run(watch.check()) == []  # given its time again
    # it moves again: the watch starts over
    consumer._committed_offset[EVENTS] = 245
    clock.now = 40
    assert asyncio.run(watch.check()) == []
    assert watch.stalls == 1


def test_the_router_applying_is_progress_and_it_resumes_after_what_was_applied() -> None:
    consumer, clock = FakeConsumer(), Clock()
    watch = StallWatch(consumer, lambda tp: True, stall_s=10, monotonic=clock)
    # applied up to 240, not committed yet (commits come every few seconds)
    for clock.now, applied in ((0, 236), (8, 238), (16, 240)):
        assert asyncio.run(watch.check({EVENTS: applied})) == []
    clock.now = 27
    assert asyncio.run(watch.check({EVENTS: 240})) == [EVENTS]
    assert consumer.sought == [{EVENTS: 240}]  # not 233: 233..239 are applied
    # applied to the end: nothing to read, never stalled
    clock.now = 60
    assert asyncio.run(watch.check({EVENTS: 245})) == []
    clock.now = 90
    assert asyncio.run(watch.check({EVENTS: 245})) == []


def test_a_partition_with_records_in_process_is_not_stalled() -> None:
    consumer, clock = FakeConsumer(), Clock()

    class InProcess:
        tp = EVENTS

    busy = InProcess()
    consumer._unacked_messages.add(busy)
    watch = StallWatch(consumer, lambda tp: True, stall_s=10, monotonic=clock)
    for clock.now in (0, 11, 30):
        assert asyncio.run(watch.check()) == []
    consumer._unacked_messages.clear()
    clock.now = 35
    assert asyncio.run(watch.check()) == []  # the clock starts when it is idle
    clock.now = 46
    assert asyncio.run(watch.check()) == [EVENTS]
