"""A quick batch of lifecycles for benchmarks and tests: each dossier walks its
procedure's route, every step takes a random share of its allotment, some wait for a
supplement, some are withdrawn."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from events import Applicant, FilingChannel, InboundEvent
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog
from workflows.simulation.arrivals import Receipt
from workflows.simulation.lifecycle import walk
from workflows.simulation.profile import Profile


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
        channel = (
            FilingChannel.ONLINE
            if rng.random() < prof.online_share
            else rng.choice([FilingChannel.IN_PERSON, FilingChannel.POSTAL])
        )
        applicant = rng.choice([Applicant.CITIZEN, Applicant.BUSINESS])
        receipt = Receipt(n, received, proc, channel, applicant)
        events = walk(rng, prof, catalog, calendar, receipt, dossier_id)
        out.append(Generated(dossier_id, code, tuple(events)))
    return out


def interleave(generated: Sequence[Generated]) -> list[InboundEvent]:
    """All events of all dossiers in the order they happen (as agencies would publish them)."""
    merged = [e for g in generated for e in g.events]
    merged.sort(key=lambda e: e.occurred_at)
    return merged
