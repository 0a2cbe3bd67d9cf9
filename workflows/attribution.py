"""Where a late dossier's overrun comes from: the overrun split across its process control
sheet, exactly, by the rule in docs/attribution.md. Pure: ``now`` is an argument."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from workflows.calendar import WorkingCalendar
from workflows.deadlines import Completion, paused_working_time
from workflows.state import DossierState, SheetRow, Status

__all__ = [
    "Attribution",
    "Basis",
    "Cause",
    "Part",
    "attribute",
    "attribute_all",
    "split_exactly",
]

_US = timedelta(microseconds=1)
_HOUR_US = timedelta(hours=1) // _US


class Cause(StrEnum):
    OVER_ALLOTMENT = "over_allotment"  # a step's working time beyond its allotment
    REVISIT = "revisit"  # a step the dossier had been at before: no allotment of its own
    OFF_ROUTE = "off_route"  # a row the route does not make: no allotment of its own
    AFTER_LAST_STEP = "after_last_step"  # no step open: waiting for the result


class Basis(StrEnum):
    EXCESS = "excess"  # in proportion to each part's own excess
    OVERDUE_HOLDING = "overdue_holding"  # no part exceeded: who held it after the due


@dataclass(frozen=True)
class Part:
    """One stretch of the sheet: a row, or the time after a step with none open."""

    row: int  # index into the sheet: the row itself, or the row it follows (AFTER_LAST_STEP)
    step: str | None
    agency: str
    cause: Cause
    allotted: timedelta
    used: timedelta  # working time, supplement pauses excluded
    excess: timedelta  # own excess: used beyond the allotment (all of it without one)
    overdue_holding: timedelta  # the part of ``used`` after the dossier's due
    share: timedelta  # the overrun attributed to it; the shares sum to the overrun
    # With ``step.started`` on the row: ``used`` as waiting in the inbox (clock start to
    # taken up) and working (taken up to finish), and ``share`` split between them in
    # the same proportion (docs/attribution.md); None where not known.
    waiting: timedelta | None = None
    working: timedelta | None = None
    waiting_share: timedelta | None = None
    working_share: timedelta | None = None


@dataclass(frozen=True)
class Attribution:
    dossier_id: str
    procedure: str
    due_at: datetime  # the yardstick: the first appointment, moved by counted pauses
    end_at: datetime  # the result, or ``now`` for a dossier still open
    so_far: bool  # still open: the split as it stands at ``now``
    overrun: timedelta
    basis: Basis
    parts: tuple[Part, ...]


def _us(value: timedelta) -> int:
    return value // _US


def _hours(value: float) -> timedelta:
    return timedelta(microseconds=round(value * _HOUR_US))


def split_exactly(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (integers >= 0, sum > 0), summing to it.

    Largest remainder: each gets the floor of its exact share, and the units left over
    go one each to the largest remainders, ties to the earlier weight.
    """
    whole = sum(weights)
    if whole <= 0 or any(w < 0 for w in weights):
        raise ValueError(f"weights {list(weights)} must be >= 0 with a positive sum")
    floors = [total * w // whole for w in weights]
    left = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def _pauses(state: DossierState, end: datetime) -> list[tuple[datetime, datetime]]:
    # An open pause has stopped the clock until ``end`` (``now``).
    return [(p.requested_at, p.received_at or max(end, p.requested_at)) for p in state.pauses]


def _worked(
    cal: WorkingCalendar, pauses: list[tuple[datetime, datetime]], a: datetime, b: datetime
) -> timedelta:
    if b <= a:
        return timedelta(0)
    return cal.working_time_between(a, b) - paused_working_time(cal, pauses, within=(a, b))


def _yardstick(state: DossierState, rescheduled_counts_late: bool) -> datetime:
    return state.original_due_at if rescheduled_counts_late else state.committed_due_at


def _row_cause(sheet: Sequence[SheetRow], index: int) -> Cause:
    row = sheet[index]
    if any(r.step == row.step for r in sheet[:index]):
        return Cause.REVISIT
    return Cause.OFF_ROUTE if row.off_route else Cause.OVER_ALLOTMENT


def attribute(
    state: DossierState,
    cal: WorkingCalendar,
    now: datetime,
    *,
    rescheduled_counts_late: bool = True,
) -> Attribution | None:
    """The split of ``state``'s overrun, or None when it is not late (or not judged).

    A dossier with a result is split when judged late; one still open or paused when its
    due has passed by ``now`` with working time to show for it (the split so far).
    Withdrawn and rejected dossiers are never judged, so never split.
    """
    if state.outcome is not None:
        if state.outcome.completion is not Completion.LATE:
            return None
        end, so_far = state.outcome.finished_at, False
    elif state.status in (Status.OPEN, Status.PAUSED):
        end, so_far = now, True
    else:
        return None
    due = _yardstick(state, rescheduled_counts_late)
    pauses = _pauses(state, end)
    overrun = _worked(cal, pauses, due, end)
    if so_far and overrun <= timedelta(0):
        return None
    stretches = _stretches(state, cal, pauses, due, end)
    weights = [_us(p.excess) for p in stretches]
    basis = Basis.EXCESS
    if sum(weights) == 0:
        # Every step kept to its allotment and still the dossier is over (the path's
        # allotments add up to more than the commitment): those who held it late carry it.
        weights, basis = [_us(p.overdue_holding) for p in stretches], Basis.OVERDUE_HOLDING
    if sum(weights) == 0:  # the stretches tile the overdue time: never, but never raise
        weights = [0] * (len(stretches) - 1) + [1]
    total = _us(overrun)
    shares = split_exactly(total, weights) if total > 0 else [0] * len(stretches)
    parts = tuple(
        _phased(replace(p, share=timedelta(microseconds=s)), state, cal, pauses, (due, end), basis)
        for p, s in zip(stretches, shares, strict=True)
    )
    return Attribution(
        dossier_id=state.dossier_id,
        procedure=state.procedure,
        due_at=due,
        end_at=end,
        so_far=so_far,
        overrun=overrun,
        basis=basis,
        parts=parts,
    )


def _stretches(
    state: DossierState,
    cal: WorkingCalendar,
    pauses: list[tuple[datetime, datetime]],
    due: datetime,
    end: datetime,
) -> list[Part]:
    """Every row and every stretch between rows with no step open, up to ``end``."""
    sheet = state.sheet
    out: list[Part] = []
    for index, row in enumerate(sheet):
        begin = state.clock_start(row)
        finish = min(row.finished_at or end, end)
        used = _worked(cal, pauses, begin, finish)
        cause = _row_cause(sheet, index)
        allotted = _hours(row.allotted_hours) if cause is Cause.OVER_ALLOTMENT else timedelta(0)
        waiting = working = None
        if row.taken_up_at is not None:
            taken = _taken(row.taken_up_at, begin, finish)
            waiting, working = (
                _worked(cal, pauses, begin, taken),
                _worked(cal, pauses, taken, finish),
            )
        out.append(
            Part(
                row=index,
                step=row.step,
                agency=row.agency,
                cause=cause,
                allotted=allotted,
                used=used,
                excess=max(used - allotted, timedelta(0)),
                overdue_holding=_worked(cal, pauses, max(begin, due), finish),
                share=timedelta(0),
                waiting=waiting,
                working=working,
            )
        )
        # Between this row's finish and the next row's start (or the end) no step is
        # open: the dossier waits where the last step left it, for the result.
        gap_from = max(row.finished_at or end, state.start_at)
        gap_to = min(sheet[index + 1].started_at if index + 1 < len(sheet) else end, end)
        waited = _worked(cal, pauses, gap_from, gap_to)
        if row.finished_at is not None and gap_to > gap_from:
            out.append(
                Part(
                    row=index,
                    step=None,
                    agency=row.agency,
                    cause=Cause.AFTER_LAST_STEP,
                    allotted=timedelta(0),
                    used=waited,
                    excess=waited,
                    overdue_holding=_worked(cal, pauses, max(gap_from, due), gap_to),
                    share=timedelta(0),
                )
            )
    return out


def _taken(at: datetime, begin: datetime, finish: datetime) -> datetime:
    # Inside the row's own stretch: a report dated outside it (replayed without the
    # plausible-time rule) cannot make a phase longer than the row.
    return min(max(at, begin), finish) if begin <= finish else finish


def _phased(
    part: Part,
    state: DossierState,
    cal: WorkingCalendar,
    pauses: list[tuple[datetime, datetime]],
    span: tuple[datetime, datetime],
    basis: Basis,
) -> Part:
    """``part`` with its share split into waiting and working, where the row says when it
    was taken up: in proportion to the two phases' used time (their time after the due
    when the split's basis is who held it overdue), exactly, ties to waiting."""
    if part.waiting is None or part.working is None:
        return part
    weights = [_us(part.waiting), _us(part.working)]
    if basis is Basis.OVERDUE_HOLDING:
        due, end = span
        row = state.sheet[part.row]
        begin = state.clock_start(row)
        finish = min(row.finished_at or end, end)
        taken = _taken(row.taken_up_at or begin, begin, finish)
        late = max(begin, due)
        weights = [
            _us(_worked(cal, pauses, late, taken)),
            _us(_worked(cal, pauses, max(taken, late), finish)),
        ]
    if sum(weights) == 0:
        return part
    wait, work = split_exactly(_us(part.share), weights)
    return replace(
        part,
        waiting_share=timedelta(microseconds=wait),
        working_share=timedelta(microseconds=work),
    )


def attribute_all(
    states: Iterable[DossierState],
    cal: WorkingCalendar,
    now: datetime,
    *,
    rescheduled_counts_late: bool = True,
) -> list[Attribution]:
    """The split of every late (or open and past due) dossier among ``states``."""
    out = []
    for state in states:
        found = attribute(state, cal, now, rescheduled_counts_late=rescheduled_counts_late)
        if found is not None:
            out.append(found)
    return out


# --- the province's figures: who caused the overrun ----------------------------------


@dataclass(frozen=True)
class Contributor:
    """An agency, or a procedure's step at an agency, and the overrun it was given."""

    agency: str
    procedure: str | None  # None: the agency over every procedure
    step: str | None  # None with a procedure: the time after its last step
    overrun: timedelta
    dossiers: int  # late dossiers it has a share of
    share: float  # of all the overrun
    # Of ``overrun``, what rows with ``step.started`` split into inbox wait and work; the
    # rest (overrun - waiting - working) was on rows without it.
    waiting: timedelta = timedelta(0)
    working: timedelta = timedelta(0)

    @property
    def split_known(self) -> bool:
        return bool(self.waiting or self.working)


@dataclass(frozen=True)
class Lateness:
    completed: int  # dossiers with a result judged late
    open: int  # open or paused past their due: split so far
    overrun: timedelta
    agencies: tuple[Contributor, ...]
    steps: tuple[Contributor, ...]

    @property
    def dossiers(self) -> int:
        return self.completed + self.open


_Key = tuple[str, str | None, str | None]


def lateness(attributions: Iterable[Attribution], top: int = 5) -> Lateness:
    """Agencies and steps ranked by the overrun they were given (most first; ties by
    the number of dossiers, then by code), the first ``top`` of each."""
    # key -> [overrun, dossiers, waiting, working], integer microseconds
    by_agency: dict[_Key, list[int]] = {}
    by_step: dict[_Key, list[int]] = {}
    completed = opened = 0
    total = 0
    for a in attributions:
        opened += a.so_far
        completed += not a.so_far
        total += _us(a.overrun)
        for table, steps_too in ((by_agency, False), (by_step, True)):
            for key, (share, waiting, working) in _summed(a, steps_too).items():
                if share > 0:
                    slot = table.setdefault(key, [0, 0, 0, 0])
                    slot[0] += share
                    slot[1] += 1
                    slot[2] += waiting
                    slot[3] += working
    return Lateness(
        completed=completed,
        open=opened,
        overrun=timedelta(microseconds=total),
        agencies=_ranked(by_agency, total, top),
        steps=_ranked(by_step, total, top),
    )


def _summed(a: Attribution, by_step: bool) -> dict[_Key, tuple[int, int, int]]:
    """key -> (share, its waiting part, its working part) summed over ``a``'s parts."""
    out: dict[_Key, tuple[int, int, int]] = {}
    for p in a.parts:
        key = (p.agency, a.procedure, p.step) if by_step else (p.agency, None, None)
        share, waiting, working = out.get(key, (0, 0, 0))
        out[key] = (
            share + _us(p.share),
            waiting + _us(p.waiting_share or timedelta(0)),
            working + _us(p.working_share or timedelta(0)),
        )
    return out


def _ranked(table: dict[_Key, list[int]], total: int, top: int) -> tuple[Contributor, ...]:
    rows = sorted(
        table.items(),
        key=lambda kv: (-kv[1][0], -kv[1][1], kv[0][0], kv[0][1] or "", kv[0][2] or ""),
    )
    return tuple(
        Contributor(
            agency=agency,
            procedure=procedure,
            step=step,
            overrun=timedelta(microseconds=us),
            dossiers=n,
            share=us / total if total else 0.0,
            waiting=timedelta(microseconds=waiting),
            working=timedelta(microseconds=working),
        )
        for (agency, procedure, step), (us, n, waiting, working) in rows[:top]
    )
