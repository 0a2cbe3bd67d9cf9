"""Outgoing Kafka records as plain values, and how a refused input becomes a dead letter."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime

from events import ContractError, DeadLetter, ReasonKind, encode


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Where an input record came from: enough to find it again."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce: the topic's logical name (``dlq``, ``assignments``...), key, value."""

    topic: str
    key: bytes | None
    value: bytes
    #: for dead letters: the reason kind (metrics count it without decoding the record)
    reason: str | None = None


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
    key = source.key
    letter = DeadLetter(
        reason=reason,
        error=error,
        original_b64=DeadLetter.wrap(raw),
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        source_key=key.decode("utf-8", "replace") if key is not None else None,
        event_id=event_id,
        dossier_id=dossier_id,
        dead_lettered_at=now,
    )
    return Outgoing("dlq", key, encode(letter), reason.value)


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
