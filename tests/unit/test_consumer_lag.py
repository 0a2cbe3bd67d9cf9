"""dossierflow_consumer_lag (agents/runtime/lag.py): end offset minus committed, per owned partition."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry

from agents.runtime.lag import export_consumer_lag, partition_lags
from monitoring.metrics import Metrics, create_metrics

EVENTS_0, EVENTS_1 = TP("dossier-events", 0), TP("dossier-events", 1)
TICKS_0 = TP("dossier-deadline-ticks", 0)
CHANGELOG_0 = TP("app-dossier-events-open-changelog", 0)
TOPICS = ("dossier-events", "dossier-deadline-ticks")


@pytest.mark.parametrize(
    ("end", "committed", "earliest", "lags"),
    [
        # 120 records, 100 committed: 20 to go
        ({EVENTS_0: 120}, {EVENTS_0: 100}, {}, {EVENTS_0: 20}),
        # caught up
        ({EVENTS_0: 120}, {EVENTS_0: 120}, {}, {EVENTS_0: 0}),
        # never committed: counted from the earliest offset retention kept
        ({EVENTS_0: 120}, {EVENTS_0: None}, {EVENTS_0: 30}, {EVENTS_0: 90}),
        # never committed, earliest unknown: from offset 0
        ({EVENTS_0: 5}, {}, {}, {EVENTS_0: 5}),
        # no end offset known: left out, not reported as 0
        ({EVENTS_0: None, EVENTS_1: 3}, {EVENTS_1: 1}, {}, {EVENTS_1: 2}),
        # a commit past the end offset it was compared to (read apart): never negative
        ({EVENTS_0: 10}, {EVENTS_0: 12}, {}, {EVENTS_0: 0}),
    ],
)
def test_partition_lags(
    end: Mapping[TP, int | None],
    committed: Mapping[TP, int | None],
    earliest: Mapping[TP, int],
    lags: dict[TP, int],
) -> None:
    assert partition_lags(end, committed, earliest) == lags


class FakeConsumer:
    """faust's consumer as the lag reads it: assignment, offsets, its committed map.

    ``end`` is the broker's; ``fetched`` the partitions whose highwater the consumer knows
    from a fetch (all of them unless told); ``asked`` records each broker request.
    """

    def __init__(
        self,
        assigned: set[TP],
        end: dict[TP, int],
        committed: dict[TP, int | None],
        earliest: dict[TP, int] | None = None,
        fetched: set[TP] | None = None,
        fail: bool = False,
    ) -> None:
        self.assigned = assigned
        self.end = end
        self._committed_offset = committed
        self.earliest = earliest or {}
        self.fetched = set(end) if fetched is None else fetched
        self.fail = fail
        self.asked: list[tuple[str, tuple[TP, ...]]] = []

    def assignment(self) -> set[TP]:
        return self.assigned

    def highwater(self, tp: TP) -> int | None:
        return self.end[tp] if tp in self.fetched else None

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        self.asked.append(("end", partitions))
        if self.fail:
            raise ConnectionError("broker gone")
        return {tp: self.end[tp] for tp in partitions}

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        self.asked.append(("earliest", partitions))
        return {tp: self.earliest.get(tp, 0) for tp in partitions}


def lag_samples(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["worker"], s.labels["topic"], s.labels["partition"]): s.value
        for family in metrics.consumer_lag.collect()
        for s in family.samples
    }


def export(consumer: FakeConsumer | None, metrics: Metrics) -> None:
    asyncio.run(export_consumer_lag(consumer, TOPICS, metrics, "w1"))


def test_owned_stream_partitions_are_exported_changelogs_are_not() -> None:
    metrics = create_metrics(CollectorRegistry())
    consumer = FakeConsumer(
        {EVENTS_0, TICKS_0, CHANGELOG_0},
        {EVENTS_0: 50, TICKS_0: 7, CHANGELOG_0: 900},
        {EVENTS_0: 40, TICKS_0: None},
        fetched={EVENTS_0},
    )
    export(consumer, metrics)
    assert lag_samples(metrics) == {
        ("w1", "dossier-events", "0"): 10,
        ("w1", "dossier-deadline-ticks", "0"): 7,
    }
    # Only what the consumer does not know is asked: the ticks partition's end (never
    # fetched) and its earliest offset (never committed). Changelog partitions are
    # restored, not consumed by the group: never asked about.
    assert consumer.asked == [("end", (TICKS_0,)), ("earliest", (TICKS_0,))]


def test_a_scrape_of_fetched_committed_partitions_asks_the_broker_nothing() -> None:
    # Asking goes through faust's consumer thread and waits for its fetch (1.5 s each).
    metrics = create_metrics(CollectorRegistry())
    consumer = FakeConsumer({EVENTS_0, TICKS_0}, {EVENTS_0: 9, TICKS_0: 0}, {EVENTS_0: 4})
    export(consumer, metrics)
    assert consumer.asked == []  # the empty, never committed ticks partition: lag 0
    assert lag_samples(metrics) == {
        ("w1", "dossier-events", "0"): 5,
        ("w1", "dossier-deadline-ticks", "0"): 0,
    }


def test_a_partition_moved_away_loses_its_series() -> None:
    metrics = create_metrics(CollectorRegistry())
    export(FakeConsumer({EVENTS_0, EVENTS_1}, {EVENTS_0: 5, EVENTS_1: 9}, {}), metrics)
    export(FakeConsumer({EVENTS_1}, {EVENTS_1: 9}, {EVENTS_1: 9}), metrics)
    assert lag_samples(metrics) == {("w1", "dossier-events", "1"): 0}


def test_offsets_unavailable_export_nothing_rather_than_a_stale_figure() -> None:
    metrics = create_metrics(CollectorRegistry())
    export(FakeConsumer({EVENTS_0}, {EVENTS_0: 5}, {EVENTS_0: 1}), metrics)
    export(
        FakeConsumer({EVENTS_0}, {EVENTS_0: 5}, {EVENTS_0: 1}, fetched=set(), fail=True), metrics
    )
    assert lag_samples(metrics) == {}


def test_no_consumer_yet_exports_nothing() -> None:
    metrics = create_metrics(CollectorRegistry())
    export(None, metrics)
    assert lag_samples(metrics) == {}
