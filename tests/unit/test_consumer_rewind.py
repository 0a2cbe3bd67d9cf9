"""The consumer fix's choice of partitions to rewind (agents/runtime/consumer.py)."""

from __future__ import annotations

from faust.types import TP

from agents.runtime.app import create_app
from agents.runtime.consumer import RewindingConsumer, Transport, uncommitted_stream_partitions
from agents.settings import Settings

from support.webhooks import inline_secrets

EVENTS_0, EVENTS_1, EVENTS_2 = (TP("dossier-events", p) for p in range(3))
TICKS_0 = TP("dossier-deadline-ticks", 0)
CHANGELOG_0 = TP("app-dossier-events-open-changelog", 0)


def is_changelog(tp: TP) -> bool:
    return tp.topic.endswith("-changelog")


def test_partitions_without_a_commit_or_at_offset_zero_are_rewound() -> None:
    committed = {EVENTS_0: None, EVENTS_1: 0, EVENTS_2: 27, TICKS_0: None}
    assert uncommitted_stream_partitions(committed, is_changelog) == {EVENTS_0, EVENTS_1, TICKS_0}


def test_changelog_partitions_are_left_to_the_recovery() -> None:
    assert uncommitted_stream_partitions({CHANGELOG_0: None}, is_changelog) == set()


def test_a_fully_committed_assignment_rewinds_nothing() -> None:
    assert uncommitted_stream_partitions({EVENTS_0: 3, EVENTS_1: 1}, is_changelog) == set()


def test_the_worker_app_consumes_through_the_rewinding_consumer() -> None:
    flow = create_app(
        Settings.model_construct(
            kafka_security_protocol="PLAINTEXT", webhook_secrets=inline_secrets()
        )
    )
    assert isinstance(flow.app.transport, Transport)
    assert flow.app.transport.Consumer is RewindingConsumer
