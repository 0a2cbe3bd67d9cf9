"""The stall watch: a stream partition with records to read and no progress is woken up.

Each pass (every couple of seconds, on every worker: it is about this worker's own
consumer) looks at every assigned stream partition. One whose committed offset and the
router's next offset have not moved for ``stall_s`` while its end offset is past them,
none of its records in process, the worker recovered and its flow running, is stalled:
records wait that nobody reads. It is logged at WARNING with everything that decides
whether faust and aiokafka fetch it, then woken: put back in faust's set of active
partitions (resumed in aiokafka if paused there) and sought back to the first record the
router has not applied (a re-delivery at worst: the router applies each record once, in
offset order). The holes in agents/runtime/consumer.py are closed at their causes; this is the
net under them, and its WARNING says what a new one looks like.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faust.types import TP

log = logging.getLogger(__name__)

#: Logged (WARNING) for each stalled partition, with the state that explains it.
STALL_LOG = "Stream partition stalled"


@dataclass
class _Seen:
    mark: tuple[int | None, int | None]  # (committed offset, router's next offset)
    since: float


class StallWatch:
    """Finds stream partitions that stopped moving, says why, and wakes them."""

    def __init__(
        self,
        consumer: Any,
        is_stream: Callable[[TP], bool],
        stall_s: float = 6.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.is_stream = is_stream
        self.stall_s = stall_s
        self.monotonic = monotonic
        self._seen: dict[TP, _Seen] = {}
        self.stalls = 0

    def reset(self) -> None:
        self._seen.clear()

    async def check(self, guard_next: Mapping[TP, int] | None = None) -> list[TP]:
        """One pass; returns the partitions found stalled (and woken) in it.

        ``guard_next`` is the router's next offset to apply per partition (its
        OffsetGuard): progress is the committed offset or that moving.
        """
        consumer = self.consumer
        nexts = guard_next or {}
        now = self.monotonic()
        assigned = {tp for tp in consumer.assignment() if self.is_stream(tp)}
        for tp in list(self._seen):
            if tp not in assigned:
                del self._seen[tp]
        stalled: list[TP] = []
        # partitions with records in process now (one pass over the pending messages)
        in_process = {m.tp for m in list(consumer._unacked_messages)}
        for tp in sorted(assigned):
            committed = consumer._committed_offset.get(tp)
            mark = (committed, nexts.get(tp))
            seen = self._seen.get(tp)
            if seen is None or seen.mark != mark:
                self._seen[tp] = _Seen(mark, now)
                continue
            end = consumer.highwater(tp)
            head = consumer.head(tp)
            if end is None or head is None or tp in in_process:
                seen.since = now
                continue
            resume_at = max(head, nexts.get(tp, head))
            if end <= resume_at or now - seen.since < self.stall_s:
                if end <= resume_at:
                    seen.since = now
                continue
            stalled.append(tp)
            self.stalls += 1
            state = await self._describe(tp)
            log.warning(
                "%s: %s committed %s, applied up to %s, end %s, no progress for %.0f s; %s; "
                "reading it again from %d",
                STALL_LOG,
                tp,
                committed,
                nexts.get(tp),
                end,
                now - seen.since,
                state,
                resume_at,
            )
            await self._wake(tp, resume_at)
            seen.since = now
        return stalled

    async def _describe(self, tp: TP) -> str:
        consumer = self.consumer
        faust_state = (
            f"faust active={tp in (consumer._active_partitions or ())} "
            f"paused={tp in consumer._paused_partitions} "
            f"buffered={tp in consumer._buffered_partitions} "
            f"read_offset={consumer._read_offset.get(tp)} "
            f"acked={sorted(consumer._acked.get(tp, []))[:3]}.. "
            f"flow_active={consumer.flow_active} unacked={len(consumer._unacked_messages)}"
        )

        async def aiokafka_state() -> str:
            kafka = consumer._thread._ensure_consumer()
            assignment = kafka._subscription.subscription.assignment
            st = assignment.state_value(tp)
            fetcher = kafka._fetcher
            return (
                f"aiokafka position={st._position} status={st._status} paused={st.paused} "
                f"valid={st.has_valid_position} buffered={tp in fetcher._records} "
                f"in_flight={sorted(fetcher._in_flight)}"
            )

        try:
            inner = await consumer._thread.call_thread(aiokafka_state)
        except Exception as exc:  # a diagnosis must not stop the watch
            inner = f"aiokafka state unknown: {exc!r}"
        return f"{faust_state}; {inner}"

    async def _wake(self, tp: TP, offset: int) -> None:
        consumer = self.consumer
        consumer._buffered_partitions.discard(tp)
        consumer._paused_partitions.discard(tp)
        consumer._get_active_partitions().add(tp)

        async def resume() -> None:
            kafka = consumer._thread._ensure_consumer()
            if tp in kafka.paused():
                kafka.resume(tp)

        try:
            await consumer._thread.call_thread(resume)
        except Exception:
            log.warning("could not resume %s in aiokafka", tp, exc_info=True)
        await consumer.seek_to({tp: offset})
