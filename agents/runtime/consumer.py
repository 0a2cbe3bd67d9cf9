"""faust's app with the consumer fixes that keep every fetched record: nothing is skipped.

faust-streaming 0.15.3 with aiokafka 0.14.0 loses records on a routine restart or
rebalance; each hole below was seen losing records and is closed here (docs/routing.md
"Re-delivery" has the invariant and the order of confirmations):

1. **Fetched, then dropped.** faust's ``Consumer.getmany`` asks aiokafka for records with
   faust's *live* set of active partitions; recovery and flow control change that set while
   the call waits, and faust silently dropped the records of partitions no longer active
   (also every record left when the flow stopped or the generation changed mid-batch).
   aiokafka's position had moved past them. :meth:`RewindingConsumer.getmany` hands out the
   same records but seeks each partition back to the first record it did not hand out.
2. **Jumps taken for gaps.** faust's fetch loop took any jump in offsets (as 1 made) for a
   real gap and marked it acked, the record after the jump included, before it was
   processed. No jump is taken for done any more (:meth:`RewindingConsumer._note_fetched`
   logs it): a real gap (transaction markers, compaction) holds the commit back until a
   restart, which is re-delivery, never loss. Publishers must not write ``dossier-events``
   in transactions.
3. **Skipped, then acked.** faust's stream *acks* a message it skips (one that reached it
   while the flow was suspended for a rebalance, or from an older generation): its offset
   was committed unprocessed. Only messages an agent finished (:class:`settle_or_withhold`)
   are acked now; the others are settled unacked and read again from the committed offset.
4. **A head check off by one.** faust's commit took a run of acked offsets that started one
   past the committed offset (or anywhere, with nothing committed): the one record left
   behind by 1 or 3 was committed over. :meth:`RewindingConsumer._new_offset` commits only a
   run that starts at the committed offset (the log start when nothing is committed).
5. **Never committed.** aiokafka's ``seek_to_committed`` only seeks to a committed offset
   > 0; after faust's seek, every assigned *stream* partition whose committed offset is
   missing or 0 is sought to its beginning (changelogs are left to recovery).
6. **Re-read, then dropped.** faust's fetch loop drops a record below its "read offset", which
   it sets after each delivery; a seek back to the committed offset while a delivery waited
   (a rebalance) was overwritten by it, and the re-read records were dropped while the ones
   after them were processed: out of order, refused ``illegal_transition``. The read offset
   now follows the records handed out.
7. **Acked in a finally.** ``take_events`` acks a batch in a ``finally``, also when a SIGTERM
   cancels the agent in the middle of it; :class:`settle_or_withhold` withholds those acks.
8. **Delivered, then cleared.** faust's flow control *clears every stream buffer* when it
   resumes (at the end of each recovery, after the stream partitions were resumed and
   sought): records fetched and delivered in between were thrown away unprocessed, the
   fetch position already past them. A partition whose lost records were its last ones
   stalled until the next restart. :class:`RequeueingFlowControl` seeks each partition
   back to the first record it clears.

A record handed out twice is applied once: the router remembers each dossier's event ids.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any
from weakref import WeakSet

import faust
from aiokafka import errors as kafka_errors
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.protocol.group import HeartbeatRequest
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, EventT, Message
from faust.types.transports import TransportT
from faust.types.tuples import ack_lock
from faust.utils.functional import consecutive_numbers
from mode.utils.queues import FlowControlEvent

if TYPE_CHECKING:
    from agents.runtime.acks import OffsetGuard

log = logging.getLogger(__name__)

#: Logged (INFO, with the partitions after it) when the fix rewinds something.
REWIND_LOG = "Seek uncommitted stream partitions to their beginning"
#: Logged (WARNING) for every partition whose fetched records were not handed out.
DROP_LOG = "Fetched records not handed out; seeking the partition back to the first of them"
#: Logged (INFO) for every partition whose delivered records faust's flow control cleared.
CLEAR_LOG = "Delivered records cleared from a stream buffer; seeking the partition back"


class RewindingConsumer(aiokafka_driver.Consumer):
    """faust's aiokafka consumer that never skips a fetched record (see the module docstring)."""

    def on_init(self) -> None:
        super().on_init()
        # Messages an agent of ours finished (settle_or_withhold): the only ones acked.
        self._finished: WeakSet[Message] = WeakSet()
        self._skipped = 0
        # first offset of each stream partition read from its beginning (never committed)
        self._log_start: dict[TP, int] = {}
        # stream partition -> the offset its next fetched record should have (after a seek,
        # one past the last handed out): a later one means those offsets do not exist.
        self._expected: dict[TP, int] = {}
        # partition -> how many seeks it has had: a fetch that spans a seek is stale
        self._seeks: dict[TP, int] = {}

    def head(self, tp: TP) -> int | None:
        """The first offset of ``tp`` not committed (the log start when none is), if known."""
        committed = self._committed_offset.get(tp)
        return committed if committed is not None else self._log_start.get(tp)

    async def seek_back(self, seeks: Mapping[TP, int], guard: OffsetGuard) -> None:
        """Seek the still-assigned partitions of ``seeks`` back; tell ``guard`` the epochs."""
        assigned = self.assignment()
        targets = {tp: offset for tp, offset in seeks.items() if tp in assigned}
        if targets:
            await self.seek_to(targets)
            for tp, offset in targets.items():
                guard.rewound(tp, offset, self._seeks.get(tp, 0))

    def finish(self, events: Iterable[EventT[Any]]) -> None:
        """The agent has written everything these events caused: they may be acked."""
        for event in events:
            self._finished.add(event.message)

    def ack(self, message: Message) -> bool:
        if message in self._finished:
            self._finished.discard(message)
            return super().ack(message)
        # faust acks what its stream *skips* (a message that reached the stream while the
        # flow was suspended for a rebalance, or from an older generation): its offset
        # would then be committed although no agent processed it. Settle it unacked.
        with ack_lock:
            message.acked = True
        self._unacked_messages.discard(message)
        self._skipped += 1
        self.log.info(
            "Not acking %s offset %d: faust skipped it unprocessed (%d so far); "
            "it is read again from the committed offset",
            message.tp,
            message.offset,
            self._skipped,
        )
        return False

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        # faust's Consumer.getmany, with every record it would drop counted and rewound.
        # The seek counts before the fetch: a record is stamped with the last seek its
        # fetch certainly followed (a seek made while the fetch waited does not count).
        epochs = dict(self._seeks)
        records, active_partitions = await self._wait_next_records(timeout)
        if not records:
            return
        undelivered: dict[TP, tuple[int, int]] = {}  # tp -> (first offset, count)

        def skip(tp: TP, offset: int) -> None:
            first, count = undelivered.get(tp, (offset, 0))
            undelivered[tp] = (min(first, offset), count + 1)

        try:
            if self.should_stop:
                return  # stopping: nothing is acked, the next owner reads from the commit
            if not self.flow_active:
                # faust's own answer to a stopped flow: back to the committed offsets.
                await self.perform_seek()
                return
            generation_id = self.app.consumer_generation_id
            stopped = False
            for tp, record in self.scheduler.iterate(records):
                if (
                    stopped
                    or not self.flow_active
                    or self.app.consumer_generation_id != generation_id
                ):
                    stopped = True
                elif (
                    active_partitions is None
                    or tp in active_partitions
                    or tp in self._buffered_partitions
                ):
                    if tp in undelivered:
                        # never hand out a record after one that was held back
                        skip(tp, record.offset)
                        continue
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    self._note_fetched(tp, record.offset)
                    # faust's fetch loop drops a record below its read offset, which it
                    # sets *after* delivering a record: a seek back during a delivery
                    # (a rebalance) was overwritten, and the re-read records were dropped.
                    # Every record handed out here is the next in fetch order: deliver it.
                    self._read_offset[tp] = record.offset
                    message = self._to_message(tp, record)
                    # which seek this record's fetch followed (OffsetGuard tells real gaps)
                    message.fetch_epoch = epochs.get(tp, 0)  # type: ignore[attr-defined]
                    yield tp, message
                    continue
                skip(tp, record.offset)
        finally:
            if undelivered and not self.should_stop:
                await self._rewind(undelivered)

    def _note_fetched(self, tp: TP, offset: int) -> None:
        expected = self._expected.get(tp)
        if expected is not None and offset > expected and not self._is_changelog_tp(tp):
            # A jump in fetched offsets. It may be a real gap (transaction markers,
            # compaction), but it was also seen where records did exist and arrived later:
            # never count it as done. The commit waits at the first offset not processed,
            # the lag gauge shows it, and a restart reads from there again.
            self.log.debug("Offsets %d..%d of %s skipped by the fetch", expected, offset - 1, tp)
        self._expected[tp] = offset + 1

    async def requeue(self, cleared: Mapping[TP, int]) -> None:
        """Records from these offsets on were cleared from a stream buffer: read them again."""
        assigned = self.assignment()
        targets = {
            tp: offset
            for tp, offset in cleared.items()
            if tp in assigned and not self._is_changelog_tp(tp)
        }
        for tp, offset in sorted(cleared.items()):
            self.log.info(
                "%s: %s from offset %d%s",
                CLEAR_LOG,
                tp,
                offset,
                "" if tp in targets else " (not a stream partition of this worker now)",
            )
        if targets:
            await self.seek_to(targets)

    async def seek_to(self, targets: Mapping[TP, int]) -> None:
        """Move the fetch positions of ``targets`` without waiting for them to resolve.

        faust's ``seek_wait`` waits for each position, which on a partition paused for
        recovery can take the whole request timeout (90 s) while the fetch loop, which
        called it, delivers nothing.
        """
        consumer = self._thread._ensure_consumer()

        async def seek() -> None:
            for tp, offset in targets.items():
                try:
                    consumer.seek(tp, offset)
                except IllegalStateError:  # revoked meanwhile: its next owner reads it
                    log.info("Not seeking %s: no longer assigned", tp)

        self._count_seeks(targets)
        await self._thread.call_thread(seek)
        self._count_seeks(targets)
        for tp, offset in targets.items():
            self._read_offset[tp] = offset
            self._expected[tp] = offset

    def _count_seeks(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._seeks[tp] = self._seeks.get(tp, 0) + 1

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        # counted before and after: a fetch that started before or during the seek is stale
        self._count_seeks(partitions)
        await super().seek_wait(partitions)
        self._count_seeks(partitions)
        self._expected.update(partitions)

    async def _seek(self, partition: TP, offset: int) -> None:
        self._count_seeks([partition])
        await super()._seek(partition, offset)
        self._count_seeks([partition])
        self._expected[partition] = offset

    async def _rewind(self, undelivered: Mapping[TP, tuple[int, int]]) -> None:
        assigned = self.assignment()
        targets = {tp: first for tp, (first, _) in undelivered.items() if tp in assigned}
        for tp, (first, count) in sorted(undelivered.items()):
            self.log.warning(
                "%s: %s from offset %d, %d record(s)%s",
                DROP_LOG,
                tp,
                first,
                count,
                "" if tp in targets else " (no longer assigned: its next owner reads them)",
            )
        if targets:
            await self.seek_to(targets)

    def _new_offset(self, tp: TP) -> int | None:
        # faust's, with its head check corrected: faust commits a consecutive run of acked
        # offsets even when the offset right at the committed position (or, with nothing
        # committed, any offset before the run) was never acked -- exactly the record a
        # rewind or a skipped message leaves behind. Here the run must start at the head.
        acked = self._acked[tp]
        if not acked:
            return None
        max_offset = max(acked)
        gaps = self._gap[tp]
        if gaps:  # real gaps (transaction markers, compaction) count as acked, as in faust
            covered = sorted(gaps.overlap(0, max_offset), key=lambda x: x.begin)
            if covered:
                filled = [n for entry in covered for n in range(entry.begin, entry.end)]
                acked.extend(filled)
                gaps.chop(0, max(filled[-1], max_offset + 1))
        acked.sort()
        head = self._committed_offset[tp]
        if head is None:
            head = self._log_start.get(tp)
        if head is not None and acked[0] > head:
            return None  # the record at the head is not done yet
        run = next(consecutive_numbers(acked))
        acked[: len(run)] = []
        self._acked_index[tp].difference_update(run)
        return int(run[-1]) + 1

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # faust marks a jump in fetched offsets as acked *including the record after it*,
        # before that record is processed, and also marks jumps its own drops caused.
        # Real gaps are recorded by _note_fetched instead, from the fetch position.
        return None

    async def seek_to_committed(self) -> Mapping[TP, int]:
        assigned = self.assignment()
        self._count_seeks(assigned)
        committed = await super().seek_to_committed()
        self._count_seeks(assigned)
        fresh = uncommitted_stream_partitions(committed, self._is_changelog_tp)
        if fresh:
            self.log.info("%s: %r", REWIND_LOG, sorted(fresh))
            await self._thread.seek_to_beginning(*aiokafka_driver.ensure_aiokafka_TPset(fresh))
            self._count_seeks(fresh)
            starts = await self.earliest_offsets(*fresh)
            self._log_start.update({tp: offset for tp, offset in starts.items() if offset >= 0})
        for tp, offset in committed.items():
            start = offset if offset else self._log_start.get(tp)
            if start is not None and not self._is_changelog_tp(tp):
                self._expected[tp] = start
        return committed

    async def check_membership(self) -> str | None:
        """Ask the group coordinator whether this member still holds its generation.

        Returns None when it does (a rebalance in progress included: until this member
        rejoins or times out, nobody else is given its partitions), else why not. A
        worker frozen past the session timeout (SIGSTOP, a long GC pause, a stuck VM)
        hears it here before it writes anything, because its own heartbeat has not run.
        """
        error: str | None = await self._thread.call_thread(self._membership_error)
        return error

    async def _membership_error(self) -> str | None:
        coordinator = self._thread._ensure_consumer()._coordinator
        generation, member = coordinator.generation, coordinator.member_id
        if generation < 0 or not member:
            return f"not a member of a generation (generation {generation})"
        try:
            response = await coordinator._send_req(
                HeartbeatRequest(coordinator.group_id, generation, member)
            )
        except KafkaError as exc:
            return f"membership not confirmed: {exc!r}"
        error = kafka_errors.for_code(response.error_code)
        if error in (kafka_errors.NoError, kafka_errors.RebalanceInProgressError):
            return None
        return f"generation {generation} member {member}: {error.__name__}"


def uncommitted_stream_partitions(
    committed: Mapping[TP, int | None], is_changelog: Callable[[TP], bool]
) -> set[TP]:
    """The partitions of ``committed`` with no offset (None) or offset 0 that are not changelogs."""
    return {tp for tp, offset in committed.items() if not offset and not is_changelog(tp)}


class RequeueingFlowControl(FlowControlEvent):
    """faust's flow control, but what it clears from the stream buffers is read again.

    faust clears every buffer when the flow resumes, records delivered after the last
    seek included (hole 8 in the module docstring). Each cleared message is settled
    unacked (never committed, not waited for) and its partition sought back to the
    first offset cleared; a record delivered again is applied once (the router's
    OffsetGuard passes over what it already applied).
    """

    def __init__(self, app: faust.App, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app
        self._requeues: set[asyncio.Future[None]] = set()

    def clear(self) -> None:
        cleared: dict[TP, int] = {}
        settled: list[Message] = []
        for queue in list(self._queues):
            for item in list(getattr(queue, "_queue", ())):
                message = getattr(item, "message", None)
                if not isinstance(message, Message):
                    continue
                settled.append(message)
                tp, offset = message.tp, message.offset
                cleared[tp] = min(offset, cleared.get(tp, offset))
        super().clear()
        consumer = getattr(self.app, "_consumer", None)
        if not settled or not isinstance(consumer, RewindingConsumer):
            return
        with ack_lock:
            for message in settled:
                message.acked = True
                consumer._unacked_messages.discard(message)
        # clear() runs inside faust's rebalance code, on the event loop, not awaited
        task = asyncio.ensure_future(consumer.requeue(cleared))
        self._requeues.add(task)
        task.add_done_callback(self._requeues.discard)


class Transport(aiokafka_driver.Transport):
    Consumer = RewindingConsumer


class App(faust.App):
    """``faust.App`` whose consumer is :class:`RewindingConsumer` (the producer is unchanged)."""

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return RequeueingFlowControl(self, loop=self.loop)
