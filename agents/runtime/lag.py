"""Consumer lag of the partitions this worker consumes, for ``dossierflow_consumer_lag``.

Lag is a partition's end offset minus the offset this worker committed for it: the
records that a crash now would deliver again, and the backlog a restarted worker has to
catch up on. A partition the group never committed counts from its earliest offset (the
app's ``consumer_auto_offset_reset`` is ``earliest``, and the consumer fix rewinds such
partitions to their beginning).

The end offset is the highwater of the consumer's last fetch of the partition (each fetch
response carries it; a fetched partition's is at most a fetch wait, 1.5 s, old), read
without a broker round trip. Asking the broker goes through faust's consumer thread and
waits for its current fetch: 1.5 s a request, 3 s a scrape when measured. The broker is
asked only for what the consumer does not know: the end of a partition not fetched since
its assignment, and the earliest offset of a non-empty partition never committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from faust.types import TP

from monitoring.metrics import Metrics

log = logging.getLogger(__name__)

#: A scrape must not hang on a broker that does not answer.
OFFSETS_TIMEOUT_S = 2.0


class OffsetSource(Protocol):
    """The parts of faust's consumer the lag needs."""

    def assignment(self) -> set[TP]: ...

    def highwater(self, tp: TP) -> int | None: ...

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]: ...

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]: ...


def partition_lags(
    end: Mapping[TP, int | None],
    committed: Mapping[TP, int | None],
    earliest: Mapping[TP, int],
) -> dict[TP, int]:
    """Lag per partition of ``end``; a partition with no end offset is left out (unknown)."""
    lags = {}
    for tp, high in end.items():
        if high is None:
            continue
        done = committed.get(tp)
        if done is None:
            done = earliest.get(tp, 0)
        lags[tp] = max(high - done, 0)
    return lags


def committed_offsets(consumer: Any) -> Mapping[TP, int | None]:
    """What this worker committed (or found committed at assignment), per partition.

    faust 0.15.3 keeps it in ``Consumer._committed_offset`` and has no public accessor;
    asking the broker instead would cost one request per partition at every scrape.
    """
    committed: Mapping[TP, int | None] = getattr(consumer, "_committed_offset", {})
    return committed


def known_highwater(consumer: OffsetSource, tp: TP) -> int | None:
    try:
        return consumer.highwater(tp)
    except AssertionError:  # aiokafka: no longer assigned (a rebalance meanwhile)
        return None


async def consumer_lags(consumer: OffsetSource, topics: Collection[str]) -> dict[TP, int]:
    """Lag of each assigned partition of ``topics``; the broker is asked only for gaps."""
    owned = sorted(tp for tp in consumer.assignment() if tp.topic in topics)
    end: dict[TP, int | None] = {tp: known_highwater(consumer, tp) for tp in owned}
    unknown = [tp for tp, high in end.items() if high is None]
    if unknown:
        end.update(await asyncio.wait_for(consumer.highwaters(*unknown), OFFSETS_TIMEOUT_S))
    committed = committed_offsets(consumer)
    # An empty partition never committed has lag 0 whatever its earliest offset.
    fresh = [tp for tp in owned if committed.get(tp) is None and end.get(tp)]
    earliest: Mapping[TP, int] = {}
    if fresh:
        earliest = await asyncio.wait_for(consumer.earliest_offsets(*fresh), OFFSETS_TIMEOUT_S)
    return partition_lags(end, committed, earliest)


async def export_consumer_lag(
    consumer: OffsetSource | None, topics: Collection[str], metrics: Metrics, worker: str
) -> None:
    """Set ``consumer_lag`` for the assigned partitions of ``topics``; none when unknown."""
    gauge = metrics.consumer_lag
    try:
        lags = await consumer_lags(consumer, topics) if consumer is not None else {}
    except Exception:
        # Unknown is not zero: drop the series so a dashboard shows a gap, not "no lag".
        log.warning("consumer lag not exported: offsets unavailable", exc_info=True)
        lags = {}
    # Partitions that moved to another worker must not keep their last figure here.
    gauge.clear()
    for tp, lag in sorted(lags.items()):
        gauge.labels(worker=worker, topic=tp.topic, partition=str(tp.partition)).set(lag)
