"""A dossier's state as the router keeps it: small, immutable, serializable.

Rebuilt only by ``workflows.routing.apply``; the shell loads it, applies an
event and saves the result. ``DossierState`` *is* the process control sheet
(phiếu kiểm soát quá trình): one ``SheetRow`` per step taken, plus the pause
intervals and, once processing ends, the ``ProcessingResult``.

On the wire (``to_bytes``) field names are short aliases, defaults are left
out and every instant is epoch seconds, a JSON number such as
``1772414112.345678``: exact to the microsecond over the working calendar's
range, and parsed by pydantic-core rather than Python. A typical five-step
dossier takes about 1.3 KB (tests/unit/test_state_size.py, docs/routing.md).

In Python every instant is an aware datetime: UTC after ``from_bytes``, the
event's or the calendar's zone when freshly computed. Compare instants, never
wall-clock fields; convert with ``astimezone(calendar.tz)`` for dates.
``public()`` shows long names and ISO 8601 in Asia/Ho_Chi_Minh, for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from workflows.calendar import VN_TZ
from workflows.deadlines import Completion

__all__ = ["DossierState", "Pause", "ProcessingResult", "SheetRow", "Status"]


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


_new = object.__new__
_setattr = object.__setattr__
#: each model's fields and their defaults, for ``_Frozen.trusted``
_TEMPLATES: dict[type[BaseModel], dict[str, Any]] = {}


class _Frozen(BaseModel):
    # Epoch seconds on the wire: 18 bytes an instant instead of 34 for ISO 8601 with
    # microseconds, still exact (float64 keeps the microsecond until 2106; the working
    # calendar ends in 2100), and converted in pydantic-core, not in Python.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        ser_json_temporal="seconds",
        val_temporal_unit="seconds",
    )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """``BaseModel.model_copy``, with the same result: the fields copied, ``update``
        applied without validation, its keys added to the fields set.

        Every transition copies the state and a row or two, so this is the routing core's
        hottest call; pydantic's generic one (``__copy__``, ``copy.copy`` of each of
        ``__dict__``, extra and fields set, private attributes) took ~20% of a replay.
        These models have neither extra fields (``extra="forbid"``) nor private
        attributes, so a shallow copy is the ``__dict__`` and the fields set.
        """
        if deep:
            return super().model_copy(update=update, deep=True)
        copied = _new(type(self))
        fields_set = self.__pydantic_fields_set__
        if update:
            _setattr(copied, "__dict__", {**self.__dict__, **update})
            if not fields_set.issuperset(update):
                fields_set = fields_set | update.keys()
        else:
            _setattr(copied, "__dict__", self.__dict__.copy())
        # Shared between copies while equal: pydantic never changes a fields set in place
        # (its model_copy makes a new one), and frozen models have no __setattr__.
        _setattr(copied, "__pydantic_fields_set__", fields_set)
        _setattr(copied, "__pydantic_extra__", None)
        _setattr(copied, "__pydantic_private__", None)
        return copied

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """The model of ``values`` that are valid already, without validating them again;
        fields left out take their defaults. For the routing rules, which build rows and
        states from validated events, the catalog and the calendar, several times an event
        (validation was ~10% of a replay). tests/unit/test_state_trusted.py re-validates
        what they build."""
        template = _TEMPLATES.get(cls)
        if template is None:
            # Every field in declaration order (as validation fills ``__dict__``), with its
            # default; a required one left out stays undefined and fails to serialize.
            template = _TEMPLATES[cls] = {
                name: info.default for name, info in cls.model_fields.items()
            }
        built = _new(cls)
        _setattr(built, "__dict__", {**template, **values})
        _setattr(built, "__pydantic_fields_set__", set(values))
        _setattr(built, "__pydantic_extra__", None)
        _setattr(built, "__pydantic_private__", None)
        return built


class SheetRow(_Frozen):
    """One row of the process control sheet: who had the dossier for which step, and how long.

    ``started_at`` is when the agency got the dossier; the step's clock starts at
    the later of that and the dossier's counting start (a same-day dossier
    received after the cut-off is counted from the next working day, and so are
    its first steps). ``used_hours`` is working time, pauses excluded. A step
    cut short by withdrawal or rejection has ``used_hours`` but no ``result``.

    ``sent_by`` is the publisher whose event opened the row (received it, handed it
    over): the verified principal, not the agency the event claims; None when not known
    (states stored before issue 12, a deployment without signatures). The event that
    closes a row opens the next, so the next row's ``sent_by`` says who closed it; the
    last row, closed by the result, a withdrawal or a rejection, says it in ``finished_by``.
    """

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
    sent_by: str | None = Field(None, alias="by")
    finished_by: str | None = Field(None, alias="by1")
    #: when the agency took the dossier up (``step.started``): the inbox wait ends and the
    #: work begins; None when not reported (docs/attribution.md, "Waiting and working")
    taken_up_at: AwareDatetime | None = Field(None, alias="tk")


class Pause(_Frozen):
    """A supplement request: the clock stops from ``requested_at`` to ``received_at``."""

    requested_at: AwareDatetime = Field(alias="t0")
    received_at: AwareDatetime | None = Field(None, alias="t1")
    paused_hours: float = Field(0.0, alias="h")


class ProcessingResult(_Frozen):
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
    rescheduled_at: AwareDatetime | None = Field(
        None, alias="rs", description="the apology, if any"
    )
    deadline_version: int = Field(0, alias="dv")
    current_step: str | None = Field(None, alias="cs")
    current_agency: str | None = Field(None, alias="ca")
    sheet: tuple[SheetRow, ...] = Field((), alias="sh")
    pauses: tuple[Pause, ...] = Field((), alias="pz")
    outcome: ProcessingResult | None = Field(None, alias="out")
    closed_at: AwareDatetime | None = Field(None, alias="cl")
    anomalies: int = Field(0, alias="an")
    applied: tuple[str, ...] = Field((), alias="ev", description="fingerprints of recent event ids")
    last_event_at: AwareDatetime = Field(alias="last")
    alerted: tuple[str, ...] = Field((), alias="al", description="alerts raised (workflows.alerts)")
    # A cache stored with the state, never read by ``apply`` and not part of ``public()``:
    # the next alert watch instant of exactly this state (None: nothing left to watch),
    # computed under the calendar and alert policy that ``watch_key`` names. A restarted
    # worker rebuilds its deadline index from it instead of recomputing every dossier
    # (workflows.alerts.stamp_watch / stamped_watch; docs/alerts.md).
    watch_at: AwareDatetime | None = Field(None, alias="w")
    watch_key: str | None = Field(None, alias="wk")
    # The receipt's lookup code, salted and hashed (workflows.reads.lookup_digest): the
    # citizen's key to the public view. Never the code itself, never in ``public()``.
    lookup_hash: str | None = Field(None, alias="lk")

    @property
    def rescheduled(self) -> bool:
        return self.rescheduled_at is not None

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

    def clock_start(self, row: SheetRow) -> datetime:
        """Where ``row``'s step clock starts: never before the dossier's own counting start.

        Use it, not ``row.started_at``, to measure a step's elapsed working time: a
        same-day dossier received after the cut-off is handed on before its clock runs.
        """
        return max(row.started_at, self.start_at)

    def to_bytes(self) -> bytes:
        """The compact wire form: short names, epoch seconds, defaults left out."""
        return self.model_dump_json(by_alias=True, exclude_defaults=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> DossierState:
        return cls.model_validate_json(raw)

    def public(self) -> dict[str, object]:
        """Long field names and ISO 8601 local times, for the status endpoint and people."""
        fields = self.model_dump(exclude=_NOT_SHOWN)
        return {name: _readable(value) for name, value in fields.items()}


#: Fields of DossierState that ``public()`` leaves out: caches, not the dossier's state,
#: and the lookup hash (a secret's digest is still no one's business).
_NOT_SHOWN = {"watch_at", "watch_key", "lookup_hash"}


def _readable(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(VN_TZ).isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_readable(v) for v in value]
    return value
