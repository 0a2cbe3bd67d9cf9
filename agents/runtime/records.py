"""Outgoing Kafka records as plain values, and how a refused input becomes a dead letter."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from events import (
    AnomalyReport,
    Assignment,
    ContractError,
    DeadLetter,
    InboundEvent,
    ReasonKind,
    encode,
    stable_id,
)
from workflows.effects import Anomaly, Assign


class SourceFields(TypedDict):
    """The fields a dead letter or an anomaly report names its input record by."""

    source_topic: str
    source_partition: int
    source_offset: int


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Where an input record came from: enough to find it again."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None

    def as_source(self) -> SourceFields:
        return SourceFields(
            source_topic=self.topic, source_partition=self.partition, source_offset=self.offset
        )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce: the topic's logical name (``dlq``, ``anomalies``...), key, value."""

    topic: str
    key: bytes | None
    value: bytes
    #: for dead letters: the reason kind (metrics count it without decoding the record)
    reason: str | None = None


#: A dead letter is keyed by its source record's key, unless that key is absurdly long.
DLQ_KEY_MAX_BYTES = 1024


def dead_letter(
    raw: bytes,
    source: Coordinates,
    reason: ReasonKind,
    error: str,
    now: datetime,
    *,
    event_id: str | None = None,
    dossier_id: str | None = None,
) -> Outgoing:
    """``raw`` refused for ``reason``: a bounded DLQ record (``DeadLetter.of``) by coordinates."""
    key = source.key
    letter = DeadLetter.of(
        raw,
        reason=reason,
        error=error,
        **source.as_source(),
        source_key=key,
        dead_lettered_at=now,
        event_id=event_id,
        dossier_id=dossier_id,
    )
    dlq_key = key if key is not None and len(key) <= DLQ_KEY_MAX_BYTES else None
    return Outgoing("dlq", dlq_key, encode(letter), reason.value)


def contract_dead_letter(
    raw: bytes, source: Coordinates, error: ContractError, now: datetime
) -> Outgoing:
    return dead_letter(raw, source, error.kind, str(error), now)


def crash_dead_letter(
    raw: bytes,
    source: Coordinates,
    exc: BaseException,
    now: datetime,
    *,
    event_id: str | None = None,
    dossier_id: str | None = None,
) -> Outgoing:
    """Our own code failed on this record: keep it with a short traceback, do not lose it."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames)
    )
    summary = f"{type(exc).__name__}: {exc} at {where}"
    return dead_letter(
        raw,
        source,
        ReasonKind.PROCESSING_ERROR,
        summary[:4000],
        now,
        event_id=event_id,
        dossier_id=dossier_id,
    )


def key_mismatch(event: InboundEvent, raw: bytes, source: Coordinates, now: datetime) -> Outgoing:
    """The dead letter for an event whose record key is not its ``dossier_id``."""
    key = source.key
    shown = (
        "missing"
        if key is None
        else "empty"
        if not key
        else repr(key[:80].decode("utf-8", "replace"))
    )
    return dead_letter(
        raw,
        source,
        ReasonKind.KEY_MISMATCH,
        f"{event.type}: the record's key is {shown}, not its dossier_id {event.dossier_id!r}; "
        "publish every event with key = dossier_id (UTF-8)",
        now,
        event_id=event.event_id,
        dossier_id=event.dossier_id,
    )


def assignment_record(effect: Assign) -> Outgoing:
    record = Assignment(
        assignment_id=stable_id("assign", effect.dossier_id, effect.step, effect.cause_event_id),
        dossier_id=effect.dossier_id,
        procedure=effect.procedure,
        step=effect.step,
        agency=effect.agency,
        from_agency=effect.from_agency,
        assigned_at=effect.assigned_at,
        step_due_at=effect.step_due_at,
        dossier_due_at=effect.dossier_due_at,
        statutory_due_at=effect.statutory_due_at,
        cause_event_id=effect.cause_event_id,
        off_route=effect.off_route,
    )
    return Outgoing("assignments", effect.dossier_id.encode("utf-8"), encode(record))


def anomaly_record(effect: Anomaly, source: Coordinates, now: datetime) -> Outgoing:
    """An applied-but-flagged event (off-route): reported on the anomalies topic, keyed by
    its dossier, never on the DLQ (that topic means "not applied")."""
    record = AnomalyReport(
        anomaly_id=stable_id("anomaly", effect.dossier_id, effect.event_id, effect.kind.value),
        kind=effect.kind,
        message=effect.message,
        dossier_id=effect.dossier_id,
        event_id=effect.event_id,
        **source.as_source(),
        detected_at=now,
    )
    return Outgoing("anomalies", effect.dossier_id.encode("utf-8"), encode(record))
