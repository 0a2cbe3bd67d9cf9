"""The simulated period a run covers, and the backlog before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from workflows.calendar import WorkingCalendar


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
