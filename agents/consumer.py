"""faust's app with the consumer fixes that keep every fetched record: nothing is skipped.

faust-streaming 0.15.3 with aiokafka 0.14.0 loses records on a routine restart or
rebalance in two ways, both fixed here (docs/routing.md "Re-delivery" has the invariant):

1. **Fetched, then dropped.** faust's ``Consumer.getmany`` asks aiokafka for records with
   faust's *live* set of active partitions; recovery and flow control change that set while
   the call waits, and faust then silently drops the records of partitions that are "not
   active" any more (also every record left when the flow stops or the generation changes
   mid-batch). aiokafka's position has moved past them, so the next records of that
   partition arrive with a jump; faust's ``_drain_messages`` takes the jump for a real gap
   (compaction, transaction markers) and marks it acked, and the next commit moves past
   records that were never processed: lost for good. :meth:`RewindingConsumer.getmany`
   hands out the same records but remembers, per partition, the first one it did not hand
   out, and seeks that partition back there (logged with the count and the offsets).
2. **Never committed.** aiokafka's ``seek_to_committed`` only seeks to a committed offset
   > 0; after faust's seek, every assigned *stream* partition whose committed offset is
   missing or 0 is sought to its beginning (changelogs are left to recovery).

A record handed out twice is applied once: the router remembers each dossier's event ids.
The acks of a batch the router did not finish are withheld (:func:`withhold_acks`): faust's
``take_events`` acks a batch in a ``finally``, also when a SIGTERM cancels the agent in the
middle of it, and the stop then commits offsets of events whose state was never written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, NoReturn

import faust
from aiokafka import errors as kafka_errors
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import HeartbeatRequest
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, EventT, Message
from faust.types.transports import TransportT
from faust.types.tuples import ack_lock

log = logging.getLogger(__name__)

#: Logged (INFO, with the partitions after it) when the fix rewinds something.
REWIND_LOG = "Seek uncommitted stream partitions to their beginning"
#: Logged (WARNING) for every partition whose fetched records were not handed out.
DROP_LOG = "Fetched records not handed out; seeking the partition back to the first of them"


class RewindingConsumer(aiokafka_driver.Consumer):
    """faust's aiokafka consumer that never skips a fetched record (see the module docstring)."""

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        # faust's Consumer.getmany, with every record it would drop counted and rewound.
        records, active_partitions = await self._wait_next_records(timeout)
        if not records:
            return
        undelivered: dict[TP, tuple[int, int]] = {}  # tp -> (first offset, count)
        delivered: set[TP] = set()

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
                    delivered.add(tp)
                    yield tp, self._to_message(tp, record)
                    continue
                skip(tp, record.offset)
        finally:
            if undelivered and not self.should_stop:
                await self._rewind(undelivered)

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
            await self.seek_wait(targets)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # A jump in offsets is taken as acked (faust): say so, it must only ever be a real gap.
        self.log.info("Offset gap in %s: %d..%d taken as acked", tp, offset_from, offset_to)
        await super()._add_gap(tp, offset_from, offset_to)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        fresh = uncommitted_stream_partitions(committed, self._is_changelog_tp)
        if fresh:
            self.log.info("%s: %r", REWIND_LOG, sorted(fresh))
            await self._thread.seek_to_beginning(*aiokafka_driver.ensure_aiokafka_TPset(fresh))
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


def withhold_acks(events: Iterable[EventT[Any]]) -> None:
    """Settle a batch's messages without acking them: their offsets are never committed.

    faust's ``take_events`` acks a batch in a ``finally``, so a batch the agent did not
    finish (SIGTERM cancels it, or it raised) would be committed with its state unwritten.
    A message marked acked here is dropped from faust's pending set (a stop does not wait
    for it) but never reaches the consumer's acked offsets: the next owner, or this worker
    after a restart or rebalance, reads it again from the committed offset.
    """
    with ack_lock:
        for event in events:
            event.message.acked = True


#: The worker's exit status when it stops in the middle of a batch it cannot finish safely.
EXIT_UNACKED = 70


def exit_unacked(agent: str) -> NoReturn:
    """Stop this process at once, the current batch unacked (the group re-delivers it).

    faust would ack the batch and restart the agent; a later batch acked past it could
    then commit over it. A process supervisor restarts the worker (README "Exit 70").
    """
    log.critical("%s batch failed after processing; exiting unacked", agent, exc_info=True)
    logging.shutdown()
    os._exit(EXIT_UNACKED)


class settle_or_withhold:
    """``async with settle_or_withhold(batch):`` the body finishes, or the batch is not acked."""

    def __init__(self, events: Iterable[EventT[Any]]) -> None:
        self.events = list(events)

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is not None:
            withhold_acks(self.events)
            log.warning("batch of %d events not finished: not acked", len(self.events))
        return False


def uncommitted_stream_partitions(
    committed: Mapping[TP, int | None], is_changelog: Callable[[TP], bool]
) -> set[TP]:
    """The partitions of ``committed`` with no offset (None) or offset 0 that are not changelogs."""
    return {tp for tp, offset in committed.items() if not offset and not is_changelog(tp)}


class Transport(aiokafka_driver.Transport):
    Consumer = RewindingConsumer


class App(faust.App):
    """``faust.App`` whose consumer is :class:`RewindingConsumer` (the producer is unchanged)."""

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)
