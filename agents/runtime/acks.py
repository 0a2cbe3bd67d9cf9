"""What is acked and what is not: a batch is acked only when an agent finished it, in order.

The router's :class:`OffsetGuard` applies each partition's records in offset order, none
skipped; :class:`settle_or_withhold` acks a batch only when its body finished;
:func:`exit_unacked` stops the worker with a batch it cannot finish (exit 70).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from faust.types import TP, EventT
from faust.types.tuples import ack_lock

from agents.runtime.consumer import RewindingConsumer

log = logging.getLogger(__name__)


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
        elif self.events:
            consumer = self.events[0].app.consumer
            if isinstance(consumer, RewindingConsumer):
                consumer.finish(self.events)
        return False


class OffsetGuard:
    """The router's own check that it applies each partition's records in order, none skipped.

    Whatever faust's fetch path does, a record whose offset is past the next one the router
    must apply means records were not delivered: that partition's records are held back
    (not applied, not acked) and the partition is sought back to the missing offset. When
    the first record fetched after that seek is again past it, the offsets between hold no
    records (transaction markers, compaction, retention) and the guard moves on. Records
    below the next offset were applied before (a re-delivery) and are passed over.
    """

    def __init__(self) -> None:
        self._next: dict[TP, int] = {}
        # partition -> (offset sought back to, the seek count after that seek)
        self._rewound: dict[TP, tuple[int, int]] = {}
        self.holes = 0

    @property
    def next_offsets(self) -> Mapping[TP, int]:
        """Per partition, the offset after the last record applied in order."""
        return self._next

    def reset(self) -> None:
        """After a rebalance: each partition starts again at its committed offset."""
        self._next.clear()
        self._rewound.clear()

    def admit(
        self, events: Iterable[EventT[Any]], consumer: RewindingConsumer
    ) -> tuple[list[EventT[Any]], list[EventT[Any]], dict[TP, int]]:
        """Split a batch into (events to apply, events held back or passed over, seeks)."""
        admitted: list[EventT[Any]] = []
        others: list[EventT[Any]] = []
        seeks: dict[TP, int] = {}
        expected: dict[TP, int] = {}
        for event in events:
            message = event.message
            tp, offset = message.tp, message.offset
            if tp in seeks:
                others.append(event)
                continue
            at = expected.get(tp, self._next.get(tp))
            if at is None:
                at = consumer.head(tp)
            if at is None or offset == at:
                admitted.append(event)
                expected[tp] = offset + 1
            elif offset < at:
                others.append(event)  # applied before: a re-delivery
            else:
                rewound = self._rewound.get(tp)
                epoch = getattr(message, "fetch_epoch", 0)
                if rewound is not None and rewound[0] == at and epoch >= rewound[1]:
                    log.info("Offsets %d..%d of %s hold no records", at, offset - 1, tp)
                    admitted.append(event)
                    expected[tp] = offset + 1
                else:
                    self.holes += 1
                    log.warning(
                        "Offsets %d..%d of %s were not delivered before offset %d: "
                        "holding it back and reading the partition again from %d",
                        at,
                        offset - 1,
                        tp,
                        offset,
                        at,
                    )
                    seeks[tp] = at
                    others.append(event)
        return admitted, others, seeks

    def advance(self, admitted: Iterable[EventT[Any]]) -> None:
        """The admitted events are applied and their writes confirmed."""
        for event in admitted:
            tp, offset = event.message.tp, event.message.offset
            if offset + 1 > self._next.get(tp, -1):
                self._next[tp] = offset + 1
            self._rewound.pop(tp, None)

    def rewound(self, tp: TP, offset: int, epoch: int) -> None:
        self._rewound[tp] = (offset, epoch)
