"""Driving ``RouterCore`` without Kafka: records as the topics would deliver them, and a
batch's table writes applied to in-memory tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agents.runtime.records import Coordinates
from agents.runtime.router import RawRecord, Tables
from events import InboundEvent, encode
from events.internal import DeadlineTick


def apply_writes(tables: Tables, writes: dict[str, dict[bytes, tuple[bytes | None, int]]]) -> None:
    """Do to ``tables`` what the runtime does with a batch's ``writes`` (None deletes)."""
    tables.apply(writes)


def event_records(events: Sequence[InboundEvent], first_offset: int = 0) -> list[RawRecord]:
    """``events`` as read from partition 0 of the events topic, from ``first_offset`` on."""
    return [
        RawRecord(encode(e), Coordinates("events", 0, first_offset + i, e.dossier_id.encode()))
        for i, e in enumerate(events)
    ]


def tick_records(
    dossier_ids: Sequence[str], at: datetime, first_offset: int = 0, *, key: bytes | None = None
) -> list[RawRecord]:
    """A ``DeadlineTick`` at ``at`` for each dossier, as read from partition 0 of the ticks
    topic from ``first_offset`` on; keyed by its dossier unless ``key`` is given."""
    return [
        RawRecord(
            DeadlineTick(dossier_id=d, detected_at=at).model_dump_json().encode(),
            Coordinates("ticks", 0, first_offset + i, key or d.encode()),
        )
        for i, d in enumerate(dossier_ids)
    ]
