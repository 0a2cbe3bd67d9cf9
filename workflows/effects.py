"""What applying an event causes: plain values the shell turns into records and timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from events import ReasonKind


@dataclass(frozen=True, slots=True)
class Assign:
    """Route the dossier to ``agency``'s inbox for ``step``."""

    dossier_id: str
    procedure: str
    step: str
    agency: str
    from_agency: str | None
    assigned_at: datetime
    step_due_at: datetime
    dossier_due_at: datetime
    statutory_due_at: datetime
    cause_event_id: str
    off_route: bool = False


@dataclass(frozen=True, slots=True)
class ArmDeadlines:
    """(Re)arm the watch on this dossier's open deadlines; replaces any earlier arming."""

    dossier_id: str
    deadline_version: int
    step: str | None
    agency: str | None
    step_started_at: datetime | None
    step_due_at: datetime | None
    dossier_due_at: datetime
    statutory_due_at: datetime


@dataclass(frozen=True, slots=True)
class DisarmDeadlines:
    """Stop watching: paused, result ready or closed."""

    dossier_id: str
    why: str


@dataclass(frozen=True, slots=True)
class Completed:
    """Processing ended; the dossier is classified."""

    dossier_id: str
    procedure: str
    sector: str
    completion: str
    used_days: float
    saved_days: float


@dataclass(frozen=True, slots=True)
class Closed:
    """The dossier left the open set (returned, withdrawn, rejected)."""

    dossier_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Accepted and tracked, but not what the route says (e.g. an off-route hand-off)."""

    dossier_id: str
    kind: ReasonKind
    message: str
    event_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The event was not applied; the state is unchanged."""

    dossier_id: str
    kind: ReasonKind
    message: str
    event_id: str


Effect = Assign | ArmDeadlines | DisarmDeadlines | Completed | Closed | Anomaly | Rejected
