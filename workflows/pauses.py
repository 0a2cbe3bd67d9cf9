"""Supplement pauses over a whole dossier: due instants re-derived from the counting start,
and the used time and days saved that agree with them (docs/deadlines.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from workflows.calendar import WorkingCalendar
from workflows.deadlines import (
    TimeAllowance,
    TimeUnit,
    allowance_working_days,
    due_instant,
    extend_for_pause,
    given_back_days,
    pause_intervals,
    paused_working_time,
    working_days_in,
)

__all__ = ["days_saved", "due_with_pauses", "working_time_used"]

Pauses = Sequence[tuple[datetime, datetime]]


def due_with_pauses(
    cal: WorkingCalendar, start: datetime, allowance: TimeAllowance, pauses: Pauses
) -> datetime:
    """The due instant of ``allowance`` counted from ``start`` with the closed ``pauses``.

    Each pause counts from ``start`` on and only if it began before the due as it stood
    then (pauses are taken in time order, overlaps once). Working units and same-day
    deadlines move as :func:`~workflows.deadlines.extend_for_pause` says. Calendar days:
    the last day of the period moves by the days each pause gives back and the due is
    re-derived from it, so a period ending on a Sunday (due Monday) that gets 3 days back
    ends on Wednesday, not Thursday.
    """
    due = due_instant(cal, start, allowance)
    intervals = pause_intervals(cal, pauses, within=(start, None))
    if allowance.unit is not TimeUnit.CALENDAR_DAYS:
        for begin, end in intervals:
            due = extend_for_pause(cal, due, begin, end, allowance=allowance)
        return due
    first = start.astimezone(cal.tz).date()
    last = first + timedelta(days=int(allowance.amount))
    for begin, end in intervals:
        if begin >= due:
            break  # the period had ended: later pauses give nothing back
        # A request on a day off after the last day (the period runs on to the next working
        # day, art. 148) gives back days from its own date, so the due never falls before
        # the day the supplement arrived.
        last = max(last, begin.astimezone(cal.tz).date())
        last += timedelta(days=given_back_days(cal, begin, end))
        due = cal.add_calendar_days(start, (last - first).days)
    return due


def working_time_used(
    cal: WorkingCalendar,
    start: datetime,
    finished: datetime,
    allowance: TimeAllowance,
    pauses: Pauses,
) -> timedelta:
    """Working time from ``start`` to ``finished``, less what the pauses gave back.

    Working units and same-day: less the working time of the pauses inside
    ``[start, finished)``. Calendar days: less the working time by which the pauses
    moved ``allowance``'s due (the given-back days as the deadline saw them), so a
    dossier finished exactly at its due has used exactly its allowance. Never
    negative; nothing is used before ``start``.
    """
    end = max(finished, start)
    worked = cal.working_time_between(start, end)
    if not pauses:  # most dossiers never pause: nothing given back, in any unit
        return worked
    if allowance.unit is TimeUnit.CALENDAR_DAYS:
        clipped = pause_intervals(cal, pauses, within=(start, end))
        unpaused = due_instant(cal, start, allowance)
        moved = cal.working_time_between(unpaused, due_with_pauses(cal, start, allowance, clipped))
        return max(worked - moved, timedelta(0))
    return worked - paused_working_time(cal, pauses, within=(start, end))


def days_saved(
    cal: WorkingCalendar,
    start: datetime,
    finished: datetime,
    statutory: TimeAllowance,
    pauses: Pauses,
) -> tuple[Decimal, Decimal]:
    """(working days used, working days saved against ``statutory``) for a finished dossier.

    Saved = the statutory time as working days from ``start`` (the span to the
    unpaused due for calendar days) minus the days used. A same-day statutory time is
    0 days: finished by its due such a dossier saves nothing, and after it the overrun
    (the working time from the due, pauses applied, to the finish) counts negative.
    """
    used = working_days_in(working_time_used(cal, start, finished, statutory, pauses))
    if statutory.same_day:
        due = due_with_pauses(cal, start, statutory, pauses)
        return used, Decimal(0) - working_days_in(cal.working_time_between(due, finished))
    return used, allowance_working_days(cal, start, statutory) - used
