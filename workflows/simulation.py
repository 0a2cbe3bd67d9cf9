"""Realistic dossier lifecycles generated from the catalog: pure and reproducible by seed.

Two levels. ``simulate`` gives a quick batch of lifecycles for benchmarks and tests:
each dossier walks its procedure's route, every step takes a random share of its
allotment, some wait for a supplement, some are withdrawn.

``simulate_province`` simulates a province over a run window (``run_window``): how
many dossiers arrive each working day (``ProvinceProfile``: about 80,000 a quarter
at scale 1, a weekly rhythm with Monday busiest and Friday afternoon quiet, nothing
on days off, 78.5% online), how each agency paces its steps (some are slow, so
dossiers really go overdue), supplement requests, withdrawals, refusals, apologies.
For every dossier it also derives, with ``expect``, what the engine must conclude:
its final status, early / on time / late, working days used and saved, and which
overdue alerts a clock running over the window raises. ``expect`` uses the deadline
primitives of ``workflows.deadlines``, never the router, so the two can be checked
against each other.

Nothing here reads the clock: the window is given.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from events import (
    Applicant,
    Channel,
    DossierReceived,
    DossierRejected,
    DossierRescheduled,
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
from workflows.deadlines import (
    DAYS_QUANTUM,
    Completion,
    TimeAllowance,
    TimeUnit,
    allowance_working_days,
    classify,
    counting_start,
    due_instant,
    extend_for_pause,
    working_days_used,
)
from workflows.state import Status

_US = timedelta(microseconds=1)


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


# --- a province over time ---------------------------------------------------------------
#
# The functions above give a quick batch of lifecycles. Those below simulate a province:
# how many dossiers arrive each working day (weekly rhythm, a volume per procedure), how
# each agency paces its steps, and what the engine must conclude about every dossier.


@dataclass(frozen=True)
class Pace:
    """How long something takes as a log-normal factor: ``median`` x e^N(0, spread)."""

    median: float
    spread: float = 0.35

    def draw(self, rng: random.Random) -> float:
        return self.median * math.exp(rng.gauss(0.0, self.spread))


#: Dossiers per working day of each sample procedure, relative to each other: birth,
#: marriage and death registration and copy certification dominate a commune's desk;
#: environmental impact assessments are rare. Codes not listed weigh by level below.
DEFAULT_PROCEDURE_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "1.000656": 14.0,  # birth registration
        "1.000894": 10.0,  # marriage registration
        "1.001193": 5.0,  # death registration
        "2.000815": 16.0,  # copy certification (same day)
        "2.001016": 4.0,
        "3.000333": 6.0,  # judicial record certificate
        "1.013992": 6.0,  # land registration change
        "1.013823": 1.5,
        "1.013967": 0.6,  # land dispute (45 -> 31 days)
        "1.001612": 4.0,  # household business registration
        "2.001610": 3.0,  # enterprise registration
        "2.002043": 2.5,
        "1.005280": 0.5,
        "1.013225": 3.0,  # construction licence (15 -> 10 days)
        "1.013233": 0.6,
        "1.013236": 0.5,
        "1.012906": 1.0,
        "1.001662": 0.5,
        "1.010727": 0.3,
        "1.010729": 0.3,
        "1.010733": 0.3,  # environmental impact assessment (45 -> 31 days)
        "2.002349": 0.15,
        "3.000527": 0.3,
        "SAMPLE-BC-01": 0.2,
        "SAMPLE-BTXH-01": 1.0,
        "SAMPLE-LD-01": 1.5,
        "SAMPLE-XB-01": 0.3,
    }
)

#: Relative volume of a procedure the weights above do not name, by authority level.
DEFAULT_LEVEL_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"commune": 1.5, "department": 0.6, "province": 0.3}
)

#: (morning, afternoon) arrivals, Monday to Sunday, relative to an average weekday: the
#: week starts busy and tails off; Friday afternoon is quiet. A make-up Saturday gets
#: the Saturday figures; a day off gets nothing whatever its weekday.
DEFAULT_HALF_DAYS: tuple[tuple[float, float], ...] = (
    (0.78, 0.55),
    (0.64, 0.46),
    (0.61, 0.43),
    (0.58, 0.41),
    (0.62, 0.18),
    (0.45, 0.25),
    (0.45, 0.25),
)

#: How each kind of agency paces a step, as a share of the step's allotment.
DEFAULT_LEVEL_PACE: Mapping[str, Pace] = MappingProxyType(
    {
        "service_centre": Pace(0.3, 0.5),
        "commune": Pace(0.55, 0.4),
        "department": Pace(0.6, 0.35),
        "province": Pace(0.7, 0.3),
    }
)

#: The slow ones: their median step nearly uses the whole allotment, so a good share of
#: their dossiers really go overdue.
DEFAULT_AGENCY_PACE: Mapping[str, Pace] = MappingProxyType(
    {
        "SNNMT": Pace(0.97, 0.3),
        "VPDKDD": Pace(0.95, 0.35),
        "SAPA": Pace(0.9, 0.4),
    }
)


@dataclass(frozen=True)
class ProvinceProfile:
    """How a province's dossiers arrive and behave (defaults: a province like Lào Cai)."""

    #: Lào Cai, first quarter of 2023: more than 80,000 dossiers.
    dossiers_per_quarter: float = 80_000
    working_days_per_quarter: float = 62
    half_days: tuple[tuple[float, float], ...] = DEFAULT_HALF_DAYS
    procedure_weights: Mapping[str, float] = field(
        default_factory=lambda: DEFAULT_PROCEDURE_WEIGHTS
    )
    level_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_LEVEL_WEIGHTS)
    #: Lào Cai 2023: 78.5% of procedures fully online; no online filing where a
    #: procedure offers none.
    online_share: float = 0.785
    #: Online dossiers filed after the close of a working day (counted from the next opening).
    after_hours_online: float = 0.1
    business_sectors: frozenset[str] = frozenset(
        {"business-registration", "household-business", "cooperatives", "real-estate"}
    )
    intake_reject_rate: float = 0.01
    supplement_rate: float = 0.1
    #: Working days an applicant takes to bring a supplement.
    supplement_days: Pace = Pace(1.5, 0.6)
    #: Share of supplement requests never answered: the desk stops the dossier.
    abandon_rate: float = 0.1
    abandon_days: float = 10.0
    withdraw_rate: float = 0.015
    refuse_rate: float = 0.03
    #: Share of dossiers leaving a branching step by another outcome than ``ok``.
    branch_rate: float = 0.25
    #: Share of dossiers running late whose agency sends an apology with a new date.
    apology_rate: float = 0.4
    level_pace: Mapping[str, Pace] = field(default_factory=lambda: DEFAULT_LEVEL_PACE)
    agency_pace: Mapping[str, Pace] = field(default_factory=lambda: DEFAULT_AGENCY_PACE)
    default_pace: Pace = Pace(0.6, 0.35)
    #: Some dossiers are harder than others: one factor on every step of a dossier.
    dossier_spread: float = 0.2
    #: Working time of a step whose allotment is 0 (a same-day procedure), before pace.
    same_day_step: timedelta = timedelta(minutes=45)
    #: Working days until an applicant collects a paper result.
    pickup_days: Pace = Pace(0.5, 0.8)

    def per_working_day(self, scale: float) -> float:
        return self.dossiers_per_quarter * scale / self.working_days_per_quarter

    def half_day_weights(self, day: date) -> tuple[float, float]:
        """(morning, afternoon) arrivals on ``day`` relative to an average Monday-Friday day."""
        mean = sum(m + a for m, a in self.half_days[:5]) / 5
        morning, afternoon = self.half_days[day.weekday()]
        return morning / mean, afternoon / mean

    def weight(self, proc: Procedure) -> float:
        found = self.procedure_weights.get(proc.code)
        return found if found is not None else self.level_weights.get(proc.level, 1.0)

    def pace(self, catalog: Catalog, agency: str) -> Pace:
        found = self.agency_pace.get(agency)
        if found is not None:
            return found
        known = catalog.agencies.get(agency)
        if known is None:
            return self.default_pace
        return self.level_pace.get(known.level, self.default_pace)


@dataclass(frozen=True)
class RunWindow:
    """The simulated period a run covers, ``start`` to ``end``.

    Dossiers received in ``[backlog_from, start)`` and still open at ``start`` are the
    work in progress the run begins with; their earlier events are published before
    the clock starts.
    """

    start: datetime
    end: datetime
    backlog_from: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def run_window(
    cal: WorkingCalendar, first_day: date, working_days: int, backlog_days: int = 0
) -> RunWindow:
    """``working_days`` working days from ``first_day`` (or the next working day).

    Starts half an hour before the first opening and ends at the close of the last
    day; the backlog starts ``backlog_days`` working days earlier.
    """
    if working_days < 1:
        raise ValueError(f"working_days={working_days}: a run needs at least one working day")
    if backlog_days < 0:
        raise ValueError(f"backlog_days={backlog_days} is negative")
    opening = cal.office_hours.opening
    first = cal.working_day_on_or_after(first_day)
    last = first
    for _ in range(working_days - 1):
        last = cal.next_working_day(last)
    earliest = first
    for _ in range(backlog_days):
        earliest -= timedelta(days=1)
        while not cal.is_working_day(earliest):
            earliest -= timedelta(days=1)
    start = datetime.combine(first, opening, tzinfo=cal.tz) - timedelta(minutes=30)
    end = cal.end_of_working_day(datetime.combine(last, opening, tzinfo=cal.tz))
    return RunWindow(start, end, datetime.combine(earliest, time(0), tzinfo=cal.tz))


@dataclass(frozen=True)
class OpenSpan:
    """A stretch in which the dossier's clock ran (status open) under one committed due."""

    begin: datetime
    end: datetime | None  # the event that paused, rescheduled or ended it; None: still open
    due: datetime


@dataclass(frozen=True)
class Expectation:
    """What the engine must conclude from a dossier's events, derived without the router.

    Computed from the catalog and the calendar with the deadline primitives of
    ``workflows.deadlines``, under the default routing policy (a second supplement
    request makes a dossier late; an apology moves the appointment, not the yardstick).
    """

    status: Status
    start_at: datetime
    committed_due_at: datetime
    original_due_at: datetime
    statutory_due_at: datetime
    completion: Completion | None = None
    finished_at: datetime | None = None
    used_days: Decimal | None = None
    saved_days: Decimal | None = None
    spans: tuple[OpenSpan, ...] = ()

    def overdue_alerts(self, window: RunWindow) -> tuple[tuple[datetime, datetime], ...]:
        """(committed due, instant it is detected) of every dossier-scope ``overdue`` alert.

        The engine's clock shows ``window.start`` to ``window.end`` (and stops there);
        the backlog is loaded before it starts. An open span alerts when the clock
        passes its due before the span ends: at the latest of the span's begin, the
        start and the due.
        """
        out = []
        for span in self.spans:
            seen = max(span.begin, window.start, span.due)
            if seen <= window.end and (span.end is None or seen < span.end):
                out.append((span.due, seen))
        return tuple(out)

    def timing_margin(self, window: RunWindow) -> timedelta | None:
        """Simulated time between each span's end and the instant its due is detected.

        The smallest such gap is what the demo's real-time run must resolve: an event
        and a deadline that close may be seen in either order. ``None``: no such pair.
        """
        gaps = []
        for span in self.spans:
            if span.end is None or span.end < window.start:
                continue
            seen = max(span.begin, window.start, span.due)
            if seen <= window.end:
                gaps.append(abs(span.end - seen))
        return min(gaps, default=None)


@functools.lru_cache(maxsize=4096)
def _allowance_of(amount: Decimal, unit: str) -> TimeAllowance:
    return TimeAllowance(amount=amount, unit=TimeUnit(unit))


def _allowance(proc: Procedure, amount: Decimal) -> TimeAllowance:
    return _allowance_of(amount, proc.time_unit)


def _days(worked: timedelta) -> Decimal:
    """Working time in working days, rounded as ``workflows.deadlines`` rounds them."""
    return (Decimal(worked // _US) / Decimal(WORKING_DAY // _US)).quantize(DAYS_QUANTUM)


def expect(catalog: Catalog, cal: WorkingCalendar, events: Sequence[InboundEvent]) -> Expectation:
    """The engine's expected conclusions about one dossier's ``events`` (in time order).

    The first event must be its ``dossier.received``; the procedure version is the
    one in force on the day of receipt.
    """
    if not events or not isinstance(events[0], DossierReceived):
        raise ValueError("a dossier's events start with its dossier.received")
    received = events[0]
    proc = catalog.procedure(received.procedure, at=received.occurred_at.astimezone(cal.tz).date())
    if proc is None:
        raise ValueError(
            f"procedure {received.procedure} is not in force at {received.occurred_at}"
        )
    start = counting_start(cal, received.occurred_at, proc.same_day_cutoff)
    committed = due_instant(cal, start, _allowance(proc, proc.committed_time))
    statutory = due_instant(cal, start, _allowance(proc, proc.statutory_time))
    original = committed
    status = Status.OPEN
    spans: list[OpenSpan] = []
    open_since: datetime | None = received.occurred_at
    paused_since: datetime | None = None
    pauses: list[tuple[datetime, datetime]] = []
    rescheduled_at: datetime | None = None
    completion: Completion | None = None
    finished_at: datetime | None = None
    used_days: Decimal | None = None
    saved_days: Decimal | None = None

    def close_span(at: datetime) -> None:
        nonlocal open_since
        if open_since is not None:
            spans.append(OpenSpan(open_since, at, committed))
            open_since = None

    def resume(at: datetime) -> None:
        nonlocal committed, original, statutory, paused_since
        assert paused_since is not None
        begin, end = paused_since, max(at, paused_since)
        since = max(begin, rescheduled_at or begin)
        committed = extend_for_pause(cal, committed, min(since, end), end)
        original = extend_for_pause(cal, original, begin, end)
        statutory = extend_for_pause(cal, statutory, begin, end)
        pauses.append((begin, end))
        paused_since = None

    for event in events[1:]:
        at = event.occurred_at
        if status.closed:
            break
        match event:
            case SupplementRequested() if status is Status.OPEN:
                close_span(at)
                paused_since, status = at, Status.PAUSED
            case SupplementReceived() if status is Status.PAUSED:
                resume(at)
                status, open_since = Status.OPEN, at
            case DossierRescheduled() if status in (Status.OPEN, Status.PAUSED):
                close_span(at)
                committed, rescheduled_at = event.new_due_at, at
                if status is Status.OPEN:
                    open_since = at
            case ResultReady() if status in (Status.OPEN, Status.PAUSED):
                close_span(at)
                if status is Status.PAUSED:
                    resume(at)
                used = working_days_used(cal, start, at, pauses)
                statutory_span = cal.working_time_between(
                    start, due_instant(cal, start, _allowance(proc, proc.statutory_time))
                )
                completion = classify(cal, at, original)
                if len(pauses) >= 2:
                    completion = Completion.LATE
                finished_at, used_days = at, used
                saved_days = _days(statutory_span) - used
                status = Status.RESULT_READY
            case DossierReturned() if status is Status.RESULT_READY:
                status = Status.RETURNED
            case DossierWithdrawn():
                close_span(at)
                status = Status.WITHDRAWN
            case DossierRejected():
                close_span(at)
                status = Status.REJECTED
            case _:
                pass  # a step moves the dossier on; its own deadlines are not tracked here
    if open_since is not None:
        spans.append(OpenSpan(open_since, None, committed))
    return Expectation(
        status=status,
        start_at=start,
        committed_due_at=committed,
        original_due_at=original,
        statutory_due_at=statutory,
        completion=completion,
        finished_at=finished_at,
        used_days=used_days,
        saved_days=saved_days,
        spans=tuple(spans),
    )


# --- arrivals and lifecycles -----------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """One dossier arriving at a desk (or online)."""

    number: int
    at: datetime
    procedure: Procedure
    channel: Channel
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
    arrivals: list[tuple[datetime, Procedure, Channel, Applicant]] = []
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
) -> tuple[datetime, Procedure, Channel, Applicant]:
    online = proc.online_level != "none" and rng.random() < prof.online_share
    channel = Channel.ONLINE if online else rng.choice(_OFFLINE)
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


_OFFLINE = (Channel.IN_PERSON, Channel.IN_PERSON, Channel.IN_PERSON, Channel.POSTAL)


def _seconds_between(begin: time, end: time) -> float:
    day = date(2000, 1, 1)
    return (datetime.combine(day, end) - datetime.combine(day, begin)).total_seconds()


def _province_lifecycle(
    rng: random.Random,
    prof: ProvinceProfile,
    catalog: Catalog,
    cal: WorkingCalendar,
    receipt: Receipt,
    dossier_id: str,
) -> list[InboundEvent]:
    proc = receipt.procedure
    seq = itertools.count(1)

    def eid() -> str:
        return f"{dossier_id}/{next(seq)}"

    desk = proc.entry.agency
    received = receipt.at
    events: list[InboundEvent] = [
        DossierReceived(
            event_id=eid(),
            dossier_id=dossier_id,
            occurred_at=received,
            agency=desk,
            procedure=proc.code,
            channel=receipt.channel,
            applicant=receipt.applicant,
        )
    ]
    if rng.random() < prof.intake_reject_rate:
        at = cal.add_working_time(received, timedelta(minutes=rng.uniform(10, 90)))
        events.append(
            DossierRejected(
                event_id=eid(),
                dossier_id=dossier_id,
                occurred_at=at,
                agency=desk,
                reason="Hồ sơ không đủ điều kiện tiếp nhận",
            )
        )
        return events
    difficulty = math.exp(rng.gauss(0.0, prof.dossier_spread))
    n = len(proc.steps)
    supplement_at = rng.randrange(max(1, n - 1)) if rng.random() < prof.supplement_rate else -1
    withdraw_at = rng.randrange(1, n + 1) if rng.random() < prof.withdraw_rate else -1
    at = received
    step = proc.entry
    for index in range(2 * n):  # routes are acyclic: this bound is never reached
        if index == withdraw_at:
            at = cal.add_working_time(at, timedelta(minutes=rng.uniform(5, 240)))
            events.append(
                DossierWithdrawn(
                    event_id=eid(),
                    dossier_id=dossier_id,
                    occurred_at=at,
                    agency=desk,
                    reason="Công dân rút hồ sơ",
                )
            )
            return events
        allotted = allowance_working_days(cal, at, _allowance(proc, step.allotment))
        base = WORKING_DAY * float(allotted) if allotted > 0 else prof.same_day_step
        pace = prof.pace(catalog, step.agency).draw(rng)
        work = max(base * pace * difficulty, timedelta(minutes=3))
        if index == supplement_at:
            share = rng.uniform(0.2, 0.8)
            asked = cal.add_working_time(at, work * share)
            events.append(
                SupplementRequested(
                    event_id=eid(),
                    dossier_id=dossier_id,
                    occurred_at=asked,
                    agency=step.agency,
                    reason="Bổ sung bản sao giấy tờ",
                )
            )
            if rng.random() < prof.abandon_rate:
                stopped = cal.add_working_time(asked, WORKING_DAY * prof.abandon_days)
                events.append(
                    DossierRejected(
                        event_id=eid(),
                        dossier_id=dossier_id,
                        occurred_at=stopped,
                        agency=desk,
                        reason="Quá hạn bổ sung hồ sơ, dừng giải quyết",
                    )
                )
                return events
            back = cal.add_working_time(asked, WORKING_DAY * prof.supplement_days.draw(rng))
            events.append(
                SupplementReceived(
                    event_id=eid(), dossier_id=dossier_id, occurred_at=back, agency=desk
                )
            )
            at = cal.add_working_time(back, work * (1 - share))
        else:
            at = cal.add_working_time(at, work)
        outcome = _outcome(rng, prof, step.outcomes())
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
    done = at + timedelta(minutes=rng.randint(1, 10))
    refused = rng.random() < prof.refuse_rate
    events.append(
        ResultReady(
            event_id=eid(),
            dossier_id=dossier_id,
            occurred_at=done,
            agency=step.agency,
            outcome=ResultOutcome.REFUSED if refused else ResultOutcome.APPROVED,
        )
    )
    if receipt.channel is Channel.ONLINE:  # the result goes back electronically
        handed = done + timedelta(minutes=rng.randint(5, 60))
    else:
        handed = cal.add_working_time(done, WORKING_DAY * prof.pickup_days.draw(rng))
    events.append(
        DossierReturned(event_id=eid(), dossier_id=dossier_id, occurred_at=handed, agency=desk)
    )
    return events


def _outcome(rng: random.Random, prof: ProvinceProfile, outcomes: Sequence[str]) -> str:
    others = [o for o in outcomes if o != "ok"]
    if "ok" in outcomes and (not others or rng.random() >= prof.branch_rate):
        return "ok"
    return rng.choice(others)


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
    channel: Channel
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
        events = _province_lifecycle(rng, prof, catalog, cal, receipt, dossier_id)
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
