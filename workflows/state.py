"""A dossier's state as the router keeps it: small, immutable, serializable.

Rebuilt only by ``workflows.routing.apply``; the shell loads it, applies an
event and saves the result. Field names are short on the wire (aliases) so a
typical five-step dossier stays well under 2 KB.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events import InboundEvent
from workflows.deadlines import Completion


class Status(StrEnum):
    OPEN = "open"  # being processed, clock running
    PAUSED = "paused"  # waiting for the applicant's supplement, clock stopped
    RESULT_READY = "result_ready"  # processing ended, result not handed over yet
    RETURNED = "returned"  # closed: result handed to the applicant
    WITHDRAWN = "withdrawn"  # closed: applicant withdrew
    REJECTED = "rejected"  # closed: refused at intake or stopped

    @property
    def closed(self) -> bool:
        return self in (Status.RETURNED, Status.WITHDRAWN, Status.REJECTED)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SheetRow(_Frozen):
    """One row of the process control sheet: who had the dossier for which step, and how long."""

    step: str = Field(alias="s")
    agency: str = Field(alias="a")
    from_agency: str | None = Field(None, alias="f")
    started_at: AwareDatetime = Field(alias="t0")
    due_at: AwareDatetime = Field(alias="due")
    allotted_hours: float = Field(alias="h")
    finished_at: AwareDatetime | None = Field(None, alias="t1")
    used_hours: float | None = Field(None, alias="u")
    result: Completion | None = Field(None, alias="r")
    off_route: bool = Field(False, alias="off")


class Pause(_Frozen):
    """A supplement request: the clock stops from ``requested_at`` to ``received_at``."""

    requested_at: AwareDatetime = Field(alias="t0")
    received_at: AwareDatetime | None = Field(None, alias="t1")
    paused_hours: float = Field(0.0, alias="h")


class Outcome(_Frozen):
    """How processing ended (set by ``dossier.result_ready``)."""

    decision: str = Field(alias="d")
    finished_at: AwareDatetime = Field(alias="t")
    completion: Completion = Field(alias="c")
    used_days: float = Field(alias="u")
    saved_days: float = Field(alias="sv")


class DossierState(_Frozen):
    dossier_id: str = Field(alias="id")
    procedure: str = Field(alias="p")
    procedure_version: str = Field(alias="pv", description="effective_from of the catalog version")
    sector: str = Field(alias="sec")
    channel: str = Field(alias="ch")
    status: Status = Field(alias="st")
    received_at: AwareDatetime = Field(alias="rcv")
    start_at: AwareDatetime = Field(alias="t0", description="where the clock started counting")
    committed_due_at: AwareDatetime = Field(alias="due")
    statutory_due_at: AwareDatetime = Field(alias="sdue")
    original_due_at: AwareDatetime = Field(alias="odue", description="before any reschedule")
    rescheduled: bool = Field(False, alias="rs")
    deadline_version: int = Field(0, alias="dv")
    current_step: str | None = Field(None, alias="cs")
    current_agency: str | None = Field(None, alias="ca")
    sheet: tuple[SheetRow, ...] = Field((), alias="sh")
    pauses: tuple[Pause, ...] = Field((), alias="pz")
    outcome: Outcome | None = Field(None, alias="out")
    closed_at: AwareDatetime | None = Field(None, alias="cl")
    anomalies: int = Field(0, alias="an")
    applied: tuple[str, ...] = Field((), alias="ev", description="fingerprints of recent event ids")
    last_event_at: AwareDatetime = Field(alias="last")

    @property
    def paused_hours(self) -> float:
        return sum(p.paused_hours for p in self.pauses)

    @property
    def open_pause(self) -> Pause | None:
        return self.pauses[-1] if self.pauses and self.pauses[-1].received_at is None else None

    @property
    def current_row(self) -> SheetRow | None:
        if self.sheet and self.sheet[-1].finished_at is None:
            return self.sheet[-1]
        return None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_defaults=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> DossierState:
        return cls.model_validate_json(raw)

    def public(self) -> dict[str, object]:
        """Long field names, for the status endpoint and people."""
        return self.model_dump(mode="json", by_alias=False)


class Parked(_Frozen):
    """Events that arrived before their dossier's ``dossier.received``, held in order."""

    dossier_id: str
    first_parked_at: datetime
    events: tuple[InboundEvent, ...]
