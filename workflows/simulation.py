"""Realistic dossier lifecycles generated from the catalog: pure and reproducible by seed.

Used by the demo, the benchmarks and the multi-worker tests. Each dossier walks
its procedure's route; every step takes a random share of its allotment (some
agencies are slow, so some dossiers really end late); some dossiers wait for a
supplement, some are withdrawn. Nothing here reads the clock: ``start`` is given.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from events import (
    Applicant,
    Channel,
    DossierReceived,
    DossierReturned,
    DossierWithdrawn,
    InboundEvent,
    ResultOutcome,
    ResultReady,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from workflows.calendar import WORKING_DAY, WorkingCalendar
from workflows.catalog import Catalog, Procedure
from workflows.deadlines import TimeAllowance, TimeUnit, allowance_working_days


@dataclass(frozen=True)
class Profile:
    """How a province's dossiers behave."""

    online_share: float = 0.785  # Lào Cai 2023: 78.5% of procedures fully online
    supplement_rate: float = 0.12
    withdraw_rate: float = 0.02
    refuse_rate: float = 0.04
    #: Each step takes uniform(low, high) x its allotment; slow agencies get ``slow_factor`` more.
    pace: tuple[float, float] = (0.2, 1.05)
    slow_agencies: Mapping[str, float] = field(default_factory=dict)
    slow_factor: float = 1.6


@dataclass(frozen=True)
class Generated:
    dossier_id: str
    procedure: str
    events: tuple[InboundEvent, ...]


def simulate(
    catalog: Catalog,
    calendar: WorkingCalendar,
    start: datetime,
    count: int,
    *,
    seed: int = 1,
    profile: Profile | None = None,
    procedures: Sequence[str] | None = None,
    id_prefix: str = "000.00.20.H33",
    spread: timedelta = timedelta(days=5),
) -> list[Generated]:
    """``count`` dossiers received over ``spread`` from ``start``, each with its full lifecycle."""
    rng = random.Random(seed)
    prof = profile or Profile()
    codes = list(procedures) if procedures is not None else sorted(catalog.procedures)
    out = []
    for n in range(count):
        code = rng.choice(codes)
        received = calendar.next_opening(start + spread * rng.random())
        proc = catalog.procedure(code, at=received.astimezone(calendar.tz).date())
        if proc is None:
            continue
        dossier_id = f"{id_prefix}-{received.astimezone(calendar.tz):%y%m%d}-{n:05d}"
        out.append(
            Generated(dossier_id, code, _lifecycle(rng, prof, calendar, proc, dossier_id, received))
        )
    return out


def _lifecycle(
    rng: random.Random,
    prof: Profile,
    cal: WorkingCalendar,
    proc: Procedure,
    dossier_id: str,
    received: datetime,
) -> tuple[InboundEvent, ...]:
    seq = 0

    def eid() -> str:
        nonlocal seq
        seq += 1
        return f"{dossier_id}/{seq}"

    channel = (
        Channel.ONLINE
        if rng.random() < prof.online_share
        else rng.choice([Channel.IN_PERSON, Channel.POSTAL])
    )
    events: list[InboundEvent] = [
        DossierReceived(
            event_id=eid(),
            dossier_id=dossier_id,
            occurred_at=received,
            agency=proc.entry.agency,
            procedure=proc.code,
            channel=channel,
            applicant=rng.choice([Applicant.CITIZEN, Applicant.BUSINESS]),
        )
    ]
    at = received
    step = proc.entry
    supplement_at = rng.randrange(len(proc.steps)) if rng.random() < prof.supplement_rate else -1
    withdraw_at = rng.randrange(len(proc.steps)) if rng.random() < prof.withdraw_rate else -1
    for index in range(len(proc.steps) * 2):
        if index == withdraw_at:
            events.append(
                DossierWithdrawn(
                    event_id=eid(),
                    dossier_id=dossier_id,
                    occurred_at=at + timedelta(minutes=7),
                    agency=step.agency,
                    reason="Công dân rút hồ sơ",
                )
            )
            return tuple(events)
        allotted = allowance_working_days(
            cal, at, TimeAllowance(amount=step.allotment, unit=TimeUnit(proc.time_unit))
        )
        low, high = prof.pace
        factor = rng.uniform(low, high) * prof.slow_agencies.get(step.agency, 1.0)
        work = WORKING_DAY * float(max(allotted, Decimal("0.0625"))) * factor
        if index == supplement_at:
            asked = cal.add_working_time(at, work / 2)
            back = cal.add_working_time(asked, WORKING_DAY * rng.uniform(0.5, 3))
            events.append(
                SupplementRequested(
                    event_id=eid(),
                    dossier_id=dossier_id,
                    occurred_at=asked,
                    agency=step.agency,
                    reason="Bổ sung bản sao giấy tờ",
                )
            )
            events.append(
                SupplementReceived(
                    event_id=eid(),
                    dossier_id=dossier_id,
                    occurred_at=back,
                    agency=proc.entry.agency,
                )
            )
            at = cal.add_working_time(back, work / 2)
        else:
            at = cal.add_working_time(at, work)
        outcome = rng.choice(step.outcomes())
        events.append(
            StepCompleted(
                event_id=eid(),
                dossier_id=dossier_id,
                occurred_at=at,
                agency=step.agency,
                step=step.id,
                outcome=outcome,
            )
        )
        next_id = step.next_step(outcome)
        if next_id is None:
            break
        step = proc.step(next_id)
    decision = ResultOutcome.REFUSED if rng.random() < prof.refuse_rate else ResultOutcome.APPROVED
    done = at + timedelta(minutes=5)
    events.append(
        ResultReady(
            event_id=eid(),
            dossier_id=dossier_id,
            occurred_at=done,
            agency=step.agency,
            outcome=decision,
        )
    )
    events.append(
        DossierReturned(
            event_id=eid(),
            dossier_id=dossier_id,
            occurred_at=cal.add_working_time(done, timedelta(hours=2)),
            agency=step.agency,
        )
    )
    return tuple(events)


def interleave(generated: Sequence[Generated]) -> list[InboundEvent]:
    """All events of all dossiers in the order they happen (as agencies would publish them)."""
    merged = [e for g in generated for e in g.events]
    merged.sort(key=lambda e: e.occurred_at)
    return merged
