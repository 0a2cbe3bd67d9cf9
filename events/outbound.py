"""Outbound records, wire contract v1: what the engine writes.

Assignments go to agency inboxes, alerts to supervisors, dead letters to the
DLQ. Each record carries a deterministic id so consumers can dedupe: the
engine is at-least-once and a retried send may repeat a record.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from events.errors import ReasonKind
from events.inbound import SCHEMA_VERSION, Code, DossierId


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION


def stable_id(*parts: object) -> str:
    """A short deterministic id over ``parts`` (same parts, same id, on every worker)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


class Assignment(_Record):
    """A dossier routed to an agency's inbox for one step."""

    record: Literal["assignment"] = "assignment"
    assignment_id: str
    dossier_id: DossierId
    procedure: Code
    step: Code
    agency: Code
    from_agency: Code | None = None
    assigned_at: AwareDatetime
    step_due_at: AwareDatetime
    dossier_due_at: AwareDatetime
    statutory_due_at: AwareDatetime | None = None
    cause_event_id: str
    off_route: bool = False


class AlertScope(StrEnum):
    STEP = "step"
    DOSSIER = "dossier"


class AlertLevel(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    STATUTORY_BREACH = "statutory_breach"
    #: the dossier is still overdue, N working days on: told one level higher
    REMINDER = "reminder"
    #: the dossier will probably end late (workflows.prediction): told like due_soon
    PREDICTED_LATE = "predicted_late"


class Recipient(BaseModel):
    """Who an alert is for, as the catalog named them when it fired: ``name`` and ``role``.

    ``email`` and ``webhook`` are deprecated and ignored: the engine no longer writes
    them, and the notifier resolves addresses from the catalog at delivery time, never
    from a record (docs/security.md, "Alert exits"). They stay optional so alerts written
    before the change still decode; an address found there is refused and recorded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: str
    email: str | None = Field(None, description="deprecated, ignored by the notifier")
    webhook: str | None = Field(None, description="deprecated, ignored by the notifier")


def alert_id(
    dossier_id: str,
    scope: AlertScope,
    step: str | None,
    level: AlertLevel,
    deadline_version: int,
    reminder: int = 0,
) -> str:
    """The id every worker derives for the same alert, so re-detection dedupes; the n-th
    reminder has its own (``reminder`` = n; 0 for every other level, ids unchanged)."""
    parts = ("alert", dossier_id, scope.value, step, level.value, deadline_version)
    return stable_id(*parts, reminder) if reminder else stable_id(*parts)


class Alert(_Record):
    """A dossier or step that is due soon, overdue, or past the statutory time."""

    record: Literal["alert"] = "alert"
    alert_id: str
    dossier_id: DossierId
    procedure: Code
    procedure_name: str | None = None
    scope: AlertScope
    level: AlertLevel
    agency: Code
    step: Code | None = None
    due_at: AwareDatetime
    detected_at: AwareDatetime
    deadline_version: int = 0
    #: for ``reminder`` alerts: which one (1, 2, ...) since the dossier became overdue
    reminder: int = Field(0, ge=0)
    recipients: tuple[Recipient, ...] = ()
    #: ``predicted_late`` only: P(late), the likely finish, and the agency of the step
    #: expected to be the bottleneck (``step``). Left out of the JSON when None, so the
    #: other levels' records are byte for byte what they were.
    probability_late: float | None = Field(None, ge=0, le=1)
    predicted_finish_at: AwareDatetime | None = None
    bottleneck_agency: Code | None = None

    @model_serializer(mode="wrap")
    def _leave_out_unset_prediction(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in _PREDICTION_FIELDS:
                if data.get(name, 0) is None:
                    del data[name]
        return data


_PREDICTION_FIELDS = ("probability_late", "predicted_finish_at", "bottleneck_agency")


class AnomalyReport(_Record):
    """On ``dossier-events-anomalies``: an event that WAS applied and tracked, but not as
    the route says (an off-route hand-off). Not a dead letter: nothing is missing."""

    record: Literal["anomaly"] = "anomaly"
    anomaly_id: str = Field(description="stable over re-deliveries: one per (event, kind)")
    kind: ReasonKind
    message: str
    dossier_id: DossierId
    event_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    detected_at: AwareDatetime


class AlertDeliveryFailed(_Record):
    """On ``dossier-alerts-failed``: an alert the notifier gave up delivering to one target,
    or refused to send there (``attempts`` 0: an address not from the catalog, a host not
    allowed, a bad header); an alert whose agency the catalog does not know (``channel``
    and ``target`` None); or a record on the alerts topic that is not a v1 alert (``alert``
    and the target fields None; ``original_b64`` keeps its bytes). ``alert`` is the alert
    whole, its record's webhook URLs masked."""

    record: Literal["alert_delivery_failed"] = "alert_delivery_failed"
    alert_id: str | None
    channel: Literal["webhook", "email"] | None
    target: str | None = Field(
        description=(
            "the e-mail address, or the webhook URL masked to scheme://host:port/… "
            "(URLs carry tokens), tried or refused"
        )
    )
    recipient: str | None
    attempts: int = Field(ge=0)
    error: str
    failed_at: AwareDatetime
    alert: Alert | None
    original_b64: str | None = None


#: A dead letter keeps the whole original up to this size, else only its first
#: ``EXCERPT_BYTES``: base64 makes 4 bytes of 3, and the record must stay far below the
#: producer's and the broker's 1 MB limit whatever it wraps (docs/routing.md, "Bounds").
WHOLE_ORIGINAL_MAX = 256 * 1024
EXCERPT_BYTES = 4 * 1024
#: The error text and the source key shown are cut to these many characters.
ERROR_MAX_CHARS = 4000
KEY_MAX_CHARS = 256
#: What a dead letter built by ``DeadLetter.of`` can take, encoded, at most (with room
#: to spare: tests/unit/test_dead_letter_bounds.py builds the worst case).
DEAD_LETTER_MAX_BYTES = 512 * 1024


class DeadLetter(_Record):
    """A record the engine could not or would not apply, kept with where it came from.

    Build it with ``of``: that keeps it bounded. ``original_b64`` is the whole original
    value, or only its first ``EXCERPT_BYTES`` when ``original_truncated``; either way
    ``original_size`` and ``original_sha256`` describe the whole original.
    """

    record: Literal["dead_letter"] = "dead_letter"
    reason: ReasonKind
    error: str
    original_b64: str = Field(description="the original record value (or its excerpt), base64")
    original_truncated: bool = False
    original_size: int | None = Field(None, description="bytes of the whole original value")
    original_sha256: str | None = Field(None, description="hex SHA-256 of the whole original")
    source_topic: str
    source_partition: int
    source_offset: int
    source_key: str | None = None
    event_id: str | None = None
    dossier_id: str | None = None
    dead_lettered_at: AwareDatetime

    @classmethod
    def of(
        cls,
        raw: bytes,
        *,
        reason: ReasonKind,
        error: str,
        source_topic: str,
        source_partition: int,
        source_offset: int,
        source_key: bytes | None,
        dead_lettered_at: datetime,
        event_id: str | None = None,
        dossier_id: str | None = None,
    ) -> DeadLetter:
        """A dead letter for ``raw`` that fits the broker however large ``raw`` and the
        error are: an excerpt past ``WHOLE_ORIGINAL_MAX``, the error and key cut short."""
        truncated = len(raw) > WHOLE_ORIGINAL_MAX
        kept = raw[:EXCERPT_BYTES] if truncated else raw
        if len(error) > ERROR_MAX_CHARS:
            error = error[: ERROR_MAX_CHARS - 24] + f" ... ({len(error)} chars)"
        key = source_key.decode("utf-8", "replace") if source_key is not None else None
        if key is not None and len(key) > KEY_MAX_CHARS:
            key = key[:KEY_MAX_CHARS]
        return cls(
            reason=reason,
            error=error,
            original_b64=cls.wrap(kept),
            original_truncated=truncated,
            original_size=len(raw),
            original_sha256=hashlib.sha256(raw).hexdigest(),
            source_topic=source_topic[:KEY_MAX_CHARS],
            source_partition=source_partition,
            source_offset=source_offset,
            source_key=key,
            event_id=None if event_id is None else event_id[:KEY_MAX_CHARS],
            dossier_id=None if dossier_id is None else dossier_id[:KEY_MAX_CHARS],
            dead_lettered_at=dead_lettered_at,
        )

    @property
    def original(self) -> bytes:
        """The original value's bytes: all of them unless ``original_truncated``."""
        return base64.b64decode(self.original_b64)

    @staticmethod
    def wrap(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")
