"""A province's run: the dossiers in progress at its start and those received during it,
each with its events up to the end (apologies included) and what the engine must conclude."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from events import DossierReceived, DossierRescheduled, FilingChannel, InboundEvent, StepCompleted
from workflows.calendar import WORKING_DAY, WorkingCalendar
from workflows.catalog import Catalog
from workflows.simulation.arrivals import Receipt, receipts
from workflows.simulation.lifecycle import walk
from workflows.simulation.oracle import Expectation, expect
from workflows.simulation.profile import ProvinceProfile
from workflows.simulation.window import RunWindow


def _apologise(
    rng: random.Random,
    prof: ProvinceProfile,
    catalog: Catalog,
    cal: WorkingCalendar,
    events: list[InboundEvent],
    guard: timedelta,
) -> list[InboundEvent]:
    """Maybe add an apology (``dossier.rescheduled``) to a dossier that will end late.

    The agency holding the dossier writes it before the due instant, with a new
    appointment after the day processing really ends.
    """
    if rng.random() >= prof.apology_rate:
        return events
    expected = expect(catalog, cal, events)
    if expected.finished_at is None or not expected.spans:
        return events
    last = expected.spans[-1]
    if last.end != expected.finished_at or last.due >= last.end:
        return events  # not late, or late only before a pause
    latest = last.due - max(guard, timedelta(hours=1))
    if latest <= last.begin:
        return events
    candidate = last.begin + (latest - last.begin) * rng.uniform(0.3, 0.95)
    opening = cal.next_opening(candidate)
    at = opening if opening < latest else candidate
    new_due = cal.add_working_time(expected.finished_at, WORKING_DAY * rng.uniform(0.5, 2.0))
    first = events[0]
    assert isinstance(first, DossierReceived)
    apology = DossierRescheduled(
        event_id=f"{first.dossier_id}/apology",
        dossier_id=first.dossier_id,
        occurred_at=at,
        agency=_holder(catalog, cal, events, at),
        new_due_at=new_due,
        reason="Phiếu xin lỗi và hẹn lại ngày trả kết quả",
    )
    position = next(i for i, e in enumerate(events) if e.occurred_at > at)
    return [*events[:position], apology, *events[position:]]


def _holder(
    catalog: Catalog, cal: WorkingCalendar, events: Sequence[InboundEvent], at: datetime
) -> str:
    """The agency a dossier is with at ``at``, following its route."""
    first = events[0]
    assert isinstance(first, DossierReceived)
    proc = catalog.require_procedure(
        first.procedure, at=first.occurred_at.astimezone(cal.tz).date()
    )
    holder = proc.entry.agency
    for event in events:
        if event.occurred_at > at:
            break
        if isinstance(event, StepCompleted):
            next_id = proc.step(event.step).next_step(event.outcome)
            holder = proc.step(next_id).agency if next_id is not None else event.agency
    return holder


# --- a run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedDossier:
    dossier_id: str
    procedure: str
    procedure_version: date
    sector: str
    channel: FilingChannel
    #: the events that happen up to the end of the run, in time order
    events: tuple[InboundEvent, ...]
    expected: Expectation
    #: see ``Expectation.timing_margin``
    margin: timedelta | None
    #: lifecycles drawn until one kept its events clear of its deadlines by the guard
    attempts: int

    @property
    def received_at(self) -> datetime:
        return self.events[0].occurred_at

    def timing_sensitive(self, guard: timedelta) -> bool:
        """An event and a deadline closer than ``guard``: a real-time run may see either first."""
        return self.margin is not None and self.margin < guard

    def truth(self, window: RunWindow) -> dict[str, Any]:
        """The ground truth about this dossier, as JSON-ready values."""
        x = self.expected
        return {
            "dossier_id": self.dossier_id,
            "procedure": self.procedure,
            "procedure_version": self.procedure_version.isoformat(),
            "sector": self.sector,
            "channel": self.channel.value,
            "backlog": self.received_at < window.start,
            "events": [e.model_dump(mode="json", exclude_none=True) for e in self.events],
            "expected": {
                "status": x.status.value,
                "completion": x.completion.value if x.completion is not None else None,
                "finished_at": _iso(x.finished_at),
                "used_days": _num(x.used_days),
                "saved_days": _num(x.saved_days),
                "start_at": _iso(x.start_at),
                "committed_due_at": _iso(x.committed_due_at),
                "original_due_at": _iso(x.original_due_at),
                "overdue": [
                    {"due_at": _iso(due), "detected_from": _iso(seen)}
                    for due, seen in x.overdue_alerts(window)
                ],
                "timing_margin_seconds": (
                    self.margin.total_seconds() if self.margin is not None else None
                ),
            },
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


@dataclass(frozen=True)
class Workload:
    window: RunWindow
    seed: int
    scale: float
    guard: timedelta
    dossiers: tuple[SimulatedDossier, ...]

    def events(self) -> list[InboundEvent]:
        """Every event of the run in the order it happens."""
        merged = [e for d in self.dossiers for e in d.events]
        merged.sort(key=lambda e: e.occurred_at)  # stable: each dossier keeps its order
        return merged

    def backlog_events(self) -> list[InboundEvent]:
        return [e for e in self.events() if e.occurred_at < self.window.start]

    def run_events(self) -> list[InboundEvent]:
        return [e for e in self.events() if e.occurred_at >= self.window.start]


def simulate_province(
    catalog: Catalog,
    cal: WorkingCalendar,
    window: RunWindow,
    *,
    seed: int = 1,
    scale: float = 1.0,
    profile: ProvinceProfile | None = None,
    guard: timedelta = timedelta(0),
    attempts: int = 4,
    id_prefix: str = "000.00.20.H33",
) -> Workload:
    """A province's dossiers over ``window``: the work in progress at its start and every
    dossier received during it, each with its events up to the end and what the engine
    must conclude.

    ``guard`` > 0 redraws a dossier (up to ``attempts`` lifecycles) whose events come
    closer than ``guard`` to one of its own deadlines, so that a run in accelerated
    real time cannot see them in the other order; ``timing_sensitive`` flags the rare
    dossier still too close after the last attempt. Reproducible by ``seed``: each
    dossier draws from its own generator, so ``guard`` changes only the dossiers it
    redraws.
    """
    prof = profile or ProvinceProfile()
    last_day = window.end.astimezone(cal.tz).date()
    first_day = window.backlog_from.astimezone(cal.tz).date()
    out = []
    for receipt in receipts(
        catalog, cal, first_day, last_day, seed=seed, scale=scale, profile=prof
    ):
        if receipt.at > window.end:
            continue
        local = receipt.at.astimezone(cal.tz)
        dossier_id = f"{id_prefix}-{local:%y%m%d}-{receipt.number:05d}"
        dossier = _simulate_dossier(
            catalog, cal, prof, window, receipt, dossier_id, seed, guard, attempts
        )
        if dossier is not None:
            out.append(dossier)
    return Workload(window, seed, scale, guard, tuple(out))


_CLOSING = frozenset({"dossier.returned", "dossier.withdrawn", "dossier.rejected"})


def _simulate_dossier(
    catalog: Catalog,
    cal: WorkingCalendar,
    prof: ProvinceProfile,
    window: RunWindow,
    receipt: Receipt,
    dossier_id: str,
    seed: int,
    guard: timedelta,
    attempts: int,
) -> SimulatedDossier | None:
    for attempt in range(1, max(attempts, 1) + 1):
        rng = random.Random(f"{seed}:{receipt.number}:{attempt}")
        events = walk(rng, prof, catalog, cal, receipt, dossier_id)
        if events[-1].occurred_at < window.start and events[-1].type in _CLOSING:
            return None  # over before the run starts: not part of it
        events = _apologise(rng, prof, catalog, cal, events, guard)
        kept = tuple(e for e in events if e.occurred_at <= window.end)
        expected = expect(catalog, cal, kept)
        if kept[-1].occurred_at < window.start and expected.status.closed:
            return None  # over before the run starts: not part of it
        margin = expected.timing_margin(window)
        if margin is None or margin >= guard or attempt >= attempts:
            proc = receipt.procedure
            return SimulatedDossier(
                dossier_id=dossier_id,
                procedure=proc.code,
                procedure_version=proc.effective_from,
                sector=proc.sector,
                channel=receipt.channel,
                events=kept,
                expected=expected,
                margin=margin,
                attempts=attempt,
            )
    raise AssertionError("unreachable: the last attempt always returns")  # pragma: no cover
