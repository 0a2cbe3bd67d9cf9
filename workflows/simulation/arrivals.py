"""Arrivals: how many dossiers reach the desks (or come online) each working day, when,
by which channel and from whom."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from events import Applicant, FilingChannel
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog, Procedure
from workflows.simulation.profile import ProvinceProfile


@dataclass(frozen=True)
class Receipt:
    """One dossier arriving at a desk (or online)."""

    number: int
    at: datetime
    procedure: Procedure
    channel: FilingChannel
    applicant: Applicant


def receipts(
    catalog: Catalog,
    cal: WorkingCalendar,
    first: date,
    last: date,
    *,
    seed: int = 1,
    scale: float = 1.0,
    profile: ProvinceProfile | None = None,
) -> list[Receipt]:
    """Every dossier arriving in ``[first, last]``, in time order, numbered from 1.

    Each working day every procedure in force gets a Poisson number of dossiers, its
    share of the province's daily volume under the weekly rhythm; days off get none.
    """
    prof = profile or ProvinceProfile()
    rng = random.Random(f"{seed}:receipts")
    per_day = prof.per_working_day(scale)
    codes = sorted(catalog.procedures)
    arrivals: list[tuple[datetime, Procedure, FilingChannel, Applicant]] = []
    day = first
    while day <= last:
        if cal.is_working_day(day):
            morning, afternoon = prof.half_day_weights(day)
            in_force = [p for c in codes if (p := catalog.procedure(c, at=day)) is not None]
            total = sum(prof.weight(p) for p in in_force)
            for proc in in_force:
                mean = per_day * (morning + afternoon) * prof.weight(proc) / total
                for _ in range(_poisson(rng, mean)):
                    arrivals.append(
                        _arrival(rng, prof, cal, day, proc, morning / (morning + afternoon))
                    )
        day += timedelta(days=1)
    arrivals.sort(key=lambda a: a[0])
    return [Receipt(n, at, proc, ch, who) for n, (at, proc, ch, who) in enumerate(arrivals, 1)]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation; Knuth's product below needs e^-mean > 0
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _arrival(
    rng: random.Random,
    prof: ProvinceProfile,
    cal: WorkingCalendar,
    day: date,
    proc: Procedure,
    morning_share: float,
) -> tuple[datetime, Procedure, FilingChannel, Applicant]:
    online = proc.online_level != "none" and rng.random() < prof.online_share
    channel = FilingChannel.ONLINE if online else rng.choice(_OFFLINE)
    periods = cal.office_hours.periods
    if online and rng.random() < prof.after_hours_online:
        begin, end = periods[-1][1], time(22, 0)
        offset = rng.uniform(0, _seconds_between(begin, end))
    else:
        begin, end = periods[0] if rng.random() < morning_share else periods[-1]
        length = _seconds_between(begin, end)
        offset = rng.triangular(0, length, min(3600.0, length))  # queues peak early
    at = datetime.combine(day, begin, tzinfo=cal.tz) + timedelta(seconds=offset)
    business = rng.random() < (0.9 if proc.sector in prof.business_sectors else 0.1)
    return at, proc, channel, Applicant.BUSINESS if business else Applicant.CITIZEN


_OFFLINE = (
    FilingChannel.IN_PERSON,
    FilingChannel.IN_PERSON,
    FilingChannel.IN_PERSON,
    FilingChannel.POSTAL,
)


def _seconds_between(begin: time, end: time) -> float:
    day = date(2000, 1, 1)
    return (datetime.combine(day, end) - datetime.combine(day, begin)).total_seconds()
