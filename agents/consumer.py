"""faust's app with one consumer fix: a partition without a committed offset is re-read from its start.

The bug (faust-streaming 0.15.3, aiokafka 0.14.0), found by the crash test: a worker that
takes over a partition its group never committed (its last owner died before its first
commit, or a new group on a topic with records) can skip records for good. While a worker
restores its tables, faust's fetcher calls aiokafka's ``fetched_records`` with faust's *live*
set of active partitions; the recovery changes that set while the call waits (it pauses and
resumes the stream partitions), so aiokafka hands out stream records that faust then drops
as "not active" (seen with a diagnostic patch: ``dossier-events``, ``dossier-deadline-ticks``
and ``dossier-alerts`` records from offset 0 dropped). aiokafka's position has moved past
them. faust relies on ``perform_seek`` -> ``seek_to_committed`` after the restore to rewind,
but aiokafka's ``seek_to_committed`` only seeks to a committed offset > 0: such a partition is
not rewound, the worker reports "Worker ready" and waits at the end of records it never
processed, and nothing commits them, so the next owner can hit the same race. Before the
fix, 9 of 19 runs of the crash test stuck this way; after it, none of 18.

The fix: after faust's seek to the committed offsets, every assigned *stream* partition
whose committed offset is missing or 0 is sought to its beginning (the app's
``consumer_auto_offset_reset`` is ``earliest``), which also drops aiokafka's buffered
records for it. Changelog partitions are left alone: recovery positions them itself.
A record handed to an agent before the rewind is delivered again; the router's per-dossier
event ids make that a no-op (the guarantee a re-delivery after a crash already relies on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.transports import TransportT

#: Logged (INFO, with the partitions after it) when the fix rewinds something.
REWIND_LOG = "Seek uncommitted stream partitions to their beginning"


class RewindingConsumer(aiokafka_driver.Consumer):
    """faust's aiokafka consumer; uncommitted stream partitions restart at their beginning."""

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        fresh = uncommitted_stream_partitions(committed, self._is_changelog_tp)
        if fresh:
            self.log.info("%s: %r", REWIND_LOG, sorted(fresh))
            await self._thread.seek_to_beginning(*aiokafka_driver.ensure_aiokafka_TPset(fresh))
        return committed


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
