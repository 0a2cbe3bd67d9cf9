"""How simulated dossiers behave: a quick batch ``Profile`` and a ``ProvinceProfile``.

Both answer the same questions of the one lifecycle walk (``lifecycle.walk``): how long
a step takes, when a supplement or a withdrawal comes, how a dossier ends."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar

from events import FilingChannel
from workflows.calendar import WORKING_DAY, WorkingCalendar
from workflows.catalog import Catalog, Procedure


@dataclass(frozen=True, slots=True)
class StepWork:
    """What one step's working time is drawn for: the agency doing it (its pace is in the
    catalog), its allotment in working days, and the dossier's difficulty factor."""

    catalog: Catalog
    agency: str
    allotted: Decimal
    difficulty: float


@dataclass(frozen=True)
class Profile:
    """How a quick batch of dossiers behaves (``simulate``: benchmarks and tests)."""

    online_share: float = 0.785  # Lào Cai 2023: 78.5% of procedures fully online
    supplement_rate: float = 0.12
    withdraw_rate: float = 0.02
    refuse_rate: float = 0.04
    #: Each step takes uniform(low, high) x its allotment; slow agencies get ``slow_factor`` more.
    pace: tuple[float, float] = (0.2, 1.05)
    slow_agencies: Mapping[str, float] = field(default_factory=dict)
    slow_factor: float = 1.6

    #: A withdrawal and the hand-back are recorded by the agency holding the dossier.
    closed_by_desk: ClassVar[bool] = False

    def intake_rejection(self, rng: random.Random) -> timedelta | None:
        return None  # a quick batch never rejects at intake

    def difficulty(self, rng: random.Random) -> float:
        return 1.0

    def detours(self, rng: random.Random, steps: int) -> tuple[int, int]:
        """(index of the step that asks for a supplement, index a withdrawal comes at); -1: none."""
        supplement_at = rng.randrange(steps) if rng.random() < self.supplement_rate else -1
        withdraw_at = rng.randrange(steps) if rng.random() < self.withdraw_rate else -1
        return supplement_at, withdraw_at

    def withdrawn_at(self, rng: random.Random, cal: WorkingCalendar, at: datetime) -> datetime:
        return at + timedelta(minutes=7)

    def step_work(self, rng: random.Random, step: StepWork) -> timedelta:
        low, high = self.pace
        factor = rng.uniform(low, high) * self.slow_agencies.get(step.agency, 1.0)
        return WORKING_DAY * float(max(step.allotted, Decimal("0.0625"))) * factor

    def supplement_share(self, rng: random.Random) -> float:
        return 0.5  # asked half-way through the step

    def abandonment(self, rng: random.Random) -> timedelta | None:
        return None  # every supplement comes back

    def supplement_wait(self, rng: random.Random) -> timedelta:
        return WORKING_DAY * rng.uniform(0.5, 3)

    def outcome(self, rng: random.Random, outcomes: Sequence[str]) -> str:
        return rng.choice(outcomes)

    def result(self, rng: random.Random, at: datetime) -> tuple[datetime, bool]:
        """(when the result is ready after the last step ends at ``at``, refused?)."""
        refused = rng.random() < self.refuse_rate
        return at + timedelta(minutes=5), refused

    def returned_at(
        self, rng: random.Random, cal: WorkingCalendar, done: datetime, channel: FilingChannel
    ) -> datetime:
        return cal.add_working_time(done, timedelta(hours=2))


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

    #: A withdrawal and the hand-back are recorded at the desk that received the dossier.
    closed_by_desk: ClassVar[bool] = True

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

    def intake_rejection(self, rng: random.Random) -> timedelta | None:
        """Working time until the desk refuses the dossier at intake; ``None``: accepted."""
        if rng.random() < self.intake_reject_rate:
            return timedelta(minutes=rng.uniform(10, 90))
        return None

    def difficulty(self, rng: random.Random) -> float:
        return math.exp(rng.gauss(0.0, self.dossier_spread))

    def detours(self, rng: random.Random, steps: int) -> tuple[int, int]:
        """(index of the step that asks for a supplement, index a withdrawal comes at); -1: none."""
        supplement_at = (
            rng.randrange(max(1, steps - 1)) if rng.random() < self.supplement_rate else -1
        )
        withdraw_at = rng.randrange(1, steps + 1) if rng.random() < self.withdraw_rate else -1
        return supplement_at, withdraw_at

    def withdrawn_at(self, rng: random.Random, cal: WorkingCalendar, at: datetime) -> datetime:
        return cal.add_working_time(at, timedelta(minutes=rng.uniform(5, 240)))

    def step_work(self, rng: random.Random, step: StepWork) -> timedelta:
        base = WORKING_DAY * float(step.allotted) if step.allotted > 0 else self.same_day_step
        pace = self.pace(step.catalog, step.agency).draw(rng)
        return max(base * pace * step.difficulty, timedelta(minutes=3))

    def supplement_share(self, rng: random.Random) -> float:
        return rng.uniform(0.2, 0.8)

    def abandonment(self, rng: random.Random) -> timedelta | None:
        """Working time after a supplement request until the desk stops an unanswered one."""
        return WORKING_DAY * self.abandon_days if rng.random() < self.abandon_rate else None

    def supplement_wait(self, rng: random.Random) -> timedelta:
        return WORKING_DAY * self.supplement_days.draw(rng)

    def outcome(self, rng: random.Random, outcomes: Sequence[str]) -> str:
        others = [o for o in outcomes if o != "ok"]
        if "ok" in outcomes and (not others or rng.random() >= self.branch_rate):
            return "ok"
        return rng.choice(others)

    def result(self, rng: random.Random, at: datetime) -> tuple[datetime, bool]:
        """(when the result is ready after the last step ends at ``at``, refused?)."""
        done = at + timedelta(minutes=rng.randint(1, 10))
        return done, rng.random() < self.refuse_rate

    def returned_at(
        self, rng: random.Random, cal: WorkingCalendar, done: datetime, channel: FilingChannel
    ) -> datetime:
        if channel is FilingChannel.ONLINE:  # the result goes back electronically
            return done + timedelta(minutes=rng.randint(5, 60))
        return cal.add_working_time(done, WORKING_DAY * self.pickup_days.draw(rng))
