"""Will an open dossier end late? P(late), the likely finish and the bottleneck step, from
the working time it has used, the route left (catalog) and the learnt sketches.

Pure: ``now`` is an argument. The remaining working time is the current step's rest
(its duration given that it has already lasted ``elapsed``) plus every step left on the
route, each drawn from its (procedure version, step, agency) sketch, independently. The
sum's distribution is sampled at ``SAMPLES`` fixed, stratified points (a Latin hypercube
with fixed permutations): no random numbers, so the same state and sketches give the
same answer on every worker and in every test.

A dossier is late when its processing ends on a working day after its due instant's
(``workflows.deadlines.classify``): the budget is the working time left until the close
of the due day, not until the due instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.calendar import WorkingCalendar
from workflows.catalog import DEFAULT_OUTCOME, Procedure, Step
from workflows.deadlines import paused_working_time
from workflows.prediction.sketch import Sketch
from workflows.state import DossierState, Status

__all__ = [
    "SAMPLES",
    "Prediction",
    "QuantileCache",
    "QuantileTable",
    "has_history",
    "predict",
    "remaining_route",
    "route_keys",
    "sketch_key",
]

#: Points at which the remaining time's distribution is sampled (P resolution 1/SAMPLES).
SAMPLES = 128
_U = tuple((k + 0.5) / SAMPLES for k in range(SAMPLES))
#: Odd multipliers (coprime with SAMPLES): step j's k-th point is its quantile at
#: _U[(k * _MULT[j] + _SHIFT[j]) % SAMPLES], so the steps' points are not aligned.
_MULT = (1, 53, 89, 37, 101, 19, 71, 115, 29, 83, 61, 11, 97, 43, 123, 5)
_SHIFT = (0, 17, 41, 7, 93, 64, 29, 111, 3, 77, 50, 121, 36, 88, 12, 59)

#: The finer table the current step's conditional quantiles are read from.
FINE = 512
_FINE_U = tuple((i + 0.5) / FINE for i in range(FINE))

#: Step j's k-th point is its quantile at _U[_PERMS[j][k]], so the steps' points are not
#: aligned (a Latin hypercube with fixed permutations).
_PERMS = tuple(
    tuple((k * m + c) % SAMPLES for k in range(SAMPLES)) for m, c in zip(_MULT, _SHIFT, strict=True)
)

Lookup = Callable[[str], Sketch | None]


@dataclass(frozen=True)
class QuantileTable:
    """A sketch's quantiles at the sample points, and at ``FINE`` points for reading
    conditional quantiles by interpolation."""

    points: list[float]
    fine: list[float]
    mean: float

    @classmethod
    def of(cls, sketch: Sketch) -> QuantileTable:
        points = sketch.quantiles(_U)
        return cls(points, sketch.quantiles(_FINE_U), sum(points) / SAMPLES)

    def at(self, q: float) -> float:
        x = q * FINE - 0.5
        if x <= 0:
            return self.fine[0]
        i = int(x)
        if i >= FINE - 1:
            return self.fine[-1]
        lo = self.fine[i]
        return lo + (self.fine[i + 1] - lo) * (x - i)


def sketch_key(procedure: str, version: str, step: str, agency: str) -> str:
    """The key a step's working times are learnt under: (procedure version, step, agency)."""
    return f"{procedure}|{version}|{step}|{agency}"


@dataclass(frozen=True)
class Prediction:
    dossier_id: str
    deadline_version: int
    #: P(processing ends on a working day after the committed due instant's)
    probability: float
    #: the median finish (working time added to ``now``)
    finish_at: datetime
    #: the step expected to overrun its allotment the most (the current one included)
    bottleneck_step: str
    bottleneck_agency: str
    #: the smallest number of completed steps behind any sketch used
    history: int
    due_at: datetime


def remaining_route(proc: Procedure, current: str) -> list[Step]:
    """The steps after ``current`` along the default outcome (the first target where a
    step has no default), in order; the catalog's routes are acyclic, and a repeat stops."""
    out: list[Step] = []
    seen = {current}
    step = proc.step(current)
    while True:
        targets = step.targets()
        if not targets:
            return out
        following = step.next_step() if DEFAULT_OUTCOME in step.outcomes() else targets[0]
        if following is None or following in seen:
            return out
        seen.add(following)
        step = proc.step(following)
        out.append(step)


def route_keys(state: DossierState, proc: Procedure) -> list[tuple[Step, str, str]] | None:
    """(step, agency, sketch key) of the open step and every step after it (None: no
    step open, or one the procedure does not have)."""
    row = state.current_row
    if row is None:
        return None
    try:
        route = [proc.step(row.step), *remaining_route(proc, row.step)]
    except KeyError:  # an off-route step the procedure does not have
        return None
    out = []
    for index, step in enumerate(route):
        agency = row.agency if index == 0 else step.agency
        out.append(
            (step, agency, sketch_key(state.procedure, state.procedure_version, step.id, agency))
        )
    return out


def has_history(state: DossierState, proc: Procedure, sketches: Lookup, min_history: int) -> bool:
    """Whether every step left on ``state``'s route has ``min_history`` behind its sketch:
    without it ``predict`` says nothing, so there is no point in asking."""
    route = route_keys(state, proc)
    if route is None:
        return False
    for _, _, key in route:
        sketch = sketches(key)
        if sketch is None or sketch.count < min_history:
            return False
    return True


def _due_day_close(cal: WorkingCalendar, due: datetime) -> datetime:
    """The close of the working day a due instant belongs to (``classify``'s due day)."""
    day = cal.working_day_on_or_after(due.astimezone(cal.tz).date())
    return cal.end_of_working_day(datetime.combine(day, cal.office_hours.opening, tzinfo=cal.tz))


def predict(
    state: DossierState,
    proc: Procedure,
    cal: WorkingCalendar,
    sketches: Lookup,
    now: datetime,
    *,
    min_history: int,
    tables: Callable[[str, Sketch], QuantileTable] | None = None,
    pace_prior: float = 0.0,
) -> Prediction | None:
    """The outlook of an open dossier at ``now``, or None when there is nothing to say:
    not open (paused, result ready, closed), no step open, already past its due day, or
    a step on its way with fewer than ``min_history`` completed steps behind its sketch.

    ``tables(key, sketch)``: the sketch's ``QuantileTable``, for a caller that caches it
    per sketch (``QuantileCache``: it changes only when the sketch learns).

    ``pace_prior`` > 0: the dossier's own pace so far scales the steps left (a dossier
    slow at one step tends to be slow at the next): the mean log ratio of its completed
    steps' working times to their keys' medians, shrunk towards 0 as if ``pace_prior``
    steps at the median had been seen too. 0: every step independent of the dossier.
    """
    if state.status is not Status.OPEN:
        return None
    row = state.current_row
    if row is None or state.current_step is None:
        return None
    route = route_keys(state, proc)
    if route is None:
        return None
    keyed = []
    for step, agency, key in route:
        sketch = sketches(key)
        if sketch is None or sketch.count < min_history:
            return None
        keyed.append((step, agency, key, sketch))
    history = min(s.count for *_, s in keyed)
    close = _due_day_close(cal, state.committed_due_at)
    if close <= now:
        return None
    budget = cal.working_time_between(now, close).total_seconds()
    begin = state.clock_start(row)
    pauses = [(p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None]
    elapsed = 0.0
    if now > begin:
        elapsed = (
            cal.working_time_between(begin, now)
            - paused_working_time(cal, pauses, within=(begin, now))
        ).total_seconds()
    table = tables or (lambda _, sketch: QuantileTable.of(sketch))
    pace = _pace(state, sketches, table, min_history, pace_prior) if pace_prior > 0 else 1.0
    # The current step's rest: its duration given it has lasted ``elapsed`` already.
    first_key, first = keyed[0][2], keyed[0][3]
    floor = first.cdf(elapsed / pace)
    if floor >= 1.0:
        # Longer than anything seen: assume it ends soon rather than invent a tail.
        rest = [0.0] * SAMPLES
    elif floor <= 0.0:
        rest = [max(x * pace - elapsed, 0.0) for x in table(first_key, first).points]
    else:
        current = table(first_key, first)
        rest = [max(current.at(floor + u * (1 - floor)) * pace - elapsed, 0.0) for u in _U]
    totals = list(rest)
    overrun = [elapsed + sum(rest) / SAMPLES - row.allotted_hours * 3600.0]
    for j, (step, _, key, sketch) in enumerate(keyed[1:], start=1):
        quantiles = table(key, sketch)
        points = quantiles.points
        perm = _PERMS[j % len(_PERMS)]
        if pace == 1.0:
            totals = [t + points[i] for t, i in zip(totals, perm, strict=True)]
        else:
            totals = [t + points[i] * pace for t, i in zip(totals, perm, strict=True)]
        allotted = float(step.allotment) * 8 * 3600.0
        overrun.append(quantiles.mean * pace - allotted)
    late = sum(1 for t in totals if t > budget)
    median = sorted(totals)[SAMPLES // 2]
    worst = max(range(len(keyed)), key=lambda j: (overrun[j], -j))
    step, agency, _, _ = keyed[worst]
    return Prediction(
        dossier_id=state.dossier_id,
        deadline_version=state.deadline_version,
        probability=late / SAMPLES,
        finish_at=cal.add_working_time(now, timedelta(seconds=median)),
        bottleneck_step=step.id,
        bottleneck_agency=agency,
        history=history,
        due_at=state.committed_due_at,
    )


def _pace(
    state: DossierState,
    sketches: Lookup,
    table: Callable[[str, Sketch], QuantileTable],
    min_history: int,
    prior: float,
) -> float:
    """exp(sum of log(used / key median) over the completed steps / (steps + prior))."""
    total, seen = 0.0, 0
    for row in state.sheet:
        if row.result is None or not row.used_hours or row.off_route:
            continue
        key = sketch_key(state.procedure, state.procedure_version, row.step, row.agency)
        sketch = sketches(key)
        if sketch is None or sketch.count < min_history:
            continue
        median = table(key, sketch).at(0.5)
        if median <= 0:
            continue
        total += math.log(row.used_hours * 3600.0 / median)
        seen += 1
    if not seen:
        return 1.0
    return math.exp(min(max(total / (seen + prior), -1.0), 1.0))


class QuantileCache:
    """Each sketch's quantiles at the fixed points, kept until the sketch learns (its
    count changes): ``predict(..., quantiles=cache)``. Bounded by the number of keys."""

    def __init__(self) -> None:
        self._cached: dict[str, tuple[int, QuantileTable]] = {}

    def __call__(self, key: str, sketch: Sketch) -> QuantileTable:
        found = self._cached.get(key)
        if found is not None and found[0] == sketch.count:
            return found[1]
        made = QuantileTable.of(sketch)
        self._cached[key] = (sketch.count, made)
        return made

    def clear(self) -> None:
        self._cached.clear()
